"""The fault scenarios' verdict, :func:`reliability.faults.check_exactly_once`, on its own:
results made by hand, no server, so each way of failing is seen to fail."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from reliability.faults import RunnerLog, check_exactly_once

from splitinfer.edge.runner import EdgeResult
from splitinfer.harness.workload import Workload

SPLIT = [3, 1, 4, 1]  # the class the server must answer for images 0..3
FULL = [3, 1, 5, 9]  # the device's full network (the fallback's answer)


def workload() -> Workload:
    """A pool of four images: only the answers matter here."""
    bundle: Any = None
    return Workload(bundle, Path("."), None, [b""] * 4, SPLIT, FULL)  # type: ignore[arg-type]


def result(rid: int, prediction: int, attempts: int = 1, fell_back: bool = False) -> EdgeResult:
    return EdgeResult(rid, "split", prediction, str(prediction), attempts=attempts,
                      fell_back=fell_back)  # fmt: skip


def log(results: Iterable[EdgeResult], error: str | None = None) -> RunnerLog:
    return RunnerLog("http", list(results), error)


def test_every_id_once_with_right_answers_passes() -> None:
    results = [result(i, SPLIT[i % 4]) for i in range(6)]
    results[2] = result(2, FULL[2], attempts=3, fell_back=True)  # fallback: the full answer
    results[5] = result(5, SPLIT[1], attempts=2)  # answered on a retry
    counts, problems = check_exactly_once(log(results), workload(), 6)
    assert problems == []
    assert counts == {"answered": 5, "fallback": 1, "retried": 1}


@pytest.mark.parametrize(
    ("ids", "why"),
    [([0, 1, 3], "lost"), ([0, 1, 1, 2], "duplicated"), ([1, 0, 2], "out of order")],
)
def test_a_lost_duplicated_or_reordered_id_fails(ids: list[int], why: str) -> None:
    results = [result(i, SPLIT[i % 4]) for i in ids]
    _, problems = check_exactly_once(log(results), workload(), 3)
    assert problems == [f"http: {len(ids)} results, ids not exactly 0..2"], why


def test_a_wrong_prediction_fails_and_is_counted() -> None:
    results = [result(0, SPLIT[0]), result(1, 7)]
    counts, problems = check_exactly_once(log(results), workload(), 2)
    assert counts["mismatched"] == 1 and problems == ["http id 1: 7 != 1"]


def test_a_fallback_must_match_the_full_network_not_the_split() -> None:
    results = [result(0, SPLIT[0]), result(1, SPLIT[1]), result(2, SPLIT[2], fell_back=True)]
    counts, problems = check_exactly_once(log(results), workload(), 3)
    assert counts["mismatched"] == 1 and problems == [f"http id 2: {SPLIT[2]} != {FULL[2]}"]


def test_a_runner_that_raised_fails() -> None:
    results = [result(0, SPLIT[0])]
    _, problems = check_exactly_once(log(results, "ConnectError: refused"), workload(), 1)
    assert problems == ["http runner raised ConnectError: refused"]
