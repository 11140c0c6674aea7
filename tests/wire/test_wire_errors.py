"""Every way a frame can be wrong maps to one typed error with a stable reason.

Table-driven: each row is (bytes, error class, message prefix). The frames are built
byte by byte and sealed with a correct CRC, so each row reaches the check it targets.
"""

from __future__ import annotations

import pytest

from splitinfer.errors import BadFrame, PayloadTooLarge, SplitInferError
from splitinfer.wire import (
    MAGIC,
    MAX_FRAME_BYTES,
    MAX_HEADER_BYTES,
    MAX_PAYLOAD_BYTES,
    MAX_RANK,
    MAX_REQUEST_ID,
    MAX_SPEC_BYTES,
    MAX_TOPK,
    decode_frame,
    decode_result,
)
from tests.wire.wire_cases import (
    GOLDEN_CASES,
    compact,
    described,
    described_body,
    result,
    seal,
    varint,
)

GOLDEN = {case.name: case.path.read_bytes() for case in GOLDEN_CASES}
COMPACT = GOLDEN["compact_small"]


def flip(frame: bytes, index: int, mask: int = 0x01) -> bytes:
    out = bytearray(frame)
    out[index] ^= mask
    return bytes(out)


FRAME_ERRORS: list[tuple[str, bytes, type[SplitInferError], str]] = [
    # size, magic, version, kind, flags
    ("empty", b"", BadFrame, "truncated frame"),
    ("one_byte", MAGIC[:1], BadFrame, "truncated frame"),
    ("prefix_only", MAGIC + b"\x01", BadFrame, "truncated frame"),
    ("http", b"GET / HTTP/1.1\r\n\r\n", BadFrame, "bad magic"),
    ("json", b'{"x": 1}', BadFrame, "bad magic"),
    ("magic_second_byte", b"\x89T\x01\x01" + COMPACT[4:], BadFrame, "bad magic"),
    ("version_0", compact(version=0), BadFrame, "unsupported version"),
    ("version_2", compact(version=2), BadFrame, "unsupported version"),
    ("version_255", compact(version=255), BadFrame, "unsupported version"),
    ("kind_0", compact(kind_byte=0x00), BadFrame, "unknown frame kind"),
    ("kind_4", compact(kind_byte=0x04), BadFrame, "unknown frame kind"),
    ("kind_15", compact(kind_byte=0x0F), BadFrame, "unknown frame kind"),
    ("compact_flag_0x10", compact(kind_byte=0x11), BadFrame, "unknown flags"),
    ("compact_flag_0x80", compact(kind_byte=0x81), BadFrame, "unknown flags"),
    ("described_flag_0x20", described(kind_byte=0x22), BadFrame, "unknown flags"),
    ("result_to_decode_frame", GOLDEN["result_top5"], BadFrame, "wrong frame kind"),
    # integrity
    ("crc_flipped", flip(COMPACT, -1), BadFrame, "checksum mismatch"),
    ("payload_flipped", flip(COMPACT, 20, 0x80), BadFrame, "checksum mismatch"),
    ("bundle_flipped", flip(COMPACT, 6), BadFrame, "checksum mismatch"),
    ("crc_zeroed", COMPACT[:-4] + b"\0\0\0\0", BadFrame, "checksum mismatch"),
    # lying lengths
    ("truncated_by_one", COMPACT[:-1], BadFrame, "truncated frame"),
    ("truncated_in_bundle", COMPACT[:7], BadFrame, "truncated frame"),
    ("trailing_byte", COMPACT + b"\0", BadFrame, "trailing bytes"),
    ("two_frames", COMPACT + COMPACT, BadFrame, "trailing bytes"),
    ("payload_len_beyond_buffer", compact(payload_len=varint(100)), BadFrame, "truncated frame"),
    ("payload_len_short", compact(payload_len=varint(1)), BadFrame, "trailing bytes"),
    (
        "payload_len_over_cap",
        compact(payload_len=varint(MAX_PAYLOAD_BYTES + 1)),
        PayloadTooLarge,
        "payload length too large",
    ),
    (
        "payload_len_huge",
        compact(payload_len=b"\xff\xff\xff\x7f"),
        PayloadTooLarge,
        "payload length too large",
    ),
    (
        "header_len_over_cap",
        described(header_len=varint(MAX_HEADER_BYTES + 1)),
        PayloadTooLarge,
        "header length too large",
    ),
    ("header_len_beyond_buffer", described(header_len=varint(200)), BadFrame, "truncated frame"),
    (
        "header_len_too_long",
        described(described_body() + b"\0", b"xyz"),
        BadFrame,
        "header length mismatch",
    ),
    (
        "header_len_too_short",
        described(described_body()[:-1], b"w" + b"xyz"),
        BadFrame,
        "truncated header",
    ),
    (
        "frame_over_cap",
        MAGIC + b"\x01\x01" + bytes(MAX_FRAME_BYTES),
        PayloadTooLarge,
        "frame too large",
    ),
    # varints
    ("varint_too_long_len", compact(payload_len=b"\x80\x80\x80\x80\x00"), BadFrame, "varint"),
    (
        "varint_too_long_request_id",
        compact(request_id=b"\x81\x80\x80\x80\x80\x00"),
        BadFrame,
        "varint too long",
    ),
    ("overlong_len", compact(b"abcde", payload_len=b"\x85\x00"), BadFrame, "overlong varint"),
    ("overlong_request_id", compact(request_id=b"\x80\x00"), BadFrame, "overlong varint"),
    ("overlong_zero", compact(request_id=b"\x80\x80\x00"), BadFrame, "overlong varint"),
    (
        "request_id_out_of_range",
        compact(request_id=varint(MAX_REQUEST_ID + 1)),
        BadFrame,
        "request id out of range",
    ),
    (
        "described_overlong_dim",
        described(described_body(rank=1, dims=b"\x88\x00")),
        BadFrame,
        "overlong varint",
    ),
    # shape, dtype, spec
    (
        "rank_over_cap",
        described(described_body(rank=MAX_RANK + 1, dims=b"\x01" * (MAX_RANK + 1))),
        PayloadTooLarge,
        "rank too large",
    ),
    ("rank_255", described(described_body(rank=255, dims=b"")), PayloadTooLarge, "rank too large"),
    ("dim_zero", described(described_body(dims=b"\x01\x00")), BadFrame, "bad dim"),
    (
        "dim_over_cap",
        described(described_body(rank=1, dims=varint(2**26 + 1))),
        PayloadTooLarge,
        "dim 0 too large",
    ),
    (
        "numel_over_cap",
        described(described_body(dims=varint(2**13) + varint(2**14))),
        PayloadTooLarge,
        "numel too large",
    ),
    (
        "numel_over_cap_rank8",
        described(described_body(rank=8, dims=varint(16) * 8)),
        PayloadTooLarge,
        "numel too large",
    ),
    (
        "rank_beyond_header",
        described(described_body(rank=2, dims=b"\x01", spec=b"", spec_len=b"")),
        BadFrame,
        "truncated header",
    ),
    ("dtype_0", described(described_body(dtype=0)), BadFrame, "unknown dtype"),
    ("dtype_200", described(described_body(dtype=200)), BadFrame, "unknown dtype"),
    ("empty_spec", described(described_body(spec=b"")), BadFrame, "empty spec"),
    (
        "spec_len_over_cap",
        described(described_body(spec=b"a" * (MAX_SPEC_BYTES + 1))),
        PayloadTooLarge,
        "spec length too large",
    ),
    ("spec_bad_utf8", described(described_body(spec=b"raw\xff\xfe")), BadFrame, "invalid utf-8"),
    ("spec_overlong_utf8", described(described_body(spec=b"\xc0\xaf")), BadFrame, "invalid utf-8"),
    ("spec_surrogate", described(described_body(spec=b"\xed\xa0\x80")), BadFrame, "invalid utf-8"),
    ("spec_cut_utf8", described(described_body(spec=b"\xc3")), BadFrame, "invalid utf-8"),
    (
        "spec_len_beyond_header",
        described(described_body(spec=b"raw", spec_len=b"\x05")),
        BadFrame,
        "truncated header",
    ),
    (
        "bundle_flag_without_bundle",
        described(b"\x05\x01\x00", kind_byte=0x12),
        BadFrame,
        "truncated header",
    ),
]

