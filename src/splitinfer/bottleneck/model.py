"""A split model with a butterfly unit and a codec in the loop.

    training:   x -> head -> reduction -> codec.proxy -> restoration -> tail -> logits
    deployed:   edge(x) = reduction(head(x)) -> codec.encode -> frame -> codec.decode
                -> cloud(z) = tail(restoration(z))

The proxy is the paper's straight-through estimator (the real codec forward, identity
backward) or additive uniform noise; see :meth:`splitinfer.codecs.Codec.proxy`.

A codec with a trained state (``learned:levels=L,tables=...``, see
:mod:`splitinfer.codecs.learned`) has its state learned here: a
:class:`~splitinfer.bottleneck.prior.FactorizedPrior` whose frozen tables the codec is
built with. Training rounds ``z`` to ``L`` levels straight-through and leaves the
estimated bits per image of the batch in :attr:`BottleneckModel.rate_bits` for a rate
term.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from splitinfer import codecs
from splitinfer.bottleneck.prior import FactorizedPrior, LearnedSpec, quantize_ste
from splitinfer.bottleneck.units import UnitConfig, make_units
from splitinfer.errors import BadInput
from splitinfer.partition import Split

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
        feature_shape: tuple[int, int, int] | None = None,
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
        self._codec: codecs.Codec | None = None
        self.prior: FactorizedPrior | None = None  # the trained state of a stateful codec
        self.rate_bits: torch.Tensor | None = None
        self.rate_fit: torch.Tensor | None = None
        self.match_features = False  # training: leave MSE(restored, original) in match_loss
        self.match_loss: torch.Tensor | None = None
        if codec_spec is not None and codecs.needs_state(codec_spec):
            spec = LearnedSpec.parse(codec_spec)
            if feature_shape is None:
                raise BadInput(f"codec {codec_spec} needs the reduced feature's shape")
            self.prior = FactorizedPrior(feature_shape, spec.levels, spec.tables)
        elif codec_spec is not None:
            self._codec = codecs.create(codec_spec)

    def build_codec(self, limits: codecs.Limits = codecs.DEFAULT) -> codecs.Codec | None:
        """The deployed codec with these caps; a stateful one over its current tables."""
        if self.codec_spec is None:
            return None
        state = self.prior.state() if self.prior is not None else None
        return codecs.create(self.codec_spec, state=state, limits=limits)

    @property
    def codec(self) -> codecs.Codec | None:
        """The deployed codec (generic caps); a stateful one over its current tables."""
        return self.build_codec() if self.prior is not None else self._codec

    def edge(self, x: torch.Tensor) -> torch.Tensor:
        """What the device computes: the reduced feature, ready for ``codec.encode``."""
        return self.reduction(self.head(x))

    def cloud(self, z: torch.Tensor) -> torch.Tensor:
        """What the server computes from a decoded feature."""
        return self.tail(self.restoration(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        z = self.reduction(h)
        if self.prior is not None:
            levels = self.prior.levels
            if self.training:
                y = z * (levels - 1)
                noisy = y + torch.rand_like(y) - 0.5
                # bits per image (gradient to the encoder) and mean bits per element of
                # the detached symbols (gradient to the prior only: its likelihood fit)
                self.rate_bits = self.prior.bits(noisy).flatten(1).sum(1).mean()
                self.rate_fit = self.prior.bits(noisy.detach()).mean()
            if self.proxy != "none":
                z = quantize_ste(z, levels)
        elif self._codec is not None and self.proxy != "none":
            z = self._codec.proxy(z, mode=self.proxy)
        restored = self.restoration(z)
        if self.training and self.match_features:
            # feature matching at the cut: the restored feature should be the original
            self.match_loss = F.mse_loss(restored, h.detach())
        return self.tail(restored)


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
    with torch.no_grad():
        was = reduction.training
        z = reduction.eval()(torch.zeros(1, *split.cut.shape[1:]))
        reduction.train(was)
    c, h, w = z.shape[1:]
    return BottleneckModel(
        split.head, reduction, restoration, split.tail, codec, proxy, feature_shape=(c, h, w)
    )
