"""Mutation fuzzing in CI: 40,000 mutants of the golden frames plus random strings.

Mutations: bit flips, byte overwrites with boundary values, truncation, extension,
insertion / deletion, splicing two frames, random strings (bare or behind a valid prefix).
Half of the mutants get their CRC recomputed, so the field parsers behind the checksum
are exercised too. Only ``BadFrame`` / ``PayloadTooLarge`` may escape, and whatever
decodes must re-encode to exactly the input (so no inconsistent header is ever returned).
``benchmarks/fuzz_wire.py`` runs the same idea for millions of inputs.
"""

from __future__ import annotations

import random
import zlib
from collections import Counter
from collections.abc import Callable

from splitinfer.errors import BadFrame, PayloadTooLarge
from splitinfer.wire import MAGIC, decode_frame, decode_result, encode_frame, encode_result
from tests.wire.wire_cases import GOLDEN_CASES

MUTANTS = 40_000
SEED = 20261127
CORPUS = [case.path.read_bytes() for case in GOLDEN_CASES]
BOUNDARY = (0x00, 0x01, 0x7F, 0x80, 0xFF)


def _flip(rng: random.Random, buf: bytearray) -> None:
    for _ in range(rng.randint(1, 4)):
        if buf:
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)


def _boundary(rng: random.Random, buf: bytearray) -> None:
    if buf:
        buf[rng.randrange(len(buf))] = rng.choice(BOUNDARY)


def _truncate(rng: random.Random, buf: bytearray) -> None:
    del buf[rng.randrange(len(buf) + 1) :]


def _extend(rng: random.Random, buf: bytearray) -> None:
    buf += rng.randbytes(rng.randint(1, 16))


def _insert_delete(rng: random.Random, buf: bytearray) -> None:
    i = rng.randrange(len(buf) + 1)
    if rng.random() < 0.5 and i < len(buf):
        del buf[i]
    else:
        buf[i:i] = bytes((rng.choice(BOUNDARY),))


def _splice(rng: random.Random, buf: bytearray) -> None:
    other = rng.choice(CORPUS)
    buf[rng.randrange(len(buf) + 1) :] = other[rng.randrange(len(other) + 1) :]


MUTATORS: tuple[Callable[[random.Random, bytearray], None], ...] = (
    _flip,
    _boundary,
    _truncate,
    _extend,
    _insert_delete,
    _splice,
)


def mutant(rng: random.Random) -> bytes:
    """One fuzz input: a mutated golden frame (maybe re-sealed) or random bytes."""
    roll = rng.random()
    if roll < 0.05:
        return rng.randbytes(rng.randint(0, 64))
    if roll < 0.10:
        return MAGIC + bytes((1, rng.choice((1, 2, 3, 0x12)))) + rng.randbytes(rng.randint(0, 64))
    buf = bytearray(rng.choice(CORPUS))
    for _ in range(rng.randint(1, 3)):
        rng.choice(MUTATORS)(rng, buf)
    if rng.random() < 0.5 and len(buf) >= 8:
        buf[-4:] = zlib.crc32(buf[:-4]).to_bytes(4, "big")
    return bytes(buf)


def outcome(buf: bytes) -> str:
    """'ok' or the error's reason (the message up to its first colon)."""
    try:
        header, payload = decode_frame(buf)
    except (BadFrame, PayloadTooLarge) as exc:
        frame_reason = exc.message.split(":")[0]
    else:
        assert encode_frame(header, payload) == buf
        return "ok"
    try:
        result = decode_result(buf)
    except (BadFrame, PayloadTooLarge) as exc:
        return frame_reason if frame_reason != "wrong frame kind" else exc.message.split(":")[0]
    assert encode_result(result) == buf
    return "ok"


def test_mutants_only_raise_typed_errors() -> None:
    rng = random.Random(SEED)
    reasons = Counter(outcome(mutant(rng)) for _ in range(MUTANTS))
    assert sum(reasons.values()) == MUTANTS
    # The fuzzer must reach deep into the parser, not stop at the magic or the CRC.
    for reason in (
        "bad magic",
        "checksum mismatch",
        "truncated frame",
        "trailing bytes",
        "overlong varint",
        "truncated header",
        "header length mismatch",
        "unknown dtype",
        "invalid utf-8",
    ):
        assert reasons[reason] > 0, (reason, reasons)
    assert len(reasons) >= 15, reasons
