"""The contract between every splitinfer client and server.

Everything both sides must agree on lives here, and both import it from here (never from
each other)::

    protocol/
      media.py    content types (FRAME_TYPE, RESULT_TYPE, ...)
      retry.py    which error codes / statuses mean "busy: retry"
      status.py   error code -> HTTP status, error code -> gRPC status (one table each)
      result.py   the typed Result (+ Timing, ErrorReply) and its JSON / proto / frame converters
      session.py  the WebSocket stream's session framing (/v1/stream) and its close codes
      pb/         gRPC stubs generated from proto/splitinfer.proto (``make proto``)

The byte layout of frames stays in :mod:`splitinfer.wire`; this package builds on it.
Importing it needs torch alone: the generated stubs (grpcio, protobuf) load only when used.
"""

from splitinfer.protocol.media import FRAME_TYPE, FRAME_TYPES, METRICS_TYPE, RESULT_TYPE, image_type
from splitinfer.protocol.result import ErrorReply, Result, Timing
from splitinfer.protocol.retry import RETRYABLE_CODES, RETRYABLE_GRPC, RETRYABLE_HTTP, is_retryable
from splitinfer.protocol.status import (
    GRPC_STATUS,
    HTTP_HEADERS,
    HTTP_STATUS,
    grpc_status,
    grpc_status_name,
    http_status,
)

__all__ = [
    "FRAME_TYPE",
    "FRAME_TYPES",
    "GRPC_STATUS",
    "HTTP_HEADERS",
    "HTTP_STATUS",
    "METRICS_TYPE",
    "RESULT_TYPE",
    "RETRYABLE_CODES",
    "RETRYABLE_GRPC",
    "RETRYABLE_HTTP",
    "ErrorReply",
    "Result",
    "Timing",
    "grpc_status",
    "grpc_status_name",
    "http_status",
    "image_type",
    "is_retryable",
]
