"""`splitinfer plan` as a user runs it: table for people, JSON for machines."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from splitinfer.cli import build_app
from splitinfer.errors import BadInput, MissingDependency
from splitinfer.plan.errors import BadPlanInput
from splitinfer.plan.load import load_model_profile
from tests.plan.toy import make_profile


@pytest.fixture
def profile_path(tmp_path: Path) -> Path:
    path = tmp_path / "toy.json"
    make_profile().save(path)
    return path


def test_plan_prints_table_and_writes_json(profile_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    result = CliRunner().invoke(
        build_app(),
        ["plan", str(profile_path), "--link", "custom:up=1,down=10,rtt=20", "--server", "gpu",
         "--input-bytes", "20000", "--json", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "MODELED" in result.output and "cloud-only" in result.output
    data = json.loads(out.read_text())
    assert data["modeled"] is True and data["mode"] == "realistic"
    assert data["best"]["cut"] == "middle"
    assert {c["kind"] for c in data["candidates"]} == {"split", "cloud-only", "mobile-only"}


def test_plan_seed_mode(profile_path: Path) -> None:
    result = CliRunner().invoke(build_app(), ["plan", str(profile_path), "--mode", "seed"])
    assert result.exit_code == 0, result.output
    assert "seed mode" in result.output


def test_bad_profile_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else"}')
    result = CliRunner().invoke(build_app(), ["plan", str(bad)])
    assert isinstance(result.exception, BadPlanInput)
    assert "splitinfer profile MODEL --json" in str(result.exception)
    bad.write_text("{not json")
    with pytest.raises(BadPlanInput, match="not JSON"):
        load_model_profile(bad)
    bad.write_text('{"format": "splitinfer.profile/1", "model": "x"}')
    with pytest.raises(BadPlanInput, match="malformed profile"):
        load_model_profile(bad)


@pytest.mark.slow  # a sweep and a figure
def test_sweep_draws_png_or_names_missing_matplotlib(profile_path: Path, tmp_path: Path) -> None:
    png, out = tmp_path / "sweep.png", tmp_path / "plan.json"
    result = CliRunner().invoke(
        build_app(),
        ["plan", str(profile_path), "--sweep-bandwidth", "0.1:100", "--png", str(png),
         "--json", str(out)],
    )  # fmt: skip
    if importlib.util.find_spec("matplotlib") is None:
        assert isinstance(result.exception, MissingDependency)
        return
    assert result.exit_code == 0, result.output
    assert png.stat().st_size > 0
    assert len(json.loads(out.read_text())["sweep"]) > 10


@pytest.mark.parametrize(
    "option", [["--link", "3gg"], ["--device", "toaster"], ["--server", "nope"],
               ["--objective", "speed"], ["--mode", "fast"], ["--sweep-bandwidth", "x"]],
)  # fmt: skip
def test_plan_checks_options_before_profiling(
    option: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import splitinfer.cli.partition as partition

    def no_profiling(*args: object, **kwargs: object) -> None:
        raise AssertionError("profiled before checking the options")

    monkeypatch.setattr(partition, "run_profile", no_profiling)
    result = CliRunner().invoke(build_app(), ["plan", "resnet50", *option])
    assert isinstance(result.exception, BadInput), result.output


def test_plan_takes_a_bundle(tmp_path: Path) -> None:
    from splitinfer.bundle import Bundle, default_bundle_path

    out = tmp_path / "plan.json"
    result = CliRunner().invoke(
        build_app(),
        ["plan", str(default_bundle_path()), "--link", "3g", "--repeats", "2", "--json", str(out)],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert {c["kind"] for c in data["candidates"]} == {"split", "cloud-only", "mobile-only"}
    split = next(c for c in data["candidates"] if c["kind"] == "split")
    cut = Bundle.load(default_bundle_path()).spec.cut
    assert split["cut"] == cut and split["accuracy_loss"] is not None  # the bundle's point


def test_plan_refuses_a_directory_that_is_not_a_bundle(tmp_path: Path) -> None:
    result = CliRunner().invoke(build_app(), ["plan", str(tmp_path)])
    assert isinstance(result.exception, BadPlanInput)
    assert "without spec.json" in str(result.exception)
