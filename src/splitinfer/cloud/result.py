"""What one inference returns, independent of the transport that carries it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from splitinfer import wire


@dataclass(frozen=True)
class Timing:
    """Where the server spent one request's time, in milliseconds.

    ``queue``: admitted -> its batch starts on the worker; ``decode``: codec (or image)
    decode of this request alone; ``compute``: the batched model run this request shared
    with ``batch_size - 1`` others; ``total``: admitted -> result ready.
    """

    queue_ms: float
    decode_ms: float
    compute_ms: float
    total_ms: float
    batch_size: int

    def to_json(self) -> dict[str, Any]:
        """The timing as a JSON object (milliseconds rounded to microseconds)."""
        return {
            "queue_ms": round(self.queue_ms, 3),
            "decode_ms": round(self.decode_ms, 3),
            "compute_ms": round(self.compute_ms, 3),
            "total_ms": round(self.total_ms, 3),
            "batch_size": self.batch_size,
        }

    def server_timing(self) -> str:
        """The same breakdown as an HTTP ``Server-Timing`` header value."""
        return (
            f"queue;dur={self.queue_ms:.3f}, decode;dur={self.decode_ms:.3f}, "
            f"compute;dur={self.compute_ms:.3f}, total;dur={self.total_ms:.3f}"
        )


@dataclass(frozen=True)
class Result:
    """Top-k classes of one request, best first, with softmax scores and class names."""

    request_id: int
    bundle_id: str
    class_ids: tuple[int, ...]
    classes: tuple[str, ...]
    scores: tuple[float, ...]
    timing: Timing

    def to_topk(self) -> wire.TopK:
        """The result as a :class:`~splitinfer.wire.TopK` (for a binary result frame)."""
        return wire.TopK(request_id=self.request_id, class_ids=self.class_ids, scores=self.scores)

    def to_json(self) -> dict[str, Any]:
        """The result as the JSON object the HTTP API returns."""
        return {
            "request_id": self.request_id,
            "bundle": self.bundle_id,
            "top": [
                {"class_id": c, "class": name, "score": s}
                for c, name, s in zip(self.class_ids, self.classes, self.scores, strict=True)
            ],
            "timing": self.timing.to_json(),
        }
