"""Load-test the cloud server: requests/s and p50/p99 latency per batching mode and transport.

The core of ``benchmarks/server_bench.py`` (now a thin wrapper) and of the bench's server
experiment. Each batching mode starts its own ``splitinfer serve`` process on 127.0.0.1
(so the client's event loop does not share a GIL with the server), warms it up, then for
each concurrency level runs N clients that each send compact frames back to back over
keep-alive connections. Latency is client-side (request sent -> response read). Server
and clients share this machine's CPUs: the numbers compare modes side by side, they are
not capacity figures.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from splitinfer.errors import SplitInferError
from splitinfer.timing import host_info, load_average, percentile

FRAME_TYPE = "application/x-splitinfer-frame"
Log = Callable[[str], None]


class ServerStartFailed(SplitInferError):
    """The ``splitinfer serve`` process under test exited or never became ready."""

    code = "server_start_failed"


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
    from splitinfer.train.data import FMNIST_CLASSES

    torch.manual_seed(0)
    return Bundle.build(
        bundle_id="bench", model_name="fmnist_resnet", model=zoo.create("fmnist_resnet"),
        cut="stage2", unit=UnitConfig(channels=2), codec="quant:bits=4,clip=0:1|ans",
        classes=FMNIST_CLASSES, preprocess=Preprocess((0.286,), (0.353,)),
        input_shape=(1, 28, 28), built_by="benchmarks/server_bench.py",
    ).save(folder / "bench")  # fmt: skip


def make_frames(bundle_dir: Path, n: int = 64) -> tuple[str, list[bytes]]:
    """The bundle id and ``n`` compact frames of synthetic images."""
    from splitinfer.bundle import Bundle
    from splitinfer.train.data import synthetic

    bundle = Bundle.load(bundle_dir)
    images = synthetic(n, shape=bundle.spec.input_shape, seed=0)[0]
    return bundle.spec.id, bundle.edge.encode(images)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(bundle_dir: Path, port: int, grpc_port: int, max_batch: int,
                 max_wait_ms: float, threads: int) -> subprocess.Popen[bytes]:  # fmt: skip
    import httpx

    cmd = [sys.executable, "-c", "from splitinfer.cli import main; main()", "serve",
           "--bundle", str(bundle_dir), "--port", str(port), "--grpc-port", str(grpc_port),
           "--max-batch", str(max_batch),
           "--max-wait-ms", str(max_wait_ms), "--torch-threads", str(threads),
           "--max-queue", "1024", "--log-level", "warning"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "SPLITINFER_TOKEN"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise ServerStartFailed(f"server exited with {proc.returncode}: {err[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise ServerStartFailed("server did not become ready in 120 s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Connection:
    """One keep-alive HTTP/1.1 connection speaking just enough HTTP for this benchmark.

    A minimal client keeps the measurement about the server: a general-purpose async
    client (httpx) adds more latency than the server itself at 32 concurrent requests.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        return cls(*await asyncio.open_connection(host, port))

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        head = (f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: {FRAME_TYPE}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n")  # fmt: skip
        self.writer.write(head.encode() + body)
        await self.writer.drain()
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status = int(raw.split(b" ", 2)[1])
        length = 0
        for line in raw.lower().split(b"\r\n"):
            if line.startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def summarize(
    clients: int,
    total: int,
    errors: int,
    wall: float,
    latencies: list[float],
    batch_sizes: list[int],
) -> dict[str, Any]:
    """One table row: throughput, p50/p99 latency (ms) and the mean server batch size."""
    ms = sorted(x * 1000 for x in latencies)
    return {
        "clients": clients,
        "requests": total,
        "errors": errors,
        "rps": total / wall,
        "p50_ms": percentile(ms, 50),
        "p99_ms": percentile(ms, 99),
        "mean_batch": statistics.fmean(batch_sizes) if batch_sizes else 0.0,
    }


async def run_level(port: int, path: str, frames: list[bytes], clients: int,
                    total: int) -> dict[str, Any]:  # fmt: skip
    """``clients`` connections share ``total`` requests, each sent when its last answered."""
    latencies: list[float] = []
    batch_sizes: list[int] = []
    errors = 0
    counter = iter(range(total))
    conns = [await Connection.open("127.0.0.1", port) for _ in range(clients)]

    async def sender(conn: Connection) -> None:
        nonlocal errors
        for i in counter:
            t0 = time.perf_counter()
            status, body = await conn.post(path, frames[i % len(frames)])
            latencies.append(time.perf_counter() - t0)
            if status != 200:
                errors += 1
            else:
                batch_sizes.append(json.loads(body)["timing"]["batch_size"])

    start = time.perf_counter()
    await asyncio.gather(*(sender(c) for c in conns))
    wall = time.perf_counter() - start
    for c in conns:
        await c.close()
    return summarize(clients, total, errors, wall, latencies, batch_sizes)


async def run_level_grpc(port: int, bundle_id: str, frames: list[bytes], clients: int,
                         total: int) -> dict[str, Any]:  # fmt: skip
    """The same load over gRPC: ``clients`` channels, unary ``Infer`` calls back to back."""
    import grpc

    from splitinfer.cloud._proto import splitinfer_pb2 as pb
    from splitinfer.cloud._proto import splitinfer_pb2_grpc as pb_grpc

    latencies: list[float] = []
    batch_sizes: list[int] = []
    errors = 0
    counter = iter(range(total))
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for _ in range(clients)]

    async def sender(channel: grpc.aio.Channel) -> None:
        nonlocal errors
        stub = pb_grpc.SplitInferenceStub(channel)
        for i in counter:
            t0 = time.perf_counter()
            try:
                reply = await stub.Infer(
                    pb.InferRequest(bundle_id=bundle_id, frame=frames[i % len(frames)]),
                    wait_for_ready=True,
                )
                batch_sizes.append(reply.timing.batch_size)
            except grpc.aio.AioRpcError:
                errors += 1
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(sender(c) for c in channels))
    wall = time.perf_counter() - start
    for c in channels:
        await c.close()
    return summarize(clients, total, errors, wall, latencies, batch_sizes)


