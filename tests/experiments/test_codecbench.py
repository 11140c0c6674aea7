"""The codec tooling (bench, entropy report, fuzz) on small inputs."""

from __future__ import annotations

import json
import math

import torch

from splitinfer import codecs
from splitinfer.experiments.codecbench import bench
from tests.conftest import needs_fmnist


def test_bench_rows_and_json() -> None:
    x = torch.randn(3, 4, 5, 5).relu()
    rows = bench.bench_codecs({"toy": x}, ["raw", "quant:bits=8|ans", "jpeg"], repeats=2, warmup=0)
    assert [r.spec for r in rows] == [
        str(codecs.create(s).spec) for s in ("raw", "quant:bits=8|ans", "jpeg")
    ]
    raw, ans, _ = rows
    assert raw.payload_bytes == 4 * 100 + 5 + 1 and raw.mse == 0 and math.isinf(raw.psnr_db)
    assert (
        ans.ratio > 1 and ans.psnr_db > 40 and ans.samples == 3 and ans.sample_shape == (1, 4, 5, 5)
    )
    data = json.loads(bench.rows_to_json(rows, {"machine": "test"}))
    assert data["meta"]["machine"] == "test" and data["rows"][0]["psnr_db"] == "inf"
    assert "quant:bits=8" in bench.format_table(rows)


def test_default_specs_are_valid() -> None:
    names = set()
    for spec in bench.DEFAULT_SPECS:
        names |= {s.name for s in codecs.canonical(spec).stages}
    assert names == set(codecs.list_codecs())


@needs_fmnist
def test_real_features_small() -> None:
    sets = bench.real_features(n_images=2, models=["fmnist_cnn"])
    (fs,) = sets
    assert fs.name == "fmnist_cnn@stage2" and fs.tensor.shape == (2, 64, 7, 7)
    assert "random-init" in fs.note


@needs_fmnist
def test_run_benchmark_end_to_end() -> None:
    from splitinfer.experiments.codecbench.report import run_benchmark

    report = run_benchmark(quick=True, models=["fmnist_cnn"], specs=["quant:bits=8|ans"], fuzz=60)
    assert len(report.rows) == 1 and len(report.entropy) == 2
    assert all(abs(e.body_over_entropy - 1) < 0.02 for _, e in report.entropy)
    assert report.fuzz is not None and int(str(report.fuzz["count"])) >= 60
    data = json.loads(report.to_json())
    assert data["meta"]["threads"] == 1 and len(data["meta"]["entropy"]) == 2
    assert "fmnist_cnn@stage2" in report.format()
