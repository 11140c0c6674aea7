"""WebSocket client of the stream session (``ws://`` / ``wss://``): one connection per
session, each inference up as its payload alone, answers matched by request id.

The session framing is :mod:`splitinfer.protocol.session`. A session is opened lazily
for a bundle and kept for later calls; one for images (the cloud-only baseline) is kept
beside it. Errors are the HTTP and gRPC transports' :class:`CloudUnavailable` (the
connection failed, timed out, or closed with a retryable code: the runner may resend the
unanswered ids on a new connection) and :class:`CloudRefused` (a typed refusal).
"""

from __future__ import annotations

import contextlib
import inspect
import json
import ssl
import threading
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from splitinfer import wire
from splitinfer.edge.transport import (
    Answers,
    CloudError,
    CloudRefused,
    CloudUnavailable,
    Reply,
    Verify,
    _ca_context,
)
from splitinfer.errors import BadInput, SplitInferError
from splitinfer.protocol import session as s

WS_SCHEMES = ("ws", "wss")
_BUSY_CODES = ("overloaded", "deadline_exceeded")


class _Conn:
    """One open session: its hello's settings and the id the next payload gets."""

    def __init__(self, ws: Any, bundle: str, fingerprint: int | None, send: str, next_id: int):
        self.ws, self.bundle, self.fingerprint, self.send = ws, bundle, fingerprint, send
        self.next_id = next_id
        self.classes: dict[int, str] = {}


