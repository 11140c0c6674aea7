"""Run the HTTP app under uvicorn: as the ``splitinfer serve`` process, or in a thread.

On SIGTERM/SIGINT the DataPlane stops admitting at once (``/readyz`` turns 503 so a load
balancer moves away), uvicorn stops accepting connections and waits for open requests,
then the app's shutdown drains and closes the DataPlane.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import math
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http import HTTPStatus
from types import FrameType
from typing import Any

import uvicorn

from splitinfer import wire
from splitinfer.bundle import Bundle
from splitinfer.cloud.dataplane import DataPlane
from splitinfer.cloud.http import MAX_HEAD_BYTES, create_app, head_too_large
from splitinfer.cloud.metrics import multiprocess_dir, process_gone
from splitinfer.cloud.settings import ServeSettings
from splitinfer.errors import BadInput, PortInUse
from splitinfer.protocol import ErrorReply, http_status


class DrainingServer(uvicorn.Server):
    """A uvicorn server that flags its DataPlane as draining on the first exit signal."""

    def __init__(self, config: uvicorn.Config, dataplane: DataPlane) -> None:
        super().__init__(config)
        self.dataplane = dataplane

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.dataplane.begin_drain()
        super().handle_exit(sig, frame)


class RedactQuery(logging.Filter):
    """Log filter: query values become ``***`` in uvicorn's access and trace lines, but for
    the API's own parameters (``k``, ``request_id``).

    Tokens travel in the ``Authorization`` header only (uvicorn never logs headers), but a
    client that puts its token in the URL (``?access_token=...``) must not get it written
    to the server's log.
    """

    KEEP = ("k", "request_id")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self._redact(a) for a in record.args)
        return True

    def _redact(self, arg: object) -> object:
        if isinstance(arg, str) and "?" in arg:
            path, _, query = arg.partition("?")
            return f"{path}?{self._query(query)}"
        if isinstance(arg, dict) and arg.get("query_string"):
            raw = arg["query_string"]
            text = raw.decode("latin-1") if isinstance(raw, bytes) else str(raw)
            return {**arg, "query_string": self._query(text).encode("latin-1")}
        return arg

    def _query(self, query: str) -> str:
        pairs = (p.partition("=") for p in query.split("&"))
        return "&".join(n + s + (v if n in self.KEEP else "***") for n, s, v in pairs)


def redact_query_strings() -> None:
    """Install :class:`RedactQuery` on uvicorn's access and ASGI trace loggers (once)."""
    for name in ("uvicorn.access", "uvicorn.asgi"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactQuery) for f in logger.filters):
            logger.addFilter(RedactQuery())


