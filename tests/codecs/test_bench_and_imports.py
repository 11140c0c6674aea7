"""Bench library on small inputs, and the core importing without optional packages."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch

from splitinfer import codecs
from splitinfer.codecs import bench
from splitinfer.errors import MissingDependency
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


@pytest.mark.integration  # a fresh interpreter
def test_core_import_needs_no_optional_package() -> None:
    code = (
        "import sys, torch, splitinfer.codecs as c; c.create('quant|raw').encode(torch.ones(3));"
        "opt = ('PIL', 'zstandard', 'constriction', 'imagecodecs');"
        "bad = [m for m in opt if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("spec", "module"),
    [("zstd", "zstandard"), ("ans", "constriction"), ("png", "PIL"), ("jpegxl", "imagecodecs")],
)
def test_missing_dependency(monkeypatch: pytest.MonkeyPatch, spec: str, module: str) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == module else real(name, *a)
    )
    with pytest.raises(MissingDependency, match=r"splitinfer\[codecs\]"):
        codecs.create(spec).encode(torch.ones(2, 2))


@needs_fmnist
def test_run_benchmark_end_to_end() -> None:
    from splitinfer.codecs.report import run_benchmark

    report = run_benchmark(quick=True, models=["fmnist_cnn"], specs=["quant:bits=8|ans"], fuzz=60)
    assert len(report.rows) == 1 and len(report.entropy) == 2
    assert all(abs(e.body_over_entropy - 1) < 0.02 for _, e in report.entropy)
    assert report.fuzz is not None and int(str(report.fuzz["count"])) >= 60
    data = json.loads(report.to_json())
    assert data["meta"]["threads"] == 1 and len(data["meta"]["entropy"]) == 2
    assert "fmnist_cnn@stage2" in report.format()
