"""A real in-process server for the edge tests: HTTP and gRPC on one DataPlane, in a thread.

``FlakyDataPlane`` fails the first attempt at every request id, either at once
(Overloaded: HTTP 503 / gRPC UNAVAILABLE) or by answering too late for the client (a
stall past its timeout; the server still finishes that first attempt).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from splitinfer.bundle import Bundle
from splitinfer.cloud import DataPlane
from splitinfer.cloud.grpc import start_grpc_server
from splitinfer.cloud.server import bound_port, make_server
from splitinfer.cloud.settings import ServeSettings
from splitinfer.errors import Overloaded
from splitinfer.protocol import Result
from tests.cloud.helpers import CAP, TOKEN

__all__ = ["TOKEN", "FlakyDataPlane", "Servers", "dead_url", "serving"]


@dataclass(frozen=True)
class Servers:
    http: str
    grpc: str
    dataplane: DataPlane

    def url(self, transport: str) -> str:
        if transport == "ws":  # the stream session, on the HTTP port
            return "ws" + self.http.removeprefix("http")
        return self.http if transport == "http" else self.grpc


class FlakyDataPlane(DataPlane):
    """Fails each request id's first attempt: ``how="overloaded"`` or ``"stall"``."""

    def __init__(self, bundles: Sequence[Bundle], how: str = "overloaded", stall_s: float = 1.0):
        super().__init__(bundles)
        self.how, self.stall_s = how, stall_s
        self.seen: Counter[int] = Counter()

    async def infer_payload(
        self, b: Bundle, payload: bytes, request_id: int, k: int | None = None
    ) -> Result:
        self.seen[request_id] += 1
        if self.seen[request_id] == 1:
            if self.how == "overloaded":
                raise Overloaded("test: the first attempt is refused")
            await asyncio.sleep(self.stall_s)
        return await super().infer_payload(b, payload, request_id, k)


@contextmanager
def serving(
    bundle: Bundle,
    token: str | None = TOKEN,
    dataplane: DataPlane | None = None,
    tls: tuple[Path, Path] | None = None,
) -> Iterator[Servers]:
    """HTTP (uvicorn) and gRPC on 127.0.0.1 free ports, one DataPlane, one event loop;
    with ``tls=(cert, key)``: HTTPS and gRPC over TLS."""
    cert, key = tls or (None, None)
    fields: dict[str, Any] = {
        "bundles": [], "host": "127.0.0.1", "port": 0, "token": token, "max_body_bytes": CAP,
        "log_level": "warning", "drain_timeout_s": 2, "tls_cert": cert, "tls_key": key,
    }  # fmt: skip
    settings = ServeSettings(**fields)
    dp = dataplane or DataPlane([bundle])
    server = make_server(settings, dp)
    grpc_port: list[int] = []
    failure: list[BaseException] = []

    async def main() -> None:
        grpc_server, port = await start_grpc_server(
            dp, token=token, max_message_bytes=CAP, tls_cert=cert, tls_key=key
        )
        grpc_port.append(port)
        try:
            await server.serve()
        finally:
            await grpc_server.stop(0.5)

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as err:  # handed to the test below
            failure.append(err)

    thread = threading.Thread(target=run, name="edge-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not (server.started and grpc_port):
        if failure or not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"test server did not start: {failure}")
        time.sleep(0.01)
    try:
        s = "s" if tls else ""
        yield Servers(
            f"http{s}://127.0.0.1:{bound_port(server)}", f"grpc{s}://127.0.0.1:{grpc_port[0]}", dp
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def dead_url(scheme: str = "http") -> str:
    """A loopback URL where nobody listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"{scheme}://127.0.0.1:{s.getsockname()[1]}"
