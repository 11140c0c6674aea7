"""Load: many concurrent edge clients against ``splitinfer serve``, every answer checked.

    python -m reliability.load                           # 64 clients, 5,000 requests each way
    python -m reliability.load --soak                    # 10x the requests, RSS sampled
    python -m reliability.load --transports grpc --clients 128 --requests 20000

The clients are :func:`splitinfer.harness.load.run_load` (closed loop; over HTTP one
keep-alive ``httpx`` connection each, over gRPC one ``InferStream`` each). A run passes
when no request failed, every request id was answered exactly once, and every top-1 class
equals the in-process ``bundle.cloud.decode_and_run`` argmax. Latency is client-side;
client and server share the machine, so throughput is a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from splitinfer.harness import server as srv
from splitinfer.harness.load import LoadReport, run_load
from splitinfer.harness.workload import load_workload
from splitinfer.timing import host_info


def rss_drift(samples_kb: list[int], skip: float = 0.1) -> tuple[int, int]:
    """(last - first, max - min) in kB over the samples after the first ``skip`` fraction."""
    tail = samples_kb[int(len(samples_kb) * skip) :] or samples_kb
    if not tail:
        return 0, 0
    return tail[-1] - tail[0], max(tail) - min(tail)


def machine() -> dict[str, Any]:
    """Where the figures came from (the load average says whether the machine was busy)."""
    return host_info()


def write_report(path: Path, out: dict[str, Any], ok: bool, default: Any = None) -> int:
    """Write ``out`` as JSON at ``path``, print PASS or FAIL, and return the exit code."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1, default=default) + "\n")
    print(f"{'PASS' if ok else 'FAIL'}; wrote {path}")
    return 0 if ok else 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--bundle", type=Path, default=None, help="bundle dir (default: the default)")
    p.add_argument("--transports", default="http,grpc-stream", help="http and/or grpc-stream")
    p.add_argument("--clients", type=int, default=64, help="concurrent edge clients")
    p.add_argument("--requests", type=int, default=5000, help="requests per transport")
    p.add_argument("--soak", action="store_true", help="10x the requests; check RSS stays flat")
    p.add_argument("--rss-margin-mb", type=float, default=16.0, help="soak: allowed RSS drift")
    p.add_argument("--pool", type=int, default=1000, help="distinct test images to cycle")
    p.add_argument("--threads", type=int, default=1, help="server torch threads")
    p.add_argument("--json", type=Path, default=Path("reports/reliability/load.json"))
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    requests = args.requests * (10 if args.soak else 1)
    workload = load_workload(args.bundle, pool=args.pool)
    token = os.urandom(16).hex()
    extra = ["--torch-threads", str(args.threads), "--log-level", "warning"]
    reports: list[LoadReport] = []
    first_id = 0
    with srv.serve(workload.bundle_dir, token=token, extra=extra) as server:
        for transport in args.transports.split(","):
            warm = asyncio.run(
                run_load(
                    server, workload, transport, args.clients, args.clients * 4, first_id=first_id
                )
            )
            first_id += warm.requests
            report = asyncio.run(
                run_load(
                    server,
                    workload,
                    transport,
                    args.clients,
                    requests,
                    first_id,
                    sample_every_s=2.0 if args.soak else 1.0,
                )
            )
            first_id += report.requests
            reports.append(report)
            print(report.line(), flush=True)
        leaked = server.token and server.token in server.log_text()
    ok = all(r.passed for r in reports) and not leaked
    verdicts = []
    for r in reports:
        drift, spread = rss_drift(r.rss_samples_kb)
        flat = abs(drift) <= args.rss_margin_mb * 1024
        verdicts.append(
            {"transport": r.transport, "rss_drift_kb": drift, "rss_spread_kb": spread, "flat": flat}
        )
        if args.soak:
            print(
                f"{r.transport:>11}: RSS drift {drift / 1024:+.1f} MB, spread "
                f"{spread / 1024:.1f} MB over {len(r.rss_samples_kb)} samples "
                f"(margin {args.rss_margin_mb:g} MB): {'flat' if flat else 'NOT flat'}"
            )
            ok = ok and flat
    out = {
        "machine": machine(),
        "bundle": {
            "id": workload.bundle_id,
            "dir": str(workload.bundle_dir),
            "codec": workload.bundle.spec.codec,
            "frame_bytes": len(workload.frame(0)),
        },
        "soak": args.soak,
        "reports": [{**asdict(r), "passed": r.passed} for r in reports],
        "rss": verdicts,
        "token_in_log": bool(leaked),
        "passed": ok,
    }
    return write_report(args.json, out, ok)


if __name__ == "__main__":
    sys.exit(main())
