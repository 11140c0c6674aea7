"""Probability models for ``ans``, fitted to the symbols and stored compactly.

Three model families, each one entropy model per *group* of symbols (the whole tensor,
or one channel):

- ``hist``: one categorical histogram over the symbols' used range [lo, lo+K);
- ``channel``: one histogram per channel;
- ``laplace``: per channel, a Laplace (mean = median, scale = mean abs deviation) quantized
  to integer bins (constriction's ``QuantizedLaplace``), mean and scale as fp16.

Histogram side info: ``lo`` and ``K`` as varints, then K frequencies as varints, scaled to
sum to 2**5 ... 2**13, whichever gives the fewest side + coded bits for that group (a
symbol seen at least once keeps frequency >= 1), so a histogram of a few dozen used
symbols costs a few dozen bytes. A group with a single used symbol
needs no coded bits and no frequencies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from splitinfer.codecs.bytesio import Reader, pack_floats, varint
from splitinfer.errors import CodecError, require

MODEL_IDS = {"hist": 0, "channel": 1, "laplace": 2}
FREQ_TOTAL = 1 << 13  # the largest precision; also the cap a decoder accepts per entry
PRECISIONS = (1 << 5, 1 << 7, 1 << 9, 1 << 11, FREQ_TOTAL)
_MIN_SCALE = 0.04
_FP16_MAX = 65504.0


def _model() -> Any:
    require("constriction", "codecs")
    import constriction

    return constriction.stream.model


@dataclass(frozen=True)
class Group:
    """One group's entropy model: a constriction model, or a constant symbol (no bits)."""

    model: Any
    offset: int = 0  # symbols are coded as (s - offset)
    const: int | None = None
    min_bits_per_symbol: float = 0.0  # lower bound on coded bits, for the bomb check


# --- histograms ----------------------------------------------------------------------------


def _scale(counts: np.ndarray, total: int) -> np.ndarray:
    """Counts scaled to sum about ``total``; a used symbol keeps frequency >= 1."""
    n = int(counts.sum())
    if n <= total:
        return counts
    scaled = np.rint(counts * (total / n)).astype(np.int64)
    return np.where(counts > 0, np.maximum(scaled, 1), 0)


def _cost_bits(counts: np.ndarray, freqs: np.ndarray) -> float:
    """Frequency side info plus ideal coded bits of ``counts`` under the model ``freqs``."""
    used = counts > 0
    coded = -(counts[used] * np.log2(freqs[used] / freqs.sum())).sum()
    side_bytes = len(freqs) + int((freqs >= 128).sum())  # varints of values < 2**14
    return 8 * side_bytes + float(coded)


def _small_varints(values: np.ndarray) -> bytes:
    """LEB128 of many values < 2**14 at once (1 or 2 bytes each)."""
    v = values.astype(np.int64)
    pairs = np.stack([(v & 0x7F) | np.where(v >= 128, 0x80, 0), v >> 7], axis=1)
    keep = np.stack([np.ones_like(v, dtype=bool), v >= 128], axis=1)
    return pairs[keep].astype(np.uint8).tobytes()


def scaled_counts(symbols: np.ndarray) -> tuple[int, np.ndarray]:
    """(lo, freqs) over the used range, at the precision with the fewest total bits.

    Precision (the sum the counts are scaled to) trades side info against coding loss:
    each group picks the cheapest of 2**5 ... 2**13 (or its exact counts, if fewer) by
    side bytes + ideal code length. The decoder needs no precision field: frequencies
    are relative.
    """
    lo, hi = int(symbols.min()), int(symbols.max())
    counts = np.bincount(symbols - lo, minlength=hi - lo + 1).astype(np.int64)
    options = [_scale(counts, total) for total in PRECISIONS]
    return lo, min(options, key=lambda f: _cost_bits(counts, f))


def hist_side(lo: int, freqs: np.ndarray) -> bytes:
    """``lo``, ``K``, then K frequencies (none when K == 1: the group is constant)."""
    if len(freqs) == 1:
        return varint(lo) + varint(1)
    return varint(lo) + varint(len(freqs)) + _small_varints(freqs)


def read_hist(reader: Reader, bits: int) -> tuple[int, np.ndarray]:
    size = 1 << bits
    lo = reader.varint(size - 1)
    count = reader.varint(size - lo)
    if count == 0:
        raise CodecError("corrupt payload: empty histogram")
    if count == 1:
        return lo, np.ones(1, dtype=np.int64)
    freqs = np.array([reader.varint(FREQ_TOTAL) for _ in range(count)], dtype=np.int64)
    if freqs.sum() == 0:
        raise CodecError("corrupt payload: histogram with no mass")
    return lo, freqs


def hist_group(lo: int, freqs: np.ndarray) -> Group:
    if len(freqs) == 1:
        return Group(None, const=lo)
    probs = freqs.astype(np.float64)
    p_max = float(probs.max() / probs.sum())
    return Group(
        _model().Categorical(probs, perfect=False),
        offset=lo,
        min_bits_per_symbol=-math.log2(p_max),
    )


# --- Laplace -------------------------------------------------------------------------------


def laplace_params(symbols: np.ndarray) -> tuple[float, float]:
    """fp16-rounded (mean, scale): median and mean absolute deviation."""
    median = float(np.median(symbols))
    scale = max(float(np.mean(np.abs(symbols - median))), _MIN_SCALE)
    mean16 = float(np.float16(min(median, _FP16_MAX)))
    scale16 = float(np.float16(min(scale, _FP16_MAX)))
    return mean16, scale16


def laplace_side(mean: float, scale: float) -> bytes:
    return pack_floats([mean, scale], fp16=True)


def read_laplace(reader: Reader) -> tuple[float, float]:
    mean, scale = reader.floats(2, fp16=True)
    if not (math.isfinite(mean) and math.isfinite(scale) and scale > 0):
        raise CodecError("corrupt payload: bad Laplace parameters")
    return mean, scale


def laplace_group(mean: float, scale: float, bits: int) -> Group:
    return Group(_model().QuantizedLaplace(0, (1 << bits) - 1, mean, scale))
