"""The tile layout and the quantizer's clipping modes, checked value by value."""

from __future__ import annotations

import pytest
import torch

from splitinfer import codecs
from splitinfer.codecs.stage import Kind
from splitinfer.codecs.tile import as_nchw, grid, plane_shape


@pytest.mark.parametrize(
    ("c", "expected"),
    [(1, (1, 1)), (2, (2, 1)), (3, (2, 2)), (4, (2, 2)), (5, (3, 2)), (64, (8, 8)), (65, (9, 8))],
)
def test_grid(c: int, expected: tuple[int, int]) -> None:
    assert grid(c) == expected


def test_tile_layout_is_row_major_grid() -> None:
    tile = codecs.create("tile").transforms[0]
    x = torch.arange(3 * 2 * 2, dtype=torch.float32).reshape(3, 2, 2)  # C=3 -> 2x2 grid
    plane, _ = tile.forward(x, Kind())
    expected = torch.tensor(
        [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 0, 0], [10, 11, 0, 0]], dtype=torch.float32
    )
    assert torch.equal(plane, expected)


def test_batches_stack_vertically_and_align_pads() -> None:
    tile = codecs.create("tile:align=8").transforms[0]
    x = torch.ones(2, 5, 3, 3)
    plane, _ = tile.forward(x, Kind())
    # C=5 -> 3x2 grid of 3x3 tiles; 2 samples stacked: 18 x 6, padded to 24 x 8
    assert plane.shape == (24, 8) == plane_shape((2, 5, 3, 3), 8)
    assert float(plane[18:].abs().sum()) == 0 and float(plane[:, 6:].abs().sum()) == 0
    assert float(plane[:18, :6].sum()) == 2 * 5 * 9


@pytest.mark.parametrize(
    ("shape", "nchw"),
    [
        ((), (1, 1, 1, 1)),
        ((5,), (1, 1, 1, 5)),
        ((4, 5), (1, 1, 4, 5)),
        ((2, 3, 4, 5, 6), (6, 4, 5, 6)),
    ],
)
def test_rank_mapping(shape: tuple[int, ...], nchw: tuple[int, int, int, int]) -> None:
    assert as_nchw(shape) == nchw


def test_fixed_clip_sends_no_range() -> None:
    codec = codecs.create("quant:bits=8,clip=-1.5:4.0")
    payload = codec.encode(torch.tensor([-3.0, 0.0, 5.0]))
    assert len(payload) == 1 + 2 + 3  # dtype, shape, 3 symbols
    assert codec.decode(payload).tolist() == pytest.approx([-1.5, 0.0, 4.0], abs=5.5 / 255 / 2)


def test_percentile_clip_ignores_outliers() -> None:
    x = torch.cat([torch.linspace(0, 1, 10_000), torch.tensor([1000.0])])
    plain = codecs.create("quant:bits=8").roundtrip(x)
    clipped = codecs.create("quant:bits=8,clip=p99.9").roundtrip(x)
    assert float((clipped - x)[:-1].abs().max()) < 0.01 < float((plain - x)[:-1].abs().max())


def test_per_channel_ranges() -> None:
    x = torch.stack([torch.linspace(0, 1, 49), torch.linspace(0, 100, 49)]).reshape(1, 2, 7, 7)
    per_channel = codecs.create("quant:bits=4,clip=channel").roundtrip(x)
    global_ = codecs.create("quant:bits=4").roundtrip(x)
    assert float((per_channel - x)[:, 0].abs().max()) <= 1 / 15 / 2 + 1e-3
    assert float((global_ - x)[:, 0].abs().max()) > 0.5


def test_all_zero_channel_among_others() -> None:
    x = torch.randn(1, 4, 5, 5)
    x[:, 2] = 0
    y = codecs.create("quant:bits=8,clip=channel|ans").roundtrip(x)
    assert torch.equal(y[:, 2], x[:, 2])


def test_wide_range_falls_back_to_fp32() -> None:
    x = torch.linspace(1000.1, 1000.3, 100)
    codec = codecs.create("quant:bits=8")
    assert codec.encode(x)[1] & 1 == 0  # flag: fp32 ranges, since fp16 would widen 3x
    assert float((codec.roundtrip(x) - x).abs().max()) <= 0.2 / 255 / 2 + 1e-4
