"""Fuzz the frame decoder with millions of mutated and random inputs.

    python benchmarks/fuzz_wire.py [--count 1000000] [--seconds 60] [--seed 1] [--json out.json]

Seeds: the golden frames in ``tests/wire/golden/`` plus freshly encoded random valid
frames. Each input is a mutant (bit flips, boundary bytes, truncation, extension,
insertion / deletion, splicing; half of them with the CRC recomputed so the parsers behind
it are reached) or a random string. Every input goes through ``decode_frame`` and
``decode_result``. The run fails (exit 1) on the first input that raises anything but
``BadFrame`` / ``PayloadTooLarge``, or that decodes but does not re-encode to the same
bytes; otherwise it prints counts per error code and per reason, and the time taken.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
import traceback
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from splitinfer.errors import BadFrame, PayloadTooLarge
from splitinfer.timing import cores, cpu_name
from splitinfer.wire import (
    DTYPE_IDS,
    MAGIC,
    FrameHeader,
    TopK,
    decode_frame,
    decode_result,
    encode_frame,
    encode_result,
)

GOLDEN_DIR = Path(__file__).resolve().parent.parent / "tests" / "wire" / "golden"
BOUNDARY = (0x00, 0x01, 0x7F, 0x80, 0xFF)
Mutator = Callable[[random.Random, bytearray, list[bytes]], None]


def random_frame(rng: random.Random) -> bytes:
    """A valid frame of any kind with random fields (keeps the corpus diverse)."""
    rid = rng.choice((rng.randrange(128), rng.randrange(2**32)))
    payload = rng.randbytes(rng.randint(0, 80))
    kind = rng.randrange(3)
    if kind == 0:
        return encode_frame(FrameHeader(request_id=rid, bundle=rng.randrange(2**32)), payload)
    if kind == 1:
        shape = tuple(rng.randint(1, 32) for _ in range(rng.randint(0, 5)))
        spec = rng.choice(("raw", "quant:bits=8|tile|jpeg:quality=20", "zstd:level=3 µ"))
        header = FrameHeader(
            request_id=rid,
            bundle=rng.choice((None, rng.randrange(2**32))),
            codec_spec=spec,
            shape=shape,
            dtype=rng.choice(sorted(DTYPE_IDS)),
        )
        return encode_frame(header, payload)
    k = rng.randint(0, 10)
    ids = tuple(rng.randrange(1000) for _ in range(k))
    return encode_result(TopK(request_id=rid, class_ids=ids, scores=(0.5,) * k))


def build_corpus(rng: random.Random, extra: int = 64) -> list[bytes]:
    corpus = [p.read_bytes() for p in sorted(GOLDEN_DIR.glob("*.bin"))]
    return corpus + [random_frame(rng) for _ in range(extra)]


def _flip(rng: random.Random, buf: bytearray, corpus: list[bytes]) -> None:
    for _ in range(rng.randint(1, 4)):
        if buf:
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)


def _boundary(rng: random.Random, buf: bytearray, corpus: list[bytes]) -> None:
    if buf:
        buf[rng.randrange(len(buf))] = rng.choice(BOUNDARY)


def _truncate(rng: random.Random, buf: bytearray, corpus: list[bytes]) -> None:
    del buf[rng.randrange(len(buf) + 1) :]


def _extend(rng: random.Random, buf: bytearray, corpus: list[bytes]) -> None:
    buf += rng.randbytes(rng.randint(1, 16))


def _insert_delete(rng: random.Random, buf: bytearray, corpus: list[bytes]) -> None:
    i = rng.randrange(len(buf) + 1)
    if rng.random() < 0.5 and i < len(buf):
        del buf[i]
    else:
        buf[i:i] = bytes((rng.choice(BOUNDARY),))


def _splice(rng: random.Random, buf: bytearray, corpus: list[bytes]) -> None:
    other = rng.choice(corpus)
    buf[rng.randrange(len(buf) + 1) :] = other[rng.randrange(len(other) + 1) :]


MUTATORS: tuple[Mutator, ...] = (_flip, _boundary, _truncate, _extend, _insert_delete, _splice)


def mutant(rng: random.Random, corpus: list[bytes]) -> bytes:
    """One fuzz input: a mutated corpus frame (half re-sealed) or random bytes."""
    roll = rng.random()
    if roll < 0.05:
        return rng.randbytes(rng.randint(0, 64))
    if roll < 0.10:
        return MAGIC + bytes((1, rng.choice((1, 2, 3, 0x12)))) + rng.randbytes(rng.randint(0, 64))
    buf = bytearray(rng.choice(corpus))
    for _ in range(rng.randint(1, 3)):
        rng.choice(MUTATORS)(rng, buf, corpus)
    if rng.random() < 0.5 and len(buf) >= 8:
        buf[-4:] = zlib.crc32(buf[:-4]).to_bytes(4, "big")
    return bytes(buf)


class FuzzFailure(Exception):
    """An input that broke the decoder's contract."""


