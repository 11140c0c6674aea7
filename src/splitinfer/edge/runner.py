"""The device side: image -> head + reduction -> encode -> frame -> send -> result.

``EdgeRunner`` runs one bundle against one server and reports, per inference, where the
time went (head, encode, network, server-reported) and how many bytes crossed the link::

    runner = EdgeRunner(Bundle.load("bundles/fmnist-stage2-c2"), "http://127.0.0.1:8000")
    result = runner.infer(image_u8)          # mode="split" by default
    result.prediction, result.head_ms, result.bytes_up, result.fell_back

Modes: ``split`` (the bundle's edge half, a compact frame), ``cloud-only`` (the image as
PNG to ``/infer-image``: the server runs the bundle's whole network,
:meth:`~splitinfer.bundle.Bundle.full`), ``mobile-only`` (that network here, nothing
sent). Requests are idempotent, so a failed send is retried; when the server stays
unreachable the runner falls back to mobile-only (``fallback=True``) and
says so in the result. A result is never dropped silently: it is either a prediction or
a raised :class:`~splitinfer.errors.SplitInferError`.
"""

from __future__ import annotations

import io
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch

from splitinfer.bundle import Bundle
from splitinfer.errors import BadInput, SplitInferError

Mode = Literal["split", "cloud-only", "mobile-only"]
MODES: tuple[Mode, ...] = ("split", "cloud-only", "mobile-only")


class CloudUnavailable(SplitInferError):
    """The server could not be reached (after retries) and no fallback was allowed."""

    code = "cloud_unavailable"


class CloudRefused(SplitInferError):
    """The server answered with an error status; ``status`` and the server's code say why."""

    code = "cloud_refused"

    def __init__(self, status: int, server_code: str, message: str) -> None:
        super().__init__(f"server answered {status} {server_code}: {message}")
        self.status = status
        self.server_code = server_code


