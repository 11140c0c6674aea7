"""Mapping b-bit symbols onto 8/16-bit image samples and back, with size checks."""

from __future__ import annotations

import numpy as np
import torch

from splitinfer.errors import BadCodecSpec, CodecError, PayloadTooLarge


def depth_for(bits: int) -> int:
    """Image sample depth that holds ``bits``-bit symbols: 8 or 16."""
    return 8 if bits <= 8 else 16


def to_samples(x: torch.Tensor, bits: int, stretch: bool) -> np.ndarray:
    """Symbols -> uint8/uint16 samples; ``stretch`` spreads them over the full depth.

    Stretching (v * (2**depth - 1) / (2**bits - 1), rounded) is exactly invertible and
    lets lossy codecs spend their error budget on the symbol scale, not below it.
    """
    if x.dim() != 2:
        raise CodecError(f"image codecs take a 2-D plane, got shape {tuple(x.shape)}")
    depth = depth_for(bits)
    v = x.numpy().astype(np.float64)
    if stretch:
        v = np.round(v * ((1 << depth) - 1) / ((1 << bits) - 1))
    return v.astype(np.uint8 if depth == 8 else np.uint16)


def from_samples(arr: np.ndarray, bits: int, stretch: bool) -> torch.Tensor:
    """Inverse of :func:`to_samples`, clamped into ``[0, 2**bits)``."""
    if arr.ndim != 2:
        raise CodecError(f"corrupt payload: decoded image has shape {arr.shape}, not 2-D")
    v = arr.astype(np.float64)
    if stretch:
        v = np.round(v * ((1 << bits) - 1) / ((1 << depth_for(bits)) - 1))
    v = np.clip(v, 0, (1 << bits) - 1)
    return torch.from_numpy(v.astype(np.int32))


def check_pixels(width: int, height: int, max_pixels: int) -> None:
    """Refuse an image whose header declares more than ``max_pixels`` (before decoding)."""
    if width < 1 or height < 1:
        raise CodecError(f"corrupt payload: image of {width}x{height} pixels")
    if width * height > max_pixels:
        raise PayloadTooLarge(
            f"image header declares {width}x{height} pixels, over the cap {max_pixels}"
        )


def check_bits(name: str, bits: int | None, max_bits: int) -> None:
    if bits is None or bits > max_bits:
        got = "floats" if bits is None else f"{bits}-bit symbols"
        raise BadCodecSpec(
            f"{name} takes symbols of at most {max_bits} bits, got {got}; "
            f"put quant:bits=<=8 before it"
        )
