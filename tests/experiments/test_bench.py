"""`splitinfer bench --quick` on a tiny config: the report's structure and consistency.

Values are not checked (they are timings on a shared machine), only that the files are
there, every number is finite, and the numbers agree with one another.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from splitinfer.cli import build_app
from splitinfer.errors import BadInput
from splitinfer.experiments.config import bench_config, merge
from splitinfer.experiments.runner import EXPERIMENTS, select
from tests.experiments.fixtures import demo_doc, sweep_doc

pytestmark = pytest.mark.integration  # starts servers, subprocesses or heavy tools


def _need_fmnist() -> None:
    from splitinfer.data import fmnist_root

    try:
        fmnist_root()
    except BadInput:
        pytest.skip("Fashion-MNIST is not installed (make data)")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], str]:
    _need_fmnist()
    tmp = tmp_path_factory.mktemp("bench")
    (tmp / "sweep.json").write_text(json.dumps(sweep_doc()))
    (tmp / "demo").mkdir()
    (tmp / "demo" / "results.json").write_text(json.dumps(demo_doc()))
    tiny = {
        "subjects": {"profile_repeats": 1, "profile_warmup": 0, "profile_rounds": 1},
        "plan": {"links": ["3g", "wifi"], "sweep_points": 5},
        "codecs": {"models": ["fmnist_cnn"], "specs": ["quant:bits=8", "quant:bits=4|ans"],
                   "images": 1, "repeats": 1},
        # the server experiment starts server processes (~15 s): see test_server_tables
        "experiments": [n for n in EXPERIMENTS if n != "server"],
        "rate_accuracy": {"sweep": str(tmp / "sweep.json")},
        "end_to_end": {"from_json": str(tmp / "demo" / "results.json")},
    }  # fmt: skip
    (tmp / "tiny.yaml").write_text(yaml.safe_dump(tiny))
    out = tmp / "report"
    args = ["bench", "--quick", "--config", str(tmp / "tiny.yaml"), "--out", str(out)]
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    return out, json.loads((out / "results.json").read_text()), result.output


def _numbers(value: Any) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [float(value)]
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in _numbers(v)]
    return []


def test_writes_the_report_files(report: tuple[Path, dict[str, Any], str]) -> None:
    out, results, output = report
    assert results["format"] == "splitinfer.bench/1" and results["quick"]
    assert list(results["experiments"]) == [n for n in EXPERIMENTS if n != "server"]
    assert {e["status"] for e in results["experiments"].values()} == {"ok"}, [
        (e["name"], e["notes"]) for e in results["experiments"].values()
    ]
    assert json.loads((out / "config.json").read_text())["codecs"]["images"] == 1
    html = (out / "index.html").read_text()
    figures = [f for e in results["experiments"].values() for f in e["figures"]]
    assert len(figures) >= 8
    assert html.count("data:image/png;base64,") == len(figures)
    for f in figures:
        assert (out / f["file"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f["basis"] in ("modeled", "measured") and f["caption"]
    for e in results["experiments"].values():
        assert e["title"] in html.replace("&#x27;", "'")
        assert (out / e["name"] / f"{e['name']}.json").is_file()
    assert "<script" not in html
    assert results["machine"]["cpu"] in html
    assert "seeds" in output and "wrote" in output


def test_every_number_is_finite_and_every_column_labelled(
    report: tuple[Path, dict[str, Any], str],
) -> None:
    _, results, _ = report
    counts = ("clients", "requests", "max_batch", "max_wait_ms", "from_mbps", "to_mbps")
    for e in results["experiments"].values():
        for t in e["tables"]:
            for c in t["columns"]:
                values = [r[c["key"]] for r in t["rows"]]
                numeric = [v for v in values if isinstance(v, int | float)]
                assert all(math.isfinite(v) for v in numeric), (t["id"], c["key"])
                if numeric and c["key"] not in counts:
                    assert c["basis"] in ("modeled", "measured", "assumed"), (t["id"], c)
    assert all(math.isfinite(n) for n in _numbers(results["experiments"]["seeds"]["data"]))


def _table(results: dict[str, Any], experiment: str, table_id: str) -> list[dict[str, Any]]:
    tables = results["experiments"][experiment]["tables"]
    return next(t for t in tables if t["id"] == table_id)["rows"]


def test_seeds_table_is_consistent(report: tuple[Path, dict[str, Any], str]) -> None:
    _, results, _ = report
    for subject in ("bundle", "resnet50"):
        rows = _table(results, "seeds", f"seeds-{subject}")
        assert [(r["link"], r["mode"]) for r in rows] == [
            (lk, m) for lk in ("3g", "wifi") for m in ("seed", "realistic")
        ]
        for r in rows:
            assert r["latency_gain"] == pytest.approx(r["cloud_ms"] / r["split_ms"])
            assert r["energy_gain"] == pytest.approx(r["cloud_mj"] / r["split_mj"])
            if "+unit" in r["split_cut"]:  # the unit point sends less than the image
                assert r["split_bytes"] < r["cloud_bytes"]
            assert min(r["split_ms"], r["cloud_ms"], r["mobile_ms"]) > 0
        detail = _table(results, "seeds", f"seeds-{subject}-detail")
        for r in detail:
            cloud = next(d for d in detail if (d["link"], d["mode"], d["plan"]) ==
                         (r["link"], r["mode"], "cloud-only"))  # fmt: skip
            assert r["latency_gain"] == pytest.approx(cloud["latency_ms"] / r["latency_ms"])
            seed = r["mode"] == "seed"
            compact = next(c for c in rows if (c["link"], c["mode"]) == (r["link"], r["mode"]))
            if r["plan"] == "cloud-only":
                assert r["bytes_up"] == compact["cloud_bytes"]
                assert r["latency_ms"] == pytest.approx(compact["cloud_ms"])
            if seed and r["plan"] == "mobile-only":
                assert r["bytes_up"] == 0


def test_cut_profiles_and_bandwidth_map(report: tuple[Path, dict[str, Any], str]) -> None:
    _, results, _ = report
    bars = results["experiments"]["cut-profiles"]["data"]["bundle"]["3g"]
    assert bars[0]["bar"] == "cloud-only" and bars[-1]["bar"] == "mobile-only"
    assert any(b["unit"] for b in bars)
    for b in bars:  # the stacked stages add up to the total
        parts = b["head_ms"] + b["encode_ms"] + b["uplink_ms"] + b["rtt_down_ms"] + b["cloud_ms"]
        assert parts == pytest.approx(b["latency_ms"])
        assert b["compute_mj"] + b["radio_mj"] + b["idle_mj"] == pytest.approx(b["energy_mj"])
    grid = results["experiments"]["bandwidth-map"]["data"]["resnet50"]
    assert len(grid["up_mbps"]) == 5
    for objective in ("latency", "energy"):
        g = grid[objective]
        assert set(g["choice"]) <= set(g["options"])
        for col, choice in enumerate(g["choice"]):  # the choice is the column's minimum
            values = [row[col] for row in g["values"] if row[col] is not None]
            assert g["values"][g["options"].index(choice)][col] == pytest.approx(min(values))


def test_measured_experiments(report: tuple[Path, dict[str, Any], str]) -> None:
    _, results, _ = report
    codecs = _table(results, "codecs", "codecs")
    assert len(codecs) == 2 and all(r["payload_bytes"] > 0 for r in codecs)
    for r in codecs:
        assert r["ratio"] == pytest.approx(r["raw_bytes"] / r["payload_bytes"])
    levels = _table(results, "rate-accuracy", "rate-accuracy-levels")
    assert levels[0]["level"] == "unsplit - 1 point"
    assert levels[0]["cloud_ratio"] == pytest.approx(
        levels[0]["bytes_cloud-only"] / levels[0]["bytes_ours"]
    )
    e2e = _table(results, "end-to-end", "end-to-end")
    for r in e2e:
        expected = 100 * (r["planner_ms"] - r["latency_ms_p50"]) / r["latency_ms_p50"]
        assert r["planner_error_pct"] == pytest.approx(expected)
        assert r["accuracy"] == pytest.approx(90.0)


def test_server_tables(tmp_path: Path) -> None:
    """The server experiment's gain table and figure from rows shaped like run_load_test's."""
    from splitinfer.experiments import server_throughput

    rows = [
        {"transport": t, "mode": m, "clients": c, "rps": rps, "p50_ms": 2.0, "p99_ms": 5.0,
         "mean_batch": 1.0, "errors": 0, "max_batch": 16, "max_wait_ms": 2.0}
        for t in ("http", "grpc") for c, rps in ((1, 100.0), (8, 300.0))
        for m in ("on", "off")
    ]  # fmt: skip
    for r in rows:
        r["rps"] *= 1.5 if r["mode"] == "on" else 1.0
    gains = server_throughput._gains(rows)
    assert len(gains) == 4 and all(g["gain"] == pytest.approx(1.5) for g in gains)
    assert all(g["gain"] == pytest.approx(g["rps"] / g["off_rps"]) for g in gains)
    name = server_throughput.draw(rows, tmp_path)
    assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_readme_block_renders_from_the_run(report: tuple[Path, dict[str, Any], str]) -> None:
    from splitinfer.experiments.readme import render_block

    _, results, _ = report
    block = render_block(results)
    assert "(x, modeled)" in block and "(ms, measured)" in block
    assert "Not in this run" not in block


def test_bad_settings_are_typed_errors() -> None:
    with pytest.raises(BadInput, match=r"unknown bench setting 'codecs\.imgs'"):
        merge(bench_config(), {"codecs": {"imgs": 2}})
    with pytest.raises(BadInput, match="known: seeds"):
        select(["nope"])
    assert select(["end-to-end", "seeds"]) == ["seeds", "end-to-end"]
    assert bench_config(quick=True).server.requests < bench_config().server.requests


def test_skips_with_a_note_when_inputs_are_missing(tmp_path: Path) -> None:
    from splitinfer.experiments import rate_accuracy

    cfg = bench_config()
    cfg.rate_accuracy.sweep = str(tmp_path / "none.json")
    cfg.rate_accuracy.committed = str(tmp_path / "none-either.json")
    result = rate_accuracy.run(cfg, tmp_path)
    assert result["status"] == "skipped"
    assert "not available" in result["notes"][0] and "splitinfer sweep" in result["notes"][0]


def test_rate_accuracy_falls_back_to_the_committed_full_sweep(tmp_path: Path) -> None:
    from splitinfer.experiments import rate_accuracy
    from splitinfer.results import write_json

    doc = sweep_doc()
    write_json(tmp_path / "committed.json", doc)
    cfg = bench_config()
    cfg.rate_accuracy.sweep = str(tmp_path / "none.json")
    cfg.rate_accuracy.committed = str(tmp_path / "committed.json")
    result = rate_accuracy.run(cfg, tmp_path / "out")
    assert result["status"] == "ok", result
    assert "the sweep committed with the docs" in result["data"]["source"]
    row = next(t for t in result["tables"] if t["id"] == "rate-accuracy-levels")["rows"][0]
    assert row["ours"] == "ours" and row["bottlenet_ratio"] == "-"
    assert row["cloud_ratio"] == pytest.approx(row["bytes_cloud-only"] / row["bytes_ours"])
    # in --quick the committed file is not used: the CI figure comes from a quick sweep
    quick = bench_config(quick=True)
    quick.rate_accuracy.sweep = str(tmp_path / "none.json")
    quick.rate_accuracy.committed = str(tmp_path / "committed.json")
    quick.rate_accuracy.run_quick_sweep = False
    assert rate_accuracy.run(quick, tmp_path / "q")["status"] == "skipped"
