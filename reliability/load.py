"""Load: many concurrent edge clients against ``splitinfer serve``, every answer checked.

    python -m reliability.load                           # 64 clients, 5,000 requests each way
    python -m reliability.load --soak                    # 10x the requests, RSS sampled
    python -m reliability.load --transports grpc --clients 128 --requests 20000

Each client is closed-loop (sends its next frame when the last one is answered), like a
camera that streams one frame at a time. Over HTTP each client has its own keep-alive
connection (``httpx.AsyncClient``); over gRPC each client holds one ``InferStream`` for
the whole run. A run passes when no request failed, every request id was answered exactly
once, and every top-1 class equals the in-process ``bundle.cloud.decode_and_run`` argmax.
Latency is client-side; client and server share the machine, so throughput is a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from reliability import server as srv
from reliability.workload import Workload, load_workload
from splitinfer.timing import host_info, percentile

Sampler = Callable[[], int]


@dataclass
class Tally:
    """What came back, by request id, while a run is going."""

    answered: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    mismatched: int = 0
    wrong_id: int = 0
    latencies: list[float] = field(default_factory=list)

    def answer(self, workload: Workload, sent_id: int, got_id: int, top1: int, t0: float) -> None:
        self.latencies.append(time.perf_counter() - t0)
        if got_id != sent_id:
            self.wrong_id += 1
            return
        self.answered[sent_id] += 1
        if top1 != workload.answer(sent_id):
            self.mismatched += 1


@dataclass
class LoadReport:
    """One run: counts, latency, throughput and the server's memory."""

    transport: str
    clients: int
    requests: int
    ok: int
    failed: int
    lost: int
    duplicated: int
    mismatched: int
    wrong_id: int
    failures: dict[str, int]
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    rss_before_kb: int = 0
    rss_after_kb: int = 0
    rss_samples_kb: list[int] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not (self.failed or self.lost or self.duplicated or self.mismatched or self.wrong_id)

    def line(self) -> str:
        rss = ""
        if self.rss_before_kb:
            rss = (
                f", server RSS {self.rss_before_kb / 1024:.0f} -> {self.rss_after_kb / 1024:.0f} MB"
            )
        return (
            f"{self.transport:>11}: {self.clients} clients, {self.requests:,} requests in "
            f"{self.seconds:.1f} s = {self.rps:,.0f} req/s; p50 {self.p50_ms:.1f} ms, "
            f"p99 {self.p99_ms:.1f} ms; ok {self.ok:,}, failed {self.failed}, lost "
            f"{self.lost}, duplicated {self.duplicated}, mismatched {self.mismatched}{rss}"
        )


def summarize(transport: str, clients: int, ids: range, tally: Tally, seconds: float) -> LoadReport:
    """Turn a tally into a report: lost = ids never answered, duplicated = answered twice+."""
    ms = sorted(x * 1000.0 for x in tally.latencies)
    once = sum(1 for i in ids if tally.answered[i] == 1)
    lost = sum(1 for i in ids if tally.answered[i] == 0)
    dup = sum(1 for i in ids if tally.answered[i] > 1)
    return LoadReport(
        transport=transport,
        clients=clients,
        requests=len(ids),
        ok=once,
        failed=sum(tally.failures.values()),
        lost=lost,
        duplicated=dup,
        mismatched=tally.mismatched,
        wrong_id=tally.wrong_id,
        failures=dict(tally.failures.most_common()),
        seconds=round(seconds, 3),
        rps=len(ids) / seconds if seconds else 0.0,
        p50_ms=percentile(ms, 50),
        p99_ms=percentile(ms, 99),
    )


# --- the two transports --------------------------------------------------------------------


async def _http_client(
    base: str,
    headers: dict[str, str],
    verify: Any,
    workload: Workload,
    ids: Iterator[int],
    tally: Tally,
    timeout_s: float,
) -> None:
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(
        base_url=base, headers=headers, verify=verify, timeout=timeout_s, limits=limits
    ) as client:
        for rid in ids:
            t0 = time.perf_counter()
            try:
                r = await client.post(workload.infer_path, content=workload.frame(rid))
            except httpx.HTTPError as err:
                tally.failures[f"http {type(err).__name__}"] += 1
                continue
            if r.status_code != 200:
                code = r.json().get("error", "?") if r.content[:1] == b"{" else "?"
                tally.failures[f"http {r.status_code} {code}"] += 1
                continue
            body = r.json()
            tally.answer(workload, rid, int(body["request_id"]), body["top"][0]["class_id"], t0)


