"""``drain``: SIGTERM with requests admitted and waiting in the batcher: they complete
(200 / OK, right answers); new gRPC calls get UNAVAILABLE, new HTTP requests 503 or a
refused connection, until the process exits with SIGTERM's status. A request whose
body was still uploading gets a clean 503 (it was not admitted), never a cut connection."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx

from reliability.faults.common import (
    Scenario,
    http_new,
    post_frame,
    verdict,
    wait_until,
)
from splitinfer.harness import server as srv
from splitinfer.harness.load import grpc_channel
from splitinfer.harness.workload import Workload
from splitinfer.protocol import ErrorReply, Result


def queue_depth(server: srv.Endpoint) -> float:
    """The server's ``splitinfer_queue_depth`` gauge (admitted, not yet on the worker)."""
    auth = {"Authorization": f"Bearer {server.token}"} if server.token else {}
    text = httpx.get(f"{server.url}/metrics", headers=auth, verify=server.verify(), timeout=10).text
    for line in text.splitlines():
        if line.startswith("splitinfer_queue_depth"):
            return float(line.split()[-1])
    return 0.0


def drain(
    server: srv.ServeProcess,
    workload: Workload,
    uploading: int = 4,
    admitted: int = 0,
    watch_s: float = 5.0,
) -> Scenario:
    """SIGTERM ``server`` while requests are in flight; watch what each kind gets.

    In flight: ``uploading`` requests whose head the server accepted (it answered
    ``100 Continue``) and whose body is sent only after the signal, and ``admitted``
    requests waiting in the batcher (needs a server started with a long ``--max-wait-ms``
    and a big ``--max-batch``). Both must complete with the right answer; new requests get
    UNAVAILABLE / 503 / a refused connection (tried for ``watch_s``, which must stay
    under the server's ``--request-timeout-s``: the bodies are sent after it); the process
    exits with SIGTERM's status.
    """
    t0 = time.perf_counter()
    problems: list[str] = []
    rid = iter(range(10_000_000, 11_000_000))
    waiting: list[str] = []
    threads = [
        threading.Thread(target=_post_one, args=(server, workload, next(rid), waiting))
        for _ in range(admitted)
    ]
    for t in threads:
        t.start()
    queued = admitted == 0 or wait_until(lambda: queue_depth(server) >= admitted, 60)
    opened = [_open_accepted(server, workload, next(rid)) for _ in range(uploading)]
    server.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
    new = _new_requests_while_draining(server, workload, rid, watch_s)
    finished = [_finish_upload(sock, rest, workload, r) for sock, rest, r in opened]
    for t in threads:
        t.join(timeout=120)
    try:
        rc: int | None = server.proc.wait(timeout=120)  # type: ignore[union-attr]
    except subprocess.TimeoutExpired:
        rc = None
    counts: dict[str, Any] = {
        "uploading": dict(Counter(finished)),
        "admitted": dict(Counter(waiting)),
        "new": new,
        "exit_code": rc,
    }
    if not queued:
        problems.append("the admitted requests never showed in the queue depth")
    if finished != ["200 right"] * uploading or waiting != ["200 right"] * admitted:
        problems.append(f"in-flight requests got {finished + waiting}")
    if new.get("grpc UNAVAILABLE draining", 0) == 0:
        problems.append(f"no new gRPC call saw UNAVAILABLE while draining: {new}")
    bad = {k: v for k, v in new.items() if not _acceptable_while_draining(k)}
    if bad:
        problems.append(f"new requests while draining got {bad}")
    if rc not in (0, -signal.SIGTERM, 128 + signal.SIGTERM):
        problems.append(f"exit code {rc}")
    return verdict("drain", counts, problems, t0)


def _open_accepted(
    server: srv.Endpoint, workload: Workload, rid: int
) -> tuple[socket.socket, bytes, int]:
    """Send a request head with ``Expect: 100-continue`` and wait for ``100 Continue``: the
    server has accepted the request and waits for its body. Returns (socket, body, id)."""
    frame = workload.frame(rid)
    head = f"POST {workload.infer_path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(frame)}\r\n"
    head += "Expect: 100-continue\r\n" + "".join(f"{k}: {v}\r\n" for k, v in server.headers.items())
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    sock.sendall(head.encode() + b"\r\n")
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = sock.recv(1024)
        if not chunk:
            break
        got += chunk
    if not got.startswith(b"HTTP/1.1 100"):
        raise RuntimeError(f"expected 100 Continue, got {got[:80]!r}")
    return sock, frame, rid


def _finish_upload(sock: socket.socket, body: bytes, workload: Workload, rid: int) -> str:
    """Send the body of an accepted request; classify the answer."""
    with sock:
        try:
            sock.sendall(body)
            data = b""
            while not data.endswith(b"}"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError as err:
            return f"cut {type(err).__name__}"
    if not data:
        return "cut (no answer)"
    status = data.split(b" ", 2)[1].decode()
    try:
        answer = json.loads(data.partition(b"\r\n\r\n")[2])
    except ValueError:
        return f"{status} untyped"
    if status != "200":
        return f"{status} {ErrorReply.from_json(answer).code}"
    result = Result.from_json(answer)
    right = result.request_id == rid and result.top == workload.answer(rid)
    return "200 right" if right else "200 wrong"


def _acceptable_while_draining(outcome: str) -> bool:
    return outcome in (
        "grpc UNAVAILABLE draining",
        "grpc UNAVAILABLE gone",
        "http 503",
        "http refused",
    )


def _post_one(server: srv.Endpoint, workload: Workload, rid: int, out: list[str]) -> None:
    try:
        r = post_frame(server, workload, rid, timeout=120)
    except httpx.HTTPError as err:
        out.append(f"error {type(err).__name__}")
        return
    if r.status_code != 200:
        out.append(f"{r.status_code}")
    elif (result := Result.from_json(r.json())).request_id == rid and result.top == workload.answer(
        rid
    ):
        out.append("200 right")
    else:
        out.append("200 wrong")


def _new_requests_while_draining(
    server: srv.ServeProcess, workload: Workload, rid: Iterator[int], watch_s: float
) -> dict[str, int]:
    """Fire new gRPC and HTTP requests for ``watch_s`` while the server drains."""

    async def go() -> dict[str, int]:
        import grpc

        from splitinfer.protocol.pb import splitinfer_pb2 as pb
        from splitinfer.protocol.pb import splitinfer_pb2_grpc as pb_grpc

        seen: Counter[str] = Counter()
        deadline = time.monotonic() + watch_s
        async with grpc_channel(server.grpc_target, server.tls_cert) as channel:
            stub = pb_grpc.SplitInferenceStub(channel)
            while server.alive() and time.monotonic() < deadline:
                try:
                    await stub.Infer(
                        pb.InferRequest(frame=workload.frame(next(rid))),
                        metadata=server.grpc_metadata,
                        timeout=5,
                    )
                    seen["grpc OK"] += 1
                except grpc.aio.AioRpcError as err:
                    draining = "draining" in (err.details() or "")
                    seen[f"grpc {err.code().name} {'draining' if draining else 'gone'}"] += 1
                seen[http_new(server, workload, next(rid))] += 1
                await asyncio.sleep(0.05)
        return dict(seen)

    return asyncio.run(go())
