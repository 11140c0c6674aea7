"""Golden vectors shared by the Python and JavaScript coders (tests/ui/golden/codec.json).

Regenerate (only when the coder changes on purpose) with
``SPLITINFER_REGEN_GOLDEN=1 python -m pytest tests/ui/test_codec_js.py``.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch

from splitinfer import wire
from splitinfer.bottleneck.prior import quantize_pmf
from splitinfer.bundle import STAGE1_BUNDLE_ID, Bundle, shipped_bundle_path
from splitinfer.codecs import arith

GOLDEN = Path(__file__).resolve().parent / "golden" / "codec.json"


def random_case(rng: random.Random, n: int, levels: int) -> dict[str, Any]:
    pmf = torch.tensor([[rng.random() ** 3 for _ in range(levels)] for _ in range(4)])
    freqs = quantize_pmf(pmf).tolist()
    rows = [rng.randrange(len(freqs)) for _ in range(n)]
    symbols = [rng.randrange(levels) for _ in range(n)]
    message = arith.encode(symbols, rows, arith.Tables(freqs))
    return {"freqs": freqs, "rows": rows, "symbols": symbols, "message": message.hex()}


#: The bundle whose tables the golden vectors use (the default until the stage3 bundle; the
#: vectors pin the coders, not the default, so they stay on it).
GOLDEN_BUNDLE = STAGE1_BUNDLE_ID


def bundle_cases(count: int) -> dict[str, Any]:
    """The golden bundle's features for ``count`` synthetic images, symbols and frames."""
    from splitinfer.data import synthetic

    b = Bundle.load(shipped_bundle_path(GOLDEN_BUNDLE))
    images = synthetic(count, seed=9)[0]
    cases = []
    for i in range(count):
        z = b.edge.features(images[i : i + 1])
        z[0, 0, 0, 0] = 0.5 / 3  # a tie: round half to even must give 0
        z[0, 0, 0, 1] = 1.5 / 3  # and 2 here
        payload = b.codec.encode(z)
        header = wire.FrameHeader(request_id=i * 97, bundle=b.fingerprint)
        cases.append({
            "features": z.reshape(-1).tolist(), "symbols": b.codec.symbols(z),
            "payload": payload.hex(), "request_id": i * 97,
            "frame": wire.encode_frame(header, payload).hex(),
        })  # fmt: skip
    prior = b.model.prior
    assert prior is not None
    shape = list(b.feature_shape[1:])
    return {"fingerprint": b.fingerprint, "levels": prior.levels, "tables": prior.tables,
            "shape": shape, "freqs": prior.freqs.tolist(), "cases": cases}  # fmt: skip


def generate() -> dict[str, Any]:
    rng = random.Random(14)
    arith_cases = [random_case(rng, n, lv) for n, lv in [(0, 2), (1, 2), (7, 4), (64, 4), (300, 9)]]
    return {"arith": arith_cases, "bundle": bundle_cases(6)}
