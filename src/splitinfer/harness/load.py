"""The load client: closed-loop edge clients against a running server, every answer checked.

    report = asyncio.run(run_load(server, workload, "http", clients=64, requests=5000))

Each client sends its next frame when the last one is answered (like a camera streaming
one frame at a time) and takes its request ids from one shared counter. Transports:

- ``http``: one ``httpx.AsyncClient`` keep-alive connection per client (TLS when the
  endpoint has a certificate): what an ordinary edge app does.
- ``http-raw``: one minimal keep-alive HTTP/1.1 connection per client
  (:class:`splitinfer.harness.rawhttp.Connection`): at 32 concurrent requests a
  general-purpose client adds more latency than the server itself, so throughput
  benchmarks use this one.
- ``grpc``: unary ``Infer`` calls back to back on one channel per client.
- ``grpc-stream``: one ``InferStream`` per client for the whole run.

A run passes when no request failed, every request id was answered exactly once, and every
top-1 class equals the workload's in-process answer. Latency is client-side (request sent
-> response read); client and server share the machine, so throughput is a floor. Used by
``reliability/load.py`` (full runs), the reliability tests and the bench's server
experiment (:mod:`splitinfer.experiments.server_load`).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from splitinfer.harness.rawhttp import Connection
from splitinfer.harness.server import Endpoint
from splitinfer.protocol import Result
from splitinfer.timing import percentile

if TYPE_CHECKING:  # torch and a bundle: only the caller's workload brings them in
    from splitinfer.harness.workload import Workload

Sampler = Callable[[], int]
TRANSPORTS = ("http", "http-raw", "grpc", "grpc-stream")


@dataclass
class Tally:
    """What came back, by request id, while a run is going."""

    answered: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    mismatched: int = 0
    wrong_id: int = 0
    latencies: list[float] = field(default_factory=list)
    batch_sizes: list[int] = field(default_factory=list)

    def answer(
        self, workload: Workload, sent_id: int, got_id: int, top1: int, t0: float, batch: int = 0
    ) -> None:
        """One answer: its latency since ``t0``, its id and class checked; ``batch``: the
        server's batch size for it (0: not reported)."""
        self.latencies.append(time.perf_counter() - t0)
        if batch:
            self.batch_sizes.append(batch)
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
    mean_batch: float = 0.0  # the server's mean batch size over the answers
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
        mean_batch=statistics.fmean(tally.batch_sizes) if tally.batch_sizes else 0.0,
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
            _answer_json(tally, workload, rid, r.json(), t0)


def _answer_json(
    tally: Tally, workload: Workload, rid: int, body: dict[str, Any], t0: float
) -> None:
    """Tally a JSON infer answer (its id, top-1 class and batch size)."""
    result = Result.from_json(body)
    batch = result.timing.batch_size if result.timing else 0
    tally.answer(workload, rid, result.request_id, result.top, t0, batch)


async def _http_raw_client(
    port: int,
    headers: dict[str, str],
    workload: Workload,
    ids: Iterator[int],
    tally: Tally,
    timeout_s: float,
) -> None:
    conn = await Connection.open("127.0.0.1", port)
    try:
        for rid in ids:
            t0 = time.perf_counter()
            try:
                status, body = await asyncio.wait_for(
                    conn.post(workload.infer_path, workload.frame(rid), headers), timeout_s
                )
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as err:
                tally.failures[f"http-raw {type(err).__name__}"] += 1
                return  # the connection is gone: this client stops (its ids count as lost)
            if status != 200:
                tally.failures[f"http {status}"] += 1
                continue
            _answer_json(tally, workload, rid, json.loads(body), t0)
    finally:
        await conn.close()


async def _grpc_client(
    target: str,
    metadata: tuple[tuple[str, str], ...],
    tls_cert: Path | None,
    workload: Workload,
    ids: Iterator[int],
    tally: Tally,
    timeout_s: float,
    stream: bool,
) -> None:
    """One gRPC client on its own channel: unary ``Infer`` calls back to back, or (with
    ``stream``) one ``InferStream`` for all its requests."""
    from splitinfer.protocol.pb import splitinfer_pb2_grpc as pb_grpc

    channel = grpc_channel(target, tls_cert)
    try:
        stub = pb_grpc.SplitInferenceStub(channel)
        send = _grpc_stream if stream else _grpc_unary
        await send(stub, metadata, workload, ids, tally, timeout_s)
    finally:
        await channel.close()


async def _grpc_unary(
    stub: Any, metadata: Any, workload: Workload, ids: Iterator[int], tally: Tally,
    timeout_s: float,
) -> None:  # fmt: skip
    import grpc

    from splitinfer.protocol.pb import splitinfer_pb2 as pb

    for rid in ids:
        t0 = time.perf_counter()
        try:
            reply = await stub.Infer(
                pb.InferRequest(bundle_id=workload.bundle_id, frame=workload.frame(rid)),
                metadata=metadata, timeout=timeout_s, wait_for_ready=True,
            )  # fmt: skip
        except grpc.aio.AioRpcError as err:
            tally.failures[f"grpc {err.code().name}"] += 1
            continue
        result = Result.from_proto(reply)
        tally.answer(workload, rid, result.request_id, result.top, t0, result.timed.batch_size)


async def _grpc_stream(
    stub: Any, metadata: Any, workload: Workload, ids: Iterator[int], tally: Tally,
    timeout_s: float,
) -> None:  # fmt: skip
    import grpc

    from splitinfer.protocol.pb import splitinfer_pb2 as pb

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
        result = Result.from_proto(reply)
        tally.answer(workload, rid, result.request_id, result.top, t0, result.timed.batch_size)
    await call.done_writing()


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
    server: Endpoint,
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
        if transport == "http-raw":
            if server.tls_cert is not None:
                raise ValueError("http-raw speaks plain HTTP only: use http for TLS")
            return _http_raw_client(server.port, server.headers, workload, shared, tally, timeout_s)
        if transport in ("grpc", "grpc-stream"):
            return _grpc_client(
                server.grpc_target, server.grpc_metadata, server.tls_cert, workload, shared,
                tally, timeout_s, stream=transport == "grpc-stream",
            )  # fmt: skip
        raise ValueError(f"unknown transport {transport!r}: one of {', '.join(TRANSPORTS)}")

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
