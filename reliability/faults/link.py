"""``link``: the link emulator (:class:`splitinfer.net.LinkShaper`) in front of a proxy
that cuts every k-th request mid-frame (or mid-answer) with a TCP reset
(:class:`splitinfer.net.cutting.CuttingProxy`): the edge runner sees a clean transport
error and retries; every image is answered once, no fallback."""

from __future__ import annotations

import time
from typing import Any

from reliability.faults.common import (
    RunnerLog,
    Scenario,
    check_exactly_once,
    run_edge,
    verdict,
)
from splitinfer.harness import server as srv
from splitinfer.harness.workload import Workload
from splitinfer.net.cutting import CuttingProxy


def link_cut(
    server: srv.Endpoint,
    workload: Workload,
    images: int = 40,
    every: int = 4,
    answers: bool = False,
    profile: str = "custom:up=20,down=20,rtt=4",
) -> Scenario:
    """Edge runner -> LinkShaper -> cutting proxy -> server; every ``every``-th frame cut."""
    from splitinfer.net import LinkShaper

    t0 = time.perf_counter()
    proxy = CuttingProxy(("127.0.0.1", server.port), every=every, answers=answers)
    log = RunnerLog("http")
    with proxy.running() as proxy_port:
        shaper = LinkShaper.from_profile(
            profile, listen="127.0.0.1:0", upstream=f"127.0.0.1:{proxy_port}"
        )
        with shaper.running(precise_timers=False) as port:
            run_edge(workload, f"http://127.0.0.1:{port}", server.token, images, log, retries=3)
            broken = sum(1 for c in shaper.connections if c.error)
    counts, problems = check_exactly_once(log, workload, images)
    result: dict[str, Any] = {
        **counts,
        "frames_seen": proxy.frames,
        "cuts": proxy.cuts,
        "link_connections_reset": broken,
    }
    if counts.get("fallback"):
        problems.append(f"{counts['fallback']} images fell back; a retry should have sufficed")
    if proxy.cuts == 0 or counts.get("retried", 0) != proxy.cuts:
        problems.append(f"{proxy.cuts} cuts but {counts.get('retried', 0)} retried results")
    return verdict("link-answer" if answers else "link", result, problems, t0)
