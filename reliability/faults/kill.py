"""``kill``: ``splitinfer serve`` SIGKILLed while two edge runners (HTTP and gRPC) stream
test images, then restarted on the same ports. Every image gets exactly one result
(request ids 0..N-1, each once): answered by the server (split), or computed on the
device after the retries failed (mobile-only fallback, flagged). Predictions equal the
in-process split (answered) or full network (fallback)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from reliability.faults.common import (
    RunnerLog,
    Scenario,
    any_running,
    check_exactly_once,
    run_edge,
    verdict,
    wait_until,
)
from splitinfer.harness import server as srv
from splitinfer.harness.workload import Workload


def kill_and_restart(
    workload: Workload,
    images: int = 60,
    kill_at: int = 15,
    down_for: int = 3,
    token: str = "kill-token",
    extra: Sequence[str] = ("--torch-threads", "1", "--log-level", "warning"),
    then: Callable[[srv.ServeProcess], None] | None = None,
    first: srv.ServeProcess | None = None,
) -> Scenario:
    """SIGKILL the server while two edge runners (HTTP, gRPC) stream; restart it on the
    same ports. The runners run ``kill_at`` images, go on for ``down_for`` more while the
    server is dead, wait for the restart, and finish on the new server. ``then`` gets the
    restarted server before it is stopped (to run more scenarios on it). ``first``: a
    server already launched with ``token`` and ``extra`` (else one is started here)."""
    t0 = time.perf_counter()
    if first is None:
        first = srv.launch([workload.bundle_dir], token=token, extra=extra)
    srv.wait_ready(first)
    logs = [RunnerLog("http"), RunnerLog("grpc")]
    urls = {"http": first.url, "grpc": f"grpc://{first.grpc_target}"}
    gate = threading.Event()
    gate.set()
    threads = [
        threading.Thread(
            target=run_edge,
            args=(workload, urls[g.transport], token, images, g),
            kwargs={"gate": gate},
            daemon=True,
        )
        for g in logs
    ]
    for t in threads:
        t.start()
    second: srv.ServeProcess | None = None
    done = lambda n: lambda: min(len(g.results) for g in logs) >= n or not any_running(threads)  # noqa: E731
    try:
        wait_until(done(kill_at), 300)
        first.kill()
        killed_at = [len(g.results) for g in logs]
        wait_until(done(min(kill_at + down_for, images)), 300)
        gate.clear()  # hold the runners until the new server is up
        time.sleep(0.5)  # let an image already past the gate finish
        second = srv.start(
            [workload.bundle_dir],
            port=first.port,
            grpc_port=first.grpc_port,
            token=token,
            extra=extra,
        )
        restarted_at = [len(g.results) for g in logs]
        gate.set()
        for t in threads:
            t.join(timeout=600)
        if then is not None:
            then(second)
    finally:
        gate.set()
        first.kill()
        if second is not None:
            second.terminate()
    counts: dict[str, Any] = {
        "images": images,
        "killed_after": killed_at,
        "restarted_after": restarted_at,
    }
    problems: list[str] = []
    for i, g in enumerate(logs):
        c, p = check_exactly_once(g, workload, images)
        later = g.results[restarted_at[i] :]
        after = sum(1 for r in later if not r.fell_back)
        counts[g.transport] = {
            **c,
            "answered_after_restart": after,
            "fallback_after_restart": len(later) - after,
        }
        problems += p
        if not any(r.fell_back or r.attempts > 1 for r in g.results[killed_at[i] :]):
            problems.append(
                f"{g.transport}: nothing retried or fell back while the server was down"
            )
    if not any(counts[g.transport]["answered_after_restart"] for g in logs):
        problems.append("no image was answered by the restarted server")
    return verdict("kill", counts, problems, t0)
