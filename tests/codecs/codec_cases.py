"""Shared cases for the codec tests: every registered stage name, plus pipelines.

A uniquely named module (not ``conftest``) so test files can import it safely.
"""

from __future__ import annotations

import torch

from splitinfer import codecs

#: Every registered name (each completes to a working pipeline) ...
REGISTERED = codecs.list_codecs()
#: ... plus pipelines that exercise each option at least once.
PIPELINES = [
    "raw:dtype=fp16",
    "raw:dtype=bf16",
    "raw:dtype=fp16|zstd:level=1",
    "raw:dtype=bf16|deflate:level=9",
    "quant:bits=1",
    "quant:bits=3,clip=-1.5:4.0",
    "quant:bits=4,clip=p99.9|raw",
    "quant:bits=8,clip=channel|tile:align=8|png",
    "quant:bits=12|tile|png",
    "quant:bits=16,clip=channel|ans",
    "quant:bits=4,clip=channel|ans:model=channel",
    "quant:bits=6|ans:model=laplace",
    "quant:bits=8|ans:model=hist|zstd",
    "quant:bits=8,clip=p99.9|tile|jpeg:quality=20",
    "quant:bits=5|tile|webp:quality=90",
    "quant:bits=8|tile:align=4|avif:quality=90",
    "quant:bits=10|tile|jpegxl:distance=0.5",
    "quant:bits=8|tile|jpegxl:distance=0.0",
    "tile:align=3|raw:dtype=fp32|deflate",
]
ALL_SPECS = REGISTERED + PIPELINES


def check_reconstruction(codec: codecs.Pipeline, x: torch.Tensor, y: torch.Tensor) -> None:
    """Shape and dtype kept; exact if lossless; within error_bound if bounded."""
    assert y.shape == x.shape and y.dtype == x.dtype
    assert bool(torch.isfinite(y).all())
    if codec.lossless:
        assert torch.equal(y, x), codec.spec
        return
    bound = codec.error_bound(x)
    if bound is not None:
        err = float((y.float() - x.float()).abs().max())
        assert err <= bound, f"{codec.spec}: error {err} > bound {bound}"
