"""The :class:`Codec` protocol every feature codec satisfies."""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

import torch

from splitinfer.codecs.spec import Spec


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
    - ``lossless`` / ``tolerance`` / ``error_bound(x)``: the declared tolerance: exact;
      bounded by ``error_bound(x)`` (max abs error on ``x``); or lossy with no bound
      (``error_bound`` returns None).
    """

    spec: Spec
    lossless: bool

    @property
    def tolerance(self) -> Literal["lossless", "bounded", "unbounded"]: ...

    def encode(self, x: torch.Tensor) -> bytes: ...

    def decode(self, payload: bytes) -> torch.Tensor: ...

    def proxy(self, x: torch.Tensor, mode: Literal["ste", "noise"] = "ste") -> torch.Tensor: ...

    def error_bound(self, x: torch.Tensor) -> float | None: ...
