"""The transport-free core of the server: frame (or image) in, :class:`Result` out.

::

    frame -> wire.decode_frame -> route by fingerprint -> Batcher -> codec.decode
          -> restoration + tail (batched) -> softmax top-k -> Result

HTTP, gRPC (and any other transport) are thin adapters over :meth:`DataPlane.infer`;
they map :class:`~splitinfer.errors.SplitInferError` codes to their status codes.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import math
import time
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from splitinfer import wire
from splitinfer.bundle import Bundle
from splitinfer.cloud.batcher import Batcher, Job, Outcome
from splitinfer.cloud.images import MAX_IMAGE_PIXELS, decode_image
from splitinfer.cloud.metrics import Metrics
from splitinfer.cloud.result import Result, Timing
from splitinfer.errors import BadFrame, BadInput, DeadlineExceeded, Overloaded, UnknownBundle

_ADMITTED: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "splitinfer_admitted", default=False
)
"""True in a task whose request was taken in before a drain began (see DataPlane.admitted)."""

DECODE_SLACK = 4
"""A server's codec caps allow this many times its largest feature, plus 64 Ki elements."""


def cap_decoding(bundles: Sequence[Bundle]) -> int:
    """Lower the codecs' process-wide decode caps to what ``bundles`` need; return the cap.

    A codec checks the shape a payload declares against :mod:`splitinfer.codecs.limits`
    before it allocates, but those caps are generic (64 Mi elements), so a 25-byte frame
    declaring a 2 x 2048 x 4096 tensor would cost a server hundreds of MB and half a
    second of worker time before the feature-shape check refuses it. A server process
    decodes nothing but its bundles' features: call this once per server process (it
    changes module globals; ``splitinfer serve`` and the Ray replicas do) and such a
    frame is refused (``payload_too_large``) before anything is allocated.
    """
    from splitinfer.codecs import limits

    numel = max(math.prod(b.feature_shape) for b in bundles)
    cap = DECODE_SLACK * numel + 65536
    limits.MAX_ELEMENTS = min(limits.MAX_ELEMENTS, cap)
    limits.MAX_IMAGE_PIXELS = min(limits.MAX_IMAGE_PIXELS, cap)
    limits.MAX_DECODED_BYTES = min(limits.MAX_DECODED_BYTES, 4 * cap + 4096)
    return cap


def _check_described(header: wire.FrameHeader, b: Bundle) -> None:
    """A described frame naming ``b`` must describe what ``b`` decodes, or it is refused.

    The bundle's codec decodes every frame routed to it, so a frame that says it holds
    something else is never decoded with parameters it does not claim.
    """
    from splitinfer import codecs

    spec = header.codec_spec or ""
    if spec != b.spec.codec:  # maybe the same codec, written another way
        spec = str(codecs.canonical(spec))  # BadCodecSpec (400) if it does not parse
    if spec != b.spec.codec or header.shape != b.feature_shape:
        raise BadFrame(
            f"described frame holds {header.shape} coded as {spec!r}, but bundle {b.spec.id} "
            f"decodes {b.feature_shape} coded as {b.spec.codec!r}; send a compact frame"
        )