RESULT_ERRORS: list[tuple[str, bytes, type[SplitInferError], str]] = [
    ("compact_to_decode_result", COMPACT, BadFrame, "wrong frame kind"),
    ("described_to_decode_result", GOLDEN["described_jpeg"], BadFrame, "wrong frame kind"),
    ("too_short", seal(MAGIC + b"\x01\x03\x00"), BadFrame, "truncated frame"),
    ("crc", flip(GOLDEN["result_top5"], 8), BadFrame, "checksum mismatch"),
    ("k_over_cap", result(k=varint(MAX_TOPK + 1)), PayloadTooLarge, "result count too large"),
    ("k_beyond_body", result(k=b"\x03"), BadFrame, "truncated result"),
    ("k_short", result(k=b"\x01"), BadFrame, "trailing bytes"),
    ("class_id_out_of_range", result(ids=varint(2**24) + b"\x01"), BadFrame, "class id out"),
    ("class_id_overlong", result(ids=b"\x83\x00\x01"), BadFrame, "overlong varint"),
    ("nan_score", result(scores=b"\x7f\xc0\x00\x00" * 2), BadFrame, "nan score"),
    ("flags", seal(MAGIC + b"\x01\x13\x00\x00"), BadFrame, "unknown flags"),
]


def _check(decode: object, frame: bytes, error: type[SplitInferError], prefix: str) -> None:
    with pytest.raises(SplitInferError) as info:
        decode(frame)  # type: ignore[operator]
    assert type(info.value) is error, info.value
    assert info.value.message.startswith(prefix), info.value.message


