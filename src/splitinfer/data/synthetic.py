"""A synthetic, learnable image set for tests and throughput checks.

Synthetic data is labelled as such wherever it appears (dataset names start with
``synthetic``); its accuracy says nothing about real images.
"""

from __future__ import annotations

import torch

from splitinfer.errors import BadInput


def synthetic(
    n: int, shape: tuple[int, int, int] = (1, 28, 28), classes: int = 10, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """A learnable synthetic image set for tests (uint8 images, int64 labels).

    Class ``k`` is a stripe texture with its own orientation and frequency, at a random
    phase per image, plus pixel noise: local, translation-invariant evidence that a small
    CNN with global pooling learns in a few steps.
    """
    if n < 1 or classes < 1:
        raise BadInput(f"n and classes must be positive, got n={n}, classes={classes}")
    g = torch.Generator().manual_seed(seed)
    c, h, w = shape
    labels = torch.randint(0, classes, (n,), generator=g)
    angle = labels.double() * torch.pi / classes
    freq = 0.15 + 0.1 * (labels % 3).double()
    phase = 2 * torch.pi * torch.rand(n, generator=g, dtype=torch.float64)
    yy, xx = torch.meshgrid(torch.arange(h).double(), torch.arange(w).double(), indexing="ij")
    arg = (xx * torch.cos(angle).view(n, 1, 1) + yy * torch.sin(angle).view(n, 1, 1)) * freq.view(
        n, 1, 1
    )
    stripes = 0.5 + 0.4 * torch.sin(2 * torch.pi * arg + phase.view(n, 1, 1))
    noise = 0.1 * torch.randn((n, c, h, w), generator=g, dtype=torch.float64)
    images = (stripes.unsqueeze(1) + noise).clamp(0, 1).mul(255).round().to(torch.uint8)
    return images, labels
