"""Test helpers: a server on an ephemeral loopback port, and raw HTTP over a socket."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from splitinfer.bundle import Bundle
from splitinfer.cloud import DataPlane
from splitinfer.cloud.server import DrainingServer, serve_in_thread
from splitinfer.cloud.settings import ServeSettings
from splitinfer.harness import rawhttp
from splitinfer.protocol import FRAME_TYPE

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
    return rawhttp.exchange(parts.hostname or "127.0.0.1", parts.port or 80, head, body, 10.0)
