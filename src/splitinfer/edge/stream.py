"""Stream images through an :class:`EdgeRunner` and summarize what it cost.

Latency figures are medians / p95 over the run, measured here (not modeled).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from splitinfer.edge.runner import EdgeResult, EdgeRunner, Mode

_STAGES = ("head_ms", "encode_ms", "network_ms", "server_ms")


@dataclass
class StreamSummary:
    """Running totals of a stream; ``to_json`` gives the medians and percentiles."""

    mode: str
    results: list[EdgeResult] = field(default_factory=list)
    correct: int = 0
    started: float = field(default_factory=time.perf_counter)

    def add(self, result: EdgeResult, label: int | None) -> None:
        self.results.append(result)
        if label is not None and result.prediction == label:
            self.correct += 1

    @property
    def accuracy(self) -> float:
        return self.correct / max(len(self.results), 1)

    @property
    def fps(self) -> float:
        return len(self.results) / max(time.perf_counter() - self.started, 1e-9)

    def _stat(self, key: str, q: float = 0.5) -> float:
        values = sorted(float(getattr(r, key)) for r in self.results)
        if not values:
            return 0.0
        return (
            values[min(len(values) - 1, int(q * len(values)))]
            if q != 0.5
            else (statistics.median(values))
        )

    def to_json(self) -> dict[str, Any]:
        n = len(self.results)
        return {
            "mode": self.mode,
            "images": n,
            "accuracy": self.accuracy,
            "fps": self.fps,
            "fallbacks": sum(r.fell_back for r in self.results),
            "retries": sum(max(r.attempts - 1, 0) for r in self.results),
            "bytes_up_mean": sum(r.bytes_up for r in self.results) / max(n, 1),
            "bytes_down_mean": sum(r.bytes_down for r in self.results) / max(n, 1),
            "latency_ms_p50": self._stat("total_ms"),
            "latency_ms_p95": self._stat("total_ms", 0.95),
            **{
                f"{k}_p50": self._stat(k)
                for k in ("head_ms", "encode_ms", "network_ms", "server_ms")
            },
            "measured": True,
        }


def run_stream(
    runner: EdgeRunner,
    images: torch.Tensor,
    labels: torch.Tensor | None,
    mode: Mode,
    progress: Callable[[StreamSummary], None] | None = None,
) -> StreamSummary:
    """Send ``images`` (uint8 N x C x H x W) one at a time in ``mode``."""
    summary = StreamSummary(mode)
    for i in range(len(images)):
        label = int(labels[i]) if labels is not None else None
        summary.add(runner.infer(images[i], mode), label)
        if progress:
            progress(summary)
    return summary
