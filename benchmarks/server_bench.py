"""Benchmark the server: requests/s and p50/p99 latency at 1, 8 and 32 concurrent clients,
with dynamic batching on, greedy (no wait) and off, over HTTP and over gRPC (unary), in one
run; print a table, write JSON.

    python benchmarks/server_bench.py                      # random-weight test bundle
    python benchmarks/server_bench.py --bundle bundles/fmnist --requests 1000
    python benchmarks/server_bench.py --concurrency 1,8,32,64 --max-wait-ms 5

Each mode starts its own `splitinfer serve` process on 127.0.0.1 (so the client's event
loop does not share a GIL with the server), warms it up, then for each concurrency level
runs N clients that each send compact frames back to back over keep-alive connections.
Latency is client-side (request sent -> response read). The server and the clients share
this machine's CPUs: numbers compare modes side by side, they are not capacity figures.

A thin wrapper over :mod:`splitinfer.experiments.server_load`, which `splitinfer bench`
runs too.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from splitinfer.experiments.server_load import LoadSettings, format_rows, run_load_test


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--bundle", help="bundle directory (default: random-weight fmnist_resnet)")
    p.add_argument("--concurrency", default="1,8,32", help="client counts (default 1,8,32)")
    p.add_argument("--requests", type=int, default=300, help="requests per level (default 300)")
    p.add_argument("--warmup", type=int, default=30, help="untimed requests per mode")
    p.add_argument("--max-batch", type=int, default=16, help="batching-on max batch")
    p.add_argument("--max-wait-ms", type=float, default=2.0, help="batching-on max wait")
    p.add_argument("--threads", type=int, default=1, help="torch threads of the server")
    p.add_argument("--json", default="reports/server_bench.json", help="output JSON path")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = LoadSettings(
        concurrency=[int(c) for c in args.concurrency.split(",")], requests=args.requests,
        warmup=args.warmup, max_batch=args.max_batch, max_wait_ms=args.max_wait_ms,
        threads=args.threads,
    )  # fmt: skip
    report = run_load_test(settings, args.bundle, log=lambda m: print(m, file=sys.stderr))
    print(format_rows(report["rows"]))
    print(f"machine: {report['machine']}; client and server share it")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