async def _grpc_client(
    target: str,
    metadata: tuple[tuple[str, str], ...],
    tls_cert: Path | None,
    workload: Workload,
    ids: Iterator[int],
    tally: Tally,
    timeout_s: float,
) -> None:
    import grpc

    from splitinfer.cloud._proto import splitinfer_pb2 as pb
    from splitinfer.cloud._proto import splitinfer_pb2_grpc as pb_grpc

    channel = grpc_channel(target, tls_cert)
    try:
        stub = pb_grpc.SplitInferenceStub(channel)
        call = stub.InferStream(metadata=metadata)
        sequence = 0
        for rid in ids:
            t0 = time.perf_counter()
            try:
                await call.write(pb.InferRequest(frame=workload.frame(rid)))
                reply = await asyncio.wait_for(call.read(), timeout_s)
            except (grpc.aio.AioRpcError, asyncio.TimeoutError) as err:
                name = err.code().name if isinstance(err, grpc.aio.AioRpcError) else "timeout"
                tally.failures[f"grpc {name}"] += 1
                return  # the stream is gone: this client stops (its ids count as lost)
            if reply is grpc.aio.EOF or reply.sequence != sequence:
                tally.failures["grpc stream out of order"] += 1
                return
            sequence += 1
            if reply.HasField("error"):
                tally.failures[f"grpc {reply.error.code}"] += 1
                continue
            tally.answer(workload, rid, reply.request_id, reply.top[0].class_id, t0)
        await call.done_writing()
    finally:
        await channel.close()


def grpc_channel(target: str, tls_cert: Path | None = None) -> Any:
    """A grpc.aio channel to ``target``, over TLS trusting ``tls_cert`` when given."""
    import grpc

    if tls_cert is None:
        return grpc.aio.insecure_channel(target)
    creds = grpc.ssl_channel_credentials(root_certificates=tls_cert.read_bytes())
    return grpc.aio.secure_channel(target, creds)


async def _sample_rss(sampler: Sampler | None, out: list[int], every_s: float) -> None:
    while sampler is not None:
        out.append(sampler())
        await asyncio.sleep(every_s)


async def run_load(
    server: srv.Endpoint,
    workload: Workload,
    transport: str,
    clients: int,
    requests: int,
    first_id: int = 0,
    timeout_s: float = 60.0,
    sample_every_s: float = 1.0,
) -> LoadReport:
    """``clients`` concurrent clients share ``requests`` request ids over ``transport``."""
    ids = range(first_id, first_id + requests)
    shared = iter(ids)
    tally = Tally()

    verify = server.verify() if server.tls_cert else False  # one context for all clients

    def one() -> Awaitable[None]:
        if transport == "http":
            return _http_client(
                server.url, server.headers, verify, workload, shared, tally, timeout_s
            )
        if transport == "grpc-stream":
            return _grpc_client(
                server.grpc_target,
                server.grpc_metadata,
                server.tls_cert,
                workload,
                shared,
                tally,
                timeout_s,
            )
        raise ValueError(f"unknown transport {transport!r}: http or grpc-stream")

    samples: list[int] = []
    rss_before = server.rss_kb()
    sampler = asyncio.ensure_future(_sample_rss(server.rss_kb, samples, sample_every_s))
    start = time.perf_counter()
    try:
        await asyncio.gather(*(one() for _ in range(clients)))
    finally:
        sampler.cancel()
    seconds = time.perf_counter() - start
    report = summarize(transport, clients, ids, tally, seconds)
    report.rss_before_kb, report.rss_after_kb = rss_before, server.rss_kb()
    report.rss_samples_kb = samples
    return report


# --- the command ---------------------------------------------------------------------------


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
