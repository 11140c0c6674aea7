"""Compact, bounds-checked byte writing and reading for payload headers.

Integers are LEB128 varints (one byte below 128); ranges are fp16 or fp32 little-endian.
Every read checks the remaining length and raises :class:`CodecError`, never IndexError.
"""

from __future__ import annotations

import struct

from splitinfer.codecs.limits import DEFAULT, Limits
from splitinfer.errors import CodecError, PayloadTooLarge

_MAX_VARINT_BYTES = 10


def varint(value: int) -> bytes:
    """Encode a non-negative integer as an unsigned LEB128 varint."""
    if value < 0:
        raise CodecError(f"varint of a negative number {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def shape_bytes(shape: tuple[int, ...]) -> bytes:
    """A shape as rank then dims, all varints."""
    return varint(len(shape)) + b"".join(varint(d) for d in shape)


class Reader:
    """Sequential reader over a payload; every read is checked against its end."""

    def __init__(self, data: bytes, start: int = 0, limits: Limits = DEFAULT) -> None:
        self.data = data
        self.pos = start
        self.limits = limits

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int) -> bytes:
        if n < 0 or n > self.remaining():
            raise CodecError(
                f"truncated payload: needed {n} bytes at offset {self.pos}, {self.remaining()} left"
            )
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def rest(self) -> bytes:
        return self.take(self.remaining())

    def u8(self) -> int:
        return self.take(1)[0]

    def varint(self, limit: int) -> int:
        """Read a varint and check ``value <= limit``."""
        value = 0
        for i in range(_MAX_VARINT_BYTES):
            byte = self.u8()
            value |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                if value > limit:
                    raise CodecError(f"corrupt payload: value {value} exceeds {limit}")
                return value
        raise CodecError("corrupt payload: varint longer than 10 bytes")

    def floats(self, count: int, fp16: bool) -> list[float]:
        fmt = "e" if fp16 else "f"
        raw = self.take(count * (2 if fp16 else 4))
        return list(struct.unpack(f"<{count}{fmt}", raw))

    def shape(self) -> tuple[int, ...]:
        """Read a shape written by :func:`shape_bytes`, enforcing this reader's caps."""
        rank = self.varint(self.limits.max_rank)
        dims: list[int] = []
        numel = 1
        for _ in range(rank):
            d = self.varint(1 << 40)
            if d == 0:
                raise CodecError("corrupt payload: a zero-sized dimension")
            numel *= d
            if numel > self.limits.max_elements:
                raise PayloadTooLarge(
                    f"payload declares more than {self.limits.max_elements} elements (cap)"
                )
            dims.append(d)
        return tuple(dims)

    def done(self) -> None:
        """Raise unless every byte was consumed."""
        if self.remaining():
            raise CodecError(f"corrupt payload: {self.remaining()} unexpected trailing bytes")


def pack_floats(values: list[float], fp16: bool) -> bytes:
    fmt = "e" if fp16 else "f"
    return struct.pack(f"<{len(values)}{fmt}", *values)
