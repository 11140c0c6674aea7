"""Real feature tensors to measure codecs on: backbones cut mid-network on Fashion-MNIST.

- ``fmnist_resnet@stage2`` / ``fmnist_cnn@stage2``: splitinfer's 28x28 backbones, cut at
  ``stage2`` with :func:`splitinfer.split`, fed real Fashion-MNIST test images;
- ``resnet50@layer2``: torchvision's ResNet-50 cut at ``layer2``, fed Fashion-MNIST test
  images upsampled to 224x224 and repeated to 3 channels.

Weights are random-init unless a checkpoint is given (no model hub here); every
:class:`FeatureSet` says which in its ``note``. Random-init features still have the
statistics that matter to a codec (post-ReLU sparsity, per-channel scale spread), but
their rate numbers are not those of a trained network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

#: model name -> (cut point, input side length)
DEFAULT_CUTS: dict[str, tuple[str, int]] = {
    "fmnist_resnet": ("stage2", 28),
    "fmnist_cnn": ("stage2", 28),
    "resnet50": ("layer2", 224),
}


@dataclass(frozen=True)
class FeatureSet:
    """Features of ``tensor.shape[0]`` images at one cut, with where they came from."""

    name: str
    tensor: torch.Tensor
    note: str


def fmnist_inputs(n_images: int, side: int, channels: int, root: str | None = None) -> torch.Tensor:
    """The first ``n_images`` Fashion-MNIST test images, normalized, resized, repeated."""
    from splitinfer.data import load_fashion_mnist, normalize_fmnist

    images, _ = load_fashion_mnist("test", root=root)
    x = normalize_fmnist(images[:n_images])
    if side != x.shape[-1]:
        x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False)
    return x.repeat(1, channels, 1, 1)


def model_features(
    model_name: str,
    n_images: int = 8,
    cut: str | None = None,
    weights: str | None = None,
    root: str | None = None,
    seed: int = 0,
) -> FeatureSet:
    """Head output of ``model_name`` cut at ``cut`` on real Fashion-MNIST test images.

    Random-init weights are drawn under ``torch.manual_seed(seed)``, so runs repeat.
    """
    from splitinfer import split, zoo

    default_cut, side = DEFAULT_CUTS.get(model_name, ("layer2", 224))
    cut = cut or default_cut
    torch.manual_seed(seed)
    model = zoo.create(model_name, weights=weights)
    channels = zoo.default_input_size(model_name)[0]
    x = fmnist_inputs(n_images, side, channels, root)
    head = split(model, at=cut, example=x[:1]).head
    with torch.no_grad():
        feats = head(x)
    source = (
        f"weights from {weights}" if weights else f"random-init weights (seed {seed}; no model hub)"
    )
    note = (
        f"{model_name} cut at {cut}, {source}, on Fashion-MNIST test images 0..{n_images - 1}"
        f" ({side}x{side}, {channels} ch)"
    )
    return FeatureSet(f"{model_name}@{cut}", feats.contiguous(), note)


def real_features(
    n_images: int = 8,
    models: Sequence[str] = tuple(DEFAULT_CUTS),
    weights: Mapping[str, str] | None = None,
    root: str | None = None,
) -> list[FeatureSet]:
    """:func:`model_features` for each model (default: the three of the module docstring)."""
    weights = weights or {}
    return [model_features(m, n_images, weights=weights.get(m), root=root) for m in models]
