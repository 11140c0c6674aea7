"""This host's speed, measured: GFLOP/s of one thread on the model that will run.

The planner's host rate is ``total FLOPs / measured ms`` of the model
(``plan.planner._Timing.host_gflops``); this is the same figure, measured in a short probe
on the calling thread, per CPU second (``time.thread_time``), so other processes on a
loaded host do not make the host look slower than it is.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch


def count_flops(fn: Callable[[torch.Tensor], Any], x: torch.Tensor) -> int:
    """FLOPs of ``fn(x)`` as torch counts them (2 per multiply-add), as the profiles do."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn(x)
    return int(counter.get_total_flops())


def cpu_ms(fn: Callable[[torch.Tensor], Any], x: torch.Tensor, seconds: float, runs: int) -> float:
    """Median CPU ms of this thread per ``fn(x)``: ``runs`` calls at least, and more while
    under ``seconds`` of wall time, after one warm-up call."""
    samples: list[float] = []
    with torch.inference_mode():
        fn(x)
        start = time.perf_counter()
        while len(samples) < runs or time.perf_counter() - start < seconds:
            t0 = time.thread_time()
            fn(x)
            samples.append((time.thread_time() - t0) * 1e3)
            if len(samples) >= 10_000:
                break
    return statistics.median(samples)


def host_gflops(
    fn: Callable[[torch.Tensor], Any], x: torch.Tensor, seconds: float = 0.5, runs: int = 5
) -> float:
    """GFLOP/s this thread sustains on ``fn(x)``: FLOPs / median CPU time per call."""
    flops = count_flops(fn, x)
    ms = cpu_ms(fn, x, seconds, runs)
    return flops / (max(ms, 1e-6) * 1e6)
