from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from splitinfer import zoo
from splitinfer.bottleneck import UnitConfig
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
    bytes_at_level,
    compare_at_level,
    load_config,
    override,
    pareto_front,
    parse_unit,
    run_sweep,
)

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
                "ours",
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
    third = run_sweep(fewer, tmp_path, hooks=hooks, select=["ours"], figure=False)
    assert {p["family"] for p in third["points"]} == {"ours"}
    before = {p["slug"]: p["train_seconds"] for p in doc["points"]}
    assert all(p["train_seconds"] == before[p["slug"]] for p in third["points"])
    assert third["test_images"] == 8 and not third["references"]["controls"]
    assert len(third["pending"]) == 5 and third["pending"][-1].startswith("control-stage1")
    learned = next(p for p in third["points"] if p["codec"].startswith("learned"))
    assert learned["config"]["train_kwargs"] == {"rate_lambda": 0.01}


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
