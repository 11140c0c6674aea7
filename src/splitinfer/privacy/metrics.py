"""How much of the input a reconstruction gives away.

* PSNR and SSIM per image (torchmetrics), pixels in [0, 1], averaged over the test split;
* the top-1 of a separately trained classifier on the reconstructions: what a third party
  learns about each image's class;
* the re-identification rate: the share of reconstructions whose nearest test image (L2
  over pixels) is their own source.
"""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from splitinfer.errors import require


def _metrics():  # type: ignore[no-untyped-def]
    require("torchmetrics", "privacy")
    from torchmetrics.functional.image import (
        peak_signal_noise_ratio,
        structural_similarity_index_measure,
    )

    return peak_signal_noise_ratio, structural_similarity_index_measure


def psnr_per_image(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """PSNR (dB) of each image pair; identical images give +inf."""
    psnr, _ = _metrics()
    out = psnr(recon.float(), target.float(), data_range=1.0, reduction="none", dim=(1, 2, 3))
    return torch.as_tensor(out).reshape(-1)


def ssim_per_image(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SSIM of each image pair (Gaussian window 11, sigma 1.5); identical images give 1."""
    _, ssim = _metrics()
    out = ssim(recon.float(), target.float(), data_range=1.0, reduction="none")
    return torch.as_tensor(out).reshape(-1)


def mean_psnr(values: torch.Tensor) -> float:
    """Mean PSNR; +inf when any pair is identical (kept, not hidden)."""
    return float(values.mean()) if len(values) else math.nan


def reidentification_rate(recon: torch.Tensor, gallery: torch.Tensor, chunk: int = 1000) -> float:
    """Share of reconstructions whose nearest gallery image (L2) is their own source.

    ``recon[i]`` is the reconstruction of ``gallery[i]``; ties count against the attack
    only if another image is strictly nearer.
    """
    a = recon.float().flatten(1)
    b = gallery.float().flatten(1)
    b2 = (b * b).sum(1)
    hits = 0
    for start in range(0, len(a), chunk):
        part = a[start : start + chunk]
        d = b2[None, :] - 2 * part @ b.T  # |a|^2 is the same along a row
        own = d[torch.arange(len(part)), torch.arange(start, start + len(part))]
        hits += int((d.min(1).values >= own - 1e-6 * own.abs().clamp(min=1)).sum())
    return hits / max(len(a), 1)


class ImageClassifier(nn.Module):
    """The third party's classifier: two conv blocks and a linear layer (about 26k weights)."""

    def __init__(self, channels: int = 1, classes: int = 10) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(32 * 16, classes),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x - 0.5)


def train_classifier(
    images: torch.Tensor, labels: torch.Tensor, epochs: int = 2, batch_size: int = 128,
    seed: int = 0,
) -> tuple[ImageClassifier, float]:  # fmt: skip
    """A classifier trained on clean uint8 images (not on reconstructions); returns seconds."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    x = images.float() / 255.0
    clf = ImageClassifier(images.shape[1], int(labels.max()) + 1)
    opt = torch.optim.Adam(clf.parameters(), lr=2e-3)
    t0 = time.perf_counter()
    clf.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=g)
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            loss = F.cross_entropy(clf(x[idx]), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    clf.eval()
    return clf, time.perf_counter() - t0


@torch.no_grad()
def top1(clf: nn.Module, images01: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 of ``clf`` on float images in [0, 1]."""
    correct = 0
    for start in range(0, len(images01), 1000):
        logits = clf(images01[start : start + 1000].float())
        correct += int((logits.argmax(1) == labels[start : start + 1000]).sum())
    return correct / max(len(images01), 1)
