"""``tile``: lay channels side by side on one near-square 2-D plane (and back)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from splitinfer.codecs.bytesio import Reader, shape_bytes
from splitinfer.codecs.catalog import register
from splitinfer.codecs.params import IntParam, Params
from splitinfer.codecs.stage import Inverse, Kind, StageInfo, Transform
from splitinfer.errors import BadCodecSpec, CodecError


def as_nchw(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """(N, C, H, W) view of a shape: trailing (C, H, W), leading dims flattened into N.

    Rank 2 (H, W) is one channel; rank 1 (W,) is one row; rank 0 is one pixel.
    """
    padded = (1,) * max(0, 3 - len(shape)) + tuple(shape)
    n = math.prod(padded[:-3])
    c, h, w = padded[-3:]
    return n, c, h, w


def grid(channels: int) -> tuple[int, int]:
    """(rows, cols) of tiles: rows = ceil(sqrt(C)), cols = ceil(C / rows)."""
    rows = math.isqrt(channels - 1) + 1 if channels > 1 else 1
    return rows, -(-channels // rows)


def plane_shape(shape: tuple[int, ...], align: int) -> tuple[int, int]:
    """Height and width of the plane for a tensor of ``shape``, padded to ``align``."""
    n, c, h, w = as_nchw(shape)
    rows, cols = grid(c)
    height, width = n * rows * h, cols * w
    return -(-height // align) * align, -(-width // align) * align


class ChannelTiler(Transform):
    """Tile feature channels into one image plane, as image codecs need.

    Reproduces the channel tiling of Choi & Bajic, "Deep Feature Compression for
    Collaborative Object Detection" (ICIP 2018), which feeds feature channels to a
    standard image/video codec as one mosaic.

        (..., C, H, W) -> per sample: rows x cols grid of HxW tiles -> samples stacked
        vertically -> zero-pad to a multiple of ``align`` -> (N*rows*H, cols*W) plane

    Side info: the original shape (rank and dims as varints). Unused grid cells and the
    alignment margin are zeros and are cut off on decode.
    """

    def __init__(self, params: Params) -> None:
        super().__init__(params)
        self.align = params.int("align")

    def out_kind(self, kind: Kind) -> Kind:
        if kind.plane:
            raise BadCodecSpec("tile takes a tensor, not an already tiled plane")
        return Kind(kind.bits, True)

    def forward(self, x: torch.Tensor, kind: Kind) -> tuple[torch.Tensor, bytes]:
        shape = tuple(x.shape)
        n, c, h, w = as_nchw(shape)
        rows, cols = grid(c)
        t = x.reshape(n, c, h, w)
        if rows * cols > c:
            t = torch.cat([t, t.new_zeros(n, rows * cols - c, h, w)], dim=1)
        plane = t.reshape(n, rows, cols, h, w).permute(0, 1, 3, 2, 4)
        plane = plane.reshape(n * rows * h, cols * w)
        height, width = plane_shape(shape, self.align)
        plane = F.pad(plane, (0, width - plane.shape[1], 0, height - plane.shape[0]))
        return plane.contiguous(), shape_bytes(shape)

    def read_side(self, reader: Reader, kind: Kind) -> Inverse:
        shape = reader.shape()
        return lambda plane: self._untile(plane, shape)

    def _untile(self, plane: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
        expected = plane_shape(shape, self.align)
        if tuple(plane.shape) != expected:
            raise CodecError(
                f"corrupt payload: plane {tuple(plane.shape)} does not fit shape {shape}"
            )
        n, c, h, w = as_nchw(shape)
        rows, cols = grid(c)
        t = plane[: n * rows * h, : cols * w].reshape(n, rows, h, cols, w)
        t = t.permute(0, 1, 3, 2, 4).reshape(n, rows * cols, h, w)[:, :c]
        return t.reshape(shape).contiguous()


register(
    StageInfo(
        "tile",
        "transform",
        ChannelTiler,
        (IntParam("align", "1", "pad plane height and width to a multiple of this", 1, 64),),
        "channels tiled into one near-square 2-D plane",
    )
)
