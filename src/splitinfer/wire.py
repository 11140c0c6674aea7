"""Frame v1: the one module that knows the byte layout of splitinfer messages.

A *frame* carries one encoded feature tensor from the edge to the cloud::

    codec.encode(t) -> payload -> encode_frame(header, payload) -> link -> decode_frame -> payload

Three kinds share a 4-byte prefix (2-byte magic, version, kind + flags) and end in a
CRC-32 (``zlib.crc32``, big-endian) over every byte before it:

- **compact** (kind 1): for a known bundle, which fixes shape, dtype, codec spec and
  calibration. Carries a 4-byte bundle fingerprint, the request id and the payload:
  ``12 + varint_len(payload_len) + varint_len(request_id)`` bytes of overhead, 14 for a
  payload under 128 bytes and a request id under 128. A frame for a multi-rate bundle
  sets :data:`FLAG_HAS_RATE` and adds one byte, the rate point's index, after the
  request id; without the flag the layout (and every single-rate frame) is unchanged.
- **described** (kind 2): self-describing, for bundle-less use. Also carries the codec
  spec (opaque UTF-8 string), dtype (numeric id from :data:`DTYPES`) and shape.
- **result** (kind 3): cloud -> edge, the top-k class ids and float32 scores.

Decoding is strict and bounded: every length is checked against a module cap *before*
anything is sliced or allocated, varints must be minimal, and any deviation raises
:class:`~splitinfer.errors.BadFrame` or :class:`~splitinfer.errors.PayloadTooLarge`
(never another exception type). ``decode_frame(buf)`` succeeds only if
``encode_frame(*decode_frame(buf)) == buf``. The byte tables live in
``docs/wire-format.md``.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import operator
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType
from typing import SupportsIndex

from splitinfer.errors import BadFrame, BadInput, PayloadTooLarge, SplitInferError

__all__ = [
    "CRC_BYTES",
    "DTYPES",
    "DTYPE_IDS",
    "FLAG_HAS_BUNDLE",
    "FLAG_HAS_RATE",
    "MAGIC",
    "MAX_BUNDLE",
    "MAX_CLASS_ID",
    "MAX_FRAME_BYTES",
    "MAX_HEADER_BYTES",
    "MAX_NUMEL",
    "MAX_PAYLOAD_BYTES",
    "MAX_RANK",
    "MAX_RATE",
    "MAX_REQUEST_ID",
    "MAX_SPEC_BYTES",
    "MAX_TOPK",
    "SESSION_VERSION",
    "VERSION",
    "FrameHeader",
    "FrameKind",
    "TopK",
    "bundle_fingerprint",
    "decode_frame",
    "decode_result",
    "decode_session_result",
    "encode_frame",
    "encode_result",
    "encode_session_result",
    "frame_overhead",
    "varint_len",
]

# --- constants: never change these for v1 ------------------------------------------------

MAGIC = b"\x89S"
"""Frame magic. 0x89 is not ASCII and cannot start UTF-8 text; 'S' is for splitinfer."""

VERSION = 1
"""The only frame version this module reads and writes."""

MAX_PAYLOAD_BYTES = 16 * 1024 * 1024
"""Largest payload a frame may carry (16 MiB)."""

MAX_HEADER_BYTES = 4096
"""Largest header body of a described frame (4 KiB; the fields themselves need <= 557)."""

MAX_SPEC_BYTES = 512
"""Largest codec spec, in UTF-8 bytes."""

MAX_RANK = 8
"""Largest tensor rank a described frame may declare."""

MAX_NUMEL = 64 * 1024 * 1024
"""Largest element count (product of the shape) a described frame may declare (64 Mi)."""

MAX_REQUEST_ID = 2**32 - 1
"""Request ids are unsigned 32-bit: use a per-connection counter that wraps."""

MAX_BUNDLE = 2**32 - 1
"""Bundle fingerprints are unsigned 32-bit (see :func:`bundle_fingerprint`)."""

MAX_TOPK = 1024
"""Most (class id, score) pairs a result frame may carry."""

MAX_CLASS_ID = 2**24 - 1
"""Largest class id a result frame may carry."""

MAX_RATE = 255
"""Largest rate index a compact frame may carry (one byte)."""

CRC_BYTES = 4
"""Every frame ends in a big-endian CRC-32 (``zlib.crc32``) of all the bytes before it."""

_PREFIX_BYTES = 4  # magic (2) + version (1) + kind|flags (1)


def varint_len(value: int) -> int:
    """Bytes that the unsigned LEB128 varint of ``value`` (>= 0) takes."""
    n = 1
    while value >= 0x80:
        value >>= 7
        n += 1
    return n


MAX_FRAME_BYTES = (
    _PREFIX_BYTES
    + varint_len(MAX_HEADER_BYTES)
    + varint_len(MAX_PAYLOAD_BYTES)
    + MAX_HEADER_BYTES
    + MAX_PAYLOAD_BYTES
    + CRC_BYTES
)
"""Largest buffer :func:`decode_frame` looks at; transports may cap bodies at this size."""


class FrameKind(IntEnum):
    """Low nibble of byte 3. Explicit numbers: never renumber, only append."""

    COMPACT = 1
    DESCRIBED = 2
    RESULT = 3


FLAG_HAS_BUNDLE = 0x10
"""High-nibble flag of a described frame: a 4-byte bundle fingerprint precedes the fields."""

FLAG_HAS_RATE = 0x20
"""High-nibble flag of a compact frame: a 1-byte rate index follows the request id (a
multi-rate bundle's point; see ``docs/wire-format.md``)."""

_KIND_MASK = 0x0F
_ALLOWED_FLAGS: Mapping[int, int] = MappingProxyType(
    {FrameKind.COMPACT: FLAG_HAS_RATE, FrameKind.DESCRIBED: FLAG_HAS_BUNDLE, FrameKind.RESULT: 0x00}
)

DTYPES: Mapping[int, str] = MappingProxyType(
    {
        1: "float32",
        2: "float16",
        3: "bfloat16",
        4: "uint8",
        5: "int8",
        6: "uint16",
        7: "int16",
        8: "int32",
        9: "int64",
        10: "float64",
        11: "bool",
        12: "uint32",
        13: "uint64",
        14: "float8_e4m3fn",
        15: "float8_e5m2",
    }
)
"""Wire dtype id -> torch dtype name (``getattr(torch, name)``). Never reorder, only append."""

DTYPE_IDS: Mapping[str, int] = MappingProxyType({name: i for i, name in DTYPES.items()})
"""Torch dtype name -> wire dtype id."""

_U32 = struct.Struct(">I")
_F32 = struct.Struct(">f")


# --- headers -----------------------------------------------------------------------------


def _uint(value: object, cap: int, what: str) -> int:
    """``value`` as a plain int in ``0..cap`` (numpy / torch integers accepted), or BadInput."""
    if isinstance(value, bool):
        raise BadInput(f"{what} must be an int, not bool")
    if not isinstance(value, SupportsIndex):
        raise BadInput(f"{what} must be an int, not {type(value).__name__}")
    n = operator.index(value)
    if not 0 <= n <= cap:
        raise BadInput(f"{what} must be in 0..{cap}, got {n}")
    return n


def _spec_bytes(spec: object) -> bytes:
    if not isinstance(spec, str):
        raise BadInput(f"codec_spec must be a str, not {type(spec).__name__}")
    try:
        raw = spec.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadInput(f"codec_spec is not encodable as UTF-8: {exc.reason}") from None
    if not raw:
        raise BadInput("codec_spec is empty; use the codec's canonical spec, e.g. 'raw'")
    if len(raw) > MAX_SPEC_BYTES:
        raise PayloadTooLarge(
            f"spec too large: codec_spec is {len(raw)} UTF-8 bytes, cap is {MAX_SPEC_BYTES}"
        )
    return raw


def _shape(shape: object) -> tuple[int, ...]:
    """``shape`` as a tuple of plain ints within the rank and numel caps."""
    if not isinstance(shape, Sequence) or isinstance(shape, str | bytes):
        raise BadInput(f"shape must be a sequence of ints, not {type(shape).__name__}")
    if len(shape) > MAX_RANK:
        raise PayloadTooLarge(f"rank too large: shape has rank {len(shape)}, cap is {MAX_RANK}")
    dims = tuple(shape)
    out = []
    numel = 1
    for d in dims:
        if isinstance(d, bool):
            raise BadInput(f"shape {dims} holds a bool")
        try:
            d = operator.index(d)
        except TypeError:
            raise BadInput(f"shape {dims} holds a non-integer {d!r}") from None
        if d < 1:
            raise BadInput(f"shape {dims} has a dim < 1; frames carry non-empty tensors only")
        numel *= d
        if numel > MAX_NUMEL:
            raise PayloadTooLarge(f"numel too large: shape {dims} exceeds {MAX_NUMEL} elements")
        out.append(d)
    return tuple(out)


@dataclass(frozen=True)
class FrameHeader:
    """Everything a tensor frame says besides its payload; validated on construction.

    A *compact* header has a ``bundle`` and leaves ``codec_spec``, ``shape`` and
    ``dtype`` as None (the bundle fixes them). A *described* header sets all three;
    its ``bundle`` is optional. Any other mix raises :class:`BadInput`. ``rate`` (compact
    only) is a multi-rate bundle's rate index; None (no field on the wire) for the rest.

    >>> FrameHeader(request_id=7, bundle=0x1A2B3C4D).kind
    <FrameKind.COMPACT: 1>
    >>> FrameHeader(request_id=7, codec_spec="raw", shape=(1, 8), dtype="float32").numel
    8
    """

    request_id: int
    bundle: int | None = None
    codec_spec: str | None = None
    shape: tuple[int, ...] | None = None
    dtype: str | None = None
    rate: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "request_id", _uint(self.request_id, MAX_REQUEST_ID, "request_id"))
        if self.bundle is not None:
            object.__setattr__(self, "bundle", _uint(self.bundle, MAX_BUNDLE, "bundle"))
        if self.rate is not None:
            object.__setattr__(self, "rate", _uint(self.rate, MAX_RATE, "rate"))
        described = (self.codec_spec, self.shape, self.dtype)
        if self.rate is not None and any(field is not None for field in described):
            raise BadInput("a rate index goes in compact frames only (a multi-rate bundle's)")
        if all(field is None for field in described):
            if self.bundle is None:
                raise BadInput(
                    "a compact header needs a bundle fingerprint; without a bundle, "
                    "set codec_spec, shape and dtype (a described header)"
                )
            return
        if any(field is None for field in described):
            raise BadInput("codec_spec, shape and dtype go together: set all three or none")
        _spec_bytes(self.codec_spec)
        object.__setattr__(self, "shape", _shape(self.shape))
        if not isinstance(self.dtype, str) or self.dtype not in DTYPE_IDS:
            raise BadInput(f"unknown dtype {self.dtype!r}; known: {', '.join(DTYPE_IDS)}")

    @property
    def kind(self) -> FrameKind:
        """:attr:`FrameKind.COMPACT` or :attr:`FrameKind.DESCRIBED`."""
        return FrameKind.COMPACT if self.codec_spec is None else FrameKind.DESCRIBED

    @property
    def numel(self) -> int | None:
        """Element count of the declared shape, or None for a compact header."""
        return None if self.shape is None else math.prod(self.shape)


