from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from splitinfer.cli import build_app


def test_codecs_list_shows_every_stage() -> None:
    result = CliRunner().invoke(build_app(), ["codecs", "list"])
    assert result.exit_code == 0, result.output
    for name in ("ans", "jpeg", "png", "quant", "tile", "zstd"):
        assert name in result.output


def test_codecs_bench_writes_a_table_and_json(tmp_path: Path) -> None:
    from splitinfer.data import fmnist_root
    from splitinfer.errors import BadInput

    try:
        fmnist_root()
    except BadInput:
        import pytest

        pytest.skip("Fashion-MNIST is not installed (make data)")
    out = tmp_path / "bench.json"
    args = ["codecs", "bench", "--images", "1", "--repeats", "1", "--models", "fmnist_cnn",
            "--spec", "quant:bits=4|ans", "--spec", "jpeg:quality=50",
            "--json", str(out)]  # fmt: skip
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    assert "ans" in result.output and "jpeg" in result.output
    data = json.loads(out.read_text())
    assert data["meta"]["command"].startswith("splitinfer ")
    assert {row["spec"].split("|")[-1].split(":")[0] for row in data["rows"]} == {"ans", "jpeg"}
