"""Per-cut profile: feature size, FLOPs, parameters and measured latency of each half.

The profile is the planner's input: for every cut point, what the edge computes (head),
what crosses the link (the feature tensor), and what the cloud computes (tail). Latencies
are medians of repeated runs after warm-up on *this* machine, in rounds, checked by
:mod:`splitinfer.timing` (load guard, spread between rounds, head + tail against the whole
model); the planner scales them by device profiles.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from splitinfer.partition.graph import analyze
from splitinfer.partition.split import CutPoint, cut_points, split_analysis
from splitinfer.timing import Checks, host_info, load_guard, parts_mismatch, time_inputs

ProgressFn = Callable[[int, int, str], None]  # (done, total, what)

PROFILE_FORMAT = "splitinfer.profile/1"


@dataclass(frozen=True)
class CutProfile:
    """One cut point with the measured latency of its two halves (ms, median).

    ``flags`` says why its timings are not to be trusted (empty when no check fired).
    """

    cut: CutPoint
    head_ms: float | None
    tail_ms: float | None
    flags: tuple[str, ...] = ()


@dataclass
class ModelProfile:
    model: str
    input_shape: tuple[int, ...]
    input_bytes: int  # the raw input at 8 bits per value, whole batch (as cut bytes are)
    total_flops: int
    params: int
    full_ms: float | None
    cuts: list[CutProfile]
    machine: dict[str, Any] = field(default_factory=dict)
    timing: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["format"] = PROFILE_FORMAT
        return out

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=1) + "\n")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelProfile:
        cuts = [
            CutProfile(
                cut=CutPoint(
                    **{
                        **c["cut"],
                        "aliases": tuple(c["cut"]["aliases"]),
                        "shape": tuple(c["cut"]["shape"]),
                    }
                ),
                head_ms=c["head_ms"],
                tail_ms=c["tail_ms"],
                flags=tuple(c.get("flags", ())),
            )
            for c in data["cuts"]
        ]
        fields = {k: v for k, v in data.items() if k not in ("cuts", "format")}
        fields["input_shape"] = tuple(fields["input_shape"])
        return cls(**fields, cuts=cuts)

    @classmethod
    def load(cls, path: str | Path) -> ModelProfile:
        return cls.from_json(json.loads(Path(path).read_text()))


def profile_model(
    model: nn.Module,
    example: torch.Tensor,
    *,
    name: str | None = None,
    measure: bool = True,
    repeats: int = 10,
    warmup: int = 3,
    progress: ProgressFn | None = None,
) -> ModelProfile:
    """Profile every cut point of ``model`` for input ``example`` (batch included).

    With ``measure=False`` only the static figures (shapes, bytes, FLOPs, params) are
    computed, which takes one forward pass.
    """
    a = analyze(model, example)
    cuts = cut_points(a)
    total = len(cuts) + 1
    params = sum(p.numel() for p in model.parameters())
    full_ms = None
    rows: list[CutProfile] = []
    checks = Checks()
    if measure:
        checks.add(load_guard(torch.get_num_threads()))
    was_training = model.training
    model.eval()
    try:
        if measure:
            full = time_inputs(model, example.clone, repeats, warmup)
            full_ms = full.median_ms
            checks.timing("full model", full)
        if progress:
            progress(1, total, "full model")
        for i, cut in enumerate(cuts, start=2):
            head_ms = tail_ms = None
            flags: list[str] = []
            if measure and full_ms is not None:
                s = split_analysis(a, cut.name)
                with torch.inference_mode():
                    feature = s.head(example)
                head = time_inputs(s.head, example.clone, repeats, warmup)
                tail = time_inputs(s.tail, feature.clone, repeats, warmup)
                head_ms, tail_ms = head.median_ms, tail.median_ms
                cut_checks = Checks()
                cut_checks.timing(f"{cut.name} head", head)
                cut_checks.timing(f"{cut.name} tail", tail)
                cut_checks.add(parts_mismatch([head_ms, tail_ms], full_ms, f"{cut.name} head+tail"))
                flags = cut_checks.reasons
                for reason in flags:
                    checks.add(reason)
            rows.append(CutProfile(cut=cut, head_ms=head_ms, tail_ms=tail_ms, flags=tuple(flags)))
            if progress:
                progress(i, total, cut.name)
    finally:
        model.train(was_training)
    return ModelProfile(
        model=name or type(model).__name__,
        input_shape=tuple(example.shape),
        input_bytes=example.numel(),
        total_flops=a.total_flops,
        params=params,
        full_ms=full_ms,
        cuts=rows,
        machine=host_info(),
        timing={
            "repeats": repeats, "warmup": warmup, "measured": measure, "stat": "median",
            **(checks.to_json() if measure else {}),
        },
    )  # fmt: skip