class DataPlane:
    """Serves one or more bundles, keyed by id and by frame fingerprint.

    Use it from one event loop. ``max_batch``/``max_wait_ms`` shape dynamic batching,
    ``max_queue`` bounds the requests waiting for the worker (beyond it: Overloaded),
    ``torch_threads`` sets the worker thread's torch threads.
    """

    def __init__(
        self,
        bundles: Sequence[Bundle],
        *,
        max_batch: int = 16,
        max_wait_ms: float = 0.0,
        max_queue: int = 256,
        torch_threads: int | None = None,
        top_k: int = 5,
        max_image_pixels: int = MAX_IMAGE_PIXELS,
        metrics: Metrics | None = None,
        request_timeout_s: float | None = 30.0,
    ) -> None:
        if not bundles:
            raise BadInput("a DataPlane needs at least one bundle")
        if top_k < 1 or max_image_pixels < 1:
            raise BadInput("top_k and max_image_pixels must be >= 1")
        if request_timeout_s is not None and request_timeout_s <= 0:
            raise BadInput("request_timeout_s must be > 0 (or None: no deadline)")
        self.request_timeout_s = request_timeout_s
        self.by_id: dict[str, Bundle] = {}
        self.by_fingerprint: dict[int, Bundle] = {}
        for b in bundles:
            if b.spec.id in self.by_id or b.fingerprint in self.by_fingerprint:
                raise BadInput(f"bundle {b.spec.id} ({b.fingerprint:#010x}) is given twice")
            self.by_id[b.spec.id] = b
            self.by_fingerprint[b.fingerprint] = b
        self.top_k = top_k
        self.max_image_pixels = max_image_pixels
        self.metrics = metrics or Metrics()
        self.batcher = Batcher(
            max_batch=max_batch,
            max_wait_ms=max_wait_ms,
            max_queue=max_queue,
            torch_threads=torch_threads,
            metrics=self.metrics,
        )
        self._draining = False
        self._in_flight = 0

    # --- state -------------------------------------------------------------------------

    @property
    def draining(self) -> bool:
        """True once :meth:`begin_drain` ran: new requests are refused."""
        return self._draining

    @property
    def in_flight(self) -> int:
        """Requests admitted and not yet answered."""
        return self._in_flight

    def describe(self) -> list[dict[str, Any]]:
        """What each served bundle is, for ``GET /v1/bundles``."""
        return [
            {
                "id": b.spec.id,
                "fingerprint": f"{b.fingerprint:08x}",
                "model": b.spec.model,
                "cut": b.spec.cut,
                "codec": b.spec.codec,
                "input_shape": list(b.spec.input_shape),
                "feature_shape": list(b.feature_shape),
                "classes": list(b.spec.classes),
            }
            for b in self.by_id.values()
        ]

    @contextlib.contextmanager
    def admitted(self) -> Iterator[None]:
        """Take a request in now, before its body is read (HTTP): Overloaded if draining;
        otherwise what this task infers inside the block is served even if a drain begins
        meanwhile (the server waits for it), as a request in flight should be."""
        if self._draining:
            raise Overloaded("draining: this server is shutting down; retry on another one")
        token = _ADMITTED.set(True)
        try:
            yield
        finally:
            _ADMITTED.reset(token)

    def begin_drain(self) -> None:
        """Refuse new requests from now on (safe to call from a signal handler)."""
        self._draining = True

    async def drain(self, timeout_s: float = 30.0) -> bool:
        """Refuse new requests and wait for in-flight ones; False if they outlive the timeout."""
        self.begin_drain()
        deadline = time.perf_counter() + timeout_s
        while self._in_flight and time.perf_counter() < deadline:
            await asyncio.sleep(0.005)
        return self._in_flight == 0

    async def close(self) -> None:
        """Stop the batcher and its worker thread (call after :meth:`drain`)."""
        self.begin_drain()
        await self.batcher.close()

    # --- inference ---------------------------------------------------------------------

    def bundle(self, bundle_id: str) -> Bundle:
        """The served bundle called ``bundle_id``, or UnknownBundle listing those served."""
        try:
            return self.by_id[bundle_id]
        except KeyError:
            served = ", ".join(self.by_id)
            raise UnknownBundle(
                f"no bundle {bundle_id!r} here; served: {served} (GET /v1/bundles)"
            ) from None

    def _route(self, header: wire.FrameHeader, bundle_id: str | None) -> Bundle:
        if header.bundle is None or header.bundle not in self.by_fingerprint:
            named = "no bundle" if header.bundle is None else f"bundle {header.bundle:#010x}"
            raise UnknownBundle(
                f"frame names {named}, which this server does not serve; the edge may hold a "
                f"stale bundle — fetch the current one (served: {', '.join(self.by_id)})"
            )
        b = self.by_fingerprint[header.bundle]
        if bundle_id is not None and bundle_id != b.spec.id:
            self.bundle(bundle_id)  # unknown id -> its own message
            raise UnknownBundle(
                f"frame is for bundle {b.spec.id} ({header.bundle:#010x}), not {bundle_id!r}; "
                f"post it to /v1/bundles/{b.spec.id}/infer"
            )
        if header.codec_spec is not None:
            _check_described(header, b)
        return b

    def resolve_k(self, b: Bundle, k: int | None) -> int:
        if k is None:
            return min(self.top_k, b.spec.num_classes)
        if not 1 <= k <= min(b.spec.num_classes, wire.MAX_TOPK):
            raise BadInput(f"k must be in 1..{b.spec.num_classes} for bundle {b.spec.id}")
        return k

    async def infer(
        self, frame: bytes, bundle_id: str | None = None, k: int | None = None
    ) -> Result:
        """Decode one frame, run the rest of the model (batched), return its top-k."""
        header, payload = wire.decode_frame(frame)
        b = self._route(header, bundle_id)
        return await self.infer_payload(b, payload, header.request_id, k)

    async def infer_payload(
        self, b: Bundle, payload: bytes, request_id: int, k: int | None = None
    ) -> Result:
        """Decode one payload of bundle ``b`` (a stream session agreed the bundle, so no
        frame carries it), run the rest of the model (batched), return its top-k."""

        def prepare() -> torch.Tensor:
            z = b.codec.decode(payload)
            if tuple(z.shape) != b.feature_shape:
                raise BadFrame(f"decoded feature {tuple(z.shape)} != {b.feature_shape}")
            if z.dtype != torch.float32:  # the edge half always encodes float32 features
                raise BadFrame(f"decoded feature is {z.dtype}, bundle {b.spec.id} takes float32")
            if not bool(torch.isfinite(z).all()):
                raise BadFrame("decoded feature holds NaN or Inf; the payload is corrupt")
            return z

        job = Job(("split", b.fingerprint), prepare, b.cloud.run, self.resolve_k(b, k))
        return await self._submit(job, b, request_id)

    async def infer_image(
        self, image: bytes, bundle_id: str, request_id: int = 0, k: int | None = None
    ) -> Result:
        """Cloud-only baseline: decode a PNG/JPEG and run the bundle's whole network on it.

        That is :meth:`Bundle.full` (head, units, tail; no codec), the same network the
        split path runs, so the two differ only by what the codec loses.
        """
        b = self.bundle(bundle_id)
        if not 0 <= request_id <= wire.MAX_REQUEST_ID:
            raise BadInput(f"request_id must be in 0..{wire.MAX_REQUEST_ID}")

        def prepare() -> torch.Tensor:
            pixels = decode_image(image, b.spec.input_shape, self.max_image_pixels)
            return b.spec.preprocess(pixels)

        job = Job(("full", b.fingerprint), prepare, b.full, self.resolve_k(b, k))
        return await self._submit(job, b, request_id)

    async def _submit(self, job: Job, b: Bundle, request_id: int) -> Result:
        if self._draining and not _ADMITTED.get():
            raise Overloaded("draining: this server is shutting down; retry on another replica")
        future = self.batcher.submit(job)
        self._in_flight += 1
        try:
            out: Outcome = await asyncio.wait_for(future, self.request_timeout_s)
        except asyncio.TimeoutError:
            raise DeadlineExceeded(
                f"no result within the {self.request_timeout_s:g} s deadline "
                f"({self.batcher.pending} requests queued); retry later"
            ) from None
        finally:
            self._in_flight -= 1
        done = time.perf_counter()
        timing = Timing(
            queue_ms=(out.started - job.enqueued) * 1000.0,
            decode_ms=out.decode_ms,
            compute_ms=out.compute_ms,
            total_ms=(done - job.enqueued) * 1000.0,
            batch_size=out.batch_size,
        )
        names = tuple(b.spec.classes[c] for c in out.class_ids)
        return Result(request_id, b.spec.id, out.class_ids, names, out.scores, timing)
