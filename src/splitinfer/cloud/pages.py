"""The browser side of the server: static pages, the ONNX halves, tables and test images.

::

    GET /edge/  /ui/                     the edge page and the monitor (splitinfer.ui)
    GET /static/{file}                   their scripts, styles and onnxruntime-web
    GET /v1/bundles/{id}/edge.onnx       the edge half (exported once, cached; ETag = fingerprint)
    GET /v1/bundles/{id}/full.onnx       the whole network, for mobile-only in the browser
    GET /v1/bundles/{id}/edge.json       what the page needs to code: codec, shapes, tables
    GET /v1/bundles/{id}/test-images?n=  labelled test images of the bundle's data set
    GET /v1/monitor/events               live statistics (server-sent events)
    POST /v1/monitor/edge-report         an edge client's stage times (the page, after a run)
    POST /v1/monitor/input/{id}          an input image a client opted in to show (off by default)

Auth as the API: with a token set, every route needs it, from the ``Authorization``
header, or (for what a browser loads by itself) the ``splitinfer_token`` cookie that a
first visit with ``?access_token=...`` sets (HttpOnly, SameSite=Strict).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import tempfile
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse

from splitinfer.bundle import Bundle
from splitinfer.cloud.auth import check_bearer
from splitinfer.cloud.dataplane import DataPlane
from splitinfer.cloud.monitor import Monitor
from splitinfer.errors import BadInput, NoEdgeExport, SplitInferError
from splitinfer.ui import STATIC

log = logging.getLogger("splitinfer.cloud")
COOKIE = "splitinfer_token"
MAX_TEST_IMAGES = 1000
_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm",
          ".css": "text/css", ".html": "text/html; charset=utf-8"}  # fmt: skip


def token_of(request: Request) -> str | None:
    """The bearer header, else ``Bearer <cookie>``, else ``Bearer <?access_token>``."""
    header = request.headers.get("authorization")
    if header:
        return header
    given = request.cookies.get(COOKIE) or request.query_params.get("access_token")
    return f"Bearer {given}" if given else None


class OnnxCache:
    """Exports each bundle's halves once per process, into a private temporary folder."""

    def __init__(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="splitinfer-onnx-"))
        self._lock = threading.Lock()

    def path(self, b: Bundle, half: str) -> Path:
        path = self._dir / f"{b.spec.id}-{b.fingerprint:08x}-{half}.onnx"
        with self._lock:
            if not path.is_file():
                try:
                    export_half(b, half, path)
                except SplitInferError as err:
                    log.error("cannot export %s of bundle %s: %s", half, b.spec.id, err.message)
                    raise NoEdgeExport(
                        f"bundle {b.spec.id}: its {half} half cannot run in a browser "
                        f"({err.message})"
                    ) from None
        return path


def export_half(b: Bundle, half: str, path: Path) -> None:
    from splitinfer.onnx_export import export_edge, export_full

    if half == "edge":
        export_edge(b, path)
    else:
        export_full(b, path)


def edge_tables(b: Bundle) -> dict[str, Any]:
    """What the page codes with: the learned prior's integer tables (exact arithmetic
    coder), or a NoEdgeExport for codecs the page does not implement."""
    prior = b.model.prior
    if prior is None:
        err = NoEdgeExport(
            f"bundle {b.spec.id} uses codec {b.spec.codec!r}; the browser codes only the "
            "learned prior (learned:...): use cloud-only for this bundle"
        )
        log.warning("edge page: %s", err.message)
        raise err
    return {
        "bundle": b.spec.id,
        "fingerprint": f"{b.fingerprint:08x}",
        "codec": b.spec.codec,
        "levels": prior.levels,
        "tables": prior.tables,
        "feature_shape": list(b.feature_shape[1:]),
        "input_shape": list(b.spec.input_shape),
        "classes": list(b.spec.classes),
        "freqs": prior.freqs.tolist(),
    }


def test_images(n: int) -> tuple[list[int], bytes]:
    """The first ``n`` Fashion-MNIST test images: labels and the raw uint8 pixels."""
    from splitinfer.data import load_fashion_mnist

    images, labels = load_fashion_mnist("test")
    return labels[:n].tolist(), images[:n].contiguous().numpy().tobytes()


