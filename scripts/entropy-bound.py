#!/usr/bin/env python3
"""How many bits a context model could save over a bundle's factorized tables (a bound).

    python scripts/entropy-bound.py BUNDLE [--train 20000] [--json out.json]

The symbols a learned-prior bundle sends for Fashion-MNIST images are counted on the
first N training images; the test split is then coded, in information content (no coder
overhead), under tables fitted to those counts:

- the bundle's own tables (what it sends today, before byte rounding);
- factorized: one empirical table per element (what `splitinfer train refit` ships);
- order-1 / order-2: each element's table conditioned on the one / two elements before
  it in the order the codec sends them (channel-major), the simplest channel-conditional
  context models.

Add-0.5 smoothing everywhere, fitted on train and measured on test. A context coder is
not built: this measures what one could gain before building it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch


def _symbols(bundle, images: torch.Tensor, batch: int = 500) -> np.ndarray:  # type: ignore[no-untyped-def]
    codec = bundle.rate_codec(0)
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            z = bundle.edge.features(images[i : i + batch], 0)
            out.append(np.stack([codec.symbol_array(z[j : j + 1]) for j in range(len(z))]))
    return np.concatenate(out).astype(np.int64)


def _context_bits(train: np.ndarray, test: np.ndarray, levels: int, order: int) -> float:
    """Mean bits per test image with each element's table conditioned on ``order``
    previous elements (fitted on ``train``)."""
    total = 0.0
    for e in range(train.shape[1]):
        k = min(order, e)
        ctx_tr = np.zeros(len(train), np.int64)
        ctx_te = np.zeros(len(test), np.int64)
        for j in range(1, k + 1):
            ctx_tr = ctx_tr * levels + train[:, e - j]
            ctx_te = ctx_te * levels + test[:, e - j]
        counts = np.full((levels**k, levels), 0.5)
        np.add.at(counts, (ctx_tr, train[:, e]), 1)
        p = counts / counts.sum(axis=1, keepdims=True)
        total += float(-np.log2(p[ctx_te, test[:, e]]).sum())
    return total / len(test)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("bundle", type=Path)
    ap.add_argument("--train", type=int, default=20000, help="training images to fit on")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args(argv)
    from splitinfer.bundle import Bundle
    from splitinfer.data import load_fashion_mnist

    torch.set_num_threads(1)
    b = Bundle.load(args.bundle)
    codec = b.rate_codec(0)
    if not hasattr(codec, "estimate_bits"):
        print(f"{args.bundle}: codec {b.spec.codec} has no learned tables", file=sys.stderr)
        return 2
    xtr = load_fashion_mnist("train")[0][: args.train]
    xte = load_fashion_mnist("test")[0]
    train, test = _symbols(b, xtr), _symbols(b, xte)
    levels = int(codec.levels)  # type: ignore[attr-defined]
    own = float(
        np.mean([codec.estimate_bits(b.edge.features(xte[i : i + 1], 0)) for i in range(len(xte))])  # type: ignore[attr-defined]
    )
    figures = {
        "bundle": b.spec.id,
        "elements": int(train.shape[1]),
        "levels": levels,
        "train_images": len(train),
        "test_images": len(test),
        "bundle_tables_bits": own,
        "factorized_bits": _context_bits(train, test, levels, 0),
        "order1_bits": _context_bits(train, test, levels, 1),
        "order2_bits": _context_bits(train, test, levels, 2),
    }
    base = figures["factorized_bits"]
    print(
        f"{b.spec.id}: {figures['elements']} symbols of {levels} levels; bits per test image: "
        f"bundle tables {own:.1f}, factorized (refit) {base:.1f}, order-1 context "
        f"{figures['order1_bits']:.1f} ({100 * (1 - figures['order1_bits'] / base):.0f}% under "
        f"factorized), order-2 {figures['order2_bits']:.1f} "
        f"({100 * (1 - figures['order2_bits'] / base):.0f}%)"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
