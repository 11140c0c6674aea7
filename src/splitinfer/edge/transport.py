"""Clients of the cloud server: one frame (or image) up, the server's answer back.

A :class:`Transport` makes ONE attempt per call and says how it went; retries, fallback
and timing breakdowns are the runner's job. Which transport a URL gets is its scheme::

    http://host:8000   https://host:8443      HttpTransport (httpx, keep-alive)
    grpc://host:50051  grpcs://host:50051     GrpcTransport (grpcio, proto/splitinfer.proto)
    ws://host:8000     wss://host:8443        WsTransport (stream session, edge/wsclient.py)

Both send ``Authorization: Bearer <token>`` (HTTP header / gRPC metadata) when given a
token, and raise two typed errors: :class:`CloudUnavailable` when the server could not be
reached, did not answer within ``timeout_s``, or said it is busy (HTTP 502/503/504, gRPC
UNAVAILABLE / DEADLINE_EXCEEDED): retrying may help; :class:`CloudRefused` when it
answered with a definitive error (``status`` and the server's error ``server_code``).
"""

from __future__ import annotations

import re
import ssl
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from splitinfer.errors import BadFrame, BadInput, SplitInferError
from splitinfer.protocol import (
    FRAME_TYPE,
    RETRYABLE_GRPC,
    RETRYABLE_HTTP,
    ErrorReply,
    Result,
    grpc_status_name,
    image_type,
    is_retryable,
)

HTTP_SCHEMES, GRPC_SCHEMES = ("http", "https"), ("grpc", "grpcs")

Verify = bool | str | Path
"""TLS: True (system roots), False (HTTP only: no check), or a CA / certificate PEM file."""


