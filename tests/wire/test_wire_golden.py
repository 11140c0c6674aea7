"""Golden frames: the committed bytes ARE the v1 format.

Each case is encoded and compared byte for byte with ``tests/wire/golden/<name>.bin``, and
the file is decoded back. Regenerate (only for a deliberate format change, which means a
new version) with ``SPLITINFER_REGEN_GOLDEN=1 pytest tests/wire``.
"""

from __future__ import annotations

import math
import os

import pytest

from splitinfer.errors import BadFrame, PayloadTooLarge
from splitinfer.wire import (
    MAX_NUMEL,
    MAX_RANK,
    FrameHeader,
    TopK,
    decode_frame,
    decode_result,
    encode_frame,
    encode_result,
)
from tests.wire.wire_cases import GOLDEN_CASES, GoldenCase

REGEN = os.environ.get("SPLITINFER_REGEN_GOLDEN") == "1"
IDS = [case.name for case in GOLDEN_CASES]


def encode_case(case: GoldenCase) -> bytes:
    if isinstance(case.header, TopK):
        return encode_result(case.header)
    return encode_frame(case.header, case.payload)


def decode_any(buf: bytes) -> object:
    """Decode with whichever decoder the frame's kind byte calls for."""
    return decode_result(buf) if len(buf) > 3 and buf[3] == 3 else decode_frame(buf)


@pytest.mark.parametrize("case", GOLDEN_CASES, ids=IDS)
def test_golden_bytes_are_stable(case: GoldenCase) -> None:
    frame = encode_case(case)
    if REGEN:
        case.path.parent.mkdir(parents=True, exist_ok=True)
        case.path.write_bytes(frame)
    if not case.path.exists():
        pytest.fail(f"{case.path} is missing; run SPLITINFER_REGEN_GOLDEN=1 pytest tests/wire")
    assert case.path.read_bytes() == frame


@pytest.mark.parametrize("case", GOLDEN_CASES, ids=IDS)
def test_golden_decodes(case: GoldenCase) -> None:
    stored = case.path.read_bytes()
    if isinstance(case.header, TopK):
        assert decode_result(stored) == case.header
    else:
        assert decode_frame(stored) == (case.header, case.payload)


def test_golden_set_covers_the_edges() -> None:
    headers = [c.header for c in GOLDEN_CASES if isinstance(c.header, FrameHeader)]
    assert any(h.shape is None for h in headers)  # compact
    assert any(h.shape is not None and h.bundle is None for h in headers)
    assert any(h.shape is not None and h.bundle is not None for h in headers)
    assert any(not c.payload for c in GOLDEN_CASES if isinstance(c.header, FrameHeader))
    shapes = [h.shape for h in headers if h.shape is not None]
    assert any(len(s) == MAX_RANK and math.prod(s) == MAX_NUMEL for s in shapes)


@pytest.mark.parametrize("case", GOLDEN_CASES, ids=IDS)
def test_every_single_bit_flip_is_rejected(case: GoldenCase) -> None:
    frame = case.path.read_bytes()
    for bit in range(8 * len(frame)):
        mutant = bytearray(frame)
        mutant[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises((BadFrame, PayloadTooLarge)):
            decode_any(bytes(mutant))


@pytest.mark.parametrize("case", GOLDEN_CASES, ids=IDS)
def test_every_truncation_and_extension_is_rejected(case: GoldenCase) -> None:
    frame = case.path.read_bytes()
    for cut in range(len(frame)):
        with pytest.raises(BadFrame):
            decode_any(frame[:cut])
    for extra in (b"\x00", b"\xff", frame):
        with pytest.raises(BadFrame):
            decode_any(frame + extra)
