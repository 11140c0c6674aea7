"""Mutate payloads and check that decoding them fails only with typed errors.

Used by the test suite (a CI-sized count) and ``benchmarks/codecs_bench.py --fuzz N``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from splitinfer.codecs.base import Codec
from splitinfer.errors import SplitInferError

MUTATIONS = ("flip", "truncate", "extend", "random", "splice", "zero_run")


def mutate(payload: bytes, rng: np.random.Generator, how: str) -> bytes:
    """One mutation of ``payload``: bit flips, truncation, extension, random bytes..."""
    data = bytearray(payload)
    if how == "flip" and data:
        for _ in range(int(rng.integers(1, 4))):
            pos = int(rng.integers(0, len(data)))
            data[pos] ^= 1 << int(rng.integers(0, 8))
        return bytes(data)
    if how == "truncate":
        return bytes(data[: int(rng.integers(0, max(1, len(data))))])
    if how == "extend":
        return bytes(data) + rng.bytes(int(rng.integers(1, 16)))
    if how == "splice" and data:
        pos = int(rng.integers(0, len(data)))
        return bytes(data[:pos]) + rng.bytes(int(rng.integers(1, 8))) + bytes(data[pos:])
    if how == "zero_run" and data:
        pos = int(rng.integers(0, len(data)))
        data[pos : pos + int(rng.integers(1, 8))] = b"\0" * len(data[pos : pos + 8])
        return bytes(data)[: len(payload)]
    return rng.bytes(int(rng.integers(0, 2 * len(payload) + 8)))


@dataclass
class FuzzStats:
    """How ``count`` mutated payloads fared: decoded fine, or which typed error."""

    count: int = 0
    decoded: int = 0
    errors: Counter[str] = field(default_factory=Counter)


def fuzz_decode(codec: Codec, payload: bytes, count: int, seed: int = 0) -> FuzzStats:
    """Decode ``count`` mutations of ``payload``; any non-SplitInferError propagates."""
    rng = np.random.default_rng(seed)
    stats = FuzzStats()
    for i in range(count):
        bad = mutate(payload, rng, MUTATIONS[i % len(MUTATIONS)])
        stats.count += 1
        try:
            codec.decode(bad)
            stats.decoded += 1
        except SplitInferError as err:
            stats.errors[type(err).__name__] += 1
    return stats
