"""Host info, timing rounds, percentiles, and the checks that say when a timing is unreliable.

One copy for the whole project (profile, plan, auto, the bench, the demo, benchmarks and
reliability tools all import it). A timing goes::

    warm-up -> rounds of timed calls -> median of all runs + spread between round medians
            -> checks (load guard, round spread, parts vs whole) -> Checks.warning()

On a machine whose cores other work shares, a median can be off by 100x with nothing to
show for it. So every timed figure carries what it was measured on (:func:`host_info`,
load average included), and :class:`Checks` gathers the reasons not to trust it, to be
printed as ONE warning line that says what to do, and recorded in reports.

Core layer: imports nothing from splitinfer (torch only when it is already loaded).
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

#: rounds a timing is split into (its timed runs are shared out between them)
DEFAULT_ROUNDS = 3
#: (max - min) of the round medians over the median beyond which a timing is flagged
SPREAD_LIMIT = 0.5
#: ms below which differences are noise of the clock and the interpreter, never flagged
ABS_SLACK_MS = 0.2
#: sum of the parts over the whole beyond which (either way) the parts are flagged
PARTS_LIMIT = 1.5
#: what to do when a timing is flagged (the end of the warning line)
ADVICE = "rerun with --threads 1 on a quieter machine, or raise --repeats"


# --- host info --------------------------------------------------------------------------


def cpu_name() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``), else what :mod:`platform` says."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cores() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def load_average() -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages (zeros where the OS has none), rounded."""
    try:
        one, five, fifteen = os.getloadavg()
    except (AttributeError, OSError):
        return (0.0, 0.0, 0.0)
    return (round(one, 2), round(five, 2), round(fifteen, 2))


def host_info() -> dict[str, Any]:
    """What a figure was measured on: CPU, cores, load average, torch threads, versions."""
    info: dict[str, Any] = {
        "cpu": cpu_name(),
        "cores": cores(),
        "load_average": list(load_average()),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch_threads"] = torch.get_num_threads()
        info["torch"] = torch.__version__
    return info


# --- statistics -------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation (numpy's default); 0 if empty."""
    if not values:
        return 0.0
    data = sorted(values)
    pos = (len(data) - 1) * min(max(q, 0.0), 100.0) / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


@dataclass(frozen=True)
class Timing:
    """Every timed run (ms, in order) and how they split into rounds."""

    samples_ms: tuple[float, ...]
    rounds: int

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def round_medians(self) -> tuple[float, ...]:
        n = len(self.samples_ms)
        size = max(1, n // self.rounds)
        groups = [self.samples_ms[i : i + size] for i in range(0, size * self.rounds, size)]
        return tuple(statistics.median(g) for g in groups if g)

    @property
    def spread(self) -> float:
        """(max - min) of the round medians over the median (0 with one round)."""
        meds = self.round_medians
        median = self.median_ms
        if len(meds) < 2 or median <= 0:
            return 0.0
        return (max(meds) - min(meds)) / median

    def unsteady(self) -> bool:
        """Whether the rounds disagree by more than :data:`SPREAD_LIMIT` (and the slack)."""
        meds = self.round_medians
        if len(meds) < 2:
            return False
        return self.spread > SPREAD_LIMIT and max(meds) - min(meds) > ABS_SLACK_MS

    def to_json(self) -> dict[str, Any]:
        return {
            "median_ms": self.median_ms,
            "p90_ms": percentile(self.samples_ms, 90),
            "round_medians_ms": list(self.round_medians),
            "spread": self.spread,
            "runs": len(self.samples_ms),
        }


def time_rounds(
    fn: Callable[[int], object],
    *,
    repeats: int,
    warmup: int = 1,
    rounds: int = DEFAULT_ROUNDS,
    per_call: int = 1,
) -> Timing:
    """Time ``fn(i)``: ``warmup`` untimed calls, then ``repeats`` timed ones in rounds.

    The timed runs are shared out between ``min(rounds, repeats)`` rounds, so rounds cost
    no extra runs; the median is over every run and the spread compares round medians.
    ``per_call`` divides each time (a call that handles that many items).
    """
    repeats = max(1, repeats)
    for i in range(warmup):
        fn(i)
    samples = []
    for i in range(warmup, warmup + repeats):
        t0 = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - t0) * 1e3 / per_call)
    return Timing(tuple(samples), max(1, min(rounds, repeats)))


def median_ms(
    fn: Callable[[Any], object], make_input: Callable[[], Any], repeats: int, warmup: int
) -> float:
    """Median ms of ``fn(make_input())`` (input creation not timed), under inference mode."""
    return time_inputs(fn, make_input, repeats, warmup).median_ms


def time_inputs(
    fn: Callable[[Any], object],
    make_input: Callable[[], Any],
    repeats: int,
    warmup: int,
    rounds: int = DEFAULT_ROUNDS,
) -> Timing:
    """:func:`time_rounds` of ``fn(make_input())``; input creation is not timed."""
    import torch

    samples = []
    with torch.inference_mode():
        for i in range(warmup + max(1, repeats)):
            x = make_input()
            t0 = time.perf_counter()
            fn(x)
            elapsed = (time.perf_counter() - t0) * 1e3
            if i >= warmup:
                samples.append(elapsed)
    return Timing(tuple(samples), max(1, min(rounds, len(samples))))


# --- checks -----------------------------------------------------------------------------


def load_guard(threads: int | None = None) -> str | None:
    """Why timings on this host now are unreliable (load over cores, threads over cores)."""
    n = cores()
    one = load_average()[0]
    if one > n:
        return f"load average {one:g} on {n} cores (other work shares the CPU)"
    if threads is not None and threads > n:
        return f"{threads} torch threads on {n} cores"
    return None


def parts_mismatch(parts: Sequence[float], whole: float, what: str) -> str | None:
    """Why ``sum(parts)`` cannot be ``whole`` (off by over :data:`PARTS_LIMIT`x), or None."""
    total = sum(parts)
    if whole <= 0 or abs(total - whole) <= ABS_SLACK_MS:
        return None
    ratio = total / whole
    if ratio > PARTS_LIMIT or ratio < 1 / PARTS_LIMIT:
        return f"{what}: parts sum to {total:.2f} ms, the whole took {whole:.2f} ms"
    return None


@dataclass
class Checks:
    """The reasons gathered while timing something; empty means no check flagged it."""

    reasons: list[str] = field(default_factory=list)

    def add(self, reason: str | None) -> None:
        if reason and reason not in self.reasons:
            self.reasons.append(reason)

    def timing(self, what: str, t: Timing) -> None:
        """Flag ``t`` when its rounds disagree."""
        if t.unsteady():
            meds = ", ".join(f"{m:.2f}" for m in t.round_medians)
            self.add(f"{what}: rounds disagree ({meds} ms)")

    @property
    def reliable(self) -> bool:
        return not self.reasons

    def warning(self, advice: str = ADVICE, limit: int = 3) -> str | None:
        """One line: what was flagged and what to do; None when nothing was."""
        if not self.reasons:
            return None
        shown = "; ".join(self.reasons[:limit])
        more = f" (+{len(self.reasons) - limit} more)" if len(self.reasons) > limit else ""
        return f"warning: timings unreliable: {shown}{more}; {advice}"

    def to_json(self) -> dict[str, Any]:
        return {"reliable": self.reliable, "warnings": list(self.reasons)}
