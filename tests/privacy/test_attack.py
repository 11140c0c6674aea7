"""The attack end to end on synthetic data, and a decoder that can lose."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from splitinfer import zoo
from splitinfer.bottleneck import UnitConfig
from splitinfer.bundle import Bundle, Preprocess
from splitinfer.data import FMNIST_CLASSES, synthetic
from splitinfer.errors import BadBundle, BadInput
from splitinfer.privacy import AttackBudget, BundleObserver, ImageObserver
from splitinfer.privacy.decoder import reconstruct, train_decoder
from splitinfer.privacy.figures import draw_grid, draw_quality_vs_bytes
from splitinfer.privacy.metrics import psnr_per_image
from splitinfer.privacy.study import Split, Subject, run_study

TINY = AttackBudget(epochs=2, train_limit=640, batch_size=32, width=8)


def tiny_bundle(input_shape: tuple[int, int, int] = (1, 28, 28)) -> Bundle:
    torch.manual_seed(0)
    c = input_shape[0]
    return Bundle.build(
        bundle_id="tiny", model_name="fmnist_resnet",
        model=zoo.create("fmnist_resnet", in_channels=c), cut="stage2",
        unit=UnitConfig(channels=2, stride=2), codec="quant:bits=4,clip=0:1|ans",
        classes=FMNIST_CLASSES, preprocess=Preprocess((0.3,) * c, (0.35,) * c),
        input_shape=input_shape,
    )  # fmt: skip


def test_tiny_attack_on_synthetic_data_end_to_end(tmp_path: Path) -> None:
    train = Split(*synthetic(640, seed=1))
    test = Split(*synthetic(64, seed=2))
    bundle = tiny_bundle()
    subjects = [
        Subject("cloud-only", "cloud-only png", lambda: ImageObserver("png")),
        Subject("default bundle", "tiny", lambda: BundleObserver(bundle, "tiny")),
    ]
    study = run_study(subjects, train, test, TINY, tmp_path / "cache", classifier_epochs=1)
    rows = study.rows()
    assert [(r["family"], r["view"]) for r in rows] == [
        ("cloud-only", "image"), ("default bundle", "latent"), ("default bundle", "restored"),
        ("reference", "-"), ("reference", "-"),
    ]  # fmt: skip
    for r in rows[:3]:
        assert r["frame_bytes"] > 0 and 0 < r["psnr"] < 100
        assert -1 <= r["ssim"] <= 1 and 0 <= r["top1"] <= 100 and 0 <= r["reid"] <= 100
    # the no-frame reference's reconstructions are all one image: nobody is re-identified
    assert rows[3]["reid"] <= 100 / len(test.images) and rows[3]["frame_bytes"] == 0
    assert rows[1]["shape"] == "2x7x7" and rows[0]["frame_bytes"] > rows[1]["frame_bytes"]
    assert study.results[1].views[0].decoder["steps"] == 40
    assert draw_quality_vs_bytes(study, tmp_path / "q.png").read_bytes()[:4] == b"\x89PNG"
    assert draw_grid(study, tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"
    # a second run reads every subject from the cache: same numbers, no training
    again = run_study(subjects[:1], train, test, TINY, tmp_path / "cache", classifier_epochs=1)
    assert again.rows()[0]["psnr"] == rows[0]["psnr"]
    assert again.results[0].views[0].grid is not None


def test_the_image_itself_beats_a_heavily_quantized_latent() -> None:
    images, _ = synthetic(1536, seed=4)
    x = images.float() / 255.0
    coarse = (torch.nn.functional.avg_pool2d(x, 7) > 0.5).float()  # 1 bit per 7x7 block
    budget = AttackBudget(epochs=3, train_limit=None, batch_size=64, width=16)
    train, test = slice(0, 1280), slice(1280, None)
    scores = []
    for view in (x, coarse):
        dec, _ = train_decoder(view[train], images[train], budget)
        scores.append(float(psnr_per_image(reconstruct(dec, view[test]), x[test]).mean()))
    assert scores[0] > scores[1] + 2.0, scores


def test_a_budget_too_small_names_the_flag() -> None:
    with pytest.raises(BadInput, match="--train-limit"):
        AttackBudget(epochs=1, train_limit=100, batch_size=128).check(100)
    with pytest.raises(BadInput, match="--epochs"):
        AttackBudget(epochs=1, batch_size=128).check(1000)  # 8 steps
    with pytest.raises(BadInput, match="--width"):
        AttackBudget(width=1).check(10_000)
    AttackBudget(epochs=3, batch_size=128).check(1000)  # 24 steps: enough


def test_a_bundle_whose_input_is_not_an_image_is_refused() -> None:
    with pytest.raises(BadBundle, match="not an image"):
        BundleObserver(tiny_bundle((2, 28, 28)))


def test_edge_noise_changes_what_the_server_holds_and_keeps_predictions() -> None:
    images = synthetic(8, seed=5)[0]
    bundle = tiny_bundle()
    clean = BundleObserver(bundle).observe(images)
    noisy = BundleObserver(bundle, noise=0.3).observe(images)
    assert clean.predictions is None
    assert noisy.predictions is not None and noisy.predictions.shape == (8,)
    assert not torch.equal(clean.views["latent"], noisy.views["latent"])
    assert torch.equal(BundleObserver(bundle).observe(images).views["latent"],
                       clean.views["latent"])  # fmt: skip
    with pytest.raises(BadBundle, match="noise"):
        BundleObserver(bundle, noise=-1.0)
