"""Range coding of symbols under fixed integer frequency tables, with constriction.

The compiled counterpart of :mod:`splitinfer.codecs.arith` for latents too big for exact
big-integer arithmetic: the same tables (rows of integer frequencies summing to
``2**16``), coded with constriction's range coder (Bamler, "Understanding Entropy Coding
With Asymmetric Numeral Systems (ANS): a Statistician's Perspective", 2022; range coding
after Martin, 1979). Cost is linear in the symbol count, both ways.

    symbols + rows of int freqs -> probabilities f / 2**16 -> RangeEncoder -> u32 words
                                                                          -> bytes, trimmed

Bit-exact across machines: every probability handed to constriction is ``f / 2**16``,
exact in binary floating point, and constriction (``perfect=False``) turns it into its
24-bit fixed-point model with IEEE-754 double arithmetic in compiled Rust code, the same
on every machine, so the coded bits are a function of the integers alone (committed
golden payloads in ``tests/codecs/golden`` check it). Trailing zero bytes of the last
word are dropped (the decoder pads with zeros), as ``ans`` does.

The decoder is told the symbol count and decodes exactly that many symbols, whatever the
bytes: its cost is linear in the count. A message longer than any encoder could produce
(``2 * count + 16`` bytes: at most 16 bits per symbol plus the coder's final words) is
refused; invalid words raise :class:`CodecError` (constriction detects some), and any
other byte string decodes to valid symbols.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from splitinfer.codecs.guard import third_party
from splitinfer.errors import CodecError, PayloadTooLarge, require

PRECISION = 16
TOTAL = 1 << PRECISION


def max_message_bytes(count: int) -> int:
    """The longest message an encoder can produce for ``count`` symbols."""
    return 2 * count + 16


def _constriction() -> Any:
    require("constriction", "codecs")
    import constriction

    return constriction


class RangeTables:
    """Integer tables (``rows x levels``, rows summing to :data:`TOTAL`) for range coding.

    ``per_row`` consecutive symbols share a row: 1 for one table per element, ``H * W``
    for one table per channel of a C x H x W feature. So ``count = rows * per_row``.
    """

    def __init__(self, freqs: np.ndarray, per_row: int) -> None:
        f = np.asarray(freqs, dtype=np.int64)
        if f.ndim != 2 or f.shape[0] < 1 or f.shape[1] < 2 or per_row < 1:
            raise CodecError(f"range coding needs rows x levels tables, got shape {f.shape}")
        if f.min() < 1 or bool((f.sum(axis=1) != TOTAL).any()):
            raise CodecError(f"frequency tables must have entries >= 1 summing to {TOTAL}")
        self.levels = f.shape[1]
        self.per_row = per_row
        self.count = f.shape[0] * per_row
        self._probs = f.astype(np.float64) / TOTAL  # exact: dyadic fractions

    def _segments(self, model: Any) -> Iterator[tuple[slice, Any, np.ndarray | None]]:
        """(symbol slice, model, per-symbol probabilities or None), in coding order."""
        if self.per_row == 1:
            yield slice(0, self.count), model.Categorical(perfect=False), self._probs
            return
        for r, probs in enumerate(self._probs):
            at = r * self.per_row
            yield slice(at, at + self.per_row), model.Categorical(probs, perfect=False), None

    def encode(self, symbols: np.ndarray) -> bytes:
        """The message for ``count`` symbols in ``0..levels-1`` (int array, flat)."""
        sym = np.ascontiguousarray(symbols, dtype=np.int32).reshape(-1)
        if sym.size != self.count:
            raise CodecError(f"{sym.size} symbols for tables that code {self.count}")
        if sym.size and (int(sym.min()) < 0 or int(sym.max()) >= self.levels):
            raise CodecError(f"symbols must be in 0..{self.levels - 1}")
        c = _constriction()
        with third_party("range encode"):
            coder = c.stream.queue.RangeEncoder()
            for part, model, probs in self._segments(c.stream.model):
                if probs is None:
                    coder.encode(sym[part], model)
                else:
                    coder.encode(sym[part], model, probs)
            words = coder.get_compressed()
        data = np.asarray(words, dtype="<u4").tobytes()
        trim = 0
        while trim < 3 and len(data) > trim and data[-1 - trim] == 0:
            trim += 1
        return data[: len(data) - trim]

    def decode(self, message: bytes) -> np.ndarray:
        """The ``count`` symbols coded in ``message`` (int64, flat)."""
        if len(message) > max_message_bytes(self.count):
            raise PayloadTooLarge(
                f"a {len(message)}-byte message is longer than {self.count} symbols can need"
            )
        padded = bytes(message) + b"\0" * (-len(message) % 4)
        c = _constriction()
        out = np.empty(self.count, dtype=np.int64)
        with third_party("range decode"):
            coder = c.stream.queue.RangeDecoder(np.frombuffer(padded, dtype="<u4").copy())
            for part, model, probs in self._segments(c.stream.model):
                n = part.stop - part.start
                got = coder.decode(model, n) if probs is None else coder.decode(model, probs)
                out[part] = np.asarray(got, dtype=np.int64)
        return out

    def bits(self, symbols: np.ndarray) -> float:
        """The information content ``sum(-log2 p)`` of ``symbols`` under these tables."""
        sym = np.asarray(symbols, dtype=np.int64).reshape(-1)
        rows = np.arange(sym.size) // self.per_row
        return float(-np.log2(self._probs[rows, sym]).sum())