@dataclass(frozen=True)
class TopK:
    """A classification result (cloud -> edge): class ids and their scores, best first.

    Scores are stored as float32 on the wire, so they are rounded to float32 here and
    ``decode_result(encode_result(r)) == r`` holds exactly. NaN is refused.
    """

    request_id: int
    class_ids: tuple[int, ...]
    scores: tuple[float, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "request_id", _uint(self.request_id, MAX_REQUEST_ID, "request_id"))
        ids = tuple(_uint(c, MAX_CLASS_ID, "class id") for c in self.class_ids)
        scores = tuple(_float32(s) for s in self.scores)
        if len(ids) != len(scores):
            raise BadInput(f"{len(ids)} class ids but {len(scores)} scores; give one per id")
        if len(ids) > MAX_TOPK:
            raise PayloadTooLarge(f"topk too large: {len(ids)} results, cap is {MAX_TOPK}")
        object.__setattr__(self, "class_ids", ids)
        object.__setattr__(self, "scores", scores)


def _float32(value: object) -> float:
    """``value`` rounded to the nearest float32, or BadInput (NaN, overflow, not a number)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise BadInput(f"score must be a real number, not {type(value).__name__}")
    value = float(value)
    if math.isnan(value):
        raise BadInput("score is NaN; send finite scores (or +-inf)")
    try:
        packed = _F32.pack(value)
    except OverflowError:
        raise BadInput(f"score {value!r} does not fit in float32") from None
    return float(_F32.unpack(packed)[0])


def bundle_fingerprint(data: bytes) -> int:
    """The 32-bit bundle reference of compact frames: SHA-256(data)[:4], big-endian.

    ``data`` is the bundle's canonical content (spec + weights digest + calibration),
    so a retrained or recalibrated bundle gets a new fingerprint and a stale client is
    refused by the server instead of being decoded with the wrong parameters.
    """
    return int.from_bytes(hashlib.sha256(data).digest()[:4], "big")


# --- encoding ----------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _described_body(header: FrameHeader, shape: tuple[int, ...], dtype: str) -> bytes:
    spec = _spec_bytes(header.codec_spec)
    parts = [] if header.bundle is None else [_U32.pack(header.bundle)]
    parts += [_varint(header.request_id), bytes((DTYPE_IDS[dtype], len(shape)))]
    parts += [_varint(d) for d in shape]
    parts += [_varint(len(spec)), spec]
    return b"".join(parts)


def _head(header: FrameHeader, payload_len: int) -> bytes:
    """Every byte of the frame before the payload (FrameHeader has validated the fields)."""
    if header.shape is None or header.dtype is None:
        rate = b"" if header.rate is None else bytes((header.rate,))
        return b"".join(
            (
                MAGIC,
                bytes((VERSION, FrameKind.COMPACT | (0 if header.rate is None else FLAG_HAS_RATE))),
                _varint(payload_len),
                _U32.pack(header.bundle),
                _varint(header.request_id),
                rate,
            )
        )
    flags = 0 if header.bundle is None else FLAG_HAS_BUNDLE
    body = _described_body(header, header.shape, header.dtype)
    return b"".join(
        (
            MAGIC,
            bytes((VERSION, FrameKind.DESCRIBED | flags)),
            _varint(len(body)),
            _varint(payload_len),
            body,
        )
    )


def _payload_len(payload: object) -> int:
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise BadInput(f"payload must be bytes-like, not {type(payload).__name__}")
    n = memoryview(payload).nbytes
    if n > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(
            f"payload too large: {n} bytes, cap is {MAX_PAYLOAD_BYTES}; "
            "pick a stronger codec setting or an earlier cut"
        )
    return n


def encode_frame(header: FrameHeader, payload: bytes | bytearray | memoryview) -> bytes:
    """Serialise one tensor frame: compact or described, as ``header.kind`` says.

    Raises :class:`BadInput` for a wrong argument type and :class:`PayloadTooLarge` for a
    payload over :data:`MAX_PAYLOAD_BYTES`.
    """
    if not isinstance(header, FrameHeader):
        raise BadInput(f"header must be a FrameHeader, not {type(header).__name__}")
    body = _head(header, _payload_len(payload)) + bytes(payload)
    return body + _U32.pack(zlib.crc32(body))


def frame_overhead(header: FrameHeader, payload_len: int) -> int:
    """Bytes a frame adds to a payload of ``payload_len`` bytes (header + CRC).

    >>> frame_overhead(FrameHeader(request_id=1, bundle=1), 40)
    14
    """
    n = _uint(payload_len, 2**63, "payload_len")
    if n > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(f"payload too large: {n} bytes, cap is {MAX_PAYLOAD_BYTES}")
    return len(_head(header, n)) + CRC_BYTES


def encode_result(result: TopK) -> bytes:
    """Serialise a :class:`TopK` result frame (kind 3)."""
    if not isinstance(result, TopK):
        raise BadInput(f"result must be a TopK, not {type(result).__name__}")
    parts = [
        MAGIC,
        bytes((VERSION, FrameKind.RESULT)),
        _varint(len(result.class_ids)),
        _varint(result.request_id),
    ]
    parts += [_varint(c) for c in result.class_ids]
    parts += [_F32.pack(s) for s in result.scores]
    body = b"".join(parts)
    return body + _U32.pack(zlib.crc32(body))


# --- decoding ----------------------------------------------------------------------------


class _Reader:
    """A cursor over ``view[pos:end]`` whose every read is bounds-checked first."""

    __slots__ = ("end", "pos", "region", "view")

    def __init__(self, view: memoryview, pos: int, end: int, region: str) -> None:
        self.view = view
        self.pos = pos
        self.end = end
        self.region = region

    def _short(self, what: str, need: int) -> BadFrame:
        left = self.end - self.pos
        return BadFrame(
            f"truncated {self.region}: {what} needs {need} more byte(s), {left} left — "
            "the frame was cut short or a length field lies"
        )

    def take(self, n: int, what: str) -> memoryview:
        if n > self.end - self.pos:
            raise self._short(what, n)
        out = self.view[self.pos : self.pos + n]
        self.pos += n
        return out

    def byte(self, what: str) -> int:
        if self.pos >= self.end:
            raise self._short(what, 1)
        self.pos += 1
        return self.view[self.pos - 1]

    def u32(self, what: str) -> int:
        return int(_U32.unpack(self.take(4, what))[0])

    def varint(self, what: str, cap: int, too_big: type[SplitInferError] = BadFrame) -> int:
        """Read a minimal LEB128 varint of at most ``varint_len(cap)`` bytes, <= ``cap``."""
        max_len = varint_len(cap)
        value = 0
        for i in range(max_len):
            b = self.byte(what)
            value |= (b & 0x7F) << (7 * i)
            if b < 0x80:
                if b == 0 and i > 0:
                    raise BadFrame(f"overlong varint: {what} is not minimally encoded")
                if value > cap:
                    reason = "too large" if too_big is PayloadTooLarge else "out of range"
                    raise too_big(f"{what} {reason}: {value}, cap is {cap}")
                return value
        raise BadFrame(f"varint too long: {what} takes more than {max_len} bytes")


def _as_view(buf: object) -> memoryview:
    if isinstance(buf, bytes | bytearray):
        return memoryview(buf)
    if isinstance(buf, memoryview):
        if buf.format == "B" and buf.ndim == 1:
            return buf
        try:
            return buf.cast("B")
        except TypeError:
            raise BadInput("frame memoryview must be C-contiguous") from None
    raise BadInput(f"frame must be bytes, bytearray or memoryview, not {type(buf).__name__}")


def _prefix(view: memoryview) -> tuple[FrameKind, int]:
    """Check size, magic, version, kind and flags; return (kind, flags)."""
    n = len(view)
    if n > MAX_FRAME_BYTES:
        raise PayloadTooLarge(f"frame too large: {n} bytes, cap is {MAX_FRAME_BYTES}")
    if view[: min(n, len(MAGIC))] != MAGIC[: min(n, len(MAGIC))]:
        raise BadFrame(
            f"bad magic: frame starts {bytes(view[:2]).hex()}, expected {MAGIC.hex()} — "
            "this is not a splitinfer frame"
        )
    if n < _PREFIX_BYTES:
        raise BadFrame(f"truncated frame: {n} bytes, shorter than the {_PREFIX_BYTES}-byte prefix")
    if view[2] != VERSION:
        raise BadFrame(
            f"unsupported version: frame is v{view[2]}, this reader speaks v{VERSION} only — "
            "upgrade splitinfer on the receiving side or send v1 frames"
        )
    kind_byte = view[3]
    try:
        kind = FrameKind(kind_byte & _KIND_MASK)
    except ValueError:
        raise BadFrame(f"unknown frame kind: {kind_byte & _KIND_MASK}") from None
    flags = kind_byte & ~_KIND_MASK
    if flags & ~_ALLOWED_FLAGS[kind]:
        raise BadFrame(f"unknown flags: 0x{flags:02x} on a {kind.name.lower()} frame")
    return kind, flags


def _check_crc(view: memoryview, end: int) -> None:
    """Compare the CRC-32 stored at ``view[end:end+4]`` with that of ``view[:end]``."""
    stored = int(_U32.unpack(view[end : end + CRC_BYTES])[0])
    actual = zlib.crc32(view[:end])
    if stored != actual:
        raise BadFrame(
            f"checksum mismatch: stored crc32 {stored:08x}, computed {actual:08x} — "
            "the frame was corrupted in transit; resend it"
        )


def _check_length(view: memoryview, end: int) -> None:
    """The frame must end exactly ``CRC_BYTES`` after ``end`` (the end of the payload)."""
    expected = end + CRC_BYTES
    if len(view) < expected:
        raise BadFrame(
            f"truncated frame: lengths say {expected} bytes, got {len(view)} — "
            "the frame was cut short or a length field lies"
        )
    if len(view) > expected:
        raise BadFrame(
            f"trailing bytes: lengths say {expected} bytes, got {len(view)} — "
            "send exactly one frame per message"
        )


def _decode_compact(view: memoryview, flags: int) -> tuple[FrameHeader, bytes]:
    r = _Reader(view, _PREFIX_BYTES, len(view), "frame")
    payload_len = r.varint("payload length", MAX_PAYLOAD_BYTES, PayloadTooLarge)
    bundle = r.u32("bundle fingerprint")
    request_id = r.varint("request id", MAX_REQUEST_ID)
    rate = r.byte("rate index") if flags & FLAG_HAS_RATE else None
    end = r.pos + payload_len
    _check_length(view, end)
    _check_crc(view, end)
    header = FrameHeader(request_id=request_id, bundle=bundle, rate=rate)
    return header, bytes(view[r.pos : end])


def _decode_described(view: memoryview, flags: int) -> tuple[FrameHeader, bytes]:
    r = _Reader(view, _PREFIX_BYTES, len(view), "frame")
    header_len = r.varint("header length", MAX_HEADER_BYTES, PayloadTooLarge)
    payload_len = r.varint("payload length", MAX_PAYLOAD_BYTES, PayloadTooLarge)
    start = r.pos
    end = start + header_len + payload_len
    _check_length(view, end)
    _check_crc(view, end)
    h = _Reader(view, start, start + header_len, "header")
    bundle = h.u32("bundle fingerprint") if flags & FLAG_HAS_BUNDLE else None
    request_id = h.varint("request id", MAX_REQUEST_ID)
    dtype_id = h.byte("dtype")
    if dtype_id not in DTYPES:
        raise BadFrame(f"unknown dtype: id {dtype_id} is not in this reader's table")
    rank = h.byte("rank")
    if rank > MAX_RANK:
        raise PayloadTooLarge(f"rank too large: {rank}, cap is {MAX_RANK}")
    shape = []
    numel = 1
    for i in range(rank):
        d = h.varint(f"dim {i}", MAX_NUMEL, PayloadTooLarge)
        if d == 0:
            raise BadFrame(f"bad dim: dim {i} is 0; frames carry non-empty tensors only")
        numel *= d
        if numel > MAX_NUMEL:
            raise PayloadTooLarge(f"numel too large: shape exceeds {MAX_NUMEL} elements")
        shape.append(d)
    spec_len = h.varint("spec length", MAX_SPEC_BYTES, PayloadTooLarge)
    if spec_len == 0:
        raise BadFrame("empty spec: a described frame must name its codec")
    try:
        spec = str(h.take(spec_len, "codec spec"), "utf-8")
    except UnicodeDecodeError as exc:
        raise BadFrame(f"invalid utf-8: codec spec byte {exc.start} ({exc.reason})") from None
    if h.pos != h.end:
        raise BadFrame(
            f"header length mismatch: header length says {header_len} bytes, "
            f"its fields take {h.pos - start}"
        )
    header = FrameHeader(
        request_id=request_id,
        bundle=bundle,
        codec_spec=spec,
        shape=tuple(shape),
        dtype=DTYPES[dtype_id],
    )
    return header, bytes(view[h.end : end])


def decode_frame(buf: bytes | bytearray | memoryview) -> tuple[FrameHeader, bytes]:
    """Parse and verify one tensor frame (compact or described).

    Raises :class:`BadFrame` for anything malformed (truncated, bad magic, unknown
    version / kind / flags / dtype, bad checksum, overlong or too-long varints, lying
    lengths, trailing bytes, zero dims, invalid UTF-8) and :class:`PayloadTooLarge` for
    a length, rank or element count over its cap. Nothing is allocated beyond the caps.
    """
    view = _as_view(buf)
    kind, flags = _prefix(view)
    if kind is FrameKind.COMPACT:
        return _decode_compact(view, flags)
    if kind is FrameKind.DESCRIBED:
        return _decode_described(view, flags)
    raise BadFrame("wrong frame kind: this is a result frame; read it with decode_result")


def decode_result(buf: bytes | bytearray | memoryview) -> TopK:
    """Parse and verify a result frame (kind 3); errors as in :func:`decode_frame`.

    A result frame has no length field: its CRC (the last 4 bytes) is checked first,
    then the fields must use every byte before it.
    """
    view = _as_view(buf)
    kind, _ = _prefix(view)
    if kind is not FrameKind.RESULT:
        raise BadFrame(f"wrong frame kind: this is a {kind.name.lower()} frame; use decode_frame")
    end = len(view) - CRC_BYTES
    if end < _PREFIX_BYTES + 2:
        raise BadFrame(f"truncated frame: {len(view)} bytes is too short for a result frame")
    _check_crc(view, end)
    r = _Reader(view, _PREFIX_BYTES, end, "result")
    k = r.varint("result count", MAX_TOPK, PayloadTooLarge)
    request_id = r.varint("request id", MAX_REQUEST_ID)
    ids = tuple(r.varint("class id", MAX_CLASS_ID) for _ in range(k))
    scores = struct.unpack(f">{k}f", r.take(4 * k, "scores"))
    if any(math.isnan(s) for s in scores):
        raise BadFrame("nan score: a result frame may not carry NaN scores")
    if r.pos != end:
        raise BadFrame(f"trailing bytes: {end - r.pos} byte(s) after the scores")
    return TopK(request_id=request_id, class_ids=ids, scores=scores)


# --- session messages (stream sessions, wire-format "session v1") ------------------------
#
# Inside a stream session (protocol/session.py: the WebSocket transport at /v1/stream) the
# bundle, its fingerprint and the version are agreed once, in the session's hello, and the
# carrier (WebSocket over TCP) delimits messages and checks their integrity. So an
# inference goes up as its payload alone (its request id is implied by its position in the
# session), and its answer comes down as a *session result*: the fields of a result frame
# without prefix and CRC.

SESSION_VERSION = 1
"""The session layout this module reads and writes (agreed in the session's hello)."""

#: RFC 6455: a client-to-server WebSocket frame carries a 4-byte masking key.
WS_MASK_BYTES = 4


def session_message_bytes(payload_len: int) -> int:
    """Bytes up for one payload in a stream session: the payload as one masked binary
    WebSocket message (RFC 6455 section 5.2: a 2-byte header, 2 or 8 more length bytes from
    126 B and 65,536 B on, and the client's 4-byte mask).

    This is the per-inference framing of a session; its one-off setup (the HTTP upgrade,
    hello, ready and close, about 300 B) is not included.
    """
    if payload_len < 0:
        raise BadInput(f"payload_len must be >= 0, got {payload_len}")
    extended = 0 if payload_len < 126 else 2 if payload_len < 65536 else 8
    return payload_len + 2 + extended + WS_MASK_BYTES


def encode_session_result(result: TopK) -> bytes:
    """A session result: ``varint request_id, varint k, k varint class ids, k float32 BE``.

    9 bytes for top-1 and a request id under 16384 (8 under 128).
    """
    if not isinstance(result, TopK):
        raise BadInput(f"result must be a TopK, not {type(result).__name__}")
    parts = [_varint(result.request_id), _varint(len(result.class_ids))]
    parts += [_varint(c) for c in result.class_ids]
    parts += [_F32.pack(s) for s in result.scores]
    return b"".join(parts)


def decode_session_result(buf: bytes | bytearray | memoryview) -> TopK:
    """Parse a session result; :class:`BadFrame` / :class:`PayloadTooLarge` as above."""
    view = _as_view(buf)
    r = _Reader(view, 0, len(view), "session result")
    request_id = r.varint("request id", MAX_REQUEST_ID)
    k = r.varint("result count", MAX_TOPK, PayloadTooLarge)
    ids = tuple(r.varint("class id", MAX_CLASS_ID) for _ in range(k))
    scores = struct.unpack(f">{k}f", r.take(4 * k, "scores"))
    if any(math.isnan(s) for s in scores):
        raise BadFrame("nan score: a session result may not carry NaN scores")
    if r.pos != r.end:
        raise BadFrame(f"trailing bytes: {r.end - r.pos} byte(s) after the scores")
    return TopK(request_id=request_id, class_ids=ids, scores=scores)
