"""The ONE table from :class:`~splitinfer.errors.SplitInferError` codes to gRPC status."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import grpc

GRPC_STATUS: Mapping[str, grpc.StatusCode] = MappingProxyType(
    {
        "bad_frame": grpc.StatusCode.INVALID_ARGUMENT,
        "codec_error": grpc.StatusCode.INVALID_ARGUMENT,
        "bad_codec_spec": grpc.StatusCode.INVALID_ARGUMENT,
        "bad_input": grpc.StatusCode.INVALID_ARGUMENT,
        "unauthenticated": grpc.StatusCode.UNAUTHENTICATED,
        "unknown_bundle": grpc.StatusCode.NOT_FOUND,
        "payload_too_large": grpc.StatusCode.RESOURCE_EXHAUSTED,
        "overloaded": grpc.StatusCode.UNAVAILABLE,
        "deadline_exceeded": grpc.StatusCode.DEADLINE_EXCEEDED,
    }
)
"""Error code -> gRPC status; any other code (a server fault) is INTERNAL."""


def grpc_status(code: str) -> grpc.StatusCode:
    """gRPC status for an error code (INTERNAL for codes not in :data:`GRPC_STATUS`)."""
    return GRPC_STATUS.get(code, grpc.StatusCode.INTERNAL)
