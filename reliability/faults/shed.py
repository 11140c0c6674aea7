"""``shed``: a burst beyond ``max_queue`` is shed with 503 + ``Retry-After`` (gRPC:
UNAVAILABLE) at once, then the server serves normally again, and an edge runner that
retries on 503 gets every image answered exactly once."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx

from reliability.faults.common import (
    RunnerLog,
    Scenario,
    check_exactly_once,
    run_edge,
    verdict,
)
from splitinfer.harness import server as srv
from splitinfer.harness.load import grpc_channel
from splitinfer.harness.workload import Workload
from splitinfer.protocol import ErrorReply, Result

SHED_OK = {"http 200", "http 503 overloaded Retry-After: 1", "grpc OK", "grpc UNAVAILABLE"}


def shed(
    server: srv.Endpoint,
    workload: Workload,
    burst: int = 64,
    rounds: int = 3,
    recovery: int = 8,
    edge_clients: int = 8,
    edge_images: int = 3,
) -> Scenario:
    """Bursts beyond ``max_queue`` against a server started with a small ``--max-queue``
    and a long ``--max-wait-ms``: shed at once with 503 + Retry-After (gRPC: UNAVAILABLE),
    then normal service; edge runners that retry on 503 get every image answered once."""
    t0 = time.perf_counter()
    problems: list[str] = []
    seen: Counter[str] = Counter()
    rid = iter(range(30_000_000, 31_000_000))
    for _ in range(rounds):
        seen.update(asyncio.run(_burst(server, workload, rid, burst)))
    if server.grpc_port is not None:
        seen.update(asyncio.run(_grpc_burst(server, workload, rid, burst)))
    after = Counter(asyncio.run(_burst(server, workload, rid, recovery)))
    logs = [RunnerLog(f"http-{i}") for i in range(edge_clients)]
    threads = [
        threading.Thread(
            target=run_edge,
            args=(workload, server.url, server.token, edge_images, g),
            kwargs={"retries": 50},
        )
        for g in logs
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    edge: Counter[str] = Counter()
    for g in logs:
        c, p = check_exactly_once(g, workload, edge_images)
        edge.update(c)
        problems += p
    counts: dict[str, Any] = {"burst": dict(seen), "after": dict(after), "edge": dict(edge)}
    if not seen["http 503 overloaded Retry-After: 1"] or not seen["http 200"]:
        problems.append(f"a burst should be partly served and partly shed: {dict(seen)}")
    if set(seen) - SHED_OK:
        problems.append(f"unexpected answers in the bursts: {dict(seen)}")
    if after != Counter({"http 200": recovery}):
        problems.append(f"after the bursts: {dict(after)}")
    if edge["fallback"]:
        problems.append(f"{edge['fallback']} edge images fell back")
    return verdict("shed", counts, problems, t0)


async def _burst(server: srv.Endpoint, workload: Workload, rid: Iterator[int], n: int) -> list[str]:
    """``n`` HTTP requests at once, on ``n`` connections."""
    verify = server.verify() if server.tls_cert else False
    limits = httpx.Limits(max_connections=n)
    async with httpx.AsyncClient(
        headers=server.headers, verify=verify, timeout=120, limits=limits
    ) as client:

        async def one(i: int) -> str:
            r = await client.post(server.url + workload.infer_path, content=workload.frame(i))
            if r.status_code == 503:
                code = ErrorReply.from_json(r.json()).code
                return f"http 503 {code} Retry-After: {r.headers.get('retry-after')}"
            if r.status_code == 200 and Result.from_json(r.json()).top != workload.answer(i):
                return "http 200 wrong"
            return f"http {r.status_code}"

        return list(await asyncio.gather(*(one(next(rid)) for _ in range(n))))


async def _grpc_burst(
    server: srv.Endpoint, workload: Workload, rid: Iterator[int], n: int
) -> list[str]:
    """``n`` unary gRPC calls at once."""
    import grpc

    from splitinfer.protocol.pb import splitinfer_pb2 as pb
    from splitinfer.protocol.pb import splitinfer_pb2_grpc as pb_grpc

    async with grpc_channel(server.grpc_target, server.tls_cert) as channel:
        stub = pb_grpc.SplitInferenceStub(channel)

        async def one(i: int) -> str:
            try:
                await stub.Infer(
                    pb.InferRequest(frame=workload.frame(i)),
                    metadata=server.grpc_metadata,
                    timeout=120,
                )
            except grpc.aio.AioRpcError as err:
                return f"grpc {err.code().name}"
            return "grpc OK"

        return list(await asyncio.gather(*(one(next(rid)) for _ in range(n))))
