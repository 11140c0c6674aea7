"""HTTP transport: a thin FastAPI adapter over :class:`~splitinfer.cloud.DataPlane`.

Routes (all but the probes need ``Authorization: Bearer <token>`` when a token is set)::

    POST /v1/bundles/{id}/infer        body: one frame (application/x-splitinfer-frame)
    POST /v1/bundles/{id}/infer-image  body: PNG/JPEG (cloud-only baseline)
    GET  /v1/bundles                   what is served
    GET  /healthz  /readyz             liveness; readiness (503 while draining)
    GET  /metrics                      Prometheus text format
    WS   /v1/stream                    stream sessions (splitinfer.protocol.session)

Results are JSON, or a binary result frame with ``Accept: application/x-splitinfer-result``.
Errors are ``{"error": code, "message": ...}`` with the status from
:data:`splitinfer.protocol.HTTP_STATUS`. Bodies are capped while they stream in.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from splitinfer import wire
from splitinfer.cloud.auth import check_bearer
from splitinfer.cloud.body import check_declared_length, read_capped
from splitinfer.cloud.dataplane import DataPlane
from splitinfer.cloud.monitor import Monitor
from splitinfer.cloud.pages import COOKIE, mount_pages
from splitinfer.cloud.ws import StreamEndpoint
from splitinfer.errors import (
    BadInput,
    DeadlineExceeded,
    HeadersTooLarge,
    Overloaded,
    SplitInferError,
)
from splitinfer.protocol import (
    FRAME_TYPES,
    HTTP_HEADERS,
    METRICS_TYPE,
    RESULT_TYPE,
    ErrorReply,
    Result,
    http_status,
    session,
)

log = logging.getLogger("splitinfer.cloud")


MAX_HEAD_BYTES = 32 * 1024
"""Most bytes of one HTTP request head (request line + headers); beyond: 431.

``splitinfer serve`` counts them as they arrive (``server.head_deadline_protocol``) and
closes the connection; behind Ray's proxy, which takes heads of any size, the replica
refuses such a request before the app sees it (:func:`head_bytes`)."""


def head_too_large(cap: int) -> HeadersTooLarge:
    """The error for a request head over ``cap`` bytes."""
    return HeadersTooLarge(f"request head over {cap // 1024} KiB; send fewer or shorter headers")


def head_bytes(scope: Mapping[str, Any]) -> int:
    """The size of an ASGI request's head as it was sent: request line and header lines."""
    query = scope.get("query_string") or b""
    target = len(scope.get("raw_path") or scope["path"].encode()) + (len(query) + 1 if query else 0)
    line = len(scope["method"]) + 1 + target + len(" HTTP/1.1\r\n")
    return line + sum(len(k) + len(v) + len(": \r\n") for k, v in scope["headers"]) + 2


def check_content_type(header: str | None, allowed: tuple[str, ...]) -> None:
    """Refuse a declared content type not in ``allowed`` (a missing one is accepted)."""
    ctype = (header or allowed[0]).split(";")[0].strip().lower()
    if ctype not in allowed:
        raise BadInput(f"send the body as {allowed[0]}, not {ctype!r}")


async def read_body(request: Request, cap: int, timeout_s: float | None) -> bytes:
    """The capped body, or DeadlineExceeded when it trickles in slower than the deadline."""
    try:
        return await asyncio.wait_for(read_capped(request.stream(), cap), timeout_s)
    except asyncio.TimeoutError:
        raise DeadlineExceeded(
            f"request body not received within the {timeout_s:g} s deadline"
        ) from None


def error_response(err: SplitInferError) -> JSONResponse:
    """The JSON error response for a typed error (status from the one table)."""
    status = http_status(err.code)
    body = ErrorReply(err.code, err.message).to_json()
    return JSONResponse(body, status_code=status, headers=dict(HTTP_HEADERS.get(status, {})))


def result_response(result: Result, accept: str) -> Response:
    """JSON result, or the binary result frame when the client accepts it."""
    headers = {"Server-Timing": result.timing.server_timing()} if result.timing else {}
    if RESULT_TYPE in accept:
        return Response(result.to_frame(), media_type=RESULT_TYPE, headers=headers)
    return JSONResponse(result.to_json(), headers=headers)