def head_too_large_response(cap: int) -> bytes:
    """The whole 431 answer to a request head over ``cap`` bytes (the connection closes)."""
    err = head_too_large(cap)
    body = json.dumps(ErrorReply(err.code, err.message).to_json()).encode()
    status = http_status(err.code)
    return (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode() + body


def _head_end(tail: bytes, data: bytes) -> int:
    """Where the head that ``tail`` began ends in ``tail + data`` (just past its blank
    line, CRLF or bare LF), or -1 if not in these bytes."""
    seen = tail + data
    ends = [i + len(sep) for sep in (b"\r\n\r\n", b"\n\n") if (i := seen.find(sep)) >= 0]
    return min(ends) if ends else -1


def head_deadline_protocol(
    timeout_s: float, max_head_bytes: int = MAX_HEAD_BYTES
) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol, plus two limits on the request head:

    - a connection with no request under way for ``timeout_s`` (since it opened, or since
      its last response) is closed. uvicorn times out neither a fresh connection nor a
      request head that trickles in, so a client sending its head one byte at a time
      (slowloris) could hold a connection, and a file descriptor, forever. The body and
      the answer have their own deadline (the app's ``request_timeout_s``).
    - a head over ``max_head_bytes`` gets 431 and the connection is closed. uvicorn's
      httptools parser takes heads of any size (a 200 KB header was accepted).
    """
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    base: Any = AutoHTTPProtocol

    class HeadDeadlineProtocol(base):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            self._idle_since = self.loop.time()
            self._deadline = self.loop.call_later(timeout_s, self._check_head_deadline)
            self._head_bytes = 0
            self._tail = b""  # the last bytes of an unfinished head (an end split in two)

        def data_received(self, data: bytes) -> None:
            if self._head_bytes > max_head_bytes:
                return  # answered 431: read and drop what the client still sends
            if self.cycle is None or self.cycle.response_complete:  # a head is coming in
                end = _head_end(self._tail, data)
                self._head_bytes += len(data) if end < 0 else max(0, end - len(self._tail))
                if self._head_bytes > max_head_bytes:
                    self._refuse_head()
                    return
                if end < 0:
                    self._tail = (self._tail + data)[-3:]
                else:  # the head is complete: the next one counts from zero
                    self._head_bytes, self._tail = 0, b""
            super().data_received(data)

        def _refuse_head(self) -> None:
            """Answer 431, then close. Closing at once, with the rest of the client's head
            unread, would reset the connection and could lose the answer: stop writing,
            drop what still comes for a second, then close."""
            self.transport.write(head_too_large_response(max_head_bytes))
            if self.transport.can_write_eof():
                self.transport.write_eof()
            self.loop.call_later(1.0, self.transport.close)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._idle_since = self.loop.time()

        def connection_lost(self, exc: Exception | None) -> None:
            self._deadline.cancel()
            super().connection_lost(exc)

        def _check_head_deadline(self) -> None:
            if self.transport.is_closing():
                return
            now = self.loop.time()
            cycle = self.cycle
            if cycle is not None and not cycle.response_complete:  # a request is under way
                self._deadline = self.loop.call_later(timeout_s, self._check_head_deadline)
            elif now - self._idle_since >= timeout_s * 0.999:
                self.transport.close()  # no complete request head within the deadline
            else:
                when = self._idle_since + timeout_s - now
                self._deadline = self.loop.call_later(when, self._check_head_deadline)

    return HeadDeadlineProtocol


def build_dataplane(settings: ServeSettings) -> DataPlane:
    """Load every bundle the settings name into a DataPlane."""
    return DataPlane(
        [Bundle.load(p) for p in settings.bundles],
        max_batch=settings.max_batch,
        max_wait_ms=settings.max_wait_ms,
        max_queue=settings.max_queue,
        torch_threads=settings.torch_threads,
        top_k=settings.top_k,
        max_image_pixels=settings.max_image_pixels,
        request_timeout_s=settings.request_timeout_s,
    )


def make_server(settings: ServeSettings, dataplane: DataPlane) -> DrainingServer:
    """A configured (not yet running) server for ``dataplane``."""
    app = create_app(
        dataplane,
        token=settings.token_value,
        max_body_bytes=settings.max_body_bytes,
        drain_timeout_s=settings.drain_timeout_s,
        request_timeout_s=settings.request_timeout_s,
        ui=settings.ui,
    )
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        server_header=False,
        timeout_graceful_shutdown=math.ceil(settings.drain_timeout_s),
        ssl_certfile=settings.tls_cert,
        ssl_keyfile=settings.tls_key,
        http=head_deadline_protocol(settings.request_timeout_s),
        h11_max_incomplete_event_size=2 * MAX_HEAD_BYTES,  # ours answers first, with 431
        ws_max_size=min(settings.max_body_bytes, wire.MAX_PAYLOAD_BYTES) + 1024,
    )
    redact_query_strings()
    return DrainingServer(config, dataplane)


def run_server(settings: ServeSettings, announce: Callable[[], None] | None = None) -> None:
    """Check the settings, load the bundles and serve until a signal stops the process.

    Every bundle is loaded and every port bound (or, for ``workers > 1``, checked free)
    before ``announce`` runs, so nothing is announced that then fails; a taken port is a
    :class:`PortInUse` naming it. With ``grpc_port`` set, gRPC runs on the same event loop
    and DataPlane as HTTP. With ``workers > 1``, that many processes (each with its own
    DataPlane and torch worker) share the ports through SO_REUSEPORT, and the kernel spreads
    connections among them.
    """
    settings.check()
    if settings.workers > 1:
        for path in settings.bundles:
            Bundle.load(path)  # each worker loads them again; a bad one fails here, once
        _check_ports(settings)
        if announce:
            announce()
        _run_workers(settings)
        return
    dataplane = build_dataplane(settings)
    sockets = [listen_socket(settings.host, settings.port, "--port")]
    try:
        if settings.grpc_port is not None:
            listen_socket(settings.host, settings.grpc_port, "--grpc-port").close()
        if announce:
            announce()
        _serve_one(settings, sockets, dataplane, reuse_port=False)
    finally:
        for sock in sockets:
            sock.close()


def _serve_one(
    settings: ServeSettings,
    sockets: list[socket.socket],
    dataplane: DataPlane | None = None,
    reuse_port: bool = True,
) -> None:
    dataplane = dataplane or build_dataplane(settings)
    server = make_server(settings, dataplane)
    if settings.grpc_port is None:
        server.run(sockets=sockets)
    else:
        asyncio.run(_serve_with_grpc(settings, dataplane, server, sockets, reuse_port))


def _check_ports(settings: ServeSettings) -> None:
    """Raise :class:`PortInUse` unless the HTTP (and gRPC) ports can be bound now."""
    listen_socket(settings.host, settings.port, "--port").close()
    if settings.grpc_port is not None:
        listen_socket(settings.host, settings.grpc_port, "--grpc-port").close()


def listen_socket(host: str, port: int, option: str, reuse_port: bool = False) -> socket.socket:
    """A listening TCP socket on ``host:port``; a taken port raises :class:`PortInUse`."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP,
    # and without it Nagle + delayed ACKs add ~40 ms to every small answer.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise PortInUse(
                f"port {port} on {host} is in use (another server, or this one still running): "
                f"stop it, or choose another with {option}"
            ) from None
        raise BadInput(f"cannot listen on {host}:{port} ({option}): {err.strerror}") from None
    return sock


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket that other processes may bind too (SO_REUSEPORT)."""
    return listen_socket(host, port, "--port", reuse_port=True)


def _worker_main(settings: ServeSettings) -> None:
    if settings.torch_threads is None:
        threads = max(1, (os.cpu_count() or 1) // settings.workers)
        settings = settings.model_copy(update={"torch_threads": threads})
    _serve_one(settings, sockets=[reuse_port_socket(settings.host, settings.port)])


def _run_workers(settings: ServeSettings) -> None:
    """Start ``settings.workers`` server processes; forward SIGTERM/SIGINT; wait for all.

    The workers share one fresh metrics directory, so a scrape that reaches any of them
    adds up all of them; it is removed once they have all stopped.
    """
    with multiprocess_dir() as path:
        _start_and_wait(settings, path)


def _start_and_wait(settings: ServeSettings, metrics_dir: str) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker_main, args=(settings,)) for _ in range(settings.workers)]
    for p in procs:
        p.start()

    def forward(signum: int, _frame: object) -> None:
        for p in procs:
            if p.pid is not None and p.is_alive():
                os.kill(p.pid, signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for p in procs:
            p.join()
            if p.pid is not None:
                process_gone(p.pid, metrics_dir)  # its queue no longer counts
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


async def _serve_with_grpc(
    settings: ServeSettings,
    dataplane: DataPlane,
    server: DrainingServer,
    sockets: list[socket.socket] | None = None,
    reuse_port: bool | None = None,
) -> None:
    from splitinfer.cloud.grpc import start_grpc_server

    try:
        grpc_server, bound = await start_grpc_server(
            dataplane,
            host=settings.host,
            port=settings.grpc_port or 0,
            token=settings.token_value,
            max_message_bytes=settings.max_body_bytes,
            tls_cert=settings.tls_cert,
            tls_key=settings.tls_key,
            reuse_port=sockets is not None if reuse_port is None else reuse_port,
        )
    except RuntimeError:  # grpc's "Failed to bind to address": the port was taken since
        bound = 0
    if not bound:
        raise PortInUse(
            f"port {settings.grpc_port} on {settings.host} is in use (another server, or this "
            "one still running): stop it, or choose another with --grpc-port"
        )
    try:
        await server.serve(sockets=sockets)  # on exit, the DataPlane has been drained
    finally:
        await grpc_server.stop(settings.drain_timeout_s)


def bound_port(server: uvicorn.Server) -> int:
    """The TCP port a started server listens on (useful with port 0)."""
    for s in server.servers:
        for sock in s.sockets:
            return int(sock.getsockname()[1])
    raise BadInput("the server has no listening socket yet")


@contextmanager
def serve_in_thread(
    settings: ServeSettings, dataplane: DataPlane, start_timeout_s: float = 20.0
) -> Iterator[tuple[str, DrainingServer]]:
    """Serve on a background thread; yield ``(base_url, server)``; stop and join on exit.

    For tests, benchmarks and notebooks. No signal handlers are installed off the main
    thread, so shutdown is by ``server.should_exit``.
    """
    server = make_server(settings, dataplane)
    thread = threading.Thread(target=server.run, name="splitinfer-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise BadInput(f"the server did not start on {settings.host}:{settings.port}")
        time.sleep(0.01)
    scheme = "https" if settings.tls_cert else "http"
    try:
        yield f"{scheme}://{settings.host}:{bound_port(server)}", server
    finally:
        server.should_exit = True
        thread.join(timeout=settings.drain_timeout_s + 5)
