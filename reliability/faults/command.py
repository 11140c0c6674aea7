"""``python -m reliability.faults``: every scenario (or ``--only``), full size, each
against a server started for it; the report goes to ``reports/reliability/faults.json``."""

from __future__ import annotations

import argparse
import os
import random
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from reliability.faults.common import (
    Scenario,
)
from reliability.faults.drain import drain
from reliability.faults.kill import kill_and_restart
from reliability.faults.link import link_cut
from reliability.faults.shed import shed
from reliability.faults.slow import slow_clients
from reliability.load import machine, write_report
from splitinfer.harness import server as srv
from splitinfer.harness.workload import Workload, load_workload

SCENARIOS = ("kill", "drain", "link", "slow", "shed")
BASE = ("--torch-threads", "1", "--log-level", "warning")


def run_all(workload: Workload, only: Sequence[str], images: int) -> list[Scenario]:
    """Every scenario in ``only``, each against a server started for it, full size."""
    token = "faults-" + os.urandom(8).hex()
    out: list[Scenario] = []
    if "kill" in only:
        out.append(kill_and_restart(workload, images=images, kill_at=images // 4, token=token))
        print(out[-1].line(), flush=True)
    if "link" in only or "slow" in only:
        extra: tuple[str, ...] = (*BASE, "--request-timeout-s", "2")
        with srv.serve(workload.bundle_dir, token=token, extra=extra) as server:
            if "link" in only:
                out.append(link_cut(server, workload, images=images))
                print(out[-1].line(), flush=True)
                out.append(link_cut(server, workload, images=images, answers=True))
                print(out[-1].line(), flush=True)
            if "slow" in only:
                out.append(slow_clients(server, workload, deadline_s=2.0, crowd=64))
                print(out[-1].line(), flush=True)
    if "shed" in only or "drain" in only:
        extra = (*BASE, "--max-queue", "8", "--max-wait-ms", "1500", "--max-batch", "64")
        server = srv.start([workload.bundle_dir], token=token, extra=extra)
        try:
            if "shed" in only:
                out.append(shed(server, workload, burst=256, rounds=5))
                print(out[-1].line(), flush=True)
            if "drain" in only:
                out.append(drain(server, workload, uploading=4, admitted=6))
                print(out[-1].line(), flush=True)
        finally:
            server.terminate()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="Faults against splitinfer serve: kill, drain, link cut, slow clients, shed."
    )
    p.add_argument("--bundle", type=Path, default=None, help="bundle dir (default: the default)")
    p.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    p.add_argument("--images", type=int, default=200, help="images per edge runner")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=Path("reports/reliability/faults.json"))
    args = p.parse_args(argv)
    random.seed(args.seed)
    workload = load_workload(args.bundle, pool=max(64, args.images))
    scenarios = run_all(workload, args.only.split(","), args.images)
    ok = all(s.passed for s in scenarios)
    out = {
        "machine": machine(),
        "bundle": workload.bundle_id,
        "scenarios": [asdict(s) for s in scenarios],
        "passed": ok,
    }
    return write_report(args.json, out, ok, default=str)
