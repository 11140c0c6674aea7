"""`splitinfer privacy`: its errors on bad input (the measured runs are too long for tests)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from splitinfer.cli import build_app
from splitinfer.errors import SplitInferError
from tests.privacy.test_attack import tiny_bundle


def _invoke(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(build_app(), args)
    err = result.exception
    message = f"[{err.code}] {err.message}" if isinstance(err, SplitInferError) else ""
    return result.exit_code, result.output + message


def test_a_non_image_bundle_is_a_clear_error(tmp_path: Path) -> None:
    folder = tiny_bundle((2, 28, 28)).save(tmp_path / "b")
    code, text = _invoke(["privacy", str(folder), "--out", str(tmp_path / "o")])
    assert code != 0 and "not an image" in text and "bad_bundle" in text


def test_a_budget_too_small_names_the_flag(tmp_path: Path) -> None:
    folder = tiny_bundle().save(tmp_path / "b")
    code, text = _invoke(["privacy", str(folder), "--train-limit", "50"])
    assert code != 0 and "--train-limit" in text and "too small" in text


def test_missing_data_gives_the_training_commands_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("splitinfer.data.idx.DEBIAN_FMNIST", tmp_path / "nowhere")
    monkeypatch.delenv("SPLITINFER_FMNIST_DIR", raising=False)
    folder = tiny_bundle().save(tmp_path / "b")
    empty = tmp_path / "empty"
    empty.mkdir()
    code, text = _invoke(["privacy", str(folder), "--data", str(empty)])
    train_code, train_text = _invoke(["train", "backbone", "--data", str(empty),
                                      "--out", str(tmp_path / "t")])  # fmt: skip
    assert code != 0 and train_code != 0
    assert "Fashion-MNIST not found" in text
    assert (
        text.split("Fashion-MNIST not found")[1] == train_text.split("Fashion-MNIST not found")[1]
    )


def test_the_shipped_privacy_config_is_a_valid_bench_config() -> None:
    from splitinfer.experiments.config import bench_config

    path = Path(__file__).resolve().parents[2] / "configs" / "privacy-fmnist.yaml"
    cfg = bench_config(path=path)  # an unknown key would raise BadInput
    assert cfg.privacy.ulhaq_cuts == ["stage1", "stage3"]
    assert cfg.privacy.edge_noise == [0.1, 0.3] and len(cfg.privacy.bundles) == 2
