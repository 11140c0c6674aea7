"""Which answers mean "busy, retry later" rather than "no": the one list clients share.

A client that gets one of these retries the same request (with backoff, perhaps on
another replica); any other error is definitive.
"""

from __future__ import annotations

RETRYABLE_CODES = ("overloaded", "deadline_exceeded")
""":class:`~splitinfer.errors.SplitInferError` codes of a busy or draining server."""

RETRYABLE_HTTP = (502, 503, 504)
"""HTTP statuses worth a retry (503/504 from the server; 502/504 from a proxy before it)."""

RETRYABLE_GRPC = ("UNAVAILABLE", "DEADLINE_EXCEEDED")
"""gRPC status names worth a retry (from the server, or from grpc itself on this side)."""


def is_retryable(code: str) -> bool:
    """True for an error code a client should retry."""
    return code in RETRYABLE_CODES
