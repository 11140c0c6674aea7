"""Load-test the cloud server: requests/s and p50/p99 latency per batching mode and transport.

The core of ``benchmarks/server_bench.py`` (now a thin wrapper) and of the bench's server
experiment, on the shared harness: each batching mode starts its own ``splitinfer serve``
process on 127.0.0.1 (:func:`splitinfer.harness.server.start`; so the client's event loop
does not share a GIL with the server), warms it up, then for each concurrency level runs
the load client (:func:`splitinfer.harness.load.run_load`): N clients that each send
compact frames back to back over keep-alive connections, every answer checked. Latency
is client-side (request sent -> response read). Server and clients share this machine's
CPUs: the numbers compare modes side by side, they are not capacity figures.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from splitinfer.errors import SplitInferError
from splitinfer.timing import host_info

if TYPE_CHECKING:  # the harness brings torch and httpx: imported when a test runs
    from splitinfer.harness.load import LoadReport
    from splitinfer.harness.workload import Workload

Log = Callable[[str], None]


@dataclass
class LoadSettings:
    """What to measure: batching modes, transports, client counts, requests per level."""

    modes: list[str] = field(default_factory=lambda: ["on", "greedy", "off"])
    transports: list[str] = field(default_factory=lambda: ["http", "grpc"])
    concurrency: list[int] = field(default_factory=lambda: [1, 8, 32])
    requests: int = 300
    warmup: int = 30
    max_batch: int = 16
    max_wait_ms: float = 2.0
    threads: int = 1

    def mode(self, label: str) -> tuple[str, int, float]:
        """(label, max_batch, max_wait_ms): batching ``on``, ``greedy`` (no wait: only what
        queued up during the previous run is batched), ``off``."""
        table = {"on": (self.max_batch, self.max_wait_ms), "greedy": (self.max_batch, 0.0),
                 "off": (1, 0.0)}  # fmt: skip
        if label not in table:
            raise SplitInferError(f"unknown batching mode {label!r}; use on, greedy or off")
        return (label, *table[label])


def test_bundle(folder: Path) -> Path:
    """A random-weight fmnist_resnet bundle cut at stage2 (2-channel unit, 4-bit + ANS)."""
    import torch

    from splitinfer import zoo
    from splitinfer.bottleneck import UnitConfig
    from splitinfer.bundle import Bundle, Preprocess
    from splitinfer.data import FMNIST_CLASSES

    torch.manual_seed(0)
    return Bundle.build(
        bundle_id="bench", model_name="fmnist_resnet", model=zoo.create("fmnist_resnet"),
        cut="stage2", unit=UnitConfig(channels=2), codec="quant:bits=4,clip=0:1|ans",
        classes=FMNIST_CLASSES, preprocess=Preprocess((0.286,), (0.353,)),
        input_shape=(1, 28, 28), built_by="benchmarks/server_bench.py",
    ).save(folder / "bench")  # fmt: skip


#: The bench's transports -> the load client's: plain HTTP through the minimal keep-alive
#: client (a general-purpose one adds more latency than the server at 32 clients), gRPC unary.
CLIENTS = {"http": "http-raw", "grpc": "grpc"}


def bench_workload(bundle_dir: Path, n: int = 64) -> Workload:
    """``n`` synthetic images through the bundle: frames and the answers they must get."""
    from splitinfer.bundle import Bundle
    from splitinfer.data import synthetic
    from splitinfer.harness.workload import workload_of

    shape = Bundle.load(bundle_dir).spec.input_shape
    return workload_of(bundle_dir, synthetic(n, shape=shape, seed=0)[0])


def row(report: LoadReport) -> dict[str, Any]:
    """One table row: throughput, p50/p99 latency (ms), the mean server batch size, and the
    requests that failed or went unanswered (``errors``)."""
    return {
        "clients": report.clients, "requests": report.requests,
        "errors": report.failed + report.lost, "rps": report.rps, "p50_ms": report.p50_ms,
        "p99_ms": report.p99_ms, "mean_batch": report.mean_batch,
    }  # fmt: skip


def bench_mode(
    s: LoadSettings, bundle_dir: Path, workload: Workload, label: str, log: Log | None = None
) -> list[dict[str, Any]]:
    """Every (transport, client count) row of one batching mode, on its own server."""
    from splitinfer.harness.load import run_load
    from splitinfer.harness.server import start

    label, max_batch, max_wait = s.mode(label)
    extra = ["--max-batch", str(max_batch), "--max-wait-ms", str(max_wait), "--max-queue",
             "1024", "--torch-threads", str(s.threads), "--log-level", "warning"]  # fmt: skip
    server = start([bundle_dir], grpc=True, extra=extra, ready_timeout_s=120.0)
    first_id = 0

    def level(transport: str, clients: int, requests: int) -> LoadReport:
        nonlocal first_id
        report = asyncio.run(
            run_load(server, workload, CLIENTS[transport], clients, requests, first_id)
        )
        first_id += requests
        return report

    try:
        rows = []
        for transport in s.transports:
            level(transport, 4, s.warmup)
            for clients in s.concurrency:
                r = row(level(transport, clients, s.requests))
                r.update(mode=label, transport=transport, max_batch=max_batch,
                         max_wait_ms=max_wait)  # fmt: skip
                rows.append(r)
                if log:
                    log(
                        f"  {label:>6} {transport} (batch {max_batch}, wait {max_wait:g} ms) "
                        f"clients {clients:>3}: {r['rps']:8.1f} req/s  p50 "
                        f"{r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms  mean batch "
                        f"{r['mean_batch']:.2f}"
                    )
        return rows
    finally:
        server.terminate(timeout_s=30.0)


def run_load_test(
    s: LoadSettings, bundle: str | Path | None = None, log: Log | None = None
) -> dict[str, Any]:
    """Every mode on its own server; the report dict ``benchmarks/server_bench.py`` writes."""
    unknown = set(s.transports) - {"http", "grpc"}
    if unknown:
        raise SplitInferError(f"unknown transport(s) {sorted(unknown)}; use http and/or grpc")
    with tempfile.TemporaryDirectory() as tmp:
        bundle_dir = Path(bundle) if bundle else test_bundle(Path(tmp))
        workload = bench_workload(bundle_dir)
        load_before = os.getloadavg()
        rows = [r for m in s.modes for r in bench_mode(s, bundle_dir, workload, m, log)]
    return {
        "machine": {
            **host_info(),
            "loadavg_before": load_before,
        },
        "bundle": str(bundle or "random-weight fmnist_resnet stage2 (test bundle)"),
        "server_torch_threads": s.threads,
        "frame_bytes_mean": statistics.fmean(len(workload.frame(i)) for i in range(len(workload))),
        "rows": rows,
    }


def format_rows(rows: list[dict[str, Any]]) -> str:
    """The text table the benchmark prints."""
    lines = [f"{'mode':>8} {'via':>5} {'clients':>7} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
             f"{'batch':>6}"]  # fmt: skip
    for r in rows:
        lines.append(
            f"{r['mode']:>8} {r['transport']:>5} {r['clients']:>7} {r['rps']:>9.1f} "
            f"{r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['mean_batch']:>6.2f}"
        )
    return "\n".join(lines)
