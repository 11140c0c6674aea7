from __future__ import annotations

from pathlib import Path

import pytest
import torch

from splitinfer import zoo
from splitinfer.data import normalize_fmnist, synthetic
from splitinfer.train.loop import FitConfig, augment_28, evaluate, fit


def _data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = synthetic(n, seed=seed)
    return normalize_fmnist(x), y


@pytest.mark.slow
def test_training_on_the_synthetic_set_improves_accuracy() -> None:
    train, test = _data(512, 0), _data(256, 1)
    model = zoo.create("fmnist_cnn")
    before = evaluate(model, *test)
    result = fit(model, train, FitConfig(epochs=2, batch_size=64, lr=0.05, augment=False),
                 evaluate_on=test)  # fmt: skip
    assert result.epochs_done == 2 and len(result.history) == 2
    assert result.history[-1]["accuracy"] > before + 0.3


@pytest.mark.slow
def test_resume_continues_to_the_same_weights(tmp_path: Path) -> None:
    train = _data(128, 1)
    cfg = FitConfig(epochs=2, batch_size=32, lr=0.02, seed=3)
    start = zoo.create("fmnist_cnn").state_dict()

    straight = zoo.create("fmnist_cnn")
    straight.load_state_dict(start)
    fit(straight, train, cfg)

    class Stop(Exception):
        pass

    def stop_after_first_epoch(phase: str, done: int, total: int, stats: object) -> None:
        if phase == "epoch" and done == 1:
            raise Stop

    ckpt = tmp_path / "ckpt.pt"
    interrupted = zoo.create("fmnist_cnn")
    interrupted.load_state_dict(start)
    with pytest.raises(Stop):
        fit(interrupted, train, cfg, checkpoint=ckpt, progress=stop_after_first_epoch)
    first_epoch_s = torch.load(ckpt, weights_only=True)["seconds"]
    resumed = zoo.create("fmnist_cnn")
    result = fit(resumed, train, cfg, checkpoint=ckpt, resume=True)
    assert result.epochs_done == 2 and len(result.history) == 2
    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key
    # the reported time includes the epoch trained before the interruption
    assert result.seconds >= first_epoch_s > 0
    # a finished run resumed again trains nothing and still reports its whole time
    again = fit(zoo.create("fmnist_cnn"), train, cfg, checkpoint=ckpt, resume=True)
    assert again.epochs_done == 2 and again.train_seconds is not None
    assert again.seconds >= torch.load(ckpt, weights_only=True)["seconds"] > first_epoch_s


def test_a_checkpoint_without_its_time_reports_it_unknown(tmp_path: Path) -> None:
    train = _data(64, 1)
    cfg = FitConfig(epochs=1, batch_size=32, lr=0.02, seed=3)
    ckpt = tmp_path / "ckpt.pt"
    fit(zoo.create("fmnist_cnn"), train, cfg, checkpoint=ckpt)
    state = torch.load(ckpt, weights_only=True)
    del state["seconds"]  # as written before checkpoints kept it
    torch.save(state, ckpt)
    result = fit(zoo.create("fmnist_cnn"), train, cfg, checkpoint=ckpt, resume=True)
    assert result.train_seconds is None  # unknown, never a misleading 0


def test_augmentation_shifts_and_flips_within_two_pixels() -> None:
    x = torch.rand(8, 1, 28, 28)
    y = augment_28(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), value=float(x.min()))
    for i in range(8):
        crops = [padded[i, :, dy : dy + 28, dx : dx + 28] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(c, y[i]) or torch.equal(c.flip(2), y[i]) for c in crops)