class WsTransport:
    """The stream session over ``websockets`` (sync client); see the module docstring."""

    name = "ws"
    sends_images = True

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout_s: float = 10.0,
        verify: Verify = True,
        class_names: Sequence[str] | None = None,
    ) -> None:
        if timeout_s <= 0:
            raise BadInput("timeout_s must be > 0")
        parts = urlsplit(url)
        if parts.scheme not in WS_SCHEMES or not parts.hostname:
            raise BadInput(f"WebSocket URL must be ws://HOST:PORT or wss://HOST:PORT, got {url!r}")
        self.url = url.rstrip("/")
        base = self.url if parts.path.rstrip("/").endswith(s.PATH) else self.url + s.PATH
        self._endpoint = base
        self._token, self.timeout_s = token, timeout_s
        self._ssl: ssl.SSLContext | None = None
        if parts.scheme == "wss":
            if verify is False:
                self._ssl = ssl.create_default_context()
                self._ssl.check_hostname, self._ssl.verify_mode = False, ssl.CERT_NONE
            else:
                self._ssl = ssl.create_default_context() if verify is True else _ca_context(verify)
        self.class_names = list(class_names or [])
        self._conns: dict[str, _Conn] = {}

    # --- the Transport protocol ------------------------------------------------------------

    def infer_frame(self, bundle_id: str, frame: bytes) -> Reply:
        header, payload = wire.decode_frame(frame)
        _point_zero(header)
        return self._one(bundle_id, header.bundle, "features", header.request_id, payload)

    def infer_image(self, bundle_id: str, image: bytes, request_id: int) -> Reply:
        return self._one(bundle_id, None, "image", request_id, image)

    def stream(self, bundle_id: str, frames: Sequence[tuple[int, bytes]]) -> Answers:
        items = []
        for rid, frame in frames:
            header, payload = wire.decode_frame(frame)
            _point_zero(header)
            items.append((rid, header.bundle, payload))
        if len({rid for rid, _, _ in items}) != len(items):
            raise BadInput("stream: request ids must be distinct")
        if not items:
            return
        conn = self._session(bundle_id, items[0][1], "features", items[0][0])
        yield from self._exchange(conn, [(rid, p) for rid, _, p in items])

    def ping(self) -> float:
        """A WebSocket ping on an open session, until its pong (ms). A ping opens no
        session (that would cost a hello): with none open, :class:`CloudUnavailable`."""
        from websockets.exceptions import ConnectionClosed

        if not self._conns:
            raise CloudUnavailable(f"ping: no open session to {self.url}")
        key, conn = next(iter(self._conns.items()))
        t0 = time.perf_counter()
        try:
            pong = conn.ws.ping()
            if not pong.wait(self.timeout_s):
                raise CloudUnavailable(f"ping: no pong from {self.url} within {self.timeout_s:g} s")
        except (ConnectionClosed, OSError) as err:
            self._drop(key)
            raise CloudUnavailable(f"ping: {self.url}: {type(err).__name__}: {err}") from None
        return (time.perf_counter() - t0) * 1e3

    def close(self) -> None:
        for conn in self._conns.values():
            _quiet_close(conn.ws)
        self._conns.clear()

    # --- sessions ----------------------------------------------------------------------------

    def _one(
        self, bundle_id: str, fingerprint: int | None, send: str, rid: int, payload: bytes
    ) -> Reply:
        conn = self._session(bundle_id, fingerprint, send, rid)
        for _, outcome in self._exchange(conn, [(rid, payload)]):
            if isinstance(outcome, Reply):
                return outcome
            raise outcome
        raise CloudUnavailable(f"no answer from {self.url}")  # pragma: no cover (exchange raises)

    def _session(self, bundle_id: str, fingerprint: int | None, send: str, first_id: int) -> _Conn:
        key = f"{send}:{bundle_id}"
        conn = self._conns.get(key)
        if conn is not None and conn.fingerprint == fingerprint:
            return conn
        if conn is not None:
            self._drop(key)
        conn = self._open(bundle_id, fingerprint, send, first_id)
        self._conns[key] = conn
        return conn

    def _open(self, bundle_id: str, fingerprint: int | None, send: str, first_id: int) -> _Conn:
        from websockets.exceptions import ConnectionClosed, InvalidHandshake
        from websockets.sync.client import connect

        headers = {"Authorization": f"Bearer {self._token}"} if self._token else None
        extra: dict[str, Any] = {}
        if "legacy" in inspect.signature(connect).parameters:
            extra["legacy"] = True  # websockets >= 17: a plain connection, not a context
        try:
            ws = connect(
                self._endpoint, ssl=self._ssl, subprotocols=[s.SUBPROTOCOL],  # type: ignore[list-item]
                compression=None, additional_headers=headers, user_agent_header=None,
                proxy=None, open_timeout=self.timeout_s, ping_interval=None,
                max_size=wire.MAX_PAYLOAD_BYTES, **extra,
            )  # fmt: skip
        except (OSError, TimeoutError, InvalidHandshake) as err:
            raise CloudUnavailable(
                f"cannot reach {self.url}: {type(err).__name__}: {err}"
            ) from None
        # k=1: a Reply holds the top class only, so ask for no more
        hello = s.Hello(bundle_id, fingerprint, first_id, k=1, send=send)  # type: ignore[arg-type]
        try:
            ws.send(hello.to_text())
            ready = ws.recv(timeout=self.timeout_s)
        except ConnectionClosed:
            raise _closed(ws, self.url) from None
        except TimeoutError:
            _quiet_close(ws)
            raise CloudUnavailable(
                f"no ready from {self.url} within {self.timeout_s:g} s"
            ) from None
        if not isinstance(ready, str) or json.loads(ready).get("op") != "ready":
            _quiet_close(ws)
            raise CloudRefused("ws", "bad_reply", f"expected ready, got {str(ready)[:60]!r}")
        return _Conn(ws, bundle_id, fingerprint, send, first_id)

    def _drop(self, key: str) -> None:
        conn = self._conns.pop(key, None)
        if conn is not None:
            _quiet_close(conn.ws)

    # --- one exchange ------------------------------------------------------------------------

    def _exchange(self, conn: _Conn, items: list[tuple[int, bytes]]) -> Answers:
        """Send every payload (a sender thread), yield each id's answer once."""
        from websockets.exceptions import ConnectionClosed

        key = f"{conn.send}:{conn.bundle}"
        pending = {rid for rid, _ in items}
        sent: dict[int, float] = {}
        failed: list[BaseException] = []

        def sender() -> None:
            try:
                for rid, payload in items:
                    if rid != conn.next_id:
                        conn.ws.send(s.seek_text(rid))
                    sent[rid] = time.perf_counter()
                    conn.ws.send(payload)
                    conn.next_id = s.next_id(rid)
            except (ConnectionClosed, OSError) as err:
                failed.append(err)

        thread = threading.Thread(target=sender, name="splitinfer-ws-send", daemon=True)
        thread.start()
        try:
            while pending:
                try:
                    message = conn.ws.recv(timeout=self.timeout_s)
                except TimeoutError:
                    self._drop(key)
                    raise CloudUnavailable(
                        f"no answer from {self.url} within {self.timeout_s:g} s on the stream "
                        f"({len(pending)} unanswered)"
                    ) from None
                except ConnectionClosed:
                    self._conns.pop(key, None)
                    raise _closed(conn.ws, self.url, len(pending)) from None
                rid, outcome = self._read(message, sent)
                if rid in pending:  # a duplicate or stray answer counts once, or not at all
                    pending.discard(rid)
                    yield rid, outcome
        finally:
            if pending:
                self._drop(key)  # the rest must not be answered into a later exchange
            thread.join(timeout=self.timeout_s)

    def _read(self, message: str | bytes, sent: dict[int, float]) -> tuple[int, Reply | CloudError]:
        now = time.perf_counter()
        if isinstance(message, bytes):
            try:
                top = wire.decode_session_result(message)
            except SplitInferError as err:
                raise CloudRefused("ws", "bad_reply", err.message) from None
            if not top.class_ids:
                raise CloudRefused("ws", "bad_reply", "result without classes")
            c = top.class_ids[0]
            name = self.class_names[c] if c < len(self.class_names) else str(c)
            rid = top.request_id
            elapsed = (now - sent.get(rid, now)) * 1e3
            # a binary result carries no server timing: the round trip counts as network
            return rid, Reply(rid, c, name, 0.0, elapsed, len(message))
        try:
            msg = json.loads(message)
            if msg.get("op") == "error":
                rid, code, text = int(msg["id"]), str(msg["code"]), str(msg["message"])
                if code in _BUSY_CODES:
                    return rid, CloudUnavailable(f"server busy: {code}: {text}", "ws", code)
                return rid, CloudRefused("ws", code, text)
            rid, top = int(msg["request_id"]), msg["top"][0]
            return rid, Reply(
                rid, int(top["class_id"]), str(top["class"]), float(msg["timing"]["total_ms"]),
                (now - sent.get(rid, now)) * 1e3, len(message.encode()),
            )  # fmt: skip
        except (ValueError, KeyError, IndexError, TypeError) as err:
            raise CloudRefused("ws", "bad_reply", f"unreadable message: {err!r}") from None


def _closed(ws: Any, url: str, pending: int = 0) -> CloudError:
    """The typed error for a session the server (or the network) closed."""
    rcvd = getattr(ws, "close_code", None)
    reason = getattr(ws, "close_reason", None) or ""
    code = rcvd if isinstance(rcvd, int) else 1006
    what = f"{url} closed the session ({code} {reason or 'no reason'})"
    if pending:
        what += f" with {pending} unanswered"
    if code in s.RETRYABLE_CLOSE:
        return CloudUnavailable(what, code, s.reason_code(reason))
    return CloudRefused(code, s.reason_code(reason), what)


def _quiet_close(ws: Any) -> None:
    # closing a broken connection: nothing more to learn from it
    with contextlib.suppress(Exception):
        ws.close()


def _point_zero(header: wire.FrameHeader) -> None:
    """A stream session sends bare payloads, which the server decodes at rate point 0: a
    multi-rate bundle's other points go over HTTP or gRPC, whose frames keep the rate."""
    if header.rate:
        raise BadInput(
            f"stream sessions carry rate point 0 only, this frame is for point {header.rate}; "
            "send other rate points over HTTP or gRPC"
        )
