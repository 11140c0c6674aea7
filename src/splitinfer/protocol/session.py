"""Session framing of the WebSocket stream at ``/v1/stream`` (session v1).

::

    client                                         server
    GET /v1/stream  (Upgrade: websocket)  ───────►
    text  {"op": "hello", "bundle": ID, ...} ────►  checks token, bundle, fingerprint
                                          ◄──────  text  {"op": "ready", ...}
    binary  payload          (id = first_id) ───►
    binary  payload          (id = first_id + 1) ►
    text  {"op": "seek", "id": N}  ──────────────►  the next payload gets id N
                                          ◄──────  binary  session result (wire.py)
                                          ◄──────  text  {"op": "error", "id": N, ...}

The bundle, its fingerprint and what is sent (``features``: the codec's payload;
``image``: a PNG/JPEG for the cloud-only baseline) are agreed once per connection. An
inference then carries nothing but its payload: its length is the WebSocket message's,
its request id is implied by its place in the session (the hello's ``first_id``, plus one
per payload, wrapping at 2**32; ``seek`` jumps). Each id is answered exactly once, by a
binary session result (:func:`splitinfer.wire.encode_session_result`) or, with
``"results": "json"``, by the HTTP API's JSON result, or by an ``error`` message for that
id (a payload the codec cannot decode, an overloaded or late server).

A message the session cannot take (anything before the hello, a second hello, a text
message that is not a known control, an oversized payload, bad JSON) closes that
connection with a typed close code from :data:`CLOSE_CODES` and the reason
``"<error code>: <message>"``; ids already taken in are answered first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from splitinfer import wire
from splitinfer.errors import BadInput, SplitInferError

SUBPROTOCOL = "splitinfer.v1"
"""The ``Sec-WebSocket-Protocol`` a client may ask for (the server accepts it or none)."""

PATH = "/v1/stream"
MAX_CONTROL_BYTES = 2048
"""Largest text (control) message; beyond it the connection is closed."""

MAX_REASON_BYTES = 123
"""RFC 6455: a close reason takes at most 123 bytes of UTF-8."""

Send = Literal["features", "image"]
Results = Literal["binary", "json"]


class OutOfOrder(SplitInferError):
    """A session message that is not allowed at this point (before the hello, a second
    hello, ...)."""

    code = "out_of_order"


CLOSE_CODES: Mapping[str, int] = MappingProxyType(
    {
        "bad_input": 4400,
        "bad_frame": 4400,
        "codec_error": 4400,
        "bad_codec_spec": 4400,
        "unauthenticated": 4401,
        "unknown_bundle": 4404,
        "deadline_exceeded": 4408,
        "out_of_order": 4409,
        "payload_too_large": 1009,
        "overloaded": 1013,
        "draining": 1012,
    }
)
"""Error code -> WebSocket close code: the ONE table of this transport. Any other code (a
server fault) is 1011; a clean end is 1000."""

RETRYABLE_CLOSE = frozenset({1001, 1006, 1011, 1012, 1013})
"""Close codes after which the same requests may be sent again (on a new connection)."""


def close_code(code: str) -> int:
    """The WebSocket close code for an error code (1011 for codes not in the table)."""
    return CLOSE_CODES.get(code, 1011)


def close_reason(err: SplitInferError) -> str:
    """``"<code>: <message>"`` cut to the 123 bytes a close frame allows."""
    text = f"{err.code}: {err.message}".encode()
    if len(text) > MAX_REASON_BYTES:
        text = text[: MAX_REASON_BYTES - 3].decode("utf-8", "ignore").encode() + b"..."
    return text.decode()


def reason_code(reason: str) -> str:
    """The error code at the start of a close reason (``"?"`` when it has none)."""
    code, sep, _ = reason.partition(":")
    return code if sep and code.replace("_", "").isalpha() else "?"


@dataclass(frozen=True)
class Hello:
    """The first message of a session (client -> server, text)."""

    bundle: str
    fingerprint: int | None = None  # when given, must be the served bundle's
    first_id: int = 0
    k: int | None = None  # top-k (None: the server's default, capped by the classes)
    send: Send = "features"
    results: Results = "binary"
    token: str | None = None  # for clients that cannot set headers (browsers)

    def to_text(self) -> str:
        msg: dict[str, Any] = {"op": "hello", "v": wire.SESSION_VERSION, "bundle": self.bundle}
        if self.fingerprint is not None:
            msg["fingerprint"] = f"{self.fingerprint:08x}"
        if self.first_id:
            msg["first_id"] = self.first_id
        if self.k is not None:
            msg["k"] = self.k
        if self.send != "features":
            msg["send"] = self.send
        if self.results != "binary":
            msg["results"] = self.results
        if self.token is not None:
            msg["token"] = self.token
        return json.dumps(msg, separators=(",", ":"))


_HELLO_KEYS = frozenset(
    {"op", "v", "bundle", "fingerprint", "first_id", "k", "send", "results", "token"}
)


def parse_control(text: str) -> dict[str, Any]:
    """A text message as a JSON object with a string ``op``; BadInput otherwise."""
    if len(text.encode()) > MAX_CONTROL_BYTES:
        raise BadInput(f"control message over {MAX_CONTROL_BYTES} bytes")
    try:
        msg = json.loads(text)
    except ValueError:
        raise BadInput("control message is not JSON") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("op"), str):
        raise BadInput('control message must be a JSON object with an "op"')
    return msg


def _int(msg: Mapping[str, Any], key: str, cap: int, default: int | None) -> int | None:
    value = msg.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= cap:
        raise BadInput(f"hello: {key} must be an integer in 0..{cap}")
    return value


def parse_hello(msg: Mapping[str, Any]) -> Hello:
    """A parsed control message as a :class:`Hello` (strict: unknown keys refused)."""
    if msg.get("op") != "hello":
        raise OutOfOrder(f"the first message must be a hello, not {str(msg.get('op'))[:20]!r}")
    extra = set(msg) - _HELLO_KEYS
    if extra:
        raise BadInput(f"hello: unknown field(s) {sorted(extra)[:3]}")
    if msg.get("v", wire.SESSION_VERSION) != wire.SESSION_VERSION:
        raise BadInput(f"hello: session version {msg.get('v')!r}; this server speaks 1")
    bundle = msg.get("bundle")
    if not isinstance(bundle, str) or not 0 < len(bundle) <= 128:
        raise BadInput("hello: bundle must be a bundle id")
    fp = msg.get("fingerprint")
    fingerprint = None
    if fp is not None:
        try:
            fingerprint = int(fp, 16) if isinstance(fp, str) and len(fp) == 8 else -1
        except ValueError:
            fingerprint = -1
        if fingerprint < 0:
            raise BadInput("hello: fingerprint must be 8 hex digits")
    send, results, token = (
        msg.get("send", "features"),
        msg.get("results", "binary"),
        msg.get("token"),
    )
    if send not in ("features", "image") or results not in ("binary", "json"):
        raise BadInput('hello: send is "features" or "image"; results "binary" or "json"')
    if token is not None and not isinstance(token, str):
        raise BadInput("hello: token must be a string")
    return Hello(
        bundle=bundle,
        fingerprint=fingerprint,
        first_id=_int(msg, "first_id", wire.MAX_REQUEST_ID, 0) or 0,
        k=_int(msg, "k", wire.MAX_TOPK, None),
        send=send,
        results=results,
        token=token,
    )


def parse_seek(msg: Mapping[str, Any]) -> int:
    """The id of a ``{"op": "seek", "id": N}`` message."""
    if set(msg) != {"op", "id"}:
        raise BadInput('seek takes exactly {"op": "seek", "id": N}')
    return int(_int(msg, "id", wire.MAX_REQUEST_ID, None) or 0)


def seek_text(request_id: int) -> str:
    return json.dumps({"op": "seek", "id": request_id}, separators=(",", ":"))


def ready_text(bundle_id: str, fingerprint: int, k: int, send: Send, results: Results) -> str:
    msg = {"op": "ready", "v": wire.SESSION_VERSION, "bundle": bundle_id}
    msg.update(fingerprint=f"{fingerprint:08x}", k=k, send=send, results=results)
    return json.dumps(msg, separators=(",", ":"))


def error_text(request_id: int, err: SplitInferError) -> str:
    """The answer to one request that failed (the session goes on)."""
    msg = {"op": "error", "id": request_id, "code": err.code, "message": err.message}
    return json.dumps(msg, separators=(",", ":"))


def next_id(request_id: int) -> int:
    """The id after ``request_id`` (wraps at 2**32)."""
    return (request_id + 1) & wire.MAX_REQUEST_ID
