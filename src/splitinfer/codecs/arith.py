"""Exact arithmetic coding with Python integers, for tiny latents and fixed tables.

The learned-prior codec (:mod:`splitinfer.codecs.learned`, ``coder=exact``) sends a few
dozen to a few hundred symbols per image, each with its own integer frequency table (a row of
``freqs``, summing to ``2**PRECISION``). At those sizes a stream coder's fixed costs
dominate: constriction's ANS and range coders emit 32-bit words, so a 15-byte message
can cost 16-20. This coder has no word size and no renormalisation: the interval
``[low, low + width) / 2**(PRECISION * n)`` is kept exactly in Python's big integers,
and the message is the shortest byte string ``V`` (``m`` bytes, read as the fraction
``V / 256**m``) that falls inside it. Its length is at most
``ceil((information + 1) / 8)`` bytes, where ``information = sum(-log2 p)`` over the
symbols under the tables, so "estimated bits" and "actual bits" agree to within 9 bits.

The decoder is told the symbol count (it comes from the bundle's feature shape) and pads
the message with zero bytes. Every byte string decodes to *some* valid symbol sequence,
so hostile input cannot make it fail or loop; its cost is bounded by the caps below.
Cost grows with the square of the symbol count (the integers get longer), which is fine
for the up-to-:data:`MAX_SYMBOLS` latents it is meant for; big latents go through
:mod:`splitinfer.codecs.rangecoder` (the learned codec's ``coder=range``).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

import numpy as np

from splitinfer.errors import CodecError, PayloadTooLarge

PRECISION = 16
TOTAL = 1 << PRECISION
MAX_SYMBOLS = 1 << 12  # cost grows as the square: 4096 symbols decode in ~30 ms here
MAX_MESSAGE_BYTES = MAX_SYMBOLS * PRECISION // 8 + 8


class Tables:
    """Integer frequency tables: ``rows[k][s]`` >= 1, each row summing to :data:`TOTAL`."""

    def __init__(self, rows: Sequence[Sequence[int]]) -> None:
        if not rows:
            raise CodecError("arithmetic coding needs at least one frequency table")
        self.freqs: list[list[int]] = []
        self.cums: list[list[int]] = []
        for k, row in enumerate(rows):
            freq = [int(f) for f in row]
            if len(freq) < 1 or min(freq) < 1 or sum(freq) != TOTAL:
                raise CodecError(
                    f"frequency table {k} must have entries >= 1 summing to {TOTAL} "
                    f"(got {len(freq)} entries summing to {sum(freq)})"
                )
            cum = [0]
            for f in freq:
                cum.append(cum[-1] + f)
            self.freqs.append(freq)
            self.cums.append(cum)

    def __len__(self) -> int:
        return len(self.freqs)

    def bits(self, symbols: Sequence[int], rows: Sequence[int]) -> float:
        """The information content ``sum(-log2 p)`` of ``symbols`` under these tables."""
        return sum(
            PRECISION - math.log2(self.freqs[r][s]) for s, r in zip(symbols, rows, strict=True)
        )


def _check_count(n: int) -> None:
    if n > MAX_SYMBOLS:
        raise PayloadTooLarge(f"{n} symbols exceed the arithmetic coder's cap of {MAX_SYMBOLS}")


def encode(symbols: Sequence[int], rows: Sequence[int], tables: Tables) -> bytes:
    """The shortest message for ``symbols[i]`` coded with table ``rows[i]``."""
    _check_count(len(symbols))
    if len(rows) != len(symbols):
        raise CodecError(f"{len(symbols)} symbols but {len(rows)} table indices")
    low, width = 0, 1
    for s, r in zip(symbols, rows, strict=True):
        if not 0 <= r < len(tables.freqs):
            raise CodecError(f"table index {r} out of range (0..{len(tables.freqs) - 1})")
        freq, cum = tables.freqs[r], tables.cums[r]
        if not 0 <= s < len(freq):
            raise CodecError(f"symbol {s} out of range for table {r} (0..{len(freq) - 1})")
        low = (low << PRECISION) + width * cum[s]
        width *= freq[s]
    scale = PRECISION * len(symbols)  # the interval is [low, low + width) / 2**scale
    # m bytes suffice once 2**(scale - 8m) <= width, i.e. an m-byte grid step fits inside;
    # start a little below that bound and take the first m that works.
    m = max(0, (scale - width.bit_length()) // 8 - 1)
    # m = scale / 8 always fits (value = low), so the loop ends.
    while True:
        shift = scale - 8 * m
        value = -((-low) >> shift)  # ceil(low / 2**shift): the first grid point >= low
        if (value << shift) < low + width:
            return value.to_bytes(m, "big") if m else b""
        m += 1


def max_message_bytes(count: int) -> int:
    """The longest message :func:`encode` writes for ``count`` symbols.

    Each symbol narrows the interval by at most ``2**PRECISION`` (a frequency >= 1), and
    the encoder stops at the latest at ``PRECISION * count`` bits (the value ``low``).
    """
    return PRECISION * count // 8 + 8


def decode(message: bytes, rows: Sequence[int], tables: Tables) -> list[int]:
    """The ``len(rows)`` symbols coded in ``message`` (zero bytes implied after it).

    A message longer than any encoding of ``len(rows)`` symbols is refused, so hostile
    bytes cost at most what the longest valid message does.
    """
    n = len(rows)
    _check_count(n)
    if len(message) > min(MAX_MESSAGE_BYTES, max_message_bytes(n)):
        raise PayloadTooLarge(f"a {len(message)}-byte message is longer than {n} symbols can need")
    m = len(message)
    value = int.from_bytes(message, "big") if m else 0
    # Invariant: the message's offset into the current interval, in units of
    # 2**-(PRECISION*k + 8m), is `offset`, with 0 <= offset < width * 2**(8m).
    # Every step is linear in the integers' length (shifts, small multiples, compares).
    offset, width, unit_bits = value, 1, 8 * m
    out: list[int] = []
    for r in rows:
        if not 0 <= r < len(tables.freqs):
            raise CodecError(f"table index {r} out of range (0..{len(tables.freqs) - 1})")
        freq, cum = tables.freqs[r], tables.cums[r]
        scaled, span = offset << PRECISION, width << unit_bits
        # target = scaled // span, in [0, TOTAL). A big-integer division costs the square
        # of the length; estimate from the top 64 bits instead and correct exactly (the
        # estimate is off by at most one or two).
        drop = max(0, span.bit_length() - 64)
        target = min((scaled >> drop) // ((span >> drop) + 1), TOTAL - 1)
        while (target + 1) * span <= scaled:
            target += 1
        while target * span > scaled:
            target -= 1
        s = bisect.bisect_right(cum, target) - 1
        out.append(s)
        offset = scaled - span * cum[s]
        width *= freq[s]
    return out


class ExactCoder:
    """Tables (``rows x levels``) and the row of each symbol, with array in and out.

    ``per_row`` consecutive symbols share a row (see
    :class:`splitinfer.codecs.rangecoder.RangeTables`, whose interface this mirrors).
    """

    def __init__(self, freqs: Sequence[Sequence[int]], per_row: int) -> None:
        self.tables = Tables(freqs)
        self.count = len(self.tables) * per_row
        _check_count(self.count)
        self.rows = [i // per_row for i in range(self.count)]

    def encode(self, symbols: np.ndarray) -> bytes:
        return encode([int(s) for s in symbols.reshape(-1)], self.rows, self.tables)

    def decode(self, message: bytes) -> np.ndarray:
        return np.asarray(decode(message, self.rows, self.tables), dtype=np.int64)

    def bits(self, symbols: np.ndarray) -> float:
        return self.tables.bits([int(s) for s in symbols.reshape(-1)], self.rows)
