"""Per-cut profile: feature size, FLOPs, parameters and measured latency of each half.

The profile is the planner's input: for every cut point, what the edge computes (head),
what crosses the link (the feature tensor), and what the cloud computes (tail). Latencies
are medians of repeated runs after warm-up on *this* machine; the planner scales them by
device profiles.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from splitinfer.partition.graph import analyze
from splitinfer.partition.split import CutPoint, cut_points, split_analysis

ProgressFn = Callable[[int, int, str], None]  # (done, total, what)

PROFILE_FORMAT = "splitinfer.profile/1"


@dataclass(frozen=True)
class CutProfile:
    """One cut point with the measured latency of its two halves (ms, median)."""

    cut: CutPoint
    head_ms: float | None
    tail_ms: float | None


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
            )
            for c in data["cuts"]
        ]
        fields = {k: v for k, v in data.items() if k not in ("cuts", "format")}
        fields["input_shape"] = tuple(fields["input_shape"])
        return cls(**fields, cuts=cuts)

    @classmethod
    def load(cls, path: str | Path) -> ModelProfile:
        return cls.from_json(json.loads(Path(path).read_text()))


def cpu_name() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``), else what :mod:`platform` says."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return cpu


def machine_info() -> dict[str, Any]:
    """What the timings were measured on."""
    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def median_ms(
    fn: Callable[[torch.Tensor], Any],
    make_input: Callable[[], torch.Tensor],
    repeats: int,
    warmup: int,
) -> float:
    """Median wall time of ``fn(make_input())`` in ms; input creation is not timed."""
    times = []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            x = make_input()
            t0 = time.perf_counter()
            fn(x)
            elapsed = time.perf_counter() - t0
            if i >= warmup:
                times.append(elapsed * 1e3)
    return statistics.median(times)


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
    was_training = model.training
    model.eval()
    try:
        if measure:
            full_ms = median_ms(model, example.clone, repeats, warmup)
        if progress:
            progress(1, total, "full model")
        for i, cut in enumerate(cuts, start=2):
            head_ms = tail_ms = None
            if measure:
                s = split_analysis(a, cut.name)
                with torch.inference_mode():
                    feature = s.head(example)
                head_ms = median_ms(s.head, example.clone, repeats, warmup)
                tail_ms = median_ms(s.tail, feature.clone, repeats, warmup)
            rows.append(CutProfile(cut=cut, head_ms=head_ms, tail_ms=tail_ms))
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
        machine=machine_info(),
        timing={"repeats": repeats, "warmup": warmup, "measured": measure, "stat": "median"},
    )
