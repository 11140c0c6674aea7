"""A small synthetic model profile whose best plan is known by hand."""

from __future__ import annotations

from splitinfer.partition.profile import CutProfile, ModelProfile
from splitinfer.partition.split import CutPoint


def cut(index: int, name: str, numel: int, head_ms: float, flops_head: int) -> CutProfile:
    point = CutPoint(
        name=name, aliases=(), node=name, index=index, shape=(1, numel), dtype="float32",
        numel=numel, bytes_fp32=4 * numel, flops_head=flops_head,
        flops_tail=100_000_000 - flops_head, params_head=0, params_tail=0,
    )  # fmt: skip
    return CutProfile(cut=point, head_ms=head_ms, tail_ms=100.0 - head_ms)


def make_profile(measured: bool = True) -> ModelProfile:
    """early: big tensor, little compute; middle: tiny tensor; late: most compute on the edge."""
    cuts = [
        cut(0, "early", 100_000, 1.0, 1_000_000),
        cut(1, "middle", 500, 30.0, 30_000_000),
        cut(2, "late", 1000, 90.0, 90_000_000),
    ]
    if not measured:
        cuts = [CutProfile(c.cut, None, None) for c in cuts]
    return ModelProfile(
        model="toy", input_shape=(1, 3, 32, 32), input_bytes=3072, total_flops=100_000_000,
        params=0, full_ms=100.0 if measured else None, cuts=cuts,
    )  # fmt: skip
