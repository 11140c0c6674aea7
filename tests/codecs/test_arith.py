"""The exact arithmetic coder: round trips, length bound, hostile messages."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from splitinfer.codecs import arith
from splitinfer.errors import CodecError, PayloadTooLarge


def _table(weights: list[float]) -> list[int]:
    total = sum(weights)
    freq = [1 + int(w / total * (arith.TOTAL - len(weights))) for w in weights]
    freq[0] += arith.TOTAL - sum(freq)
    return freq


@pytest.fixture(scope="module")
def tables() -> arith.Tables:
    rng = random.Random(0)
    return arith.Tables([_table([rng.random() ** 3 + 1e-4 for _ in range(8)]) for _ in range(12)])


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_round_trip_and_length_bound(tables: arith.Tables, data: st.DataObject) -> None:
    rows = data.draw(st.lists(st.integers(0, len(tables) - 1), max_size=120))
    symbols = [data.draw(st.integers(0, 7)) for _ in rows]
    message = arith.encode(symbols, rows, tables)
    assert arith.decode(message, rows, tables) == symbols
    # the message is never more than 9 bits above the information content
    assert 8 * len(message) <= tables.bits(symbols, rows) + 9


def test_likely_symbols_cost_nothing() -> None:
    skewed = arith.Tables([[arith.TOTAL - 3, 1, 1, 1]])
    rows = [0] * 50
    assert arith.encode([0] * 50, rows, skewed) == b""  # the interval starts at 0
    assert arith.decode(b"", rows, skewed) == [0] * 50
    one_rare = [0] * 49 + [3]
    message = arith.encode(one_rare, rows, skewed)
    assert 2 <= len(message) <= 3  # ~16 bits for the rare symbol
    assert arith.decode(message, rows, skewed) == one_rare


def test_any_bytes_decode_to_valid_symbols(tables: arith.Tables) -> None:
    rng = random.Random(1)
    rows = [i % len(tables) for i in range(64)]
    for _ in range(300):
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
        out = arith.decode(junk, rows, tables)
        assert len(out) == 64 and all(0 <= s < 8 for s in out)


def test_bad_tables_and_inputs(tables: arith.Tables) -> None:
    with pytest.raises(CodecError, match="summing"):
        arith.Tables([[1, 2, 3]])
    with pytest.raises(CodecError, match=">= 1"):
        arith.Tables([[0, arith.TOTAL]])
    with pytest.raises(CodecError, match="at least one"):
        arith.Tables([])
    with pytest.raises(CodecError, match="out of range"):
        arith.encode([8], [0], tables)
    with pytest.raises(CodecError, match="table index"):
        arith.encode([0], [99], tables)
    with pytest.raises(CodecError, match="table indices"):
        arith.encode([0, 1], [0], tables)
    with pytest.raises(PayloadTooLarge):
        arith.decode(b"\x00", [0] * (arith.MAX_SYMBOLS + 1), tables)
    with pytest.raises(PayloadTooLarge):
        arith.decode(bytes(arith.MAX_MESSAGE_BYTES + 1), [0], tables)
