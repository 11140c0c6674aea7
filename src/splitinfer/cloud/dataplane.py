"""The transport-free core of the server: frame (or image) in, :class:`Result` out.

::

    frame -> wire.decode_frame -> route by fingerprint -> CloudHalf.check_header
          -> Batcher -> CloudHalf.decode_payload (codec.decode + feature checks)
          -> restoration + tail (batched) -> softmax top-k -> Result

The decode checks are the bundle's own (:class:`~splitinfer.bundle.CloudHalf`), the ones
the evaluation, the demo and the ONNX check run too.

HTTP, gRPC (and any other transport) are thin adapters over :meth:`DataPlane.infer`;
they map :class:`~splitinfer.errors.SplitInferError` codes to their status codes.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from splitinfer import wire
from splitinfer.bundle import Bundle
from splitinfer.cloud.batcher import Batcher, Job, Outcome
from splitinfer.cloud.images import MAX_IMAGE_PIXELS, decode_image
from splitinfer.cloud.metrics import Metrics
from splitinfer.errors import BadInput, DeadlineExceeded, Overloaded, UnknownBundle
from splitinfer.protocol import Result, Timing

_ADMITTED: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "splitinfer_admitted", default=False
)
"""True in a task whose request was taken in before a drain began (see DataPlane.admitted)."""


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
        """What each served bundle is, for ``GET /v1/bundles`` (a multi-rate bundle also
        lists its rate points: index, unit, codec, measured accuracy and bytes)."""
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
                **({"rates": b.rate_points()} if b.multirate else {}),
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
        b.cloud.check_header(header)
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
        b = self._route(header, bundle_id)  # an unknown rate index: UnknownRate (400)
        if header.rate:  # a multi-rate bundle's point 1..; point 0 is called as before rates
            return await self.infer_payload(b, payload, header.request_id, k, rate=header.rate)
        return await self.infer_payload(b, payload, header.request_id, k)

    async def infer_payload(
        self, b: Bundle, payload: bytes, request_id: int, k: int | None = None, rate: int = 0
    ) -> Result:
        """Decode one payload of bundle ``b`` (a stream session agreed the bundle, so no
        frame carries it), run the rest of the model (batched), return its top-k.

        ``rate``: a multi-rate bundle's point; only frames of one point share a batch.
        """
        b.check_rate(rate)

        def prepare() -> torch.Tensor:
            return b.cloud.decode_payload(payload, rate)

        def run_rate(z: torch.Tensor) -> torch.Tensor:
            return b.cloud.run(z, rate)

        # point 0 (every single-rate bundle) runs exactly as before rates existed
        key = ("split", b.fingerprint) if rate == 0 else ("split", b.fingerprint, rate)
        job = Job(key, prepare, b.cloud.run if rate == 0 else run_rate, self.resolve_k(b, k))
        return await self._submit(job, b, request_id)

    async def infer_image(
        self, image: bytes, bundle_id: str, request_id: int = 0, k: int | None = None
    ) -> Result:
        """Cloud-only baseline: decode a PNG/JPEG and run :meth:`Bundle.unsplit` on it.

        That is the bundle's unsplit baseline when it carries one, else :meth:`Bundle.full`
        (the split network in one process).
        """
        b = self.bundle(bundle_id)
        if not 0 <= request_id <= wire.MAX_REQUEST_ID:
            raise BadInput(f"request_id must be in 0..{wire.MAX_REQUEST_ID}")

        def prepare() -> torch.Tensor:
            pixels = decode_image(image, b.spec.input_shape, self.max_image_pixels)
            return b.spec.preprocess(pixels)

        job = Job(("full", b.fingerprint), prepare, b.unsplit, self.resolve_k(b, k))
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
