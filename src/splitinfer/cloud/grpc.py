"""gRPC transport (``proto/splitinfer.proto``): a thin grpc.aio adapter over the DataPlane.

``Infer`` is unary; ``InferStream`` takes frames and answers in the same order, running up
to :data:`STREAM_WINDOW` of them at once so a single stream still fills batches. Per-frame
failures in a stream come back as responses with ``error`` set; unary failures and auth
failures use the status from :data:`splitinfer.protocol.GRPC_STATUS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc

from splitinfer import wire
from splitinfer.cloud.auth import check_bearer
from splitinfer.cloud.dataplane import DataPlane
from splitinfer.errors import AuthError, SplitInferError
from splitinfer.protocol import Result, grpc_status
from splitinfer.protocol.pb import splitinfer_pb2 as pb
from splitinfer.protocol.pb import splitinfer_pb2_grpc as pb_grpc

log = logging.getLogger("splitinfer.cloud")

STREAM_WINDOW = 64
"""Most frames of one stream in flight at once."""

ROUTE_UNARY, ROUTE_STREAM = "grpc-infer", "grpc-stream"
_BUNDLE_FIELDS = ("id", "fingerprint", "model", "cut", "codec", "classes")


def error_proto(err: SplitInferError, frame: bytes, sequence: int) -> pb.InferResponse:
    """A stream response for a failed frame (request id echoed when the frame is readable)."""
    try:
        request_id = wire.decode_frame(frame)[0].request_id
    except SplitInferError:
        request_id = 0
    return pb.InferResponse(
        request_id=request_id,
        error=pb.Error(code=err.code, message=err.message),
        sequence=sequence,
    )


async def _drop(requests: AsyncIterator[Any], most: int) -> None:
    """Read up to ``most`` messages of a request stream and ignore them."""
    n = 0
    async for _ in requests:
        n += 1
        if n >= most:
            return


class SplitInferenceService(pb_grpc.SplitInferenceServicer):
    """The ``splitinfer.v1.SplitInference`` service over one DataPlane."""

    def __init__(self, dataplane: DataPlane, token: str | None = None) -> None:
        self.dataplane = dataplane
        self.token = token

    async def _authorize(self, context: Any, requests: AsyncIterator[Any] | None = None) -> None:
        """Abort with UNAUTHENTICATED unless the metadata carries the bearer token.

        For a stream, what the client already sent (up to :data:`STREAM_WINDOW` frames,
        for at most a second) is read and dropped first: grpc's Python client reports
        INTERNAL ("Internal error from Core") instead of our status when a write of its
        request stream meets a call that has already ended (6% of refused streams here).
        """
        metadata = dict(context.invocation_metadata() or ())
        try:
            check_bearer(metadata.get("authorization"), self.token)
        except AuthError as err:
            self.dataplane.metrics.requests.inc(1, "grpc", "UNAUTHENTICATED")
            if requests is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(_drop(requests, STREAM_WINDOW), 1.0)
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, err.message)

    async def _infer(self, request: Any) -> Result:
        """DataPlane.infer; a fault that is not a SplitInferError becomes a logged one."""
        self.dataplane.metrics.bytes_in.inc(len(request.frame), "grpc")
        try:
            return await self.dataplane.infer(
                request.frame, request.bundle_id or None, request.top_k or None
            )
        except SplitInferError:
            raise
        except Exception as err:
            log.exception("internal error in gRPC inference")
            raise SplitInferError("internal server error; see the log") from err

    def _observe(self, result: Result) -> None:
        if result.timing is not None:  # the DataPlane always times what it serves
            self.dataplane.metrics.latency.observe(result.timing.total_ms / 1000.0)

    async def Infer(self, request: Any, context: Any) -> pb.InferResponse:
        """Unary: one frame -> one result, or an error status."""
        await self._authorize(context)
        try:
            result = await self._infer(request)
        except SplitInferError as err:
            status = grpc_status(err.code)
            self.dataplane.metrics.requests.inc(1, ROUTE_UNARY, status.name)
            await context.abort(status, f"[{err.code}] {err.message}")
        self.dataplane.metrics.requests.inc(1, ROUTE_UNARY, "OK")
        self._observe(result)
        return result.to_proto()

    async def _one(self, request: Any, sequence: int) -> pb.InferResponse:
        try:
            result = await self._infer(request)
        except SplitInferError as err:
            self.dataplane.metrics.requests.inc(1, ROUTE_STREAM, grpc_status(err.code).name)
            return error_proto(err, request.frame, sequence)
        self.dataplane.metrics.requests.inc(1, ROUTE_STREAM, "OK")
        self._observe(result)
        return result.to_proto(sequence)

    async def InferStream(
        self, request_iterator: AsyncIterator[Any], context: Any
    ) -> AsyncIterator[pb.InferResponse]:
        """Bidirectional: frames in, results out in the same order."""
        await self._authorize(context, request_iterator)
        window: asyncio.Queue[asyncio.Task[pb.InferResponse] | None] = asyncio.Queue(STREAM_WINDOW)

        async def read() -> None:
            sequence = 0
            try:
                async for request in request_iterator:
                    await window.put(asyncio.ensure_future(self._one(request, sequence)))
                    sequence += 1
            except Exception:
                await window.put(None)  # wake the writer; `await reader` re-raises
                raise
            await window.put(None)

        reader = asyncio.ensure_future(read())
        try:
            while (task := await window.get()) is not None:
                yield await task
            await reader
        finally:  # normal end, or the client went away: stop reading, drop what is left
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            while not window.empty():
                if (left := window.get_nowait()) is not None:
                    left.cancel()

    async def ListBundles(self, request: Any, context: Any) -> pb.ListBundlesResponse:
        """The served bundles."""
        await self._authorize(context)
        return pb.ListBundlesResponse(
            bundles=[
                pb.Bundle(**{k: b[k] for k in _BUNDLE_FIELDS}) for b in self.dataplane.describe()
            ]
        )


def _deadline_options(timeout_s: float | None) -> list[tuple[str, int]]:
    """Close connections that finish no handshake, or hold no call, within ``timeout_s``
    (a silent or byte-at-a-time client would otherwise keep one for minutes)."""
    if timeout_s is None:
        return []
    ms = max(1, round(timeout_s * 1000))
    return [("grpc.server_handshake_timeout_ms", ms), ("grpc.max_connection_idle_ms", ms)]


async def start_grpc_server(
    dataplane: DataPlane,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    max_message_bytes: int = wire.MAX_FRAME_BYTES,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    reuse_port: bool = False,
) -> tuple[Any, int]:
    """Start a grpc.aio server for ``dataplane``; return ``(server, bound_port)``.

    Messages over ``max_message_bytes`` (+ 1 KiB for the other fields) are refused by gRPC
    itself with RESOURCE_EXHAUSTED before they reach the service. Stop it with
    ``await server.stop(grace_s)`` after ``await dataplane.drain()``. ``reuse_port`` lets
    several server processes share the port (``serve --workers``); off by default, so a
    port already in use is an error rather than silently shared.
    """
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_message_bytes + 1024),
            ("grpc.so_reuseport", int(reuse_port)),
            *_deadline_options(dataplane.request_timeout_s),
        ]
    )
    pb_grpc.add_SplitInferenceServicer_to_server(SplitInferenceService(dataplane, token), server)
    address = f"{host}:{port}"
    if tls_cert is not None and tls_key is not None:
        creds = grpc.ssl_server_credentials([(tls_key.read_bytes(), tls_cert.read_bytes())])
        bound = server.add_secure_port(address, creds)
    else:
        bound = server.add_insecure_port(address)
    await server.start()
    return server, int(bound)
