"""The :class:`Codec` protocol every feature codec satisfies."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

import torch

from splitinfer.codecs.spec import Spec

if TYPE_CHECKING:
    from splitinfer.codecs.learned import LearnedSpec
    from splitinfer.codecs.limits import Limits


@runtime_checkable
class Codec(Protocol):
    """tensor -> bytes -> tensor, plus a differentiable training proxy.

    Mirrors CompressAI's latent codec (``compress`` / ``decompress`` / ``forward``).

    - ``encode``: finite fp32/fp16/bf16 tensor of any shape -> self-contained payload
      (decoding needs only the payload and ``spec``).
    - ``decode``: payload -> tensor of the same shape and dtype; corrupt, truncated or
      oversized payloads raise :class:`~splitinfer.errors.CodecError` or
      :class:`~splitinfer.errors.PayloadTooLarge`, nothing else.
    - ``proxy``: training stand-in; ``ste`` runs the real codec forward and is the
      identity backward, ``noise`` adds uniform quantization noise.
    - ``spec``: what it was built from, canonical; a stateful codec (``learned:...``)
      also needs its state (tables) to be rebuilt, which a bundle holds.
    - ``lossless`` / ``tolerance`` / ``error_bound(x)``: the declared tolerance: exact;
      bounded by ``error_bound(x)`` (max abs error on ``x``); or lossy with no bound
      (``error_bound`` returns None).
    """

    lossless: bool

    @property
    def spec(self) -> Spec | LearnedSpec:
        """The codec's canonical spec (``str()`` of it is the canonical text)."""
        ...

    @property
    def limits(self) -> Limits:
        """The caps it enforces on what it decodes, given when it was built."""
        ...

    @property
    def tolerance(self) -> Literal["lossless", "bounded", "unbounded"]: ...

    def encode(self, x: torch.Tensor) -> bytes: ...

    def decode(self, payload: bytes) -> torch.Tensor: ...

    def proxy(self, x: torch.Tensor, mode: Literal["ste", "noise"] = "ste") -> torch.Tensor: ...

    def error_bound(self, x: torch.Tensor) -> float | None: ...
