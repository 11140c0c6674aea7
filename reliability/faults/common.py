"""What every fault scenario shares: its :class:`Scenario` verdict, edge runners that stream
test images, the exactly-once check of their results, and small HTTP helpers."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from splitinfer.harness import server as srv
from splitinfer.harness.workload import Workload


@dataclass
class Scenario:
    """What one fault scenario did and saw."""

    name: str
    passed: bool
    counts: dict[str, Any]
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        shown = ", ".join(f"{k} {v}" for k, v in self.counts.items() if not isinstance(v, dict))
        verdict = "PASS" if self.passed else "FAIL: " + "; ".join(self.problems[:5])
        return f"{self.name:>6}: {verdict} ({shown}; {self.seconds:.1f} s)"


def verdict(name: str, counts: dict[str, Any], problems: list[str], t0: float) -> Scenario:
    return Scenario(name, not problems, counts, problems, round(time.perf_counter() - t0, 2))


@dataclass
class RunnerLog:
    """Results of one edge runner streaming images, one per image, in order."""

    transport: str
    results: list[Any] = field(default_factory=list)
    error: str | None = None


def run_edge(
    workload: Workload,
    url: str,
    token: str | None,
    images: int,
    log: RunnerLog,
    retries: int = 2,
    gate: threading.Event | None = None,
) -> None:
    """Thread body: one EdgeRunner sends ``images`` test images one by one (each after
    ``gate`` is set, when given)."""
    from splitinfer.edge import EdgeRunner

    try:
        with EdgeRunner(workload.bundle, url, token=token, retries=retries, timeout_s=10) as r:
            for i in range(images):
                if gate is not None:
                    gate.wait()
                log.results.append(r.infer(workload.images[i % len(workload)]))
    except Exception as err:  # recorded: a raised error is a lost image
        log.error = f"{type(err).__name__}: {err}"


def check_exactly_once(
    log: RunnerLog, workload: Workload, images: int
) -> tuple[Counter[str], list[str]]:
    """Counts by outcome and the problems: ids 0..images-1 each once, right predictions."""
    counts: Counter[str] = Counter()
    problems = [f"{log.transport} runner raised {log.error}"] if log.error else []
    ids = [r.request_id for r in log.results]
    if ids != list(range(images)):
        problems.append(f"{log.transport}: {len(ids)} results, ids not exactly 0..{images - 1}")
    for r in log.results:
        fell_back = bool(r.fell_back)
        counts["fallback" if fell_back else "answered"] += 1
        counts["retried"] += int(r.attempts > 1 and not fell_back)
        i = r.request_id % len(workload)
        want = workload.expected_full[i] if fell_back else workload.expected[i]
        if r.prediction != want:
            counts["mismatched"] += 1
            problems.append(f"{log.transport} id {r.request_id}: {r.prediction} != {want}")
    return counts, problems


def any_running(threads: Sequence[threading.Thread]) -> bool:
    return any(t.is_alive() for t in threads)


def wait_until(condition: Callable[[], bool], timeout_s: float, every_s: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every_s)
    return condition()


def post_frame(
    server: srv.Endpoint, workload: Workload, rid: int, timeout: float
) -> httpx.Response:
    """POST request ``rid``'s frame to the server's infer path, with its auth and TLS."""
    return httpx.post(
        server.url + workload.infer_path,
        content=workload.frame(rid),
        headers=server.headers,
        verify=server.verify(),
        timeout=timeout,
    )


def http_new(server: srv.Endpoint, workload: Workload, rid: int) -> str:
    try:
        r = post_frame(server, workload, rid, timeout=5)
    except httpx.ConnectError:
        return "http refused"
    except httpx.HTTPError as err:
        return f"http {type(err).__name__}"
    return f"http {r.status_code}"
