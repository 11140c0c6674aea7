"""How close ``ans`` gets to the empirical entropy of the symbols it codes."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from splitinfer.codecs.ans import AnsEntropyCoder
from splitinfer.codecs.clip import channel_view
from splitinfer.codecs.dtypes import check_input
from splitinfer.codecs.pipeline import Pipeline
from splitinfer.codecs.spec import SpecLike
from splitinfer.errors import BadCodecSpec


def entropy_bits(symbols: np.ndarray) -> float:
    """Total zero-order empirical entropy: ``n * H(p)`` with p the symbol histogram."""
    _, counts = np.unique(symbols, return_counts=True)
    p = counts / counts.sum()
    return float(-(counts * np.log2(p)).sum())


def channel_entropy_bits(symbols: np.ndarray) -> float:
    """Sum over channels of each channel's total empirical entropy (per-channel model)."""
    view = channel_view(torch.from_numpy(symbols)).numpy()
    return sum(entropy_bits(view[:, c, :]) for c in range(view.shape[1]))


@dataclass(frozen=True)
class EntropyReport:
    """Achieved ANS bits against the empirical entropy of the same symbols.

    ``body_bits`` are the ANS words alone; ``side_bits`` the fitted model (histograms or
    Laplace parameters); ``header_bits`` everything else in the payload (dtype byte,
    quant ranges, shape, model id). ``entropy_bits`` is the ideal cost under the
    empirical distribution of the model family used: the global histogram for ``hist``,
    the per-channel histograms for ``channel`` and ``laplace``.
    """

    spec: str
    model: str
    symbols: int
    payload_bits: int
    header_bits: int
    side_bits: int
    body_bits: int
    entropy_global_bits: float
    entropy_channel_bits: float
    entropy_bits: float

    @property
    def body_over_entropy(self) -> float:
        """body_bits / entropy_bits (1.0 = optimal; excludes side info and header)."""
        return self.body_bits / self.entropy_bits if self.entropy_bits else float("inf")

    @property
    def total_over_entropy(self) -> float:
        """payload_bits / entropy_bits: everything included."""
        return self.payload_bits / self.entropy_bits if self.entropy_bits else float("inf")

    def to_dict(self) -> dict[str, object]:
        return {
            **asdict(self),
            "body_over_entropy": self.body_over_entropy,
            "total_over_entropy": self.total_over_entropy,
        }


def entropy_report(x: torch.Tensor, spec: SpecLike = "quant:bits=8|ans") -> EntropyReport:
    """Encode ``x`` with ``spec`` (whose coder must be ``ans``) and compare with entropy."""
    codec = Pipeline(spec)
    if not isinstance(codec.coder, AnsEntropyCoder):
        raise BadCodecSpec(f"entropy_report needs an ans coder, got {codec.spec}")
    t = check_input(x)
    for transform, kind in zip(codec.transforms, codec.kinds, strict=False):
        t, _ = transform.forward(t, kind)
    parts = codec.coder.best_parts(t, codec.kinds[-1])
    sym = t.numpy().astype(np.int64)
    h_global, h_channel = entropy_bits(sym), channel_entropy_bits(sym)
    payload_bits = 8 * len(codec.encode(x))
    side_bits, body_bits = 8 * len(parts.side), 8 * len(parts.words)
    return EntropyReport(
        spec=str(codec.spec),
        model=parts.model,
        symbols=sym.size,
        payload_bits=payload_bits,
        header_bits=payload_bits - side_bits - body_bits,
        side_bits=side_bits,
        body_bits=body_bits,
        entropy_global_bits=h_global,
        entropy_channel_bits=h_channel,
        entropy_bits=h_global if parts.model == "hist" else h_channel,
    )
