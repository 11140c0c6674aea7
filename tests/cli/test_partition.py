"""The command line, run as a user would (in-process via typer's runner)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from splitinfer.cli import build_app, main


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def test_help_lists_commands(runner: CliRunner) -> None:
    result = runner.invoke(build_app(), ["--help"])
    assert result.exit_code == 0
    for cmd in ("profile", "demo", "models"):
        assert cmd in result.output


def test_models_lists_the_zoo(runner: CliRunner) -> None:
    result = runner.invoke(build_app(), ["models"])
    assert result.exit_code == 0 and "fmnist_resnet" in result.output


def test_profile_writes_json(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    result = runner.invoke(
        build_app(),
        ["profile", "fmnist_cnn", "--repeats", "1", "--warmup", "0", "--json", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "stage1" in result.output and "wrote" in result.output
    data = json.loads(out.read_text())
    assert data["model"] == "fmnist_cnn" and len(data["cuts"]) >= 5
    assert all(c["head_ms"] > 0 for c in data["cuts"])


def test_profile_static_with_input_size(runner: CliRunner) -> None:
    result = runner.invoke(
        build_app(), ["profile", "resnet18", "--input-size", "64", "--no-latency"]
    )
    assert result.exit_code == 0, result.output
    assert "1x512x2x2" in result.output  # layer4 at 64 px


def test_bad_input_size_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(build_app(), ["profile", "resnet18", "--input-size", "a,b"])
    assert result.exit_code != 0 and "input-size" in result.output


def test_typed_errors_become_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["profile", "no_such_model", "--no-latency"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown_model" in err and "Traceback" not in err
