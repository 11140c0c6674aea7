"""A split model with a butterfly unit and a codec in the loop.

    training:   x -> head -> reduction -> codec.proxy -> restoration -> tail -> logits
    deployed:   edge(x) = reduction(head(x)) -> codec.encode -> frame -> codec.decode
                -> cloud(z) = tail(restoration(z))

The proxy is the paper's straight-through estimator (the real codec forward, identity
backward) or additive uniform noise; see :meth:`splitinfer.codecs.Codec.proxy`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import torch
from torch import nn

from splitinfer.bottleneck.units import UnitConfig, make_units
from splitinfer.errors import BadInput
from splitinfer.partition import Split

if TYPE_CHECKING:
    from splitinfer.codecs import Pipeline

ProxyMode = Literal["ste", "noise", "none"]


class BottleneckModel(nn.Module):
    """head + reduction (edge) and restoration + tail (cloud), with a codec between."""

    def __init__(
        self,
        head: nn.Module,
        reduction: nn.Module,
        restoration: nn.Module,
        tail: nn.Module,
        codec_spec: str | None = None,
        proxy: ProxyMode = "ste",
    ) -> None:
        super().__init__()
        if proxy not in ("ste", "noise", "none"):
            raise BadInput(f"proxy must be 'ste', 'noise' or 'none', got {proxy!r}")
        self.head = head
        self.reduction = reduction
        self.restoration = restoration
        self.tail = tail
        self.proxy = proxy
        self.codec_spec = codec_spec
        self._codec: Pipeline | None = None
        if codec_spec is not None:
            from splitinfer import codecs

            self._codec = codecs.create(codec_spec)

    @property
    def codec(self) -> Pipeline | None:
        return self._codec

    def edge(self, x: torch.Tensor) -> torch.Tensor:
        """What the device computes: the reduced feature, ready for ``codec.encode``."""
        return self.reduction(self.head(x))

    def cloud(self, z: torch.Tensor) -> torch.Tensor:
        """What the server computes from a decoded feature."""
        return self.tail(self.restoration(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.edge(x)
        if self._codec is not None and self.proxy != "none":
            z = self._codec.proxy(z, mode=self.proxy)
        return self.cloud(z)


def insert_bottleneck(
    split: Split,
    unit: UnitConfig,
    codec: str | None = None,
    proxy: ProxyMode = "ste",
) -> BottleneckModel:
    """Put a butterfly unit (and a codec in the loop) at ``split``'s cut point.

    The head and tail keep sharing parameters with the model ``split`` came from.
    """
    reduction, restoration = make_units(split.cut.shape, unit)
    return BottleneckModel(split.head, reduction, restoration, split.tail, codec, proxy)