def bench_mode(
    s: LoadSettings,
    bundle_dir: Path,
    bundle_id: str,
    frames: list[bytes],
    label: str,
    log: Log | None = None,
) -> list[dict[str, Any]]:
    """Every (transport, client count) row of one batching mode, on its own server."""
    port, grpc_port = free_port(), free_port()
    label, max_batch, max_wait = s.mode(label)
    proc = start_server(bundle_dir, port, grpc_port, max_batch, max_wait, s.threads)
    path = f"/v1/bundles/{bundle_id}/infer"
    levels = {
        "http": lambda c, n: run_level(port, path, frames, c, n),
        "grpc": lambda c, n: run_level_grpc(grpc_port, bundle_id, frames, c, n),
    }
    try:
        rows = []
        for transport in s.transports:
            level = levels[transport]
            asyncio.run(level(4, s.warmup))
            for clients in s.concurrency:
                row = asyncio.run(level(clients, s.requests))
                row.update(mode=label, transport=transport, max_batch=max_batch,
                           max_wait_ms=max_wait)  # fmt: skip
                rows.append(row)
                if log:
                    log(
                        f"  {label:>6} {transport} (batch {max_batch}, wait {max_wait:g} ms) "
                        f"clients {clients:>3}: {row['rps']:8.1f} req/s  p50 "
                        f"{row['p50_ms']:7.2f} ms  p99 {row['p99_ms']:7.2f} ms  mean batch "
                        f"{row['mean_batch']:.2f}"
                    )
        return rows
    finally:
        stop_server(proc)


def run_load_test(
    s: LoadSettings, bundle: str | Path | None = None, log: Log | None = None
) -> dict[str, Any]:
    """Every mode on its own server; the report dict ``benchmarks/server_bench.py`` writes."""
    unknown = set(s.transports) - {"http", "grpc"}
    if unknown:
        raise SplitInferError(f"unknown transport(s) {sorted(unknown)}; use http and/or grpc")
    with tempfile.TemporaryDirectory() as tmp:
        bundle_dir = Path(bundle) if bundle else test_bundle(Path(tmp))
        bundle_id, frames = make_frames(bundle_dir)
        load_before = load_average()
        rows = [r for m in s.modes for r in bench_mode(s, bundle_dir, bundle_id, frames, m, log)]
    return {
        "machine": {
            **host_info(),
            "loadavg_before": load_before,
        },
        "bundle": str(bundle or "random-weight fmnist_resnet stage2 (test bundle)"),
        "server_torch_threads": s.threads,
        "frame_bytes_mean": statistics.fmean(len(f) for f in frames),
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
