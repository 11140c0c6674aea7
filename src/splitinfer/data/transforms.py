"""The standard classification transforms, ending in uint8 tensors.

    train: RandomResizedCrop(size) -> RandomHorizontalFlip -> uint8 (C, size, size)
    eval:  Resize(size / crop_fraction) -> CenterCrop(size) -> uint8 (C, size, size)

Normalisation is not here: images travel as uint8 (a quarter of the bytes through
pinned memory), and the model side applies ``(x / 255 - mean) / std`` on its device,
exactly as a bundle's :class:`~splitinfer.bundle.Preprocess` does when deployed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from splitinfer.errors import BadInput

#: ImageNet's eval convention: resize to size / 0.875 (256 for 224), then crop the centre.
CROP_FRACTION = 0.875

Transform = Callable[[Any], torch.Tensor]


def _check(size: int) -> None:
    if not 8 <= size <= 4096:
        raise BadInput(f"image size must be in 8..4096 pixels, got {size}")


def train_transform(size: int) -> Transform:
    """RandomResizedCrop (scale 0.08-1, bilinear, antialiased) and a horizontal flip."""
    from torchvision.transforms import v2

    _check(size)
    return v2.Compose(
        [v2.RandomResizedCrop(size, antialias=True), v2.RandomHorizontalFlip(), v2.PILToTensor()]
    )


def eval_transform(size: int, crop_fraction: float = CROP_FRACTION) -> Transform:
    """Resize the short side to ``size / crop_fraction``, then crop ``size`` x ``size``."""
    from torchvision.transforms import v2

    _check(size)
    if not 0.1 <= crop_fraction <= 1.0:
        raise BadInput(f"crop fraction must be in 0.1..1, got {crop_fraction}")
    return v2.Compose(
        [
            v2.Resize(round(size / crop_fraction), antialias=True),
            v2.CenterCrop(size),
            v2.PILToTensor(),
        ]
    )


def normalizer(
    mean: tuple[float, ...], std: tuple[float, ...]
) -> Callable[[torch.Tensor], torch.Tensor]:
    """uint8 (N, C, H, W) on any device -> ``(x / 255 - mean) / std`` in float32."""
    if len(mean) != len(std) or not mean or any(s <= 0 for s in std):
        raise BadInput(f"mean and std need one value per channel, std > 0: {mean}, {std}")

    def apply(images: torch.Tensor) -> torch.Tensor:
        m = torch.tensor(mean, device=images.device).view(1, -1, 1, 1)
        s = torch.tensor(std, device=images.device).view(1, -1, 1, 1)
        return (images.float() / 255.0 - m) / s

    return apply
