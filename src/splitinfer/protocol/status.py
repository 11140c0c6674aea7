"""The status tables: error code -> HTTP status, error code -> gRPC status.

One table per transport, keyed by the stable :class:`~splitinfer.errors.SplitInferError`
codes; a code missing from a table is a server fault (500 / INTERNAL). The gRPC table
holds status *names* so that it imports without grpcio; :func:`grpc_status` turns one into
``grpc.StatusCode``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import grpc

HTTP_STATUS: Mapping[str, int] = MappingProxyType(
    {
        "bad_frame": 400,
        "unknown_rate": 400,
        "codec_error": 400,
        "bad_codec_spec": 400,
        "bad_input": 400,
        "unauthenticated": 401,
        "unknown_bundle": 404,
        "payload_too_large": 413,
        "no_edge_export": 422,
        "headers_too_large": 431,
        "overloaded": 503,
        "deadline_exceeded": 504,
    }
)
"""Error code -> HTTP status; any other code (a server fault) is 500."""

HTTP_HEADERS: Mapping[int, Mapping[str, str]] = MappingProxyType(
    {401: {"WWW-Authenticate": "Bearer"}, 503: {"Retry-After": "1"}}
)
"""Extra response headers per status."""

GRPC_STATUS: Mapping[str, str] = MappingProxyType(
    {
        "bad_frame": "INVALID_ARGUMENT",
        "unknown_rate": "INVALID_ARGUMENT",
        "codec_error": "INVALID_ARGUMENT",
        "bad_codec_spec": "INVALID_ARGUMENT",
        "bad_input": "INVALID_ARGUMENT",
        "unauthenticated": "UNAUTHENTICATED",
        "unknown_bundle": "NOT_FOUND",
        "payload_too_large": "RESOURCE_EXHAUSTED",
        "no_edge_export": "FAILED_PRECONDITION",
        "headers_too_large": "RESOURCE_EXHAUSTED",
        "overloaded": "UNAVAILABLE",
        "deadline_exceeded": "DEADLINE_EXCEEDED",
    }
)
"""Error code -> gRPC status name; any other code (a server fault) is INTERNAL."""


def http_status(code: str) -> int:
    """HTTP status for an error code (500 for codes not in :data:`HTTP_STATUS`)."""
    return HTTP_STATUS.get(code, 500)


def grpc_status_name(code: str) -> str:
    """gRPC status name for an error code (``INTERNAL`` for codes not in :data:`GRPC_STATUS`)."""
    return GRPC_STATUS.get(code, "INTERNAL")


def grpc_status(code: str) -> grpc.StatusCode:
    """The ``grpc.StatusCode`` for an error code (needs grpcio: the ``serve`` extra)."""
    import grpc

    return grpc.StatusCode[grpc_status_name(code)]
