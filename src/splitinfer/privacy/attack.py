"""One attack: observe train and test images through a family member, fit a decoder per
view on the train split, measure its reconstructions of the test split.

    result = attack(BundleObserver(Bundle.load(path)), train_u8, test_u8, test_labels,
                    AttackBudget(epochs=3), classifier)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from splitinfer.privacy.budget import AttackBudget
from splitinfer.privacy.decoder import reconstruct, train_decoder
from splitinfer.privacy.metrics import (
    mean_psnr,
    psnr_per_image,
    reidentification_rate,
    ssim_per_image,
    top1,
)
from splitinfer.privacy.observe import Observer

Log = Callable[[str], None]
#: Test images kept (inputs and reconstructions) for the image grid.
GRID_IMAGES = 8


@dataclass
class ViewResult:
    """The attack on one view of one family member, measured on the test split."""

    view: str
    shape: list[int]
    psnr: float
    ssim: float
    classifier_top1: float
    reid_rate: float
    decoder: dict[str, Any]  # train_seconds, steps, parameters, final_train_mse
    grid: torch.Tensor | None = None  # GRID_IMAGES reconstructions (float [0, 1])

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("grid")
        return d


@dataclass
class AttackResult:
    name: str
    family: str
    frame_bytes: float
    payload_bytes: float
    test_images: int
    train_images: int
    observe_seconds: float
    views: list[ViewResult] = field(default_factory=list)
    about: dict[str, Any] = field(default_factory=dict)
    accuracy: float | None = None  # the cloud's top-1 on these frames, when measured here

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "family": self.family, "frame_bytes": self.frame_bytes,
            "payload_bytes": self.payload_bytes, "test_images": self.test_images,
            "train_images": self.train_images, "observe_seconds": self.observe_seconds,
            "views": [v.to_json() for v in self.views], "about": self.about,
            "accuracy": self.accuracy,
        }  # fmt: skip

    def best(self) -> ViewResult:
        """The view that leaks most (highest PSNR)."""
        return max(self.views, key=lambda v: v.psnr)


def attack(
    observer: Observer,
    train_images: torch.Tensor,
    test_images: torch.Tensor,
    test_labels: torch.Tensor,
    budget: AttackBudget,
    classifier: nn.Module,
    log: Log | None = None,
) -> AttackResult:
    """Run the attack on every view of ``observer``; the budget is checked first."""
    say = log or (lambda _m: None)
    train_images = train_images[: budget.train_limit] if budget.train_limit else train_images
    budget.check(len(train_images))
    t0 = time.perf_counter()
    say(f"{observer.name}: observing {len(train_images)} train + {len(test_images)} test images")
    train_obs = observer.observe(train_images)
    test_obs = observer.observe(test_images)
    result = AttackResult(
        name=observer.name, family=observer.family, frame_bytes=test_obs.frame_bytes,
        payload_bytes=test_obs.payload_bytes, test_images=len(test_images),
        train_images=len(train_images), observe_seconds=round(time.perf_counter() - t0, 1),
        about=observer.describe(),
    )  # fmt: skip
    if test_obs.predictions is not None:
        result.accuracy = float((test_obs.predictions == test_labels).float().mean())
    target = test_images.float() / 255.0
    for view in observer.view_names():
        dec, cost = train_decoder(train_obs.views[view], train_images, budget)
        recon = reconstruct(dec, test_obs.views[view])
        vr = ViewResult(
            view=view, shape=list(test_obs.views[view].shape[1:]),
            psnr=mean_psnr(psnr_per_image(recon, target)),
            ssim=float(ssim_per_image(recon, target).mean()),
            classifier_top1=top1(classifier, recon, test_labels),
            reid_rate=reidentification_rate(recon, target),
            decoder=cost, grid=recon[:GRID_IMAGES].clone(),
        )  # fmt: skip
        result.views.append(vr)
        say(f"{observer.name} / {view}: PSNR {vr.psnr:.2f} dB, SSIM {vr.ssim:.3f}, "
            f"classifier {100 * vr.classifier_top1:.1f}%, re-id {100 * vr.reid_rate:.1f}% "
            f"(decoder {cost['train_seconds']:.0f} s)")  # fmt: skip
    return result
