"""``learned:levels=L,tables=channel|element[,coder=exact|range|auto]``: a codec whose
state (integer frequency tables) is trained and held by a bundle.

    feature (1 x C x H x W in [0, 1]) -> symbols round(z * (L - 1)) -> entropy coder
                                         with the bundle's tables  -> payload (no header)

The tables come from :class:`splitinfer.bottleneck.prior.FactorizedPrior` (a learned
factorized prior, Ballé et al., ICLR 2018); this module only codes with them. It is
built by the same factory as every other codec, with its state handed in::

    codecs.create("learned:levels=4,tables=element", state=CodecState((8, 4, 4), freqs))

Two entropy coders, fixed by the spec (so by the bundle), never chosen per message:

- ``coder=exact`` (what a spec without ``coder`` means, so every bundle made before the
  range coder existed decodes as before): :mod:`splitinfer.codecs.arith`, exact
  big-integer arithmetic coding, at most 9 bits over the information content. Its cost
  grows with the square of the symbol count, so it takes at most
  :data:`~splitinfer.codecs.arith.MAX_SYMBOLS` symbols.
- ``coder=range``: :mod:`splitinfer.codecs.rangecoder`, constriction's compiled range
  coder, linear in the symbol count, up to :data:`MAX_SYMBOLS` symbols.
- ``coder=auto`` is resolved when the codec is built, from the feature size: ``exact``
  up to :data:`AUTO_EXACT_MAX` symbols (where it saves about 2 bytes per message for
  well under a millisecond), else ``range`` (``benchmarks/entropy_coders.py`` measures
  both). The built codec's spec (what a bundle stores)
  names the resolved coder.

Canonical text omits ``coder=exact`` (the meaning of the older specs, fixed forever), so
the specs of existing bundles, and their fingerprints, are unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from splitinfer.codecs import arith
from splitinfer.codecs.limits import DEFAULT, Limits
from splitinfer.codecs.rangecoder import RangeTables
from splitinfer.errors import BadCodecSpec, CodecError, PayloadTooLarge

TableMode = Literal["channel", "element"]
CoderName = Literal["exact", "range", "auto"]
MAX_LEVELS = 256
#: Most symbols one learned codec codes (2**24; the range coder is linear in this).
MAX_SYMBOLS = 1 << 24
#: ``coder=auto`` takes the exact coder up to this many symbols, the range coder beyond.
AUTO_EXACT_MAX = 256
_SPEC_RE = re.compile(
    r"^learned:levels=(\d+),tables=(channel|element)(?:,coder=(exact|range|auto))?$"
)


def is_learned_spec(spec: object) -> bool:
    """True for a ``learned:...`` spec string (a codec whose state a bundle holds)."""
    return isinstance(spec, str) and spec.strip().startswith("learned:")


@dataclass(frozen=True)
class LearnedSpec:
    """``learned:levels=L,tables=channel|element[,coder=exact|range|auto]``."""

    levels: int
    tables: TableMode
    coder: CoderName = "exact"

    def __post_init__(self) -> None:
        if not 2 <= self.levels <= MAX_LEVELS:
            raise BadCodecSpec(
                f"learned codec levels must be in 2..{MAX_LEVELS}, got {self.levels}"
            )
        if self.tables not in ("channel", "element"):
            raise BadCodecSpec(f"learned codec tables must be channel or element: {self.tables!r}")
        if self.coder not in ("exact", "range", "auto"):
            raise BadCodecSpec(f"learned codec coder must be exact, range or auto: {self.coder!r}")

    def __str__(self) -> str:
        coder = "" if self.coder == "exact" else f",coder={self.coder}"
        return f"learned:levels={self.levels},tables={self.tables}{coder}"

    @classmethod
    def parse(cls, text: str) -> LearnedSpec:
        m = _SPEC_RE.match(text.strip())
        if not m:
            raise BadCodecSpec(
                f"bad learned codec spec {text!r}; expected "
                "'learned:levels=L,tables=channel|element' with an optional "
                "',coder=exact|range|auto'"
            )
        return cls(int(m.group(1)), m.group(2), m.group(3) or "exact")  # type: ignore[arg-type]

    def resolved(self, count: int) -> LearnedSpec:
        """This spec with ``coder=auto`` replaced by the coder for ``count`` symbols."""
        if self.coder != "auto":
            return self
        return LearnedSpec(
            self.levels, self.tables, "exact" if count <= AUTO_EXACT_MAX else "range"
        )


@dataclass(frozen=True)
class CodecState:
    """What a learned codec is built with: the feature shape and the integer tables.

    ``freqs`` is ``rows x levels`` (rows = C for ``tables=channel``, C*H*W for
    ``element``), each row >= 1 summing to ``2**16``: the bundle's frozen tables.
    """

    shape: tuple[int, int, int]
    freqs: torch.Tensor


class LearnedCodec:
    """Feature (1 x C x H x W in [0, 1]) <-> entropy-coded symbols under bundle-held tables.

    Satisfies :class:`splitinfer.codecs.Codec`; its payload holds no header at all (the
    shape, levels, tables and coder all come from the bundle).
    """

    lossless = False

    def __init__(self, spec: LearnedSpec, state: CodecState, limits: Limits = DEFAULT) -> None:
        c, h, w = (int(v) for v in state.shape)
        count = c * h * w
        if min(c, h, w) < 1 or count > min(MAX_SYMBOLS, limits.max_elements):
            raise CodecError(
                f"a learned codec codes 1..{min(MAX_SYMBOLS, limits.max_elements)} symbols, "
                f"not a {state.shape} feature"
            )
        rows = c if spec.tables == "channel" else count
        freqs = state.freqs
        if tuple(freqs.shape) != (rows, spec.levels):
            raise CodecError(
                f"frequency tables of shape {tuple(freqs.shape)} do not fit "
                f"{spec} over a {state.shape} feature (need {(rows, spec.levels)})"
            )
        self.spec = spec.resolved(count)
        if self.spec.coder == "exact" and count > arith.MAX_SYMBOLS:
            raise BadCodecSpec(
                f"the exact coder takes at most {arith.MAX_SYMBOLS} symbols, not {count} "
                f"({state.shape}); use {LearnedSpec(spec.levels, spec.tables, 'range')}"
            )
        self.shape = (c, h, w)
        self.levels = spec.levels
        self.limits = limits
        self.count = count
        per_row = h * w if spec.tables == "channel" else 1
        self._coder: RangeTables | arith.ExactCoder = (
            RangeTables(freqs.detach().cpu().numpy(), per_row)
            if self.spec.coder == "range"
            else arith.ExactCoder(freqs.tolist(), per_row)
        )

    def __repr__(self) -> str:
        return f"LearnedCodec({str(self.spec)!r}, shape={self.shape})"

    @property
    def tolerance(self) -> Literal["lossless", "bounded", "unbounded"]:
        return "bounded"

    def error_bound(self, x: torch.Tensor) -> float | None:
        return 0.5 / (self.levels - 1)

    def symbol_array(self, x: torch.Tensor) -> np.ndarray:
        """The symbols ``round(clamp(x, 0, 1) * (L - 1))`` of one feature, flat int32."""
        if not isinstance(x, torch.Tensor):
            raise CodecError(f"encode takes a torch.Tensor, got {type(x).__name__}")
        if tuple(x.shape) != (1, *self.shape):
            raise CodecError(f"this codec takes one 1 x {self.shape} feature, got {tuple(x.shape)}")
        if x.is_complex() or not bool(torch.isfinite(x).all()):
            raise CodecError("cannot encode a tensor with NaN or infinity")
        q = torch.round(x.detach().float().clamp(0, 1) * (self.levels - 1))
        return q.to(torch.int32).reshape(-1).cpu().numpy()

    def symbols(self, x: torch.Tensor) -> list[int]:
        return [int(v) for v in self.symbol_array(x)]

    def encode(self, x: torch.Tensor) -> bytes:
        return self._coder.encode(self.symbol_array(x))

    def decode(self, payload: bytes) -> torch.Tensor:
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            raise CodecError(f"decode takes bytes, got {type(payload).__name__}")
        if len(payload) > self.limits.max_payload_bytes:
            raise PayloadTooLarge(f"payload of {len(payload)} bytes exceeds the cap")
        q = torch.from_numpy(self._coder.decode(bytes(payload)))
        t = q.to(torch.float32) / (self.levels - 1)
        return t.reshape(1, *self.shape)

    def estimate_bits(self, x: torch.Tensor) -> float:
        """Information content of ``x``'s symbols under the tables (what encode will spend)."""
        return self._coder.bits(self.symbol_array(x))

    def proxy(self, x: torch.Tensor, mode: Literal["ste", "noise"] = "ste") -> torch.Tensor:
        if mode == "noise":
            step = 1.0 / (self.levels - 1)
            return x + (torch.rand_like(x) - 0.5) * step
        if mode != "ste":
            raise CodecError(f"proxy mode must be 'ste' or 'noise', got {mode!r}")
        return quantize_ste(x, self.levels)


def quantize_ste(z: torch.Tensor, levels: int) -> torch.Tensor:
    """Round (0, 1) values to ``levels`` levels forward; identity gradient backward."""
    step = levels - 1
    hard = torch.round(z.detach().clamp(0, 1) * step) / step
    return hard + (z - z.detach())
