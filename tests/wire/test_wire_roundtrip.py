"""Hypothesis properties: every valid header + payload survives the wire unchanged,
every decoded frame re-encodes to the same bytes, and arbitrary bytes only ever raise
typed errors."""

from __future__ import annotations

import zlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from splitinfer.errors import BadFrame, PayloadTooLarge
from splitinfer.wire import (
    DTYPE_IDS,
    MAGIC,
    MAX_BUNDLE,
    MAX_CLASS_ID,
    MAX_NUMEL,
    MAX_RANK,
    MAX_REQUEST_ID,
    FrameHeader,
    TopK,
    decode_frame,
    decode_result,
    encode_frame,
    encode_result,
    frame_overhead,
)

SETTINGS = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])

request_ids = st.integers(0, MAX_REQUEST_ID) | st.integers(0, 300)
bundles = st.integers(0, MAX_BUNDLE)
payloads = st.binary(max_size=600)


@st.composite
def shapes(draw: st.DrawFn) -> tuple[int, ...]:
    """Any shape within the caps: rank 0..8, dims >= 1, numel <= MAX_NUMEL."""
    rank = draw(st.integers(0, MAX_RANK))
    dims: list[int] = []
    budget = MAX_NUMEL
    for _ in range(rank):
        d = draw(st.integers(1, min(budget, 64)) | st.integers(1, budget))
        dims.append(d)
        budget //= d
    return tuple(dims)


specs = st.text(min_size=1, max_size=128)  # <= 4 UTF-8 bytes a character: within 512

compact_headers = st.builds(FrameHeader, request_id=request_ids, bundle=bundles)
described_headers = st.builds(
    FrameHeader,
    request_id=request_ids,
    bundle=st.none() | bundles,
    codec_spec=specs,
    shape=shapes(),
    dtype=st.sampled_from(sorted(DTYPE_IDS)),
)
headers = compact_headers | described_headers


@SETTINGS
@given(headers, payloads)
def test_frame_round_trip(header: FrameHeader, payload: bytes) -> None:
    frame = encode_frame(header, payload)
    assert decode_frame(frame) == (header, payload)
    assert len(frame) == len(payload) + frame_overhead(header, len(payload))


@SETTINGS
@given(headers, payloads)
def test_bytes_like_payloads_encode_the_same(header: FrameHeader, payload: bytes) -> None:
    frame = encode_frame(header, payload)
    assert encode_frame(header, bytearray(payload)) == frame
    assert encode_frame(header, memoryview(payload)) == frame


@SETTINGS
@given(headers, payloads, st.data())
def test_any_single_bit_flip_is_rejected(
    header: FrameHeader, payload: bytes, data: st.DataObject
) -> None:
    frame = bytearray(encode_frame(header, payload))
    bit = data.draw(st.integers(0, 8 * len(frame) - 1))
    frame[bit // 8] ^= 1 << (bit % 8)
    try:
        decode_frame(bytes(frame))
    except (BadFrame, PayloadTooLarge):
        return
    raise AssertionError("a corrupted frame decoded")


topks = st.integers(0, 40).flatmap(
    lambda k: st.builds(
        TopK,
        request_id=request_ids,
        class_ids=st.lists(st.integers(0, MAX_CLASS_ID), min_size=k, max_size=k),
        scores=st.lists(st.floats(width=32, allow_nan=False), min_size=k, max_size=k),
    )
)


@SETTINGS
@given(topks)
def test_result_round_trip(result: TopK) -> None:
    assert decode_result(encode_result(result)) == result


def _check_garbage(buf: bytes) -> None:
    """Arbitrary bytes: a typed error, or a frame that re-encodes to exactly ``buf``."""
    try:
        header, payload = decode_frame(buf)
    except (BadFrame, PayloadTooLarge):
        pass
    else:
        assert encode_frame(header, payload) == buf
    try:
        result = decode_result(buf)
    except (BadFrame, PayloadTooLarge):
        pass
    else:
        assert encode_result(result) == buf


@SETTINGS
@given(st.binary(max_size=200))
def test_random_bytes_raise_typed_errors(buf: bytes) -> None:
    _check_garbage(buf)


@SETTINGS
@given(st.sampled_from([1, 2, 0x12, 3]), st.binary(max_size=120))
def test_sealed_random_bodies_raise_typed_errors(kind_byte: int, body: bytes) -> None:
    """Correct magic, version and CRC around random fields: reaches the field parsers."""
    frame = MAGIC + bytes((1, kind_byte)) + body
    _check_garbage(frame + zlib.crc32(frame).to_bytes(4, "big"))