@dataclass
class EdgeResult:
    """One inference as the device saw it."""

    request_id: int
    mode: str  # the mode that produced the prediction (mobile-only after a fallback)
    prediction: int
    label: str
    head_ms: float = 0.0  # device compute: head + reduction (split), full network, or PNG
    encode_ms: float = 0.0  # codec encode + framing (split)
    network_ms: float = 0.0  # send -> response, minus the server's own time
    server_ms: float = 0.0  # as the server reported it
    total_ms: float = 0.0
    bytes_up: int = 0
    bytes_down: int = 0
    attempts: int = 0
    fell_back: bool = False
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class EdgeRunner:
    """Runs ``bundle`` on this device against the server at ``url`` (HTTP)."""

    def __init__(
        self,
        bundle: Bundle,
        url: str | None,
        *,
        token: str | None = None,
        timeout_s: float = 10.0,
        retries: int = 2,
        fallback: bool = True,
    ) -> None:
        if retries < 0 or timeout_s <= 0:
            raise BadInput("retries must be >= 0 and timeout_s > 0")
        self.bundle = bundle
        self.url = url.rstrip("/") if url else None
        self.retries = retries
        self.fallback = fallback
        self._next_id = 0
        self._client: Any = None
        if self.url is not None:
            import httpx

            headers = {"Authorization": f"Bearer {token}"} if token else {}
            self._client = httpx.Client(timeout=timeout_s, headers=headers)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def __enter__(self) -> EdgeRunner:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- one inference -------------------------------------------------------------------

    def infer(self, image: torch.Tensor, mode: Mode = "split") -> EdgeResult:
        """Run one uint8 image (C x H x W or 1 x C x H x W) in ``mode``."""
        if mode not in MODES:
            raise BadInput(f"mode must be one of {MODES}, got {mode!r}")
        images = image.unsqueeze(0) if image.dim() == 3 else image
        if images.shape[0] != 1:
            raise BadInput("infer takes one image; loop over a batch")
        request_id = self._next_id
        self._next_id = (self._next_id + 1) % (1 << 32)
        start = time.perf_counter()
        if mode == "mobile-only" or self.url is None:
            result = self._mobile(images, request_id)
        elif mode == "split":
            result = self._split(images, request_id)
        else:
            result = self._cloud_only(images, request_id)
        result.total_ms = (time.perf_counter() - start) * 1e3
        return result

    def _mobile(self, images: torch.Tensor, request_id: int) -> EdgeResult:
        t0 = time.perf_counter()
        with torch.no_grad():
            logits = self.bundle.full(self.bundle.spec.preprocess(images))
        pred = int(logits.argmax(1)[0])
        return EdgeResult(request_id, "mobile-only", pred, self.bundle.spec.classes[pred],
                          head_ms=(time.perf_counter() - t0) * 1e3)  # fmt: skip

    def _split(self, images: torch.Tensor, request_id: int) -> EdgeResult:
        t0 = time.perf_counter()
        z = self.bundle.edge.features(images)
        t1 = time.perf_counter()
        frame = self.bundle.edge.frame(z, request_id)
        t2 = time.perf_counter()
        path = f"/v1/bundles/{self.bundle.spec.id}/infer"
        result = self._send(path, frame, "application/x-splitinfer-frame", images, request_id)
        if result.mode == "split":
            result.head_ms, result.encode_ms = (t1 - t0) * 1e3, (t2 - t1) * 1e3
        return result

    def _cloud_only(self, images: torch.Tensor, request_id: int) -> EdgeResult:
        from PIL import Image

        t0 = time.perf_counter()
        array = images[0].permute(1, 2, 0).numpy()
        buf = io.BytesIO()
        Image.fromarray(array[..., 0] if array.shape[2] == 1 else array).save(buf, format="PNG")
        t1 = time.perf_counter()
        path = f"/v1/bundles/{self.bundle.spec.id}/infer-image?request_id={request_id}"
        result = self._send(path, buf.getvalue(), "image/png", images, request_id, "cloud-only")
        if result.mode == "cloud-only":
            result.head_ms = (t1 - t0) * 1e3
        return result

    def _send(
        self,
        path: str,
        body: bytes,
        content_type: str,
        images: torch.Tensor,
        request_id: int,
        mode: Mode = "split",
    ) -> EdgeResult:
        """POST with retries on transport errors and 503; fall back to mobile-only if allowed."""
        import httpx

        errors: list[str] = []
        for attempt in range(1, self.retries + 2):
            t0 = time.perf_counter()
            try:
                r = self._client.post(f"{self.url}{path}", content=body,
                                      headers={"Content-Type": content_type})  # fmt: skip
            except httpx.TransportError as err:
                errors.append(f"attempt {attempt}: {type(err).__name__}: {err}")
                continue
            elapsed = (time.perf_counter() - t0) * 1e3
            if r.status_code == 503:
                errors.append(f"attempt {attempt}: 503 {r.text[:200]}")
                time.sleep(min(0.05 * attempt, 0.5))
                continue
            if r.status_code != 200:
                data = _json(r)
                raise CloudRefused(r.status_code, str(data.get("error", "?")),
                                   str(data.get("message", r.text[:200])))  # fmt: skip
            data = r.json()
            top = data["top"][0]
            server_ms = float(data["timing"]["total_ms"])
            return EdgeResult(
                request_id, mode, int(top["class_id"]), str(top["class"]),
                network_ms=max(elapsed - server_ms, 0.0), server_ms=server_ms,
                bytes_up=len(body), bytes_down=len(r.content), attempts=attempt, errors=errors,
            )  # fmt: skip
        if not self.fallback:
            raise CloudUnavailable(f"{self.url} unreachable: {'; '.join(errors)}")
        result = self._mobile(images, request_id)
        result.fell_back, result.errors, result.attempts = True, errors, self.retries + 1
        return result


def _json(r: Any) -> dict[str, Any]:
    try:
        data = r.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
