"""A learned factorized prior over the reduction unit's quantized output, and its codec.

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
digest), and :class:`LearnedCodec` codes symbols with them through the exact arithmetic
coder of :mod:`splitinfer.codecs.arith`. Edge and cloud read the same integers, so
floating-point differences between devices can never desynchronise them, and the bits
the tables promise are the bits sent (to within 9 bits per message).

The payload is the arithmetic-coded message and nothing else: the shape, the levels and
the tables all come from the bundle.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from splitinfer.codecs import arith
from splitinfer.errors import BadCodecSpec, BadInput, CodecError

TableMode = Literal["channel", "element"]
_SPEC_RE = re.compile(r"^learned:levels=(\d+),tables=(channel|element)$")
MAX_LEVELS = 256


@dataclass(frozen=True)
class LearnedSpec:
    """``learned:levels=L,tables=channel|element``: the bundle-held codec's settings."""

    levels: int
    tables: TableMode

    def __post_init__(self) -> None:
        if not 2 <= self.levels <= MAX_LEVELS:
            raise BadCodecSpec(
                f"learned codec levels must be in 2..{MAX_LEVELS}, got {self.levels}"
            )
        if self.tables not in ("channel", "element"):
            raise BadCodecSpec(f"learned codec tables must be channel or element: {self.tables!r}")

    def __str__(self) -> str:
        return f"learned:levels={self.levels},tables={self.tables}"

    @classmethod
    def parse(cls, text: str) -> LearnedSpec:
        m = _SPEC_RE.match(text.strip())
        if not m:
            raise BadCodecSpec(
                f"bad learned codec spec {text!r}; expected 'learned:levels=L,tables=channel' "
                "or 'learned:levels=L,tables=element'"
            )
        return cls(int(m.group(1)), m.group(2))  # type: ignore[arg-type]


def is_learned(codec: str) -> bool:
    """True for a ``learned:...`` codec spec (held by the bundle, not the codec registry)."""
    return codec.strip().startswith("learned:")


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

    def codec(self) -> LearnedCodec:
        """The codec over the frozen tables (call :meth:`update_tables` after training)."""
        return LearnedCodec(self.shape, self.spec, self.freqs)  # type: ignore[arg-type]


def quantize_ste(z: torch.Tensor, levels: int) -> torch.Tensor:
    """Round (0, 1) values to ``levels`` levels forward; identity gradient backward."""
    step = levels - 1
    hard = torch.round(z.detach().clamp(0, 1) * step) / step
    return hard + (z - z.detach())


class LearnedCodec:
    """Feature (1 x C x H x W in [0, 1]) <-> arithmetic-coded symbols, bundle-held tables.

    Satisfies :class:`splitinfer.codecs.Codec`; its payload holds no header at all.
    """

    lossless = False

    def __init__(self, shape: tuple[int, int, int], spec: LearnedSpec, freqs: torch.Tensor) -> None:
        c, h, w = shape
        rows = c if spec.tables == "channel" else c * h * w
        if tuple(freqs.shape) != (rows, spec.levels):
            raise CodecError(
                f"frequency tables of shape {tuple(freqs.shape)} do not fit "
                f"{spec} over a {shape} feature (need {(rows, spec.levels)})"
            )
        self.shape = (c, h, w)
        self.spec = str(spec)
        self.levels = spec.levels
        self._tables = arith.Tables(freqs.tolist())
        per = h * w
        self._rows = (
            [i // per for i in range(c * per)] if spec.tables == "channel" else list(range(c * per))
        )

    def __repr__(self) -> str:
        return f"LearnedCodec({self.spec!r}, shape={self.shape})"

    @property
    def tolerance(self) -> Literal["lossless", "bounded", "unbounded"]:
        return "bounded"

    def error_bound(self, x: torch.Tensor) -> float | None:
        return 0.5 / (self.levels - 1)

    def symbols(self, x: torch.Tensor) -> list[int]:
        if tuple(x.shape) != (1, *self.shape):
            raise CodecError(f"this codec takes one 1 x {self.shape} feature, got {tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise CodecError("cannot encode a tensor with NaN or infinity")
        q = torch.round(x.detach().float().clamp(0, 1) * (self.levels - 1)).to(torch.int64)
        return q.reshape(-1).tolist()

    def encode(self, x: torch.Tensor) -> bytes:
        return arith.encode(self.symbols(x), self._rows, self._tables)

    def decode(self, payload: bytes) -> torch.Tensor:
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            raise CodecError(f"decode takes bytes, got {type(payload).__name__}")
        q = arith.decode(bytes(payload), self._rows, self._tables)
        t = torch.tensor(q, dtype=torch.float32) / (self.levels - 1)
        return t.reshape(1, *self.shape)

    def estimate_bits(self, x: torch.Tensor) -> float:
        """Information content of ``x``'s symbols under the tables (what encode will spend)."""
        return self._tables.bits(self.symbols(x), self._rows)

    def proxy(self, x: torch.Tensor, mode: Literal["ste", "noise"] = "ste") -> torch.Tensor:
        if mode == "noise":
            step = 1.0 / (self.levels - 1)
            return x + (torch.rand_like(x) - 0.5) * step
        if mode != "ste":
            raise CodecError(f"proxy mode must be 'ste' or 'noise', got {mode!r}")
        return quantize_ste(x, self.levels)