def outcome(buf: bytes) -> tuple[str, str]:
    """(code, reason) of decoding ``buf``; ('ok', kind) when it decodes cleanly."""
    try:
        header, payload = decode_frame(buf)
    except (BadFrame, PayloadTooLarge) as exc:
        first = (exc.code, exc.message.split(":")[0])
    else:
        if encode_frame(header, payload) != buf:
            raise FuzzFailure("decoded frame does not re-encode to the same bytes")
        return "ok", header.kind.name.lower()
    if first[1] != "wrong frame kind":
        return first
    try:
        result = decode_result(buf)
    except (BadFrame, PayloadTooLarge) as exc:
        return exc.code, exc.message.split(":")[0]
    if encode_result(result) != buf:
        raise FuzzFailure("decoded result does not re-encode to the same bytes")
    return "ok", "result"


@dataclass
class Summary:
    """What one fuzz run tried and how the decoder answered."""

    inputs: int
    seconds: float
    seed: int
    corpus: int
    by_code: dict[str, int]
    by_reason: dict[str, int]
    python: str = field(default_factory=platform.python_version)
    machine: str = field(default_factory=lambda: f"{cpu_name()}, {cores()} CPUs")

    @property
    def rate(self) -> int:
        return round(self.inputs / self.seconds) if self.seconds else 0


def run(count: int, seconds: float | None, seed: int) -> Summary:
    """Fuzz ``count`` inputs (or until ``seconds`` pass); exit 1 on a contract breach."""
    rng = random.Random(seed)
    corpus = build_corpus(rng)
    reasons: Counter[tuple[str, str]] = Counter()
    start = time.perf_counter()
    done = 0
    while done < count:
        buf = mutant(rng, corpus)
        try:
            reasons[outcome(buf)] += 1
        except Exception as exc:
            print(f"FAIL on input {buf.hex()}:", file=sys.stderr)
            traceback.print_exception(exc)
            raise SystemExit(1) from None
        done += 1
        if seconds is not None and done % 1000 == 0 and time.perf_counter() - start > seconds:
            break
    codes: Counter[str] = Counter()
    for (code, _), n in reasons.items():
        codes[code] += n
    return Summary(
        inputs=done,
        seconds=round(time.perf_counter() - start, 2),
        seed=seed,
        corpus=len(corpus),
        by_code=dict(codes.most_common()),
        by_reason={f"{c}: {r}": n for (c, r), n in reasons.most_common()},
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="inputs to try")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="write the summary here")
    args = parser.parse_args(argv)
    s = run(args.count, args.seconds, args.seed)
    print(
        f"{s.inputs:,} inputs in {s.seconds} s ({s.rate:,}/s) on {s.machine}, "
        f"Python {s.python}, seed {s.seed}, corpus {s.corpus} frames: "
        "no untyped error, no inconsistent decode"
    )
    for title, counts in (("by code", s.by_code), ("by reason", s.by_reason)):
        print(f"{title}:")
        for name, n in counts.items():
            print(f"  {n:>10,}  {name}")
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(s), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
