"""WebSocket transport: the stream session at ``/v1/stream`` over the same DataPlane.

::

    accept -> hello (token, bundle, fingerprint) -> ready
           -> payload | seek ... -> DataPlane.infer_payload (batched) -> result | error

The session framing (what each message is, the close-code table) is
:mod:`splitinfer.protocol.session`; this adapter only moves messages. Each connection
reads one message at a time and keeps at most ``max_in_flight`` inferences running, so a
fast client is slowed by TCP rather than queued without bound. A message the session
cannot take stops the reading; the inferences already taken in are answered, then the
connection closes with the typed code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from splitinfer import wire
from splitinfer.bundle import Bundle
from splitinfer.cloud.auth import check_bearer
from splitinfer.cloud.dataplane import DataPlane
from splitinfer.errors import PayloadTooLarge, SplitInferError, UnknownBundle
from splitinfer.protocol import Result, http_status
from splitinfer.protocol import session as s

log = logging.getLogger("splitinfer.cloud")

MAX_IN_FLIGHT = 64
"""Most inferences one connection may have running before the server stops reading it."""


@dataclass
class _Session:
    bundle: Bundle
    hello: s.Hello
    k: int
    next_id: int


class _Closing(Exception):
    """Stop reading this connection and close it with ``err``'s code."""

    def __init__(self, err: SplitInferError) -> None:
        self.err = err


