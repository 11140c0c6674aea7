"""The three kinds of pipeline stage and the signal that flows between them.

A pipeline is ``transform* coder compressor*``:

- a :class:`Transform` maps a tensor to a tensor and writes a little side info
  (``quant``: floats -> integer symbols + ranges; ``tile``: any shape -> 2-D plane + shape),
- a :class:`Coder` turns the final tensor into bytes (``raw``, ``png``, ``jpeg``, ``ans``...),
- a :class:`Compressor` maps bytes to bytes (``zstd``, ``deflate``).

The :class:`Kind` of the signal (floats or ``bits``-bit symbols; a tiled plane or not) is
known statically from the spec, so a decoder knows what each stage must return.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from splitinfer.codecs.bytesio import Reader
from splitinfer.codecs.limits import DEFAULT, Limits
from splitinfer.codecs.params import Param, Params

Role = Literal["transform", "coder", "compressor"]
Inverse = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Kind:
    """What a stage receives: floats (``bits is None``) or symbols in ``[0, 2**bits)``."""

    bits: int | None = None
    plane: bool = False

    def describe(self) -> str:
        what = "floats" if self.bits is None else f"{self.bits}-bit symbols"
        return what + (" on a tiled plane" if self.plane else "")


class Stage(abc.ABC):
    """Base of all stages; ``lossless`` means exact for every input it accepts."""

    role: ClassVar[Role]
    lossless: bool = True
    #: The caps this stage enforces when it reads a payload (set when built).
    limits: Limits = DEFAULT

    def __init__(self, params: Params) -> None:
        self.params = params


class Transform(Stage):
    """Tensor -> tensor with side info written into the payload."""

    role: ClassVar[Role] = "transform"

    @abc.abstractmethod
    def out_kind(self, kind: Kind) -> Kind:
        """The kind this stage emits for input ``kind``; BadCodecSpec if it can't take it."""

    @abc.abstractmethod
    def forward(self, x: torch.Tensor, kind: Kind) -> tuple[torch.Tensor, bytes]:
        """Transform ``x``; return the result and the side info the inverse needs."""

    @abc.abstractmethod
    def read_side(self, reader: Reader, kind: Kind) -> Inverse:
        """Parse this stage's side info and return the function that inverts it."""

    def error_bound(self, x: torch.Tensor) -> float:
        """Max abs error this stage adds on ``x`` (0 for exact stages)."""
        return 0.0

    def noise_proxy(self, x: torch.Tensor) -> torch.Tensor | None:
        """A differentiable additive-noise stand-in, or None if the stage has none."""
        return None


class Coder(Stage):
    """Tensor -> bytes. The bytes must carry the tensor's shape (or imply it)."""

    role: ClassVar[Role] = "coder"
    #: The coder takes integer symbols only (a ``quant`` stage is put in front if missing).
    needs_symbols: ClassVar[bool] = False
    #: The coder takes a 2-D plane only (a ``tile`` stage is put in front if missing).
    needs_plane: ClassVar[bool] = False

    @abc.abstractmethod
    def check_kind(self, kind: Kind) -> None:
        """Raise BadCodecSpec when this coder cannot take ``kind``."""

    @abc.abstractmethod
    def encode(self, x: torch.Tensor, kind: Kind) -> bytes: ...

    @abc.abstractmethod
    def decode(self, body: bytes, kind: Kind) -> torch.Tensor: ...

    def error_bound(self, x: torch.Tensor, kind: Kind) -> float | None:
        """Max abs error on ``x`` (0 if exact, None if lossy without a bound)."""
        return 0.0


class Compressor(Stage):
    """Bytes -> bytes, lossless, with a bounded inflate."""

    role: ClassVar[Role] = "compressor"

    @abc.abstractmethod
    def compress(self, data: bytes) -> bytes: ...

    @abc.abstractmethod
    def decompress(self, data: bytes, max_bytes: int) -> bytes:
        """Inflate, raising PayloadTooLarge past ``max_bytes`` (never allocating more)."""


@dataclass(frozen=True)
class StageInfo:
    """A registry entry: how to build a stage, its parameters and what it reproduces."""

    name: str
    role: Role
    build: Callable[[Params], Stage]
    params: tuple[Param, ...] = ()
    summary: str = ""
