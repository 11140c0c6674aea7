"""The ONE table from :class:`~splitinfer.errors.SplitInferError` codes to HTTP status."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

HTTP_STATUS: Mapping[str, int] = MappingProxyType(
    {
        "bad_frame": 400,
        "codec_error": 400,
        "bad_codec_spec": 400,
        "bad_input": 400,
        "unauthenticated": 401,
        "unknown_bundle": 404,
        "no_edge_export": 422,
        "payload_too_large": 413,
        "overloaded": 503,
        "deadline_exceeded": 504,
    }
)
"""Error code -> HTTP status; any other code (a server fault) is 500."""

HTTP_HEADERS: Mapping[int, Mapping[str, str]] = MappingProxyType(
    {401: {"WWW-Authenticate": "Bearer"}, 503: {"Retry-After": "1"}}
)
"""Extra response headers per status."""


def http_status(code: str) -> int:
    """HTTP status for an error code (500 for codes not in :data:`HTTP_STATUS`)."""
    return HTTP_STATUS.get(code, 500)
