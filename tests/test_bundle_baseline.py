"""A bundle may carry its unsplit baseline; the baselines then run it, and nothing of the
split path (weights, fingerprint, frames) changes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from splitinfer import zoo
from splitinfer.bundle import BASELINE_FILE, Bundle
from splitinfer.errors import BadBundle
from tests.cloud.conftest import CODEC, build


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    return build("baseline-test", CODEC).save(tmp_path / "b")


def _baseline(seed: int = 7) -> torch.nn.Module:
    torch.manual_seed(seed)
    return zoo.create("fmnist_resnet").eval()


def test_without_a_baseline_the_baselines_run_the_split_network(saved: Path) -> None:
    b = Bundle.load(saved)
    x = b.spec.preprocess(torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8))
    assert b.baseline is None and "has no baseline" in b.baseline_label
    assert torch.equal(b.unsplit(x), b.full(x))
    assert "baseline" not in json.loads((saved / "spec.json").read_text())


def test_attaching_a_baseline_keeps_the_split_path_byte_identical(saved: Path) -> None:
    before = Bundle.load(saved)
    weights = (saved / "weights.safetensors").read_bytes()
    images = torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8)
    frames = before.edge.encode(images)
    model = _baseline()
    after = before.attach_baseline(saved, model, 0.5, "pytest")
    assert (saved / "weights.safetensors").read_bytes() == weights
    assert after.fingerprint == before.fingerprint
    assert after.edge.encode(images) == frames
    x = after.spec.preprocess(images)
    assert torch.equal(after.unsplit(x), model(x))  # the baselines run the unsplit model
    assert not torch.equal(after.unsplit(x), after.full(x))
    spec = after.spec.baseline or {}
    assert (spec["weights"], spec["accuracy"], spec["built_by"]) == (BASELINE_FILE, 0.5, "pytest")
    assert "unsplit fmnist_resnet" in after.baseline_label
    copy = after.save(saved.parent / "copy")  # saving carries the baseline along
    assert torch.equal(Bundle.load(copy).unsplit(x), model(x))


def test_a_tampered_or_missing_baseline_is_refused(saved: Path) -> None:
    Bundle.load(saved).attach_baseline(saved, _baseline(), None, "pytest")
    spare = saved.parent / "spare"
    shutil.copytree(saved, spare)
    other = {k: v.contiguous() for k, v in _baseline(seed=8).state_dict().items()}
    save_file(other, str(saved / BASELINE_FILE))
    with pytest.raises(BadBundle, match="baseline sha256"):
        Bundle.load(saved)
    (spare / BASELINE_FILE).unlink()
    with pytest.raises(BadBundle, match=r"baseline\.safetensors is missing"):
        Bundle.load(spare)


def test_the_cli_attaches_a_baseline_with_its_accuracy(saved: Path, tmp_path: Path) -> None:
    from splitinfer.cli import build_app
    from tests.edge.test_run_cli import needs_fmnist

    if needs_fmnist.args[0]:
        pytest.skip("Fashion-MNIST is not installed")
    weights = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in _baseline().state_dict().items()}, str(weights))
    argv = ["train", "baseline", str(saved), "--weights", str(weights), "--images", "200"]
    result = CliRunner().invoke(build_app(), argv)
    assert result.exit_code == 0, result.output
    spec = json.loads((saved / "spec.json").read_text())
    assert 0.0 <= spec["baseline"]["accuracy"] <= 1.0 and "on 200 test images" in result.output