class StreamEndpoint:
    """The ASGI WebSocket handler for ``/v1/stream`` (one instance per app)."""

    def __init__(
        self,
        dataplane: DataPlane,
        *,
        token: str | None,
        max_payload_bytes: int,
        hello_timeout_s: float | None,
        token_from: Callable[[WebSocket], str | None] = lambda ws: None,
        on_result: Callable[[Result, int, bytes, bool], None] | None = None,
    ) -> None:
        self.dataplane = dataplane
        self.token = token
        self.max_payload_bytes = max_payload_bytes
        self.hello_timeout_s = hello_timeout_s
        self.token_from = token_from
        self.on_result = on_result
        self.connections = 0  # open now (tests and the fuzzer check it returns to 0)

    async def __call__(self, ws: WebSocket) -> None:
        wants = ws.scope.get("subprotocols") or []
        await ws.accept(subprotocol=s.SUBPROTOCOL if s.SUBPROTOCOL in wants else None)
        self.connections += 1
        tasks: set[asyncio.Task[None]] = set()
        lock = asyncio.Lock()
        closing: SplitInferError | None = None
        try:
            sess = await self._hello(ws, lock)
            slots = asyncio.Semaphore(MAX_IN_FLIGHT)
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                request_id, payload = self._take(sess, message)
                if payload is None:
                    continue
                await slots.acquire()
                task = asyncio.create_task(self._answer(ws, lock, sess, request_id, payload))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                task.add_done_callback(lambda _: slots.release())
        except _Closing as stop:
            closing = stop.err
        except WebSocketDisconnect:
            pass
        finally:
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            self.connections -= 1
        if closing is not None:
            self.dataplane.metrics.requests.inc(1, "stream", str(http_status(closing.code)))
            await self._close(ws, closing)
        else:
            await self._close(ws, None)

    async def _hello(self, ws: WebSocket, lock: asyncio.Lock) -> _Session:
        try:
            message = await asyncio.wait_for(ws.receive(), self.hello_timeout_s)
        except asyncio.TimeoutError:
            raise _Closing(s.OutOfOrder("no hello within the deadline")) from None
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        try:
            if message.get("text") is None:
                raise s.OutOfOrder("the first message must be a text hello, not a payload")
            hello = s.parse_hello(s.parse_control(message["text"]))
            self._check_token(ws, hello)
            b = self.dataplane.bundle(hello.bundle)
            if hello.fingerprint is not None and hello.fingerprint != b.fingerprint:
                raise UnknownBundle(
                    f"fingerprint {hello.fingerprint:08x} is not bundle {b.spec.id}'s "
                    f"({b.fingerprint:08x}); the client holds a stale bundle"
                )
            if self.dataplane.draining:
                raise _Closing(_Draining("draining: this server is shutting down"))
            k = self.dataplane.resolve_k(b, hello.k)
        except SplitInferError as err:
            raise _Closing(err) from None
        async with lock:
            await ws.send_text(s.ready_text(b.spec.id, b.fingerprint, k, hello.send, hello.results))
        return _Session(b, hello, k, hello.first_id)

    def _check_token(self, ws: WebSocket, hello: s.Hello) -> None:
        if self.token is None:
            return
        header = ws.headers.get("authorization")
        if header is None:
            given = hello.token or self.token_from(ws)
            header = f"Bearer {given}" if given else None
        check_bearer(header, self.token)

    def _take(self, sess: _Session, message: Mapping[str, Any]) -> tuple[int, bytes | None]:
        """The (request id, payload) a message carries; None for a control; or _Closing."""
        data = message.get("bytes")
        if data is not None:
            if len(data) > self.max_payload_bytes:
                raise _Closing(
                    PayloadTooLarge(f"{len(data)}-byte payload; cap {self.max_payload_bytes}")
                )
            request_id = sess.next_id
            sess.next_id = s.next_id(request_id)
            return request_id, data
        try:
            msg = s.parse_control(message.get("text") or "")
            if msg["op"] == "seek":
                sess.next_id = s.parse_seek(msg)
                return 0, None
            if msg["op"] == "hello":
                raise s.OutOfOrder("a second hello: one session per connection")
            raise s.OutOfOrder(f"unknown control op {str(msg['op'])[:20]!r}")
        except SplitInferError as err:
            raise _Closing(err) from None

    async def _answer(
        self, ws: WebSocket, lock: asyncio.Lock, sess: _Session, request_id: int, payload: bytes
    ) -> None:
        start = time.perf_counter()
        metrics = self.dataplane.metrics
        metrics.bytes_in.inc(len(payload), "stream")
        try:
            with self.dataplane.admitted():
                if sess.hello.send == "image":
                    result = await self.dataplane.infer_image(
                        payload, sess.bundle.spec.id, request_id, sess.k
                    )
                else:
                    result = await self.dataplane.infer_payload(
                        sess.bundle, payload, request_id, sess.k
                    )
        except SplitInferError as err:
            metrics.requests.inc(1, "stream", str(http_status(err.code)))
            await self._send(ws, lock, s.error_text(request_id, err))
            return
        except Exception:  # a server fault: answer this id, keep the session
            log.exception("internal error on the stream")
            metrics.requests.inc(1, "stream", "500")
            await self._send(ws, lock, s.error_text(request_id, SplitInferError("internal")))
            return
        metrics.requests.inc(1, "stream", "200")
        metrics.latency.observe(time.perf_counter() - start)
        if self.on_result is not None:
            self.on_result(result, len(payload), payload, sess.hello.send == "image")
        if sess.hello.results == "json":
            import json

            await self._send(ws, lock, json.dumps(result.to_json(), separators=(",", ":")))
        else:
            await self._send(ws, lock, wire.encode_session_result(result.to_topk()))

    @staticmethod
    async def _send(ws: WebSocket, lock: asyncio.Lock, data: str | bytes) -> None:
        async with lock:
            try:
                if isinstance(data, bytes):
                    await ws.send_bytes(data)
                else:
                    await ws.send_text(data)
            except (WebSocketDisconnect, RuntimeError, OSError):
                pass  # the client left; its answers have nobody to go to

    @staticmethod
    async def _close(ws: WebSocket, err: SplitInferError | None) -> None:
        code = 1000 if err is None else s.close_code(err.code)
        reason = "" if err is None else s.close_reason(err)
        with contextlib.suppress(RuntimeError, OSError):  # already closed by the client
            await ws.close(code, reason)


class _Draining(SplitInferError):
    code = "draining"
