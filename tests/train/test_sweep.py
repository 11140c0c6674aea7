from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from splitinfer import zoo
from splitinfer.bottleneck import UnitConfig
from splitinfer.bundle import STAGE1_BUNDLE_ID, shipped_bundle_path
from splitinfer.cli import build_app
from splitinfer.errors import BadInput, UnknownCutPoint
from splitinfer.train.recipes import save_weights
from splitinfer.train.sweep import (
    FAMILIES,
    SWEEP_FORMAT,
    Group,
    SweepConfig,
    SweepHooks,
    TrainSettings,
    budget_settings,
    bytes_at_level,
    compare_at_level,
    load_config,
    override,
    pareto_front,
    parse_unit,
    run_sweep,
)
from splitinfer.train.sweep.report import render_markdown

REPO = Path(__file__).resolve().parents[2]
DATA = "synthetic:64,16"


pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("one_torch_thread"),
]


@pytest.fixture(scope="module")
def backbone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fmnist_cnn weights (random init: the sweep's plumbing is under test, not accuracy)."""
    path = tmp_path_factory.mktemp("bb") / "weights.safetensors"
    save_weights(zoo.create("fmnist_cnn"), path)
    return path


def tiny_config(backbone: Path) -> SweepConfig:
    return SweepConfig(
        model="fmnist_cnn",
        backbone=str(backbone),
        data=DATA,
        train=TrainSettings(epochs=1, batch_size=64, distill=2.0, augment=False),
        groups=(
            Group("cloud-only", ("png", "jpeg:quality=20")),
            Group("ulhaq", ("quant:bits=8,clip=p99.9|tile|jpeg:quality=50",), cuts=("stage1",)),
            Group(
                "bottlenet",
                ("quant:bits=8,clip=0:1|tile|jpeg:quality=50",),
                ("stage1",),
                (UnitConfig(2, 2),),
            ),
            Group("ours", ("quant:bits=2,clip=0:1|ans",), ("stage1",), (UnitConfig(2, 2),)),
            Group(
                "learned",
                ("learned:levels=4,tables=channel",),
                ("stage1",),
                (UnitConfig(2, 2),),
                train_kwargs=((("rate_lambda", 0.01),),),
            ),
        ),
    )


def test_tiny_sweep_measures_every_family_then_resumes(backbone: Path, tmp_path: Path) -> None:
    statuses: list[tuple[str, str]] = []
    hooks = SweepHooks(point=lambda i, n, name, status: statuses.append((name, status)))
    doc = run_sweep(tiny_config(backbone), tmp_path, hooks=hooks, command="test")

    assert doc["format"] == SWEEP_FORMAT and doc["test_images"] == 16
    assert {p["family"] for p in doc["points"]} == set(FAMILIES)
    for p in doc["points"]:
        for key in ("accuracy", "bytes", "frame_bytes", "payload_bytes", "encode_ms",
                    "decode_ms", "accuracy_loss_points"):  # fmt: skip
            assert math.isfinite(p[key]), (p["slug"], key)
        assert p["frame_bytes"] > p["payload_bytes"] > 0
        # bytes: the payload in one masked WebSocket message per inference (6 B under 126 B)
        assert p["bytes"] == p["session_bytes"] >= p["payload_bytes"] + 6
        assert 0.0 <= p["accuracy"] <= 1.0 and p["test_images"] == 16
        assert p["config"]["model"] == "fmnist_cnn" and p["command"] == "test"
        assert (p["bundle"] is not None) == p["trained"]
    (control,) = doc["references"]["controls"]
    assert control["cut"] == "stage1" and control["trained"] and 0 <= control["accuracy"] <= 1
    assert [lv["name"] for lv in doc["levels"]] == ["unsplit - 1 point", "control - 1 point"]
    assert set(doc["fronts"]) == set(FAMILIES)

    on_disk = json.loads((tmp_path / "sweep.json").read_text())
    assert on_disk["points"] == json.loads(json.dumps(doc["points"]))
    assert on_disk["config"]["train"]["epochs"] == 1
    assert (tmp_path / "pareto.png").stat().st_size > 10_000
    rates = json.loads((tmp_path / "ratepoints.json").read_text())
    assert len(rates["points"]) == 4  # the split families only
    trained = [p for p in doc["points"] if p["trained"]]
    assert all((Path(p["bundle"]) / "spec.json").is_file() for p in trained)
    for p in trained:  # each point's bundle carries its own measurement
        metrics = json.loads((Path(p["bundle"]) / "spec.json").read_text())["metrics"]
        assert metrics["accuracy"] == p["accuracy"] and metrics["budget"] == "quick"
        assert metrics["mean_session_bytes"] == p["bytes"] and metrics["epochs"] == 1

    # Second run, from the command line and a config file: everything is read back.
    config_file = tmp_path / "sweep.yaml"
    config_file.write_text(yaml.safe_dump(tiny_config(backbone).to_dict()))
    results = sorted((tmp_path / "points").glob("*/results.json"))
    stamps = [r.stat().st_mtime_ns for r in results]
    cli = CliRunner().invoke(build_app(), ["sweep", "--config", str(config_file),
                                           "--out", str(tmp_path), "--rows", "all"])  # fmt: skip
    assert cli.exit_code == 0, cli.output
    assert "epoch 1/1" not in cli.output and "unsplit - 1 point" in cli.output
    assert [r.stat().st_mtime_ns for r in results] == stamps
    again = json.loads((tmp_path / "sweep.json").read_text())
    assert [p["accuracy"] for p in again["points"]] == [p["accuracy"] for p in doc["points"]]

    # Another test split re-evaluates the trained bundles without retraining them.
    fewer = override(tiny_config(backbone), test_limit=8)
    third = run_sweep(fewer, tmp_path, hooks=hooks, select=["ours", "learned"], figure=False)
    assert {p["family"] for p in third["points"]} == {"ours", "learned"}
    before = {p["slug"]: p["train_seconds"] for p in doc["points"]}
    assert all(p["train_seconds"] == before[p["slug"]] for p in third["points"])
    assert third["test_images"] == 8 and not third["references"]["controls"]
    assert len(third["pending"]) == 5 and third["pending"][-1].startswith("control-stage1")
    learned = next(p for p in third["points"] if p["codec"].startswith("learned"))
    assert learned["config"]["train_kwargs"] == {"rate_lambda": 0.01}

    # A shipped bundle is measured beside the families, the same way (and cached).
    shipped = dataclasses.replace(fewer, shipped=(learned["bundle"],))
    fourth = run_sweep(shipped, tmp_path, select=["none"], figure=False)
    (b,) = fourth["references"]["shipped"]
    assert b["accuracy"] == learned["accuracy"] and b["bytes"] == learned["bytes"]
    assert b["frame_bytes"] == learned["frame_bytes"] and b["cut"] == "stage1"
    assert (tmp_path / "shipped" / f"{b['id']}.json").is_file()
    block = render_markdown(fourth, "sweep.json")
    assert f"shipped bundle `{b['id']}`" in block
    wrong = dataclasses.replace(fewer, shipped=(str(shipped_bundle_path(STAGE1_BUNDLE_ID)),))
    with pytest.raises(BadInput, match="not the sweep's fmnist_cnn"):
        run_sweep(wrong, tmp_path, select=["none"], figure=False)


def test_pareto_front_keeps_only_undominated_points() -> None:
    pts = [(100, 0.80), (50, 0.85), (200, 0.84), (400, 0.90), (50, 0.70), (math.nan, 0.99)]
    assert pareto_front(pts) == [(50, 0.85), (400, 0.90)]
    assert pareto_front([]) == []


def test_bytes_at_level_interpolates_in_log_bytes() -> None:
    front = [(10.0, 0.80), (1000.0, 0.90)]
    assert bytes_at_level(front, 0.85) == pytest.approx(100.0)  # halfway in log10
    assert bytes_at_level(front, 0.70) == 10.0  # reached by the cheapest point already
    assert bytes_at_level(front, 0.90) == pytest.approx(1000.0)
    assert bytes_at_level(front, 0.95) is None


def test_compare_at_level_ratio_and_never_reaches() -> None:
    fronts = {
        "cloud-only": [(100.0, 0.88), (400.0, 0.92)],
        "ulhaq": [(1000.0, 0.85)],  # never reaches 0.90
        "ours": [(20.0, 0.86), (80.0, 0.94)],
    }
    c = compare_at_level(fronts, 0.90, "unsplit - 1 point")
    assert c.bytes["cloud-only"] == pytest.approx(200.0)
    assert c.bytes["ours"] == pytest.approx(40.0)
    assert c.bytes["ulhaq"] is None and c.best_baseline == "cloud-only"
    assert c.ratio == pytest.approx(5.0)
    assert "5.00x" in c.text and "ulhaq never reaches it (best 85.00%)" in c.text

    low = compare_at_level({**fronts, "ours": [(20.0, 0.86)]}, 0.90, "x")
    assert low.ratio is None and "ours never reaches it" in low.text
    alone = compare_at_level({"ulhaq": [(1000.0, 0.85)], "ours": [(30.0, 0.95)]}, 0.90, "x")
    assert alone.ratio is None and "no baseline reaches it" in alone.text


def test_shipped_config_loads_and_covers_every_family() -> None:
    config = load_config(REPO / "configs" / "sweep-fmnist.yaml")
    assert config.model == "fmnist_resnet10" and config.data == "fmnist"
    assert {g.family for g in config.groups} == set(FAMILIES)
    assert len(config.points()) >= 12
    round_trip = SweepConfig.from_dict(yaml.safe_load(yaml.safe_dump(config.to_dict())))
    assert round_trip == config


def test_config_errors_are_clear(backbone: Path, tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="unknown key"):
        SweepConfig.from_dict({"model": "m", "backbone": "b", "epochs": 3})
    with pytest.raises(BadInput, match="needs cuts"):
        Group("ulhaq", ("quant:bits=8|tile|png",))
    with pytest.raises(BadInput, match="needs units"):
        Group("ours", ("quant:bits=2,clip=0:1|ans",), ("stage1",))
    bad_cut = override(tiny_config(backbone), cuts=["stage9"])
    with pytest.raises(UnknownCutPoint):
        run_sweep(bad_cut, tmp_path)
    bad_kwargs = override(tiny_config(backbone), ours_kwargs=[{"rate_lambda": 0.1}])
    with pytest.raises(BadInput, match="learned prior"):
        run_sweep(bad_kwargs, tmp_path)
    unknown_kwargs = override(tiny_config(backbone), ours_kwargs=[{"warp": 2}])
    with pytest.raises(BadInput, match="not extra parameters"):
        run_sweep(unknown_kwargs, tmp_path)
    with pytest.raises(BadInput, match="cloud-only codec"):
        run_sweep(override(tiny_config(backbone), family_codecs={"cloud-only": ["gif"]}), tmp_path)


def test_override_and_unit_text() -> None:
    base = SweepConfig(model="m", backbone="b", groups=(Group("cloud-only", ("png",)),))
    cfg = override(base, epochs=5, test_limit=100, family_codecs={"ours": ["quant:bits=2|ans"]},
                   cuts=["stage2"], units=[parse_unit("c4s2")])  # fmt: skip
    assert cfg.train.epochs == 5 and cfg.test_limit == 100
    (ours,) = [g for g in cfg.groups if g.family == "ours"]
    assert ours.cuts == ("stage2",) and ours.units == (UnitConfig(4, 2),)
    assert parse_unit("c2s4d2h32") == UnitConfig(2, 4, depth=2, hidden=32)
    with pytest.raises(BadInput):
        parse_unit("4x2")


def test_short_codec_names_are_valid_bundle_id_parts() -> None:
    from splitinfer.bundle import check_bundle_id
    from splitinfer.train.sweep.points import short_codec

    assert short_codec("learned:levels=4,tables=element") == "learned4element"
    ranged = short_codec("learned:levels=4,tables=channel,coder=range")
    assert ranged == "learned4channel-range"
    check_bundle_id(f"units-stage1-{ranged}")


def test_budgets_are_named_and_unknown_ones_fail_before_training(tmp_path: Path) -> None:
    config = load_config(REPO / "configs" / "sweep-fmnist.yaml")
    assert config.budget == "quick" and config.train == budget_settings("quick")
    full = config.with_budget("full")
    assert (full.train.epochs, full.train.tune, full.train.train_limit) == (11, "all", None)
    assert full.train.distill == 4.0 and full.budget == "full"
    # the points' cache keys differ by budget, so both budgets share one OUT
    assert override(config, budget="full").train == full.train
    with pytest.raises(BadInput, match="unknown budget 'huge'; known: full, quick"):
        config.with_budget("huge")
    with pytest.raises(BadInput, match="unknown budget"):
        SweepConfig.from_dict({**config.to_dict(), "budget": "huge"})
    with pytest.raises(BadInput, match=r"budgets\.quick\.warp"):
        SweepConfig.from_dict({**config.to_dict(), "budgets": {"quick": {"warp": 1}}})
    # a config's own budget, and its override of a built-in one
    plain = {k: v for k, v in config.to_dict().items() if k != "train"}  # no overrides
    own = SweepConfig.from_dict(
        {**plain, "budget": "tiny", "budgets": {"tiny": {"epochs": 2}, "full": {"epochs": 20}}}
    )
    assert own.train.epochs == 2 and own.with_budget("full").train.epochs == 20
    assert own.with_budget("full").train.tune == "all"
    cli = CliRunner().invoke(build_app(), [
        "sweep", "--config", str(REPO / "configs" / "sweep-fmnist.yaml"), "--budget", "huge",
        "--out", str(tmp_path)])  # fmt: skip
    assert isinstance(cli.exception, BadInput) and "unknown budget 'huge'" in str(cli.exception)
    assert not (tmp_path / "points").exists()


def test_a_family_named_twice_is_an_error() -> None:
    groups = [{"family": "ours", "cuts": ["stage1"], "units": ["c2s2"],
               "codecs": ["quant:bits=2,clip=0:1|ans"]}] * 2  # fmt: skip
    with pytest.raises(BadInput, match="names family ours twice"):
        SweepConfig.from_dict({"model": "m", "backbone": "b", "groups": groups})


def test_units_per_cut() -> None:
    config = SweepConfig.from_dict({"model": "m", "backbone": "b", "groups": [
        {"family": "learned", "units": {"stage1": ["c8s4"], "stage3": ["c4s4", "c2s4"]},
         "codecs": ["learned:levels=4,tables=element"]}]})  # fmt: skip
    got = [(p.cut, p.unit) for p in config.points()]
    assert got == [("stage1", UnitConfig(8, 4)), ("stage3", UnitConfig(4, 4)),
                   ("stage3", UnitConfig(2, 4))]  # fmt: skip
    assert SweepConfig.from_dict(config.to_dict()) == config
    narrowed = override(config, cuts=["stage3"])
    assert [p.unit for p in narrowed.points()] == [UnitConfig(4, 4), UnitConfig(2, 4)]
    with pytest.raises(BadInput, match="needs units"):
        override(config, cuts=["stage2"])
    with pytest.raises(BadInput, match="cuts not swept"):
        Group("learned", ("learned:levels=4,tables=element",), ("stage1",),
              cut_units=(("stage2", (UnitConfig(2, 2),)),))  # fmt: skip


def test_compare_at_level_takes_the_cheapest_of_ours_against_each_baseline() -> None:
    fronts = {
        "bottlenet": [(300.0, 0.93)],
        "cloud-only": [(100.0, 0.88), (400.0, 0.92)],
        "ours": [(80.0, 0.94)],
        "learned": [(10.0, 0.925)],
    }
    c = compare_at_level(fronts, 0.90, "x")
    assert c.ours == "learned" and c.best_baseline == "cloud-only"
    assert c.ratios == {"bottlenet": pytest.approx(30.0), "cloud-only": pytest.approx(20.0)}
    assert c.ratio == pytest.approx(20.0) and "ours (learned) = 20.00x" in c.text


@pytest.mark.parametrize("n", [0, 1, 125, 126, 65535, 65536, 70000])
def test_session_message_bytes_is_what_websockets_sends(n: int) -> None:
    from websockets.frames import Frame, Opcode

    from splitinfer import wire

    sent = Frame(Opcode.BINARY, b"x" * n).serialize(mask=True)  # a client's message
    assert wire.session_message_bytes(n) == len(sent)
    with pytest.raises(BadInput):
        wire.session_message_bytes(-1)


def test_the_markdown_table_lists_fronts_levels_and_pending(tmp_path: Path) -> None:
    from splitinfer.experiments.readme import check_readme, replace_block
    from tests.experiments.fixtures import sweep_doc

    doc = dict(sweep_doc())
    doc["pending"] = ["learned-stage3-c4s4-learned4element-lam0.02-abcd1234", "ulhaq-x-1"]
    block = render_markdown(doc, "docs/figures/s.json", "figures/s.json")
    lines = block.splitlines()
    assert lines[0] == "<!-- sweep:begin -->" and lines[-1] == "<!-- sweep:end -->"
    rows = [ln for ln in lines if ln.startswith("| ours |")]
    assert len(rows) == 2 and "| 91.30 | 0.70 |" in rows[0]  # both ours points are on the front
    assert "[docs/figures/s.json](figures/s.json)" in block
    assert "2 point(s) (1 untrained); still to train (or to measure): `learned-stage3" in block
    assert "unsplit - 1 point" in block
    doc_md = tmp_path / "results.md"
    doc_md.write_text("# Results\n\n" + replace_block("text\n", block))
    assert check_readme(doc_md, block) is None
    assert check_readme(doc_md, block.replace("91.30", "91.31")) is not None


FULL_SWEEP = REPO / "docs" / "figures" / "sweep-fmnist-full.json"


@pytest.mark.skipif(not FULL_SWEEP.is_file(), reason="no committed full sweep")
@pytest.mark.parametrize("doc", ["README.md", "docs/results.md"])
def test_the_committed_tables_are_generated_from_the_committed_full_sweep(doc: str) -> None:
    import os

    from splitinfer.experiments.readme import check_readme

    target = REPO / doc
    link = Path(os.path.relpath(FULL_SWEEP, target.parent)).as_posix()
    sweep = json.loads(FULL_SWEEP.read_text())
    assert sweep["budget"] == "full"
    block = render_markdown(sweep, "docs/figures/sweep-fmnist-full.json", link)
    assert check_readme(target, block) is None, check_readme(target, block)