def mount_pages(app: FastAPI, dataplane: DataPlane, token: str | None, monitor: Monitor) -> None:
    """Add the page routes to ``app`` (see the module docstring)."""
    cache = OnnxCache()

    def guard(request: Request) -> None:
        check_bearer(token_of(request), token)

    def page(request: Request, name: str) -> Response:
        guard(request)
        response = FileResponse(STATIC / name, media_type=_TYPES[".html"])
        given = request.query_params.get("access_token")
        if token is not None and given:
            response.set_cookie(COOKIE, given, httponly=True, samesite="strict")
        return response

    @app.get("/edge/")
    async def edge_page(request: Request) -> Any:
        return page(request, "edge.html")

    @app.get("/ui/")
    async def monitor_page(request: Request) -> Any:
        return page(request, "monitor.html")

    @app.get("/static/{name:path}")
    async def static(name: str, request: Request) -> Any:
        guard(request)
        path = (STATIC / name).resolve()
        if STATIC.resolve() not in path.parents or not path.is_file():
            return JSONResponse({"error": "not_found", "message": f"no file {name!r}"}, 404)
        return FileResponse(path, media_type=_TYPES.get(path.suffix, "application/octet-stream"))

    @app.get("/v1/bundles/{bundle_id}/{half}.onnx")
    async def onnx_half(bundle_id: str, half: str, request: Request) -> Any:
        guard(request)
        b = dataplane.bundle(bundle_id)
        if half not in ("edge", "full"):
            raise BadInput("ask for edge.onnx or full.onnx")
        path = await asyncio.to_thread(cache.path, b, half)
        etag = f'"{b.fingerprint:08x}-{half}"'
        return FileResponse(path, media_type="application/octet-stream", headers={"ETag": etag})

    @app.get("/v1/bundles/{bundle_id}/edge.json")
    async def tables(bundle_id: str, request: Request) -> Any:
        guard(request)
        return edge_tables(dataplane.bundle(bundle_id))

    @app.get("/v1/bundles/{bundle_id}/test-images")
    async def images(bundle_id: str, request: Request, n: int = 100) -> Any:
        guard(request)
        b = dataplane.bundle(bundle_id)
        if not 1 <= n <= MAX_TEST_IMAGES:
            raise BadInput(f"n must be in 1..{MAX_TEST_IMAGES}")
        if tuple(b.spec.input_shape) != (1, 28, 28):
            raise BadInput(f"bundle {b.spec.id} takes {b.spec.input_shape} images; the test "
                           "images are Fashion-MNIST 1 x 28 x 28")  # fmt: skip
        labels, pixels = await asyncio.to_thread(test_images, n)
        return {"labels": labels, "shape": [len(labels), 1, 28, 28],
                "pixels": base64.b64encode(pixels).decode()}  # fmt: skip

    @app.get("/v1/monitor/events")
    async def events(request: Request) -> Any:
        guard(request)

        async def stream() -> AsyncIterator[str]:
            while not await request.is_disconnected():
                yield f"data: {json.dumps(monitor.snapshot(), separators=(',', ':'))}\n\n"
                await asyncio.sleep(monitor.period_s)

        return StreamingResponse(stream(), media_type="text/event-stream")

    @app.post("/v1/monitor/edge-report")
    async def edge_report(request: Request) -> Any:
        guard(request)
        body = await request.body()
        if len(body) > 1024:
            raise BadInput("an edge report is at most 1 KiB of JSON")
        try:
            report = json.loads(body)
        except ValueError:
            raise BadInput("an edge report is a JSON object") from None
        monitor.edge_report(report)
        return {"status": "ok"}

    @app.post("/v1/monitor/input/{bundle_id}")
    async def shared_input(bundle_id: str, request: Request) -> Any:
        guard(request)
        body = await request.body()
        if len(body) > 1 << 20:
            raise BadInput("a shared input is at most 1 MiB of uint8 pixels")
        monitor.share_input(bundle_id, body)
        return {"status": "ok"}

    @app.get("/v1/monitor/stats")
    async def stats(request: Request) -> Any:
        guard(request)
        return monitor.snapshot()
