"""A learned factorized prior over the reduction unit's quantized output: a codec's tables.

Rate-aware training (Ballé et al., "Variational image compression with a scale
hyperprior", ICLR 2018, without the hyperprior): every element of the reduced feature
``z`` in (0, 1) becomes a symbol ``q = round(z * (L - 1))`` in ``0..L-1``, and a small
learned distribution gives each symbol its probability. Training minimises

    task loss + lambda * bits,    bits = sum over elements of -log2 P(y + u)

where ``y = z * (L - 1)`` and ``u`` is uniform noise in (-1/2, 1/2): the noisy ``y`` keeps
the rate differentiable, while the tail sees the hard-rounded values (straight-through).

The distribution of one element is a mixture of ``K`` logistics truncated to
``[-1/2, L - 1/2]``: with mixture CDF ``C`` and ``F(t) = (C(t) - C(-1/2)) /
(C(L - 1/2) - C(-1/2))``, ``P(q) = F(q + 1/2) - F(q - 1/2)`` sums to one over the ``L``
symbols, and the training mass ``F(y + 1/2) - F(y - 1/2)`` is its continuous relaxation.
``tables="channel"`` shares one distribution per channel (the classic factorized prior);
``tables="element"`` gives every (channel, row, column) its own, which suits tiny
latents of centred images.

Deployed, :meth:`FactorizedPrior.update_tables` freezes the distributions into integer
frequency tables (``freqs``, a buffer saved with the weights and covered by the bundle
digest). They are the state of the ``learned:...`` codec
(:mod:`splitinfer.codecs.learned`), built like any codec with ``codecs.create(spec,
state=prior.state())``: edge and cloud read the same integers, so floating-point
differences between devices can never desynchronise them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from splitinfer.codecs import arith
from splitinfer.codecs.learned import CodecState, LearnedSpec, TableMode, quantize_ste
from splitinfer.errors import BadInput

__all__ = ["FactorizedPrior", "LearnedSpec", "TableMode", "quantize_pmf", "quantize_ste"]


def quantize_pmf(pmf: torch.Tensor) -> torch.Tensor:
    """Float probabilities (rows of P x L) -> int64 frequencies >= 1 summing to 2**16.

    Deterministic: one plus the floor of the scaled probabilities, and the remainder to
    the most likely symbol (ties to the lower one).
    """
    p = pmf.double().clamp_min(0)
    p = p / p.sum(dim=1, keepdim=True)
    levels = p.shape[1]
    freqs = 1 + torch.floor(p * (arith.TOTAL - levels)).long()
    short = arith.TOTAL - freqs.sum(dim=1, keepdim=True)  # >= 0 by construction
    top = torch.argmax(p, dim=1, keepdim=True)  # first maximum: ties to the lower symbol
    freqs.scatter_add_(1, top, short)
    return freqs


class FactorizedPrior(nn.Module):
    """Per-channel or per-element truncated logistic mixtures over ``levels`` symbols."""

    freqs: torch.Tensor  # rows x levels int32: the frozen tables (a buffer)

    def __init__(
        self,
        shape: tuple[int, int, int],
        levels: int,
        tables: TableMode = "element",
        components: int = 3,
    ) -> None:
        super().__init__()
        LearnedSpec(levels, tables)  # validates
        if len(shape) != 3 or min(shape) < 1:
            raise BadInput(f"a prior needs a C x H x W feature shape, got {shape}")
        self.shape = tuple(shape)
        self.levels = levels
        self.tables = tables
        c, h, w = shape
        rows = c if tables == "channel" else c * h * w
        spread = torch.linspace(0.2, 0.8, components) * (levels - 1)
        self.weight_logits = nn.Parameter(torch.zeros(rows, components))
        self.means = nn.Parameter(spread.repeat(rows, 1))
        self.log_scales = nn.Parameter(torch.full((rows, components), math.log(levels / 4)))
        self.register_buffer("freqs", quantize_pmf(torch.ones(rows, levels)).int())

    @property
    def spec(self) -> LearnedSpec:
        return LearnedSpec(self.levels, self.tables)

    def _rows_view(self, y: torch.Tensor) -> torch.Tensor:
        """N x C x H x W -> N x rows x per-row elements."""
        n, c, h, w = y.shape
        if (c, h, w) != self.shape:
            raise BadInput(f"prior is for features {self.shape}, got {(c, h, w)}")
        return y.reshape(n, c, h * w) if self.tables == "channel" else y.reshape(n, c * h * w, 1)

    def _cdf(self, t: torch.Tensor) -> torch.Tensor:
        """Truncated mixture CDF F at ``t`` (N x rows x E), in [0, 1]."""
        lo, hi = -0.5, self.levels - 0.5
        w = F.softmax(self.weight_logits, dim=1)[None, :, None, :]
        mu = self.means[None, :, None, :]
        inv_s = torch.exp(-self.log_scales)[None, :, None, :]

        def mix(x: torch.Tensor) -> torch.Tensor:
            return (w * torch.sigmoid((x.unsqueeze(-1) - mu) * inv_s)).sum(-1)

        c_lo = mix(torch.full_like(t[:, :, :1], lo))
        c_hi = mix(torch.full_like(t[:, :, :1], hi))
        return (mix(t.clamp(lo, hi)) - c_lo) / (c_hi - c_lo).clamp_min(1e-9)

    def bits(self, y: torch.Tensor) -> torch.Tensor:
        """-log2 of the mass of [y - 1/2, y + 1/2] per element (y in symbol units)."""
        v = self._rows_view(y)
        mass = self._cdf(v + 0.5) - self._cdf(v - 0.5)
        return -torch.log2(mass.clamp_min(1e-9)).reshape(y.shape)

    def pmf(self) -> torch.Tensor:
        """rows x levels: the discrete distribution each table will hold."""
        edges = torch.arange(self.levels + 1, dtype=torch.float32) - 0.5
        t = edges.view(1, 1, -1).expand(1, self.weight_logits.shape[0], -1)
        cdf = self._cdf(t)[0]
        return (cdf[:, 1:] - cdf[:, :-1]).clamp_min(0)

    @torch.no_grad()
    def update_tables(self) -> None:
        """Freeze the current distributions into the integer ``freqs`` the codec uses."""
        self.freqs.copy_(quantize_pmf(self.pmf()).int())

    def state(self) -> CodecState:
        """The codec state: the feature shape and the frozen tables (call
        :meth:`update_tables` after training)."""
        c, h, w = self.shape
        return CodecState((c, h, w), self.freqs)
