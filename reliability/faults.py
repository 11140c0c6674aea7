"""Faults: a server killed and restarted, drained by SIGTERM, a link cut mid-frame, slow
clients, a full queue. Each scenario returns a :class:`Scenario` with counts and a verdict.

    python -m reliability.faults                 # every scenario, full size
    python -m reliability.faults --only kill,link --images 400

What each one proves:

- ``kill``: ``splitinfer serve`` SIGKILLed while two edge runners (HTTP and gRPC) stream
  test images, then restarted on the same ports. Every image gets exactly one result
  (request ids 0..N-1, each once): answered by the server (split), or computed on the
  device after the retries failed (mobile-only fallback, flagged). Predictions equal the
  in-process split (answered) or full network (fallback).
- ``drain``: SIGTERM with requests admitted and waiting in the batcher: they complete
  (200 / OK, right answers); new gRPC calls get UNAVAILABLE, new HTTP requests 503 or a
  refused connection, until the process exits with SIGTERM's status. A request whose
  body was still uploading gets a clean 503 (it was not admitted), never a cut connection.
- ``link``: the link emulator (:class:`splitinfer.net.LinkShaper`) in front of a proxy
  that cuts every k-th request mid-frame (or mid-answer) with a TCP reset: the edge runner
  sees a clean transport error and retries; every image is answered once, no fallback.
- ``slow``: byte-at-a-time bodies get 504 at ``request_timeout_s``; byte-at-a-time request
  heads and silent gRPC connections are closed at the deadline; ordinary requests keep
  being served meanwhile.
- ``shed``: a burst beyond ``max_queue`` is shed with 503 + ``Retry-After`` (gRPC:
  UNAVAILABLE) at once, then the server serves normally again, and an edge runner that
  retries on 503 gets every image answered exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from reliability import server as srv
from reliability.load import grpc_channel, machine, write_report
from reliability.workload import Workload, load_workload
from splitinfer import wire
from splitinfer.protocol import ErrorReply, Result


@dataclass
class Scenario:
    """What one fault scenario did and saw."""

    name: str
    passed: bool
    counts: dict[str, Any]
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        shown = ", ".join(f"{k} {v}" for k, v in self.counts.items() if not isinstance(v, dict))
        verdict = "PASS" if self.passed else "FAIL: " + "; ".join(self.problems[:5])
        return f"{self.name:>6}: {verdict} ({shown}; {self.seconds:.1f} s)"


def _verdict(name: str, counts: dict[str, Any], problems: list[str], t0: float) -> Scenario:
    return Scenario(name, not problems, counts, problems, round(time.perf_counter() - t0, 2))


# --- edge runners ----------------------------------------------------------------------------


@dataclass
class RunnerLog:
    """Results of one edge runner streaming images, one per image, in order."""

    transport: str
    results: list[Any] = field(default_factory=list)
    error: str | None = None


def _run_edge(
    workload: Workload,
    url: str,
    token: str | None,
    images: int,
    log: RunnerLog,
    retries: int = 2,
    gate: threading.Event | None = None,
) -> None:
    """Thread body: one EdgeRunner sends ``images`` test images one by one (each after
    ``gate`` is set, when given)."""
    from splitinfer.edge import EdgeRunner

    try:
        with EdgeRunner(workload.bundle, url, token=token, retries=retries, timeout_s=10) as r:
            for i in range(images):
                if gate is not None:
                    gate.wait()
                log.results.append(r.infer(workload.images[i % len(workload)]))
    except Exception as err:  # recorded: a raised error is a lost image
        log.error = f"{type(err).__name__}: {err}"


def check_exactly_once(
    log: RunnerLog, workload: Workload, images: int
) -> tuple[Counter[str], list[str]]:
    """Counts by outcome and the problems: ids 0..images-1 each once, right predictions."""
    counts: Counter[str] = Counter()
    problems = [f"{log.transport} runner raised {log.error}"] if log.error else []
    ids = [r.request_id for r in log.results]
    if ids != list(range(images)):
        problems.append(f"{log.transport}: {len(ids)} results, ids not exactly 0..{images - 1}")
    for r in log.results:
        fell_back = bool(r.fell_back)
        counts["fallback" if fell_back else "answered"] += 1
        counts["retried"] += int(r.attempts > 1 and not fell_back)
        i = r.request_id % len(workload)
        want = workload.expected_full[i] if fell_back else workload.expected[i]
        if r.prediction != want:
            counts["mismatched"] += 1
            problems.append(f"{log.transport} id {r.request_id}: {r.prediction} != {want}")
    return counts, problems


# --- kill -9 and restart -------------------------------------------------------------------


def kill_and_restart(
    workload: Workload,
    images: int = 60,
    kill_at: int = 15,
    down_for: int = 3,
    token: str = "kill-token",
    extra: Sequence[str] = ("--torch-threads", "1", "--log-level", "warning"),
    then: Callable[[srv.ServeProcess], None] | None = None,
    first: srv.ServeProcess | None = None,
) -> Scenario:
    """SIGKILL the server while two edge runners (HTTP, gRPC) stream; restart it on the
    same ports. The runners run ``kill_at`` images, go on for ``down_for`` more while the
    server is dead, wait for the restart, and finish on the new server. ``then`` gets the
    restarted server before it is stopped (to run more scenarios on it). ``first``: a
    server already launched with ``token`` and ``extra`` (else one is started here)."""
    t0 = time.perf_counter()
    if first is None:
        first = srv.launch([workload.bundle_dir], token=token, extra=extra)
    srv.wait_ready(first)
    logs = [RunnerLog("http"), RunnerLog("grpc")]
    urls = {"http": first.url, "grpc": f"grpc://{first.grpc_target}"}
    gate = threading.Event()
    gate.set()
    threads = [
        threading.Thread(
            target=_run_edge,
            args=(workload, urls[g.transport], token, images, g),
            kwargs={"gate": gate},
            daemon=True,
        )
        for g in logs
    ]
    for t in threads:
        t.start()
    second: srv.ServeProcess | None = None
    done = lambda n: lambda: min(len(g.results) for g in logs) >= n or not _running(threads)  # noqa: E731
    try:
        _wait(done(kill_at), 300)
        first.kill()
        killed_at = [len(g.results) for g in logs]
        _wait(done(min(kill_at + down_for, images)), 300)
        gate.clear()  # hold the runners until the new server is up
        time.sleep(0.5)  # let an image already past the gate finish
        second = srv.start(
            [workload.bundle_dir],
            port=first.port,
            grpc_port=first.grpc_port,
            token=token,
            extra=extra,
        )
        restarted_at = [len(g.results) for g in logs]
        gate.set()
        for t in threads:
            t.join(timeout=600)
        if then is not None:
            then(second)
    finally:
        gate.set()
        first.kill()
        if second is not None:
            second.terminate()
    counts: dict[str, Any] = {
        "images": images,
        "killed_after": killed_at,
        "restarted_after": restarted_at,
    }
    problems: list[str] = []
    for i, g in enumerate(logs):
        c, p = check_exactly_once(g, workload, images)
        later = g.results[restarted_at[i] :]
        after = sum(1 for r in later if not r.fell_back)
        counts[g.transport] = {
            **c,
            "answered_after_restart": after,
            "fallback_after_restart": len(later) - after,
        }
        problems += p
        if not any(r.fell_back or r.attempts > 1 for r in g.results[killed_at[i] :]):
            problems.append(
                f"{g.transport}: nothing retried or fell back while the server was down"
            )
    if not any(counts[g.transport]["answered_after_restart"] for g in logs):
        problems.append("no image was answered by the restarted server")
    return _verdict("kill", counts, problems, t0)


def _running(threads: Sequence[threading.Thread]) -> bool:
    return any(t.is_alive() for t in threads)


def _wait(condition: Callable[[], bool], timeout_s: float, every_s: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every_s)
    return condition()


# --- SIGTERM drain ---------------------------------------------------------------------------


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
    queued = admitted == 0 or _wait(lambda: queue_depth(server) >= admitted, 60)
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
    return _verdict("drain", counts, problems, t0)


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


def _post_frame(
    server: srv.Endpoint, workload: Workload, rid: int, timeout: float
) -> httpx.Response:
    """POST request ``rid``'s frame to the server's infer path, with its auth and TLS."""
    return httpx.post(
        server.url + workload.infer_path,
        content=workload.frame(rid),
        headers=server.headers,
        verify=server.verify(),
        timeout=timeout,
    )


def _post_one(server: srv.Endpoint, workload: Workload, rid: int, out: list[str]) -> None:
    try:
        r = _post_frame(server, workload, rid, timeout=120)
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
                seen[_http_new(server, workload, next(rid))] += 1
                await asyncio.sleep(0.05)
        return dict(seen)

    return asyncio.run(go())


def _http_new(server: srv.Endpoint, workload: Workload, rid: int) -> str:
    try:
        r = _post_frame(server, workload, rid, timeout=5)
    except httpx.ConnectError:
        return "http refused"
    except httpx.HTTPError as err:
        return f"http {type(err).__name__}"
    return f"http {r.status_code}"


# --- a link cut mid-frame ----------------------------------------------------------------


class CuttingProxy:
    """A TCP proxy that resets its connections in the middle of every ``every``-th frame.

    It counts frames by their magic in the client -> server bytes; the k-th frame (k a
    multiple of ``every``) is forwarded only up to ``cut_after`` bytes past its magic, then
    both sides get a TCP reset. With ``answers=True`` it cuts the server's answer to such
    a request instead (after its first 20 bytes): the server did the work, the client
    never hears it.
    """

    def __init__(
        self, upstream: tuple[str, int], every: int = 4, cut_after: int = 6, answers: bool = False
    ) -> None:
        self.upstream = upstream
        self.every = every
        self.cut_after = cut_after
        self.answers = answers
        self.frames = 0
        self.cuts = 0
        self._cut_answer = False
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None

    async def _pipe_up(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, cut: asyncio.Event
    ) -> None:
        while data := await src.read(65536):
            at = data.find(wire.MAGIC + bytes((wire.VERSION,)))
            if at >= 0:
                self.frames += 1
                if self.frames % self.every == 0:
                    self.cuts += 1
                    if not self.answers:
                        dst.write(data[: at + self.cut_after])
                        await dst.drain()
                        cut.set()
                        return
                    self._cut_answer = True
            dst.write(data)
            await dst.drain()

    async def _pipe_down(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, cut: asyncio.Event
    ) -> None:
        while data := await src.read(65536):
            if self._cut_answer:
                self._cut_answer = False
                dst.write(data[:20])
                await dst.drain()
                cut.set()
                return
            dst.write(data)
            await dst.drain()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        from splitinfer.net.connection import reset

        up_r, up_w = await asyncio.open_connection(*self.upstream)
        cut = asyncio.Event()
        tasks = [
            asyncio.ensure_future(self._pipe_up(reader, up_w, cut)),
            asyncio.ensure_future(self._pipe_down(up_r, writer, cut)),
            asyncio.ensure_future(cut.wait()),
        ]
        with contextlib.suppress(Exception):
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in tasks:
            t.cancel()
        if cut.is_set():
            reset(writer)
            reset(up_w)
        writer.close()
        up_w.close()

    @contextlib.contextmanager
    def running(self) -> Iterator[int]:
        ready = threading.Event()

        def main() -> None:
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", 0)
            )
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            self._loop.run_forever()

        thread = threading.Thread(target=main, daemon=True)
        thread.start()
        ready.wait(10)
        try:
            yield self.port
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            thread.join(10)


def link_cut(
    server: srv.Endpoint,
    workload: Workload,
    images: int = 40,
    every: int = 4,
    answers: bool = False,
    profile: str = "custom:up=20,down=20,rtt=4",
) -> Scenario:
    """Edge runner -> LinkShaper -> cutting proxy -> server; every ``every``-th frame cut."""
    from splitinfer.net import LinkShaper

    t0 = time.perf_counter()
    proxy = CuttingProxy(("127.0.0.1", server.port), every=every, answers=answers)
    log = RunnerLog("http")
    with proxy.running() as proxy_port:
        shaper = LinkShaper.from_profile(
            profile, listen="127.0.0.1:0", upstream=f"127.0.0.1:{proxy_port}"
        )
        with shaper.running(precise_timers=False) as port:
            _run_edge(workload, f"http://127.0.0.1:{port}", server.token, images, log, retries=3)
            broken = sum(1 for c in shaper.connections if c.error)
    counts, problems = check_exactly_once(log, workload, images)
    result: dict[str, Any] = {
        **counts,
        "frames_seen": proxy.frames,
        "cuts": proxy.cuts,
        "link_connections_reset": broken,
    }
    if counts.get("fallback"):
        problems.append(f"{counts['fallback']} images fell back; a retry should have sufficed")
    if proxy.cuts == 0 or counts.get("retried", 0) != proxy.cuts:
        problems.append(f"{proxy.cuts} cuts but {counts.get('retried', 0)} retried results")
    return _verdict("link-answer" if answers else "link", result, problems, t0)


# --- slow clients ----------------------------------------------------------------------------


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
    served = Counter(_http_new(server, workload, 20_000_000 + i) for i in range(20))
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
    return _verdict("slow", results, problems, t0)


# --- a full queue ----------------------------------------------------------------------------

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
            target=_run_edge,
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
    return _verdict("shed", counts, problems, t0)


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


# --- the command ---------------------------------------------------------------------------

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
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
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


if __name__ == "__main__":
    sys.exit(main())
