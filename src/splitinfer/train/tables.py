"""Refit a bundle's entropy-coding tables on data: the empirical symbol frequencies of
each table row, in place of the learned prior's parametric ones.

The learned prior (:class:`~splitinfer.bottleneck.prior.FactorizedPrior`) is a mixture
fitted during training, while the unit itself still moves; once the unit is frozen, the
frequencies of the symbols it really sends on the training split are a closer model of
what it will send. Refitting changes only the tables: the symbols, so the decoded
features and the accuracy, are exactly the same; the bits change. The tables are fitted
on the training split and the bundle is measured on the test split, so the saving is not
measured on the data it was fitted to.

    bundle = Bundle.load("bundles/fmnist-r10-stage1-l0012")
    refit_tables(bundle, train_batches)          # every learned point, in place
    bundle = bundle.rebuilt(bundle_id="...-refit", built_by="...")
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from splitinfer.bottleneck.prior import quantize_pmf
from splitinfer.bundle import Bundle
from splitinfer.errors import BadInput

#: Add-alpha smoothing of the counts (Krichevsky-Trofimov): a symbol never seen in the
#: fitting data still gets a small probability, so it can always be coded.
ALPHA = 0.5


def symbol_counts(
    bundle: Bundle,
    batches: Iterable[torch.Tensor],
    rate: int = 0,
    progress: Callable[[int], None] | None = None,
) -> tuple[torch.Tensor, int]:
    """Rows x levels counts of the symbols rate point ``rate`` sends for ``batches`` of
    uint8 images (rows as the prior's tables: per channel or per element), and the image
    count."""
    model = bundle.rate_model(rate)
    prior = model.prior
    if prior is None:
        raise BadInput(f"rate point {rate} of {bundle.spec.id} has no learned prior to refit")
    levels = prior.levels
    c, h, w = prior.shape
    rows = c if prior.tables == "channel" else c * h * w
    counts = torch.zeros(rows, levels, dtype=torch.float64)
    n = 0
    with torch.no_grad():
        for images in batches:
            if len(images) == 0:
                continue
            z = bundle.edge.features(images, rate)
            q = torch.round(z.float().clamp(0, 1) * (levels - 1)).long()
            per_row = q.reshape(len(q), c, h * w) if prior.tables == "channel" else (
                q.reshape(len(q), c * h * w, 1)
            )  # fmt: skip
            onehot = torch.nn.functional.one_hot(per_row, levels).to(torch.float64)
            counts += onehot.sum(dim=(0, 2))
            n += len(images)
            if progress:
                progress(n)
    if n == 0:
        raise BadInput("no images to fit the tables on")
    return counts, n


def refit_tables(
    bundle: Bundle,
    batches: Callable[[], Iterable[torch.Tensor]],
    *,
    alpha: float = ALPHA,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Refit, in place, the tables of every rate point of ``bundle`` that has a learned
    prior, from ``batches()`` (a fresh iterable of uint8 image batches per point).

    Returns one record per refit point: rate index, images, rows, and the mean bits per
    image of those images under the old and the new tables (before byte rounding). The
    bundle's codecs still hold the old tables: use :meth:`Bundle.rebuilt`, which builds
    them from the new ones.
    """
    if alpha <= 0:
        raise BadInput(f"alpha must be > 0 (every symbol needs a probability), got {alpha}")
    out = []
    for rate in range(bundle.rate_count):
        prior = bundle.rate_model(rate).prior
        if prior is None:
            continue
        tick = (lambda done, r=rate: progress(r, done)) if progress else None
        counts, n = symbol_counts(bundle, batches(), rate, tick)
        old = prior.freqs.double()
        new = quantize_pmf(counts + alpha)
        out.append({
            "rate": rate, "images": n, "rows": int(counts.shape[0]), "alpha": alpha,
            "fit_bits_before": _bits(counts, old) / n, "fit_bits_after": _bits(counts, new) / n,
        })  # fmt: skip
        prior.freqs.copy_(new.int())
    if not out:
        raise BadInput(f"{bundle.spec.id} has no learned-prior rate point: nothing to refit")
    return out


def _bits(counts: torch.Tensor, freqs: torch.Tensor) -> float:
    """Total information content of ``counts`` under integer tables ``freqs``."""
    p = freqs.double() / freqs.double().sum(dim=1, keepdim=True)
    return float(-(counts * torch.log2(p)).sum())