@pytest.mark.parametrize(
    ("frame", "error", "prefix"), [r[1:] for r in FRAME_ERRORS], ids=[r[0] for r in FRAME_ERRORS]
)
def test_decode_frame_rejects(frame: bytes, error: type[SplitInferError], prefix: str) -> None:
    _check(decode_frame, frame, error, prefix)


@pytest.mark.parametrize(
    ("frame", "error", "prefix"), [r[1:] for r in RESULT_ERRORS], ids=[r[0] for r in RESULT_ERRORS]
)
def test_decode_result_rejects(frame: bytes, error: type[SplitInferError], prefix: str) -> None:
    _check(decode_result, frame, error, prefix)


def test_builders_make_valid_frames() -> None:
    """The error rows above differ from these valid frames only in the field they break."""
    header, payload = decode_frame(compact())
    assert (header.bundle, header.request_id, payload) == (0x1A2B3C4D, 1, b"abc")
    header, payload = decode_frame(described())
    assert (header.codec_spec, header.shape, header.dtype, payload) == (
        "raw",
        (1, 8),
        "float32",
        b"xyz",
    )
    assert decode_result(result()).scores == (0.5, 0.25)


@pytest.mark.parametrize("version", [2, 3, 0x7F])
def test_future_version_is_refused_with_a_hint(version: int) -> None:
    with pytest.raises(BadFrame, match="speaks v1 only"):
        decode_frame(compact(version=version))


def test_decoders_accept_bytearray_and_memoryview() -> None:
    frame = GOLDEN["described_jpeg"]
    expected = decode_frame(frame)
    assert decode_frame(bytearray(frame)) == expected
    assert decode_frame(memoryview(frame)) == expected
    assert decode_frame(memoryview(frame * 2)[: len(frame)]) == expected


def test_decoders_refuse_non_bytes_with_a_typed_error() -> None:
    from splitinfer.errors import BadInput

    for bad in ("text", 3, None, [0x89, 0x53]):
        with pytest.raises(BadInput):
            decode_frame(bad)  # type: ignore[arg-type]
        with pytest.raises(BadInput):
            decode_result(bad)  # type: ignore[arg-type]
