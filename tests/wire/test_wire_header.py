"""FrameHeader / TopK validation, encode-side errors, overhead and the dtype table."""

from __future__ import annotations

import math

import numpy as np
import pytest

from splitinfer.errors import BadInput, PayloadTooLarge, SplitInferError
from splitinfer.wire import (
    DTYPE_IDS,
    DTYPES,
    MAX_NUMEL,
    MAX_PAYLOAD_BYTES,
    MAX_REQUEST_ID,
    MAX_SPEC_BYTES,
    MAX_TOPK,
    FrameHeader,
    FrameKind,
    TopK,
    bundle_fingerprint,
    decode_frame,
    encode_frame,
    encode_result,
    frame_overhead,
    varint_len,
)
from tests.wire.wire_cases import JPEG_SPEC


def described(**overrides: object) -> FrameHeader:
    fields: dict[str, object] = {
        "request_id": 1,
        "codec_spec": "raw",
        "shape": (1, 8),
        "dtype": "float32",
    }
    fields.update(overrides)
    return FrameHeader(**fields)  # type: ignore[arg-type]


BAD_HEADERS: list[tuple[str, dict[str, object], type[SplitInferError]]] = [
    ("negative_request_id", {"request_id": -1}, BadInput),
    ("request_id_over_cap", {"request_id": MAX_REQUEST_ID + 1}, BadInput),
    ("bool_request_id", {"request_id": True}, BadInput),
    ("str_request_id", {"request_id": "1"}, BadInput),
    ("float_request_id", {"request_id": 1.0}, BadInput),
    ("bundle_over_cap", {"bundle": 2**32}, BadInput),
    ("negative_bundle", {"bundle": -5}, BadInput),
    ("partial_described", {"shape": None}, BadInput),
    ("spec_empty", {"codec_spec": ""}, BadInput),
    ("spec_not_str", {"codec_spec": b"raw"}, BadInput),
    ("spec_surrogate", {"codec_spec": "raw\udc80"}, BadInput),
    ("spec_over_cap", {"codec_spec": "a" * (MAX_SPEC_BYTES + 1)}, PayloadTooLarge),
    ("spec_over_cap_utf8", {"codec_spec": "é" * (MAX_SPEC_BYTES // 2 + 1)}, PayloadTooLarge),
    ("rank_over_cap", {"shape": (1,) * 9}, PayloadTooLarge),
    ("dim_zero", {"shape": (1, 0)}, BadInput),
    ("dim_negative", {"shape": (-1, 8)}, BadInput),
    ("dim_float", {"shape": (1.5,)}, BadInput),
    ("dim_bool", {"shape": (True,)}, BadInput),
    ("shape_str", {"shape": "18"}, BadInput),
    ("shape_int", {"shape": 8}, BadInput),
    ("shape_generator", {"shape": (d for d in (1, 2))}, BadInput),
    ("numel_over_cap", {"shape": (MAX_NUMEL, 2)}, PayloadTooLarge),
    ("dtype_unknown", {"dtype": "float128"}, BadInput),
    ("dtype_torch_prefix", {"dtype": "torch.float32"}, BadInput),
    ("dtype_not_str", {"dtype": ["float32"]}, BadInput),
]


@pytest.mark.parametrize(
    ("overrides", "error"), [r[1:] for r in BAD_HEADERS], ids=[r[0] for r in BAD_HEADERS]
)
def test_header_validation(overrides: dict[str, object], error: type[SplitInferError]) -> None:
    with pytest.raises(SplitInferError) as info:
        described(**overrides)
    assert type(info.value) is error


def test_compact_header_needs_a_bundle() -> None:
    with pytest.raises(BadInput, match="needs a bundle"):
        FrameHeader(request_id=1)
    assert FrameHeader(request_id=1, bundle=0).kind is FrameKind.COMPACT


def test_header_normalises_ints_and_shapes() -> None:
    h = described(request_id=np.int64(9), bundle=np.uint32(3), shape=[np.int32(2), 4])
    assert h == described(request_id=9, bundle=3, shape=(2, 4))
    assert type(h.request_id) is int and type(h.bundle) is int
    assert all(type(d) is int for d in h.shape or ())
    assert h.kind is FrameKind.DESCRIBED and h.numel == 8


def test_header_accepts_torch_size() -> None:
    torch = pytest.importorskip("torch")
    t = torch.zeros(2, 3, 4, dtype=torch.float16)
    h = described(shape=t.shape, dtype=str(t.dtype).removeprefix("torch."))
    assert h.shape == (2, 3, 4) and type(h.shape) is tuple and h.dtype == "float16"


def test_scalar_shape_is_allowed() -> None:
    h = described(shape=())
    assert decode_frame(encode_frame(h, b"\x00\x00\x80\x3f")) == (h, b"\x00\x00\x80\x3f")
    assert h.numel == 1


def test_header_is_frozen() -> None:
    h = FrameHeader(request_id=1, bundle=2)
    with pytest.raises(AttributeError):
        h.request_id = 3  # type: ignore[misc]


def test_encode_frame_argument_errors() -> None:
    h = FrameHeader(request_id=1, bundle=2)
    with pytest.raises(BadInput):
        encode_frame("header", b"")  # type: ignore[arg-type]
    with pytest.raises(BadInput):
        encode_frame(h, "text")  # type: ignore[arg-type]
    with pytest.raises(PayloadTooLarge):
        encode_frame(h, bytes(MAX_PAYLOAD_BYTES + 1))
    with pytest.raises(PayloadTooLarge):
        frame_overhead(h, MAX_PAYLOAD_BYTES + 1)
    with pytest.raises(BadInput):
        frame_overhead(h, -1)
    with pytest.raises(BadInput):
        encode_result((1, 2))  # type: ignore[arg-type]


def test_max_payload_round_trips() -> None:
    h = FrameHeader(request_id=1, bundle=2)
    payload = bytes(MAX_PAYLOAD_BYTES)
    frame = encode_frame(h, payload)
    assert len(frame) - len(payload) == frame_overhead(h, len(payload)) == 17
    assert decode_frame(frame) == (h, payload)


BAD_RESULTS: list[tuple[str, dict[str, object], type[SplitInferError]]] = [
    ("length_mismatch", {"class_ids": (1, 2), "scores": (0.5,)}, BadInput),
    ("nan", {"class_ids": (1,), "scores": (math.nan,)}, BadInput),
    ("overflow", {"class_ids": (1,), "scores": (1e39,)}, BadInput),
    ("score_str", {"class_ids": (1,), "scores": ("0.5",)}, BadInput),
    ("class_id_over_cap", {"class_ids": (2**24,), "scores": (0.5,)}, BadInput),
    ("class_id_negative", {"class_ids": (-1,), "scores": (0.5,)}, BadInput),
    ("topk_over_cap", {"class_ids": (0,) * 1025, "scores": (0.0,) * 1025}, PayloadTooLarge),
]


@pytest.mark.parametrize(
    ("fields", "error"), [r[1:] for r in BAD_RESULTS], ids=[r[0] for r in BAD_RESULTS]
)
def test_topk_validation(fields: dict[str, object], error: type[SplitInferError]) -> None:
    with pytest.raises(SplitInferError) as info:
        TopK(request_id=1, **fields)  # type: ignore[arg-type]
    assert type(info.value) is error


def test_topk_rounds_scores_to_float32_and_allows_inf() -> None:
    ids, scores = [np.int64(4), 2], [0.1, np.float32(-math.inf)]
    r = TopK(request_id=1, class_ids=ids, scores=scores)  # type: ignore[arg-type]
    assert r.class_ids == (4, 2)
    assert r.scores == (float(np.float32(0.1)), -math.inf)
    assert len(TopK(request_id=1, class_ids=(0,) * MAX_TOPK, scores=(0.0,) * MAX_TOPK).scores)


# --- overhead: the numbers quoted in docs/wire-format.md -------------------------------


@pytest.mark.parametrize(
    ("payload_len", "request_id", "overhead"),
    [
        (0, 0, 14),
        (40, 1, 14),
        (127, 127, 14),
        (128, 127, 15),
        (127, 128, 15),
        (1_000, 10_000, 16),
        (16_383, 16_383, 16),
        (16_384, 2**21, 19),
        (MAX_PAYLOAD_BYTES, MAX_REQUEST_ID, 21),
    ],
)
def test_compact_overhead(payload_len: int, request_id: int, overhead: int) -> None:
    h = FrameHeader(request_id=request_id, bundle=0xCAFEF00D)
    assert overhead == 12 + varint_len(payload_len) + varint_len(request_id)
    assert frame_overhead(h, payload_len) == overhead
    if payload_len <= 20_000:
        assert len(encode_frame(h, bytes(payload_len))) == payload_len + overhead


def described_overhead_formula(h: FrameHeader, payload_len: int) -> int:
    """The formula of docs/wire-format.md, section "Measured overhead"."""
    spec_len = len((h.codec_spec or "").encode())
    header_len = (
        (4 if h.bundle is not None else 0)
        + varint_len(h.request_id)
        + 2
        + sum(varint_len(d) for d in h.shape or ())
        + varint_len(spec_len)
        + spec_len
    )
    return 8 + varint_len(header_len) + varint_len(payload_len) + header_len


@pytest.mark.parametrize(
    ("header", "payload_len", "overhead"),
    [
        (described(codec_spec="raw", shape=(10,)), 40, 18),
        (described(codec_spec=JPEG_SPEC, shape=(1, 64, 8, 8), request_id=5), 40, 62),
        (described(codec_spec=JPEG_SPEC, shape=(1, 64, 8, 8), bundle=7, request_id=5), 40, 66),
    ],
)
def test_described_overhead(header: FrameHeader, payload_len: int, overhead: int) -> None:
    assert frame_overhead(header, payload_len) == overhead
    assert described_overhead_formula(header, payload_len) == overhead
    assert len(encode_frame(header, bytes(payload_len))) == payload_len + overhead


def test_result_frame_size() -> None:
    r = TopK(request_id=7, class_ids=(3, 1, 9, 0, 6), scores=(0.5,) * 5)
    assert len(encode_result(r)) == 4 + 1 + 1 + 5 + 20 + 4 == 35


# --- tables and helpers ------------------------------------------------------------------


def test_dtype_table_is_pinned() -> None:
    """Ids are on the wire forever: this list may only grow at the end."""
    assert list(DTYPES.items()) == [
        (1, "float32"),
        (2, "float16"),
        (3, "bfloat16"),
        (4, "uint8"),
        (5, "int8"),
        (6, "uint16"),
        (7, "int16"),
        (8, "int32"),
        (9, "int64"),
        (10, "float64"),
        (11, "bool"),
        (12, "uint32"),
        (13, "uint64"),
        (14, "float8_e4m3fn"),
        (15, "float8_e5m2"),
    ]
    assert {v: k for k, v in DTYPES.items()} == dict(DTYPE_IDS)


def test_dtype_names_are_torch_dtypes() -> None:
    torch = pytest.importorskip("torch")
    for name in DTYPES.values():
        assert isinstance(getattr(torch, name), torch.dtype)


def test_bundle_fingerprint() -> None:
    assert bundle_fingerprint(b"") == 0xE3B0C442  # SHA-256("") starts e3b0c442
    assert bundle_fingerprint(b"spec-v1") != bundle_fingerprint(b"spec-v2")
    assert 0 <= bundle_fingerprint(b"x" * 1000) < 2**32


@pytest.mark.parametrize(
    ("value", "n"), [(0, 1), (127, 1), (128, 2), (16_383, 2), (16_384, 3), (2**32 - 1, 5)]
)
def test_varint_len(value: int, n: int) -> None:
    assert varint_len(value) == n
