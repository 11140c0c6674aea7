"""What one inference returns, the same on every transport, with its converters.

::

    Result <-> JSON object (HTTP)   to_json / from_json
    Result <-> InferResponse (gRPC) to_proto / from_proto
    Result <-> binary result frame  to_frame / from_frame   (byte layout: splitinfer.wire)

The server builds a Result and a transport adapter writes it out; a client reads the
reply back into a Result (never by string keys). A binary result frame carries only the
request id, class ids and scores: a Result read from one has no bundle id, class names
(unless the client passes the bundle's) or timing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from splitinfer import wire
from splitinfer.errors import BadFrame


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

    @classmethod
    def from_json(cls, data: Any) -> Timing:
        """The timing of a JSON reply (BadFrame if a field is missing or mistyped)."""
        data = _object(data, "timing")
        return cls(
            queue_ms=_number(data, "queue_ms"),
            decode_ms=_number(data, "decode_ms"),
            compute_ms=_number(data, "compute_ms"),
            total_ms=_number(data, "total_ms"),
            batch_size=_integer(data, "batch_size"),
        )

    def server_timing(self) -> str:
        """The same breakdown as an HTTP ``Server-Timing`` header value."""
        return (
            f"queue;dur={self.queue_ms:.3f}, decode;dur={self.decode_ms:.3f}, "
            f"compute;dur={self.compute_ms:.3f}, total;dur={self.total_ms:.3f}"
        )


@dataclass(frozen=True)
class Result:
    """Top-k classes of one request, best first, with softmax scores and class names.

    ``classes`` is empty and ``timing`` None when the carrier did not hold them (a binary
    result frame).
    """

    request_id: int
    bundle_id: str
    class_ids: tuple[int, ...]
    classes: tuple[str, ...]
    scores: tuple[float, ...]
    timing: Timing | None

    @property
    def top(self) -> int:
        """The best class id (BadFrame for a result without classes)."""
        if not self.class_ids:
            raise BadFrame("the result holds no classes")
        return self.class_ids[0]

    @property
    def top_name(self) -> str:
        """The best class's name (its id as text when the carrier held no names)."""
        top = self.top  # BadFrame for an empty result
        return self.classes[0] if self.classes else str(top)

    @property
    def timed(self) -> Timing:
        """The server's timing (BadFrame for a result whose carrier held none)."""
        if self.timing is None:
            raise BadFrame("the result holds no timing (a binary result frame has none)")
        return self.timing

    # --- JSON (HTTP) ---------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The result as the JSON object the HTTP API returns."""
        names = self.classes or ("",) * len(self.class_ids)
        data: dict[str, Any] = {
            "request_id": self.request_id,
            "bundle": self.bundle_id,
            "top": [
                {"class_id": c, "class": name, "score": s}
                for c, name, s in zip(self.class_ids, names, self.scores, strict=True)
            ],
        }
        if self.timing is not None:
            data["timing"] = self.timing.to_json()
        return data

    @classmethod
    def from_json(cls, data: Any) -> Result:
        """A JSON reply read back (BadFrame if it is not a result)."""
        data = _object(data, "result")
        top = data.get("top")
        if not isinstance(top, list):
            raise BadFrame("result lacks its 'top' list")
        entries = [_object(t, "top entry") for t in top]
        timing = data.get("timing")
        bundle = data.get("bundle", "")
        if not isinstance(bundle, str):
            raise BadFrame("result field 'bundle' must be a string")
        return cls(
            request_id=_integer(data, "request_id"),
            bundle_id=bundle,
            class_ids=tuple(_integer(t, "class_id") for t in entries),
            classes=tuple(str(t.get("class", "")) for t in entries),
            scores=tuple(_number(t, "score") for t in entries),
            timing=None if timing is None else Timing.from_json(timing),
        )

    # --- protobuf (gRPC) -----------------------------------------------------------------

    def to_proto(self, sequence: int = 0) -> Any:
        """The result as an ``InferResponse`` message (needs protobuf: the ``serve`` extra)."""
        from splitinfer.protocol.pb import splitinfer_pb2 as pb

        names = self.classes or ("",) * len(self.class_ids)
        response = pb.InferResponse(
            request_id=self.request_id,
            bundle_id=self.bundle_id,
            top=[
                pb.Prediction(class_id=c, class_name=n, score=s)
                for c, n, s in zip(self.class_ids, names, self.scores, strict=True)
            ],
            sequence=sequence,
        )
        if self.timing is not None:
            t = self.timing
            response.timing.CopyFrom(
                pb.Timing(
                    queue_ms=t.queue_ms,
                    decode_ms=t.decode_ms,
                    compute_ms=t.compute_ms,
                    total_ms=t.total_ms,
                    batch_size=t.batch_size,
                )
            )
        return response

    @classmethod
    def from_proto(cls, response: Any) -> Result:
        """An ``InferResponse`` read back (a stream response with ``error`` set is not one)."""
        if response.HasField("error"):
            raise BadFrame(f"the response is an error ({response.error.code}), not a result")
        t = response.timing
        timing = (
            Timing(t.queue_ms, t.decode_ms, t.compute_ms, t.total_ms, t.batch_size)
            if response.HasField("timing")
            else None
        )
        return cls(
            request_id=response.request_id,
            bundle_id=response.bundle_id,
            class_ids=tuple(p.class_id for p in response.top),
            classes=tuple(p.class_name for p in response.top),
            scores=tuple(p.score for p in response.top),
            timing=timing,
        )

    # --- binary result frame -------------------------------------------------------------

    def to_topk(self) -> wire.TopK:
        """The result as a :class:`~splitinfer.wire.TopK` (what a binary result frame holds)."""
        return wire.TopK(request_id=self.request_id, class_ids=self.class_ids, scores=self.scores)

    def to_frame(self) -> bytes:
        """The binary result frame (``Accept: application/x-splitinfer-result``)."""
        return wire.encode_result(self.to_topk())

    @classmethod
    def from_frame(
        cls, frame: bytes, *, bundle_id: str = "", class_names: Sequence[str] = ()
    ) -> Result:
        """A binary result frame read back; names come from ``class_names`` (the bundle's
        classes) when given. BadFrame / PayloadTooLarge as :func:`wire.decode_result`."""
        topk = wire.decode_result(frame)
        names: tuple[str, ...] = ()
        if class_names:
            if any(c >= len(class_names) for c in topk.class_ids):
                raise BadFrame(f"result names a class beyond the {len(class_names)} given")
            names = tuple(class_names[c] for c in topk.class_ids)
        return cls(topk.request_id, bundle_id, topk.class_ids, names, topk.scores, None)


@dataclass(frozen=True)
class ErrorReply:
    """A refused request, as the HTTP API writes it: ``{"error": code, "message": ...}``."""

    code: str
    message: str

    def to_json(self) -> dict[str, str]:
        """The JSON error body."""
        return {"error": self.code, "message": self.message}

    @classmethod
    def from_json(cls, data: Any, fallback: str = "") -> ErrorReply:
        """An error body read back; ``code`` '?' and ``fallback`` as the message when the
        body is not one (a proxy's HTML page, say)."""
        if not isinstance(data, dict):
            return cls("?", fallback)
        return cls(str(data.get("error", "?")), str(data.get("message", fallback)))


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadFrame(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


def _integer(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadFrame(f"result field {key!r} must be an integer, got {value!r}")
    return value


def _number(data: dict[str, Any], key: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadFrame(f"result field {key!r} must be a number, got {value!r}")
    return float(value)