class CloudUnavailable(SplitInferError):
    """The server was unreachable, too slow, or busy; retrying (the same request) may help.

    ``status`` is the HTTP status or gRPC status name when the server did answer (busy),
    None when nothing came back.
    """

    code = "cloud_unavailable"

    def __init__(
        self, message: str, status: int | str | None = None, server_code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.server_code = server_code


class CloudRefused(SplitInferError):
    """The server answered with an error; ``status`` (HTTP int or gRPC status name) and its
    ``server_code`` (``unauthenticated``, ``bad_frame``, ``unknown_bundle``...) say why."""

    code = "cloud_refused"

    def __init__(self, status: int | str, server_code: str, message: str) -> None:
        super().__init__(f"server answered {status} {server_code}: {message}")
        self.status = status
        self.server_code = server_code


CloudError = CloudUnavailable | CloudRefused


@dataclass(frozen=True)
class Reply:
    """The server's answer to one request, as this client received it."""

    request_id: int
    class_id: int
    class_name: str
    server_ms: float  # the server's own total (queue + decode + compute)
    elapsed_ms: float  # request sent -> answer received, measured here
    bytes_down: int  # the answer's body / message size


Answers = Generator[tuple[int, Reply | CloudError], None, None]
"""What :meth:`Transport.stream` yields: ``(request_id, reply or error)``, each id once."""


class Transport(Protocol):
    """One server connection. Every call is a single attempt; the runner retries."""

    name: str  # "http", "grpc" or "ws"
    url: str
    sends_images: bool  # can carry the cloud-only baseline (an image instead of a frame)

    def infer_frame(self, bundle_id: str, frame: bytes) -> Reply:
        """Send one wire frame; the frame carries its request id."""
        ...

    def infer_image(self, bundle_id: str, image: bytes, request_id: int) -> Reply:
        """Send one PNG/JPEG image (cloud-only)."""
        ...

    def stream(self, bundle_id: str, frames: Sequence[tuple[int, bytes]]) -> Answers:
        """Send ``(request_id, frame)`` pairs; yield each answered id once, as answers come.

        A per-frame failure is yielded as its error; a failure of the whole exchange raises
        :class:`CloudUnavailable` (ids not yet yielded were not answered).
        """
        ...

    def ping(self) -> float:
        """One round trip that carries no request (ms): the link's RTT plus the server's
        cheapest answer. Raises :class:`CloudUnavailable` (no answer) like a request."""
        ...

    def close(self) -> None: ...


def connect(
    url: str, *, token: str | None = None, timeout_s: float = 10.0, verify: Verify = True
) -> Transport:
    """The transport for ``url``'s scheme (``http(s)://``, ``grpc(s)://`` or ``ws(s)://``)."""
    scheme = urlsplit(url).scheme.lower()
    if scheme in HTTP_SCHEMES:
        return HttpTransport(url, token=token, timeout_s=timeout_s, verify=verify)
    if scheme in GRPC_SCHEMES:
        return GrpcTransport(url, token=token, timeout_s=timeout_s, verify=verify)
    if scheme in ("ws", "wss"):
        from splitinfer.edge.wsclient import WsTransport

        return WsTransport(url, token=token, timeout_s=timeout_s, verify=verify)
    raise BadInput(
        f"server URL {url!r} needs a scheme: http://, https://, grpc://, grpcs://, ws:// or wss:// "
        "(e.g. http://127.0.0.1:8000 or grpc://127.0.0.1:50051)"
    )


# --- HTTP --------------------------------------------------------------------------------


class HttpTransport:
    """``POST /v1/bundles/{id}/infer`` (frames) and ``/infer-image`` over one keep-alive
    httpx client. :meth:`stream` sends one request after another on that connection."""

    name = "http"
    sends_images = True

    def __init__(
        self, url: str, *, token: str | None = None, timeout_s: float = 10.0, verify: Verify = True
    ) -> None:
        import httpx

        if timeout_s <= 0:
            raise BadInput("timeout_s must be > 0")
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        tls: bool | ssl.SSLContext = verify if isinstance(verify, bool) else _ca_context(verify)
        self._client = httpx.Client(
            base_url=self.url, timeout=timeout_s, headers=headers, verify=tls
        )

    def infer_frame(self, bundle_id: str, frame: bytes) -> Reply:
        return self._post(f"/v1/bundles/{bundle_id}/infer", frame, FRAME_TYPE)

    def infer_image(self, bundle_id: str, image: bytes, request_id: int) -> Reply:
        path = f"/v1/bundles/{bundle_id}/infer-image?request_id={request_id}"
        return self._post(path, image, image_type(image))

    def stream(self, bundle_id: str, frames: Sequence[tuple[int, bytes]]) -> Answers:
        for request_id, frame in frames:
            try:
                yield request_id, self.infer_frame(bundle_id, frame)
            except (CloudUnavailable, CloudRefused) as err:
                yield request_id, err

    def ping(self) -> float:
        """``GET /healthz`` on the keep-alive connection (ms)."""
        r, elapsed = self._send("GET", "/healthz")
        if r.status_code != 200:
            raise CloudUnavailable(f"ping: {r.status_code} from {self.url}", r.status_code)
        return elapsed

    def _send(self, method: str, path: str, **kwargs: Any) -> tuple[Any, float]:
        """One request on the connection and its wall ms; no answer: CloudUnavailable."""
        import httpx

        t0 = time.perf_counter()
        try:
            r = self._client.request(method, path, **kwargs)
        except httpx.TimeoutException as err:
            raise CloudUnavailable(f"no answer from {self.url}: {type(err).__name__}") from None
        except httpx.TransportError as err:
            raise CloudUnavailable(
                f"cannot reach {self.url}: {type(err).__name__}: {err}"
            ) from None
        return r, (time.perf_counter() - t0) * 1e3

    def _post(self, path: str, body: bytes, content_type: str) -> Reply:
        r, elapsed = self._send("POST", path, content=body, headers={"Content-Type": content_type})
        if r.status_code != 200:
            data = _json(r)
            if not isinstance(data, dict) or "error" not in data:
                # not a splitinfer error body: summarise, never dump it
                raise CloudRefused(r.status_code, "not_splitinfer", summarize_reply(r))
            error = ErrorReply.from_json(data, r.text[:200])
            if r.status_code in RETRYABLE_HTTP:
                raise CloudUnavailable(
                    f"server busy: {r.status_code} {error.code}: {error.message}",
                    r.status_code,
                    error.code,
                )
            raise CloudRefused(r.status_code, error.code, error.message)
        try:
            return _reply(Result.from_json(r.json()), elapsed, len(r.content))
        except (ValueError, BadFrame) as err:
            raise CloudRefused(
                200, "bad_reply", f"unreadable result ({err}): {summarize_reply(r)}"
            ) from None

    def close(self) -> None:
        self._client.close()


def summarize_reply(r: Any, chars: int = 80) -> str:
    """A reply that is not splitinfer's, in one line: content type and its first printable
    characters (the status is in the error already); never the whole page."""
    text = " ".join(r.content[:4096].decode("utf-8", "replace").split())
    start = "".join(c for c in text if c.isprintable())[:chars]
    kind = r.headers.get("content-type", "no content type")
    return f"{kind}, starts {start!r} (is this a splitinfer server?)"


def _ca_context(path: str | Path) -> ssl.SSLContext:
    if not Path(path).is_file():
        raise BadInput(f"TLS: no CA/certificate file at {path}")
    return ssl.create_default_context(cafile=str(path))


def _json(r: Any) -> Any:
    try:
        return r.json()
    except ValueError:
        return None


# --- gRPC --------------------------------------------------------------------------------

_CODE_IN_DETAILS = re.compile(r"^\[([a-z_]+)\]\s*")


class GrpcTransport:
    """Unary ``Infer`` per frame and a bidirectional ``InferStream`` for sequences.

    The gRPC contract carries frames only, so the cloud-only baseline (an image) needs
    HTTP (``sends_images`` is False). ``timeout_s`` is the deadline of a unary call, and
    in a stream the longest wait for the next answer while frames are outstanding.
    """

    name = "grpc"
    sends_images = False

    def __init__(
        self, url: str, *, token: str | None = None, timeout_s: float = 10.0, verify: Verify = True
    ) -> None:
        import grpc

        from splitinfer.protocol.pb import splitinfer_pb2 as pb
        from splitinfer.protocol.pb import splitinfer_pb2_grpc as pb_grpc

        if timeout_s <= 0:
            raise BadInput("timeout_s must be > 0")
        parts = urlsplit(url)
        if parts.scheme not in GRPC_SCHEMES or not parts.hostname or parts.port is None:
            raise BadInput(f"gRPC URL must be grpc://HOST:PORT or grpcs://HOST:PORT, got {url!r}")
        self.url, self.timeout_s, self._pb = url, timeout_s, pb
        target = f"{parts.hostname}:{parts.port}"
        if parts.scheme == "grpcs":
            if verify is False:
                raise BadInput(
                    "gRPC cannot skip certificate checks; pass the server's certificate "
                    "(verify=PATH, `splitinfer run --ca-cert PATH`)"
                )
            roots = None if verify is True else Path(verify).read_bytes()
            creds = grpc.ssl_channel_credentials(root_certificates=roots)
            self._channel = grpc.secure_channel(target, creds)
        else:
            self._channel = grpc.insecure_channel(target)
        self._stub = pb_grpc.SplitInferenceStub(self._channel)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()

    def infer_frame(self, bundle_id: str, frame: bytes) -> Reply:
        import grpc

        request = self._pb.InferRequest(bundle_id=bundle_id, frame=frame)
        t0 = time.perf_counter()
        try:
            response = self._stub.Infer(request, timeout=self.timeout_s, metadata=self._metadata)
        except grpc.RpcError as err:
            raise _rpc_error(err, self.url) from None
        return _proto_reply(response, (time.perf_counter() - t0) * 1e3)

    def ping(self) -> float:
        """A unary ``ListBundles`` (the contract's cheapest call; ms)."""
        import grpc

        t0 = time.perf_counter()
        try:
            self._stub.ListBundles(
                self._pb.ListBundlesRequest(), timeout=self.timeout_s, metadata=self._metadata
            )
        except grpc.RpcError as err:
            raise _rpc_error(err, self.url) from None
        return (time.perf_counter() - t0) * 1e3

    def infer_image(self, bundle_id: str, image: bytes, request_id: int) -> Reply:
        raise BadInput(
            "cloud-only sends an image, which the gRPC contract does not carry; "
            "use an http:// server URL (`splitinfer run --transport http`)"
        )

    def stream(self, bundle_id: str, frames: Sequence[tuple[int, bytes]]) -> Answers:
        """Every frame on ONE ``InferStream``; answers matched by request id (by position
        for a frame the server could not read), each id yielded once."""
        import grpc

        ids = [rid for rid, _ in frames]
        pending, sent = set(ids), {}
        if len(pending) != len(ids):
            raise BadInput("stream: request ids must be distinct")
        if not ids:
            return

        def requests() -> Iterator[Any]:
            for rid, frame in frames:
                sent[rid] = time.perf_counter()
                yield self._pb.InferRequest(bundle_id=bundle_id, frame=frame)

        call = self._stub.InferStream(requests(), metadata=self._metadata)
        watchdog = _Watchdog(self.timeout_s, call.cancel)
        try:
            for response in call:
                watchdog.reset()
                errored = response.HasField("error")
                rid = response.request_id
                if errored and response.sequence < len(ids):
                    rid = ids[response.sequence]
                if rid not in pending:
                    continue  # a duplicate or stray answer: each id counts once
                pending.discard(rid)
                if errored:
                    yield rid, _frame_error(response.error)
                else:
                    yield rid, _proto_reply(response, (time.perf_counter() - sent[rid]) * 1e3)
        except grpc.RpcError as err:
            if watchdog.fired:
                raise CloudUnavailable(
                    f"no answer from {self.url} within {self.timeout_s:g} s on the stream "
                    f"({len(pending)} frames unanswered)"
                ) from None
            raise _rpc_error(err, self.url) from None
        finally:
            watchdog.stop()
            call.cancel()  # no-op once the server closed the stream; else stop it
        if pending:
            raise CloudUnavailable(
                f"the stream from {self.url} ended with {len(pending)} unanswered"
            )

    def close(self) -> None:
        self._channel.close()


def _reply(result: Result, elapsed_ms: float, size: int) -> Reply:
    """What the runner keeps of a result (BadFrame when it holds no class or timing)."""
    return Reply(
        result.request_id, result.top, result.top_name, result.timed.total_ms, elapsed_ms, size
    )


def _proto_reply(response: Any, elapsed_ms: float) -> Reply:
    try:
        return _reply(Result.from_proto(response), elapsed_ms, response.ByteSize())
    except BadFrame as err:
        raise CloudRefused("OK", "bad_reply", f"unreadable result: {err}") from None


def _frame_error(error: Any) -> CloudError:
    """A stream response's ``error`` as the typed error (busy codes are retryable)."""
    status = grpc_status_name(error.code)
    if is_retryable(error.code):
        return CloudUnavailable(f"server busy: {error.code}: {error.message}", status, error.code)
    return CloudRefused(status, error.code, error.message)


def _rpc_error(err: Any, url: str) -> CloudError:
    """A failed RPC as a typed error; the server's code from ``[code] message`` details."""
    status = err.code().name
    details = err.details() or ""
    m = _CODE_IN_DETAILS.match(details)
    server_code = m.group(1) if m else status.lower()
    if status in RETRYABLE_GRPC:  # from the server (its code in the details), or from grpc here
        answered = (status, server_code) if m else (None, None)
        return CloudUnavailable(f"{url}: {status}: {details}", *answered)
    return CloudRefused(status, server_code, _CODE_IN_DETAILS.sub("", details))


class _Watchdog:
    """Calls ``on_expire`` once when :meth:`reset` has not been called for ``timeout_s``."""

    def __init__(self, timeout_s: float, on_expire: Callable[[], Any]) -> None:
        self.timeout_s, self.fired = timeout_s, False
        self._on_expire = on_expire
        self._deadline = time.monotonic() + timeout_s
        self._stopped = threading.Event()
        threading.Thread(target=self._run, name="splitinfer-stream-watchdog", daemon=True).start()

    def _run(self) -> None:
        while not self._stopped.wait(max(self._deadline - time.monotonic(), 0.0)):
            if time.monotonic() >= self._deadline:
                self.fired = True
                self._on_expire()
                return

    def reset(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s

    def stop(self) -> None:
        self._stopped.set()
