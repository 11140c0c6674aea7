"""Shared fixtures for the wire tests: the golden cases and a frame-building kit.

The builders here assemble frames byte by byte (deliberately NOT via ``splitinfer.wire``)
so that the error tests can write frames that ``encode_frame`` refuses to produce.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

from splitinfer.wire import MAGIC, MAX_REQUEST_ID, FrameHeader, TopK

GOLDEN_DIR = Path(__file__).parent / "golden"


def pattern(n: int, seed: int = 0) -> bytes:
    """``n`` deterministic, non-constant bytes (a stand-in for a codec payload)."""
    return bytes((i * 37 + seed * 101 + 11) & 0xFF for i in range(n))


@dataclass(frozen=True)
class GoldenCase:
    """One committed frame: what it holds, and the file it lives in."""

    name: str
    header: FrameHeader | TopK
    payload: bytes = b""

    @property
    def path(self) -> Path:
        return GOLDEN_DIR / f"{self.name}.bin"


JPEG_SPEC = "quant:bits=8,clip=p99.9|tile|jpeg:quality=20"

GOLDEN_CASES: tuple[GoldenCase, ...] = (
    GoldenCase("compact_small", FrameHeader(request_id=1, bundle=0x1A2B3C4D), pattern(40)),
    GoldenCase("compact_empty", FrameHeader(request_id=0, bundle=0xDEADBEEF), b""),
    GoldenCase(
        "compact_max_ids",
        FrameHeader(request_id=MAX_REQUEST_ID, bundle=0xFFFFFFFF),
        pattern(300, seed=1),
    ),
    GoldenCase(
        "described_jpeg",
        FrameHeader(request_id=5, codec_spec=JPEG_SPEC, shape=(1, 64, 8, 8), dtype="float32"),
        pattern(48, seed=2),
    ),
    GoldenCase(
        "described_bundle_empty",
        FrameHeader(
            request_id=300, bundle=0x1A2B3C4D, codec_spec="raw", shape=(10,), dtype="float16"
        ),
        b"",
    ),
    GoldenCase(
        "described_max_rank",
        FrameHeader(
            request_id=2**20,
            codec_spec="quant:bits=4|zstd:level=19;note=ünïcode µ",
            shape=(4, 4, 4, 4, 16, 16, 32, 32),
            dtype="bfloat16",
        ),
        pattern(200, seed=3),
    ),
    GoldenCase(
        "result_top5",
        TopK(request_id=7, class_ids=(3, 1, 9, 0, 6), scores=(0.8125, 0.125, 0.03125, 0.0, -1.5)),
    ),
)


def varint(value: int) -> bytes:
    """Unsigned LEB128, written independently of the module under test."""
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def seal(body: bytes) -> bytes:
    """Append the big-endian CRC-32 of ``body``, as every frame ends."""
    return body + zlib.crc32(body).to_bytes(4, "big")


def compact(
    payload: bytes = b"abc",
    *,
    bundle: bytes = b"\x1a\x2b\x3c\x4d",
    request_id: bytes = b"\x01",
    payload_len: bytes | None = None,
    kind_byte: int = 0x01,
    version: int = 1,
) -> bytes:
    """A sealed compact frame whose every field may be given as raw bytes."""
    length = varint(len(payload)) if payload_len is None else payload_len
    return seal(MAGIC + bytes((version, kind_byte)) + length + bundle + request_id + payload)


def described_body(
    *,
    bundle: bytes = b"",
    request_id: bytes = b"\x05",
    dtype: int = 1,
    rank: int | None = None,
    dims: bytes | None = None,
    spec: bytes = b"raw",
    spec_len: bytes | None = None,
) -> bytes:
    """A described header body whose every field may be given as raw bytes."""
    dims = b"\x01\x08" if dims is None else dims
    rank = 2 if rank is None else rank
    spec_len = varint(len(spec)) if spec_len is None else spec_len
    return bundle + request_id + bytes((dtype, rank)) + dims + spec_len + spec


def described(
    body: bytes | None = None,
    payload: bytes = b"xyz",
    *,
    header_len: bytes | None = None,
    payload_len: bytes | None = None,
    kind_byte: int = 0x02,
) -> bytes:
    """A sealed described frame around ``body`` (default: a valid one)."""
    body = described_body() if body is None else body
    hl = varint(len(body)) if header_len is None else header_len
    pl = varint(len(payload)) if payload_len is None else payload_len
    return seal(MAGIC + bytes((1, kind_byte)) + hl + pl + body + payload)


def result(
    ids: bytes = b"\x03\x01",
    scores: bytes = b"\x3f\x00\x00\x00\x3e\x80\x00\x00",
    *,
    k: bytes = b"\x02",
    request_id: bytes = b"\x07",
) -> bytes:
    """A sealed result frame whose every field may be given as raw bytes."""
    return seal(MAGIC + b"\x01\x03" + k + request_id + ids + scores)
