"""Clipping ranges for ``quant``: min/max, percentile, per-channel or fixed.

The channel axis is the C of the trailing (C, H, W) for rank >= 3; lower ranks are one
channel. Ranges are rounded *outward* to fp16 when that widens them by under 1% (4 bytes
per range in the payload), else kept as fp32; the encoder quantizes with the rounded
values, so the decoder reproduces them exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from splitinfer.codecs.params import Param, parse_float
from splitinfer.errors import BadCodecSpec


@dataclass(frozen=True)
class ClipParam(Param):
    """``minmax`` | ``channel`` | ``pX`` (50 <= X <= 100) | ``lo:hi`` (fixed, lo < hi)."""

    def parse(self, text: str) -> str:
        if text in ("minmax", "channel"):
            return text
        if text.startswith("p"):
            value = parse_float(text[1:])
            if value is None or not 50.0 <= value <= 100.0:
                raise self._bad(text, "pX with 50 <= X <= 100, e.g. p99.9")
            return "p" + repr(value)
        lo_text, colon, hi_text = text.partition(":")
        lo, hi = parse_float(lo_text), parse_float(hi_text)
        if not colon or lo is None or hi is None or not -1e38 < lo < hi < 1e38:
            raise self._bad(text, "minmax, channel, pX (e.g. p99.9) or lo:hi with lo < hi")
        return f"{lo!r}:{hi!r}"


def channel_view(x: torch.Tensor) -> torch.Tensor:
    """``x`` as (N, C, rest) with C the channel axis (rank-3 for rank >= 3, else 1)."""
    if x.dim() < 3:
        return x.reshape(1, 1, -1)
    c = x.shape[-3]
    return x.reshape(-1, c, x.shape[-2] * x.shape[-1])


@dataclass(frozen=True)
class Ranges:
    """Per-channel (or one global) [lo, hi] as float32 tensors shaped (C,)."""

    lo: torch.Tensor
    hi: torch.Tensor


def fixed_range(text: str) -> tuple[float, float] | None:
    """(lo, hi) for a fixed ``lo:hi`` clip, else None."""
    if text in ("minmax", "channel") or text.startswith("p"):
        return None
    lo, hi = text.split(":")
    return float(np.float32(lo)), float(np.float32(hi))


def data_range(x: torch.Tensor, clip: str) -> Ranges:
    """Unrounded calibration range of ``x`` for the clip mode."""
    fixed = fixed_range(clip)
    if fixed is not None:
        return Ranges(torch.tensor([fixed[0]]), torch.tensor([fixed[1]]))
    if clip == "channel":
        v = channel_view(x)
        return Ranges(v.amin(dim=(0, 2)), v.amax(dim=(0, 2)))
    if clip == "minmax":
        return Ranges(x.min().reshape(1), x.max().reshape(1))
    pct = float(clip[1:]) / 100.0
    flat = x.reshape(-1).numpy()
    lo, hi = np.quantile(flat, [1.0 - pct, pct])
    return Ranges(torch.tensor([float(lo)]), torch.tensor([float(hi)]))


def round_outward(r: Ranges) -> tuple[Ranges, bool]:
    """The range as stored: fp16 (second value True) if that costs < 1% of span, else fp32."""
    lo32, hi32 = r.lo.numpy().astype(np.float32), r.hi.numpy().astype(np.float32)
    with np.errstate(over="ignore"):
        lo16, hi16 = lo32.astype(np.float16), hi32.astype(np.float16)
    lo16 = np.where(lo16.astype(np.float32) > lo32, np.nextafter(lo16, np.float16(-np.inf)), lo16)
    hi16 = np.where(hi16.astype(np.float32) < hi32, np.nextafter(hi16, np.float16(np.inf)), hi16)
    span32 = hi32.astype(np.float64) - lo32
    span16 = hi16.astype(np.float64) - lo16.astype(np.float64)
    fits = np.isfinite(span16).all() and bool((span16 <= span32 * 1.01).all())
    if fits:
        return Ranges(_t(lo16), _t(hi16)), True
    return Ranges(_t(lo32), _t(hi32)), False


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a.astype(np.float32))


def check_spec_range(clip: str) -> None:
    """Reject fixed ranges that float32 cannot hold apart."""
    fixed = fixed_range(clip)
    if fixed is not None and not fixed[0] < fixed[1]:
        raise BadCodecSpec(f"clip={clip}: lo and hi collapse in float32")
