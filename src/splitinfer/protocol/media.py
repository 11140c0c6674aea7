"""The content types of the HTTP API (one definition; server, clients and tools import it)."""

from __future__ import annotations

FRAME_TYPE = "application/x-splitinfer-frame"
"""Request body: one splitinfer wire frame (docs/wire-format.md)."""

FRAME_TYPES = (FRAME_TYPE, "application/octet-stream")
"""Content types the server accepts for a frame (the first is the one to send)."""

RESULT_TYPE = "application/x-splitinfer-result"
"""``Accept`` this to get the binary result frame (``wire.decode_result``) instead of JSON."""

METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""``GET /metrics``: the Prometheus text exposition format."""


def image_type(data: bytes) -> str:
    """The content type of an ``/infer-image`` body: JPEG by its magic bytes, else PNG."""
    return "image/jpeg" if data[:3] == b"\xff\xd8\xff" else "image/png"
