"""Test helpers: a server on an ephemeral loopback port, and raw HTTP over a socket."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from splitinfer.bundle import Bundle
from splitinfer.cloud import DataPlane
from splitinfer.cloud.http import FRAME_TYPE
from splitinfer.cloud.server import DrainingServer, serve_in_thread
from splitinfer.cloud.settings import ServeSettings

TOKEN = "test-token-123"
CAP = 4096  # body cap of the test servers: frames are < 100 bytes, test PNGs < 1 KiB
FRAME_HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": FRAME_TYPE}


@contextmanager
def running(
    bundle: Bundle,
    token: str | None = TOKEN,
    server: dict[str, Any] | None = None,
    **dataplane: Any,
) -> Iterator[tuple[str, DataPlane, DrainingServer]]:
    """Serve ``bundle`` on 127.0.0.1:<free port> in a thread; stop it on exit.

    ``server`` overrides ServeSettings fields (e.g. TLS); ``dataplane`` goes to DataPlane.
    """
    settings = ServeSettings(
        bundles=[], host="127.0.0.1", port=0, token=token, max_body_bytes=CAP,
        log_level="warning", drain_timeout_s=5, **(server or {}),
    )  # fmt: skip
    dp = DataPlane([bundle], **dataplane)
    with serve_in_thread(settings, dp) as (url, uvicorn_server):
        yield url, dp, uvicorn_server


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def raw_exchange(url: str, head: str, body: bytes = b"") -> tuple[int, bytes]:
    """Send ``head`` (+ ``body``) on a fresh socket; return the status and response bytes.

    Unlike an HTTP client this never sends more than given, so a response proves the
    server answered without waiting for the rest of the body.
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        data = b""
        while not _complete(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1]), data


def _complete(data: bytes) -> bool:
    """Headers and a Content-Length body have arrived."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return True
