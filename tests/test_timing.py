"""The one timing module: percentiles, rounds, and the checks behind the warning line."""

from __future__ import annotations

import numpy as np
import pytest

from splitinfer import timing
from splitinfer.timing import Checks, Timing, parts_mismatch, percentile, time_rounds


@pytest.mark.parametrize("q", [0, 10, 50, 90, 99, 100])
def test_percentile_matches_numpy(q: float) -> None:
    values = [5.0, 1.0, 9.5, 3.25, 7.0, 2.0, 8.0]
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_of_nothing_is_zero() -> None:
    assert percentile([], 50) == 0.0


def test_time_rounds_shares_runs_between_rounds() -> None:
    calls: list[int] = []
    t = time_rounds(calls.append, repeats=6, warmup=2, rounds=3)
    assert calls == list(range(8))  # warm-up calls included, each gets its index
    assert len(t.samples_ms) == 6 and len(t.round_medians) == 3 and t.rounds == 3


def test_unsteady_rounds_are_flagged_and_steady_ones_are_not() -> None:
    steady = Timing((10.0, 10.2, 9.9, 10.1, 10.0, 10.3), rounds=3)
    jumpy = Timing((10.0, 10.0, 40.0, 40.0, 10.0, 10.0), rounds=3)
    assert not steady.unsteady()
    assert jumpy.unsteady() and jumpy.spread == pytest.approx(3.0)
    checks = Checks()
    checks.timing("steady", steady)
    checks.timing("jumpy", jumpy)
    assert checks.reasons == ["jumpy: rounds disagree (10.00, 40.00, 10.00 ms)"]


def test_tiny_differences_are_clock_noise() -> None:
    # 0.01 vs 0.05 ms is a 5x spread but below the absolute slack: not flagged
    assert not Timing((0.01, 0.01, 0.05, 0.05, 0.01, 0.01), rounds=3).unsteady()


def test_parts_against_the_whole() -> None:
    assert parts_mismatch([1.0, 1.1], 2.0, "cut") is None
    assert parts_mismatch([4.0, 5.0], 2.0, "cut") == (
        "cut: parts sum to 9.00 ms, the whole took 2.00 ms"
    )
    assert parts_mismatch([0.3, 0.4], 2.0, "cut") is not None
    assert parts_mismatch([0.1, 0.1], 0.05, "cut") is None  # within the slack


def test_load_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timing, "cores", lambda: 2)
    monkeypatch.setattr(timing, "load_average", lambda: (3.5, 1.0, 1.0))
    assert timing.load_guard() == "load average 3.5 on 2 cores (other work shares the CPU)"
    monkeypatch.setattr(timing, "load_average", lambda: (0.5, 1.0, 1.0))
    assert timing.load_guard() is None
    assert timing.load_guard(threads=4) == "4 torch threads on 2 cores"


def test_warning_is_one_line_with_advice() -> None:
    assert Checks().warning() is None
    checks = Checks()
    for i in range(5):
        checks.add(f"reason {i}")
    checks.add("reason 0")  # no duplicates
    line = checks.warning()
    assert line is not None and "\n" not in line
    assert line.startswith("warning: timings unreliable: reason 0; reason 1; reason 2 (+2 more)")
    assert line.endswith("--threads 1 on a quieter machine, or raise --repeats")
    assert checks.to_json() == {"reliable": False, "warnings": [f"reason {i}" for i in range(5)]}


def test_host_info_says_where() -> None:
    info = timing.host_info()
    assert info["cores"] >= 1 and len(info["load_average"]) == 3 and info["cpu"]