def create_app(
    dataplane: DataPlane,
    *,
    token: str | None = None,
    max_body_bytes: int = wire.MAX_FRAME_BYTES,
    drain_timeout_s: float = 30.0,
    request_timeout_s: float | None = 30.0,
    ui: bool = True,
) -> FastAPI:
    """A FastAPI app serving ``dataplane``; on shutdown it drains and closes it.

    With ``ui``, it also serves the edge page, the monitor and what they load
    (:mod:`splitinfer.cloud.pages`).
    """

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await dataplane.drain(drain_timeout_s)
        await dataplane.close()

    app = _app(lifespan)
    metrics = dataplane.metrics
    monitor = Monitor(dataplane.by_id)
    app.state.monitor = monitor

    @app.exception_handler(SplitInferError)
    async def on_error(_: Request, err: SplitInferError) -> Any:
        return error_response(err)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(_: Request, err: RequestValidationError) -> Any:
        return error_response(BadInput(f"invalid request: {err.errors()}"))

    async def serve(
        route: str,
        request: Request,
        call: Callable[[bytes], Awaitable[Result]],
        content_types: tuple[str, ...] | None = None,
        bundle_id: str | None = None,
    ) -> Response:
        """Auth -> size checks -> drain check -> capped read -> DataPlane -> response.

        A request whose head arrived before a drain began is served to the end (uvicorn
        waits for it, within ``drain_timeout_s``); one that arrives after gets 503 at once.
        """
        start = time.perf_counter()
        try:
            check_bearer(request.headers.get("authorization"), token)
            if content_types:
                check_content_type(request.headers.get("content-type"), content_types)
            check_declared_length(request.headers, max_body_bytes)
            with dataplane.admitted():  # 503 now if draining, else served to the end
                body = await read_body(request, max_body_bytes, request_timeout_s)
                metrics.bytes_in.inc(len(body), route)
                result = await call(body)
                monitor.record(result, len(body), body, is_frame=route == "infer")
                response = result_response(result, request.headers.get("accept", ""))
        except SplitInferError as err:
            monitor.error(bundle_id, err.code)
            response = error_response(err)
        except ClientDisconnect:
            response = Response(status_code=400)  # nobody is listening; counted only
        except Exception:
            log.exception("internal error on %s", route)
            response = error_response(SplitInferError("internal server error; see the log"))
        metrics.requests.inc(1, route, str(response.status_code))
        if response.status_code == 200:
            metrics.latency.observe(time.perf_counter() - start)
        return response

    @app.post("/v1/bundles/{bundle_id}/infer")
    async def infer(bundle_id: str, request: Request, k: int | None = None) -> Any:
        return await serve(
            "infer",
            request,
            lambda body: dataplane.infer(body, bundle_id, k),
            FRAME_TYPES,
            bundle_id,
        )

    @app.post("/v1/bundles/{bundle_id}/infer-image")
    async def infer_image(
        bundle_id: str, request: Request, k: int | None = None, request_id: int = 0
    ) -> Any:
        return await serve(
            "infer-image",
            request,
            lambda body: dataplane.infer_image(body, bundle_id, request_id, k),
            None,
            bundle_id,
        )

    @app.get("/v1/bundles")
    async def bundles(request: Request) -> Any:
        check_bearer(request.headers.get("authorization"), token)
        return {"bundles": dataplane.describe()}

    @app.get("/healthz")
    async def healthz() -> Any:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> Any:
        if dataplane.draining:
            return error_response(Overloaded("draining: not taking new requests"))
        return JSONResponse({"status": "ready", "bundles": list(dataplane.by_id)})

    @app.get("/metrics")
    async def metrics_text(request: Request) -> Any:
        check_bearer(request.headers.get("authorization"), token)
        return Response(metrics.render(), media_type=METRICS_TYPE)

    stream = StreamEndpoint(
        dataplane,
        token=token,
        max_payload_bytes=min(max_body_bytes, wire.MAX_PAYLOAD_BYTES),
        hello_timeout_s=request_timeout_s,
        token_from=lambda ws: ws.cookies.get(COOKIE),
        on_result=lambda result, n, payload, image: monitor.record(
            result, n, None if image else payload, False
        ),
    )
    app.state.stream = stream
    app.add_api_websocket_route(session.PATH, stream)
    if ui:
        mount_pages(app, dataplane, token, monitor)
    return app


def _app(lifespan: Callable[[FastAPI], Any]) -> FastAPI:
    """The FastAPI app; /docs and /redoc load Swagger UI / ReDoc from the assets that the
    fastapi-offline package ships (served under /static-offline-docs), never from a CDN.
    Without that package they are off, and /docs says so."""
    try:
        from fastapi_offline import FastAPIOffline
    except ImportError:
        app = FastAPI(title="splitinfer", lifespan=lifespan, docs_url=None, redoc_url=None)

        @app.get("/docs", include_in_schema=False)
        async def docs_off() -> JSONResponse:
            return JSONResponse(
                {"error": "docs_off", "message": "API docs are served offline only: "
                 "pip install fastapi-offline (part of splitinfer[serve]); "
                 "the schema is at /openapi.json"},
                status_code=404,
            )  # fmt: skip

        return app
    offline: FastAPI = FastAPIOffline(title="splitinfer", lifespan=lifespan)
    return offline
