from __future__ import annotations

import json
from pathlib import Path

import pytest

from splitinfer.bottleneck import UnitConfig
from splitinfer.bundle import Bundle
from splitinfer.data import normalize_fmnist, synthetic
from splitinfer.train.evaluate import evaluate_bundle
from splitinfer.train.loop import FitConfig
from splitinfer.train.recipes import Data, train_backbone, train_unit_bundle


@pytest.mark.slow
def test_backbone_then_units_make_a_measured_loadable_bundle(tmp_path: Path) -> None:
    (xtr, ytr), (xte, yte) = synthetic(384, seed=0), synthetic(64, seed=1)
    data = Data((normalize_fmnist(xtr), ytr), (normalize_fmnist(xte), yte))
    fast = FitConfig(epochs=1, batch_size=64, lr=0.05, augment=False)
    results = train_backbone("fmnist_cnn", data, fast, tmp_path / "bb", command="test")
    assert (tmp_path / "bb" / "weights.safetensors").is_file()
    assert json.loads((tmp_path / "bb" / "config.json").read_text())["model"] == "fmnist_cnn"
    assert results["test_accuracy"] > 0.5  # the texture task is easy

    run = train_unit_bundle(
        model_name="fmnist_cnn", backbone=tmp_path / "bb" / "weights.safetensors",
        cut="stage1", unit=UnitConfig(channels=2, stride=2), codec="quant:bits=2,clip=0:1|ans",
        data=data, config=fast, out=tmp_path / "units", bundle_dir=tmp_path / "bundle",
        bundle_id="synthetic", tune="units+tail", distill=2.0, test_images_u8=xte,
    )  # fmt: skip
    m = run.metrics
    assert m["images"] == 64 and 0.0 <= m["accuracy"] <= 1.0
    assert m["mean_frame_bytes"] > m["mean_payload_bytes"] > 0
    loaded = Bundle.load(run.bundle_dir)
    assert loaded.spec.metrics["accuracy"] == m["accuracy"]
    assert loaded.spec.unit == UnitConfig(channels=2, stride=2)
    from splitinfer.plan import load_ratepoints

    (point,) = load_ratepoints(tmp_path / "units" / "ratepoints.json")
    assert point.measured and point.cut == "stage1"
    assert point.frame_bytes == m["mean_frame_bytes"]
    again = evaluate_bundle(loaded, xte, yte)
    assert again["accuracy"] == m["accuracy"]
    assert again["mean_frame_bytes"] == m["mean_frame_bytes"]


def _moved_after_training(tmp_path: Path, tune: str) -> tuple[bool, bool]:
    """Train a tiny unit with ``tune``: did the head's / the tail's tensors change?"""
    import torch

    from splitinfer import zoo
    from splitinfer.bottleneck import insert_bottleneck
    from splitinfer.partition import split
    from splitinfer.train.recipes import train_units

    (xtr, ytr), (xte, yte) = synthetic(128, seed=0), synthetic(32, seed=1)
    data = Data((normalize_fmnist(xtr), ytr), (normalize_fmnist(xte), yte))
    torch.manual_seed(0)
    model, teacher = zoo.create("fmnist_cnn"), zoo.create("fmnist_cnn")
    teacher.load_state_dict(model.state_dict())
    s = split(model, "stage1", torch.zeros(1, 1, 28, 28))
    bm = insert_bottleneck(s, UnitConfig(channels=2, stride=2), "quant:bits=2,clip=0:1|ans")
    head = {k: v.clone() for k, v in bm.head.state_dict().items()}
    tail = {k: v.clone() for k, v in bm.tail.state_dict().items()}
    assert head and tail
    fast = FitConfig(epochs=1, batch_size=32, lr=0.05, augment=False)
    train_units(bm, teacher, data, fast, tmp_path / tune.replace("+", "-"), tune=tune)  # type: ignore[arg-type]

    def moved(before: dict[str, torch.Tensor], module: torch.nn.Module) -> bool:
        now = module.state_dict()
        return any(not torch.equal(v, now[k]) for k, v in before.items())

    # the bundle saves the model these modules share their tensors with
    assert all(any(t is p for p in model.parameters()) for t in bm.head.parameters())
    return moved(head, bm.head), moved(tail, bm.tail)


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.slow
def test_tune_decides_which_backbone_weights_learn(tmp_path: Path) -> None:
    assert _moved_after_training(tmp_path, "units") == (False, False)  # BatchNorm stats too
    assert _moved_after_training(tmp_path, "units+tail") == (False, True)
    assert _moved_after_training(tmp_path, "all") == (True, True)


def test_unknown_tune_is_refused(tmp_path: Path) -> None:
    from splitinfer.errors import BadInput

    with pytest.raises(BadInput, match="tune must be one of"):
        _moved_after_training(tmp_path, "everything")


def test_a_bad_bundle_id_fails_before_any_training(tmp_path: Path) -> None:
    from splitinfer.errors import BadBundle

    (xtr, ytr) = synthetic(32, seed=0)
    data = Data((normalize_fmnist(xtr), ytr), (normalize_fmnist(xtr), ytr))
    with pytest.raises(BadBundle, match="bundle id"):
        train_unit_bundle(
            model_name="fmnist_cnn", backbone=tmp_path / "never-read.safetensors",
            cut="stage1", unit=UnitConfig(channels=2), codec="quant:bits=2,clip=0:1|ans",
            data=data, config=FitConfig(epochs=1), out=tmp_path / "units",
            bundle_dir=tmp_path / "bundle", bundle_id="Upper-Case",
        )  # fmt: skip
    assert not (tmp_path / "units").exists()
