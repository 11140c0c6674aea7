"""Pack ``b``-bit unsigned symbols densely (little-endian bit order), in bounded chunks."""

from __future__ import annotations

import numpy as np

from splitinfer.errors import CodecError

_CHUNK = 1 << 20  # symbols per chunk: keeps the b-bits-per-symbol scratch array small


def packed_size(count: int, bits: int) -> int:
    return (count * bits + 7) // 8


def pack_bits(values: np.ndarray, bits: int) -> bytes:
    """``values`` (uint32, each < 2**bits) -> ceil(n*bits/8) bytes."""
    if bits == 8:
        return values.astype(np.uint8).tobytes()
    if bits == 16:
        return values.astype("<u2").tobytes()
    shifts = np.arange(bits, dtype=np.uint32)
    parts = []
    for start in range(0, len(values), _CHUNK):
        chunk = values[start : start + _CHUNK]
        planes = ((chunk[:, None] >> shifts) & 1).astype(np.uint8)
        parts.append(planes.reshape(-1))
    flat = np.concatenate(parts) if parts else np.zeros(0, np.uint8)
    return np.packbits(flat, bitorder="little").tobytes()


def unpack_bits(data: bytes, count: int, bits: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`; the byte length must match exactly."""
    if len(data) != packed_size(count, bits):
        raise CodecError(f"corrupt payload: {len(data)} bytes for {count} symbols of {bits} bits")
    if bits == 8:
        return np.frombuffer(data, dtype=np.uint8).astype(np.uint32)
    if bits == 16:
        return np.frombuffer(data, dtype="<u2").astype(np.uint32)
    raw = np.frombuffer(data, dtype=np.uint8)
    weights = (1 << np.arange(bits, dtype=np.uint32)).astype(np.uint32)
    out = np.empty(count, dtype=np.uint32)
    for start in range(0, count, _CHUNK):
        stop = min(count, start + _CHUNK)
        first_bit = start * bits  # a multiple of 8 since _CHUNK is
        span = np.unpackbits(raw[first_bit // 8 : (stop * bits + 7) // 8], bitorder="little")[
            : (stop - start) * bits
        ]
        out[start:stop] = span.reshape(-1, bits).astype(np.uint32) @ weights
    return out
