"""``slow``: byte-at-a-time bodies get 504 at ``request_timeout_s``; byte-at-a-time request
heads and silent gRPC connections are closed at the deadline; ordinary requests keep
being served meanwhile."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from reliability.faults.common import (
    Scenario,
    http_new,
    verdict,
)
from splitinfer.harness import server as srv
from splitinfer.harness.workload import Workload


def _trickle(port: int, first: bytes, rest: bytes, every_s: float) -> tuple[str, float]:
    """Send ``first`` at once, then ``rest`` one byte per ``every_s``, until the server
    answers or closes: (its status or "closed", seconds after ``first``), or ("held", s)
    when all of ``rest`` went out and the server did nothing."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(first)
        t0 = time.perf_counter()
        sock.settimeout(every_s)
        for i in range(len(rest)):
            try:
                sock.send(rest[i : i + 1])
                data = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return "closed", time.perf_counter() - t0
            if not data:
                return "closed", time.perf_counter() - t0
            return data.split(b" ", 2)[1].decode(errors="replace"), time.perf_counter() - t0
    return "held", time.perf_counter() - t0


def _held_until_closed(port: int, data: bytes, every_s: float, limit_s: float) -> tuple[str, float]:
    """Send ``data`` one byte per ``every_s`` (ignoring what comes back) and then nothing,
    until the server closes: ("closed", seconds), or ("held", ``limit_s``)."""
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.settimeout(every_s)
        i = 0
        while time.perf_counter() - t0 < limit_s:
            try:
                if i < len(data):
                    sock.send(data[i : i + 1])
                    i += 1
                if sock.recv(65536) == b"":
                    return "closed", time.perf_counter() - t0
            except TimeoutError:
                continue
            except OSError:
                return "closed", time.perf_counter() - t0
    return "held", time.perf_counter() - t0


def slow_clients(
    server: srv.Endpoint, workload: Workload, deadline_s: float, crowd: int = 16
) -> Scenario:
    """Byte-at-a-time bodies and heads, a silent gRPC connection, and a crowd of slow heads
    while ordinary requests go on. ``deadline_s`` is the server's ``--request-timeout-s``;
    each trickle would last 10x that if the server let it."""
    t0 = time.perf_counter()
    every = deadline_s / 10
    frame = workload.frame(1)
    auth = "".join(f"{k}: {v}\r\n" for k, v in server.headers.items())
    length = len(frame) + 100
    head = f"POST {workload.infer_path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {length}\r\n"
    body = frame + bytes(100)
    slow_head = head.encode() + b"X-Pad: " + b"a" * 100
    cases: dict[str, Callable[[], tuple[str, float]]] = {
        "http body byte by byte": lambda: _trickle(
            server.port, head.encode() + b"\r\n", body, every
        ),
        "http head byte by byte": lambda: _trickle(server.port, b"", slow_head, every),
    }
    if server.grpc_port is not None:
        port, limit = server.grpc_port, deadline_s * 10
        preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes(64)
        cases["grpc connection, silent"] = lambda: _held_until_closed(port, b"", every, limit)
        cases["grpc preface byte by byte"] = lambda: _held_until_closed(port, preface, every, limit)
    for i in range(crowd):
        cases[f"crowd {i}"] = lambda: _trickle(server.port, b"", slow_head, every)
    seen: dict[str, tuple[str, float]] = {}

    def run(name: str, case: Callable[[], tuple[str, float]]) -> None:
        seen[name] = case()

    threads = [threading.Thread(target=run, args=item) for item in cases.items()]
    for t in threads:  # every slow client at once, and ordinary requests meanwhile
        t.start()
    served = Counter(http_new(server, workload, 20_000_000 + i) for i in range(20))
    for t in threads:
        t.join(timeout=deadline_s * 20)
    crowd_seen = Counter(seen.get(f"crowd {i}", ("lost", 0.0))[0] for i in range(crowd))
    results: dict[str, Any] = {
        name: f"{what} after {secs:.2f} s"
        for name, (what, secs) in seen.items()
        if not name.startswith("crowd")
    }
    results[f"{crowd} more slow heads at once"] = dict(crowd_seen)
    results["ordinary requests meanwhile"] = dict(served)
    problems = [
        f"{name}: {text}"
        for name, text in results.items()
        if isinstance(text, str) and not text.startswith(("504 ", "closed "))
    ]
    if served != Counter({"http 200": 20}):
        problems.append(f"ordinary requests during the crowd got {dict(served)}")
    if crowd_seen != Counter({"closed": crowd}):
        problems.append(f"slow heads: {dict(crowd_seen)}")
    return verdict("slow", results, problems, t0)
