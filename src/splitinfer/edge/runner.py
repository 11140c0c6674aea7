"""The device side: image -> head + reduction -> encode -> frame -> send -> result.

``EdgeRunner`` runs one bundle against one server and reports, per inference, where the
time went (head, encode, network, server-reported) and how many bytes crossed the link::

    runner = EdgeRunner(Bundle.load("bundles/fmnist-r10-stage3-l005"), "http://127.0.0.1:8000")
    result = runner.infer(image_u8)          # mode="split" by default
    result.prediction, result.head_ms, result.bytes_up, result.fell_back

The server URL's scheme picks the transport (:mod:`splitinfer.edge.transport`):
``http(s)://host:port`` or ``grpc(s)://host:port``; a :class:`Transport` object works too,
and ``None`` runs everything on the device.

Modes: ``split`` (the edge half, a compact frame), ``cloud-only`` (the image as PNG to
``/infer-image``: the server runs the bundle's whole network, :meth:`Bundle.full`; HTTP
only), ``mobile-only`` (that network here, nothing sent), and ``auto``: the mode
:meth:`EdgeRunner.plan_auto` chose with the planner for a link and device profile.
:meth:`EdgeRunner.stream` runs a sequence; with ``stream=True`` its split frames share one
gRPC ``InferStream``, answers matched by request id.

Requests are idempotent (the frame carries its request id), so a request that was not
answered is retried with the same id, and each id yields exactly one result. When the
server stays unreachable the runner falls back to mobile-only (``fell_back=True``, the
failures in ``errors``). A result is never dropped silently: every image gives a
result or a raised :class:`~splitinfer.errors.SplitInferError`.

Every answered (non-streamed) request also feeds a passive link estimate
(:mod:`splitinfer.edge.estimate`): uplink throughput and RTT, from the bytes sent and the
network time; each result carries it (``est_up_mbps``, ``est_rtt_ms``, ``est_basis``) and
:attr:`EdgeRunner.link_estimate` holds the latest (docs/link-estimation.md).

The edge half runs on an :class:`EdgeEngine` (``engine="torch"``: the bundle's own
PyTorch edge half; ``"onnx"``: :class:`splitinfer.edge.onnx.OnnxEdgeEngine`; or any
object with ``features(images_u8) -> Tensor``). Mobile-only runs the whole network in
PyTorch either way.

``device=`` slows the device's own work (head and framing, the whole network in
mobile-only, the PNG in cloud-only) to a device profile's speed: any object with a
``slowed()`` context manager, such as :class:`splitinfer.device.DeviceEmulation` (a cgroup
CPU quota on the calling thread). Network waits are not slowed.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

import torch

from splitinfer import wire
from splitinfer.bundle import Bundle
from splitinfer.edge.estimate import DeviceTimes, LinkEstimate, LinkEstimator
from splitinfer.edge.replan import Choice, Replanner, ReplanPolicy, Switch
from splitinfer.edge.transport import (
    CloudRefused,
    CloudUnavailable,
    Reply,
    Transport,
    Verify,
    connect,
)
from splitinfer.errors import BadInput, MissingDependency

if TYPE_CHECKING:
    from splitinfer.edge.auto import AutoInputs, Decision

Mode = Literal["split", "cloud-only", "mobile-only"]
MODES: tuple[Mode, ...] = ("split", "cloud-only", "mobile-only")
RunMode = Literal["split", "cloud-only", "mobile-only", "auto"]
RUN_MODES: tuple[RunMode, ...] = (*MODES, "auto")
ENGINES = ("torch", "onnx")
#: the transports whose frames may carry any rate point (a WebSocket session: point 0 only)
RATE_TRANSPORTS = ("http", "grpc")

__all__ = [
    "ENGINES",
    "MODES",
    "RUN_MODES",
    "CloudRefused",
    "CloudUnavailable",
    "EdgeEngine",
    "EdgeResult",
    "EdgeRunner",
    "Mode",
    "RunMode",
    "Slowdown",
    "load_engine",
]


class Slowdown(Protocol):
    """Runs a block at an emulated device's speed (:class:`splitinfer.device.DeviceEmulation`)."""

    def slowed(self) -> contextlib.AbstractContextManager[None]: ...


class EdgeEngine(Protocol):
    """What computes the edge half: uint8 images (N, C, H, W) -> the reduced features."""

    def features(self, images_u8: torch.Tensor) -> torch.Tensor: ...


def load_engine(bundle: Bundle, engine: str | EdgeEngine = "torch") -> EdgeEngine:
    """``"torch"`` (the bundle's edge half), ``"onnx"`` (ONNX Runtime), or ``engine`` itself."""
    if not isinstance(engine, str):
        if not callable(getattr(engine, "features", None)):
            raise BadInput("an engine needs a features(images_u8) -> Tensor method")
        return engine
    if engine == "torch":
        return bundle.edge
    if engine == "onnx":
        try:
            onnx = importlib.import_module("splitinfer.edge.onnx")
        except ImportError as err:
            raise MissingDependency(
                f"engine='onnx' needs splitinfer.edge.onnx and onnxruntime ({err}): "
                "pip install 'splitinfer[onnx]'"
            ) from err
        return cast(EdgeEngine, onnx.OnnxEdgeEngine.from_bundle(bundle))
    raise BadInput(f"engine must be one of {ENGINES} or an EdgeEngine object, got {engine!r}")


@dataclass
class EdgeResult:
    """One inference as the device saw it (times in ms, measured here)."""

    request_id: int
    mode: str  # the mode that produced the prediction (mobile-only after a fallback)
    prediction: int
    label: str
    head_ms: float = 0.0  # device compute: head + reduction (split), full network, or PNG
    encode_ms: float = 0.0  # codec encode + framing (split)
    network_ms: float = 0.0  # request sent -> answer received, minus the server's own time
    server_ms: float = 0.0  # as the server reported it
    total_ms: float = 0.0  # all of the above, as one wall time
    bytes_up: int = 0  # the frame / image, one copy (retries resend it: see attempts)
    bytes_down: int = 0
    attempts: int = 0  # requests made for this id (0: nothing sent)
    fell_back: bool = False
    errors: list[str] = field(default_factory=list)  # why attempts failed
    transport: str = "local"  # "http", "grpc", or "local" (nothing sent)
    planned: str | None = None  # mode "auto": the choice (mode[@rate]) this request ran
    predicted_ms: float | None = None  # mode "auto": its modeled latency
    switched_to: str | None = None  # mode "auto": the plan changed after this request
    rate: int | None = None  # the rate point a multi-rate bundle's frame carried (split)
    # the runner's link estimate after this result (splitinfer.edge.estimate), passive
    est_up_mbps: float | None = None  # uplink throughput; None until it can be told
    est_rtt_ms: float | None = None
    est_basis: str = "none"  # fit | rtt-held | latency-only | none
    # mode "auto" on the device: the round trip of the ping sent after this request
    # (ReplanPolicy.ping_every), which the estimate above does not include yet
    ping_ms: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Pending:
    """A framed image of a stream, until it is answered."""

    index: int
    head_ms: float
    encode_ms: float
    frame: bytes
    attempts: int = 0
    errors: list[str] = field(default_factory=list)
    done: bool = False
    rate: int | None = None


class EdgeRunner:
    """Runs ``bundle`` on this device against ``server`` (a URL, a Transport, or None)."""

    def __init__(
        self,
        bundle: Bundle,
        server: str | Transport | None,
        *,
        token: str | None = None,
        timeout_s: float = 10.0,
        retries: int = 2,
        fallback: bool = True,
        verify: Verify = True,
        engine: str | EdgeEngine = "torch",
        estimator: LinkEstimator | None = None,
        device: Slowdown | None = None,
    ) -> None:
        if retries < 0 or not timeout_s > 0:
            raise BadInput("retries must be >= 0 and timeout_s > 0")
        self.bundle = bundle
        self.retries = retries
        self.fallback = fallback
        self.engine = load_engine(bundle, engine)
        self.engine_name = engine if isinstance(engine, str) else type(engine).__name__
        self.device = device
        self.decision: Decision | None = None
        #: mode "auto" with re-planning: decides each request's choice (see .replan)
        self.replanner: Replanner | None = None
        #: mode "auto": the device work measured per choice, which re-planning prices
        self.device_times: DeviceTimes | None = None
        self.pings_failed = 0  # mode "auto": pings that got no answer (ReplanPolicy.ping_every)
        #: Passive uplink/RTT estimate, fed by every answered (non-streamed) request.
        self.estimator = estimator or LinkEstimator()
        self._next_id = 0
        self._owns_transport = isinstance(server, str)
        self.transport: Transport | None = (
            connect(server, token=token, timeout_s=timeout_s, verify=verify)
            if isinstance(server, str)
            else server
        )
        if hasattr(self.transport, "class_names"):  # binary results carry class ids only
            self.transport.class_names = list(bundle.spec.classes)  # type: ignore[union-attr]

    @property
    def url(self) -> str | None:
        return self.transport.url if self.transport is not None else None

    @property
    def link_estimate(self) -> LinkEstimate:
        """The link as this runner's own exchanges show it (see :mod:`.estimate`)."""
        return self.estimator.estimate

    @property
    def modes(self) -> tuple[Mode, ...]:
        """The modes this runner can run with its transport."""
        if self.transport is None:
            return ("mobile-only",)
        if not self.transport.sends_images:
            return ("split", "mobile-only")
        return MODES

    def close(self) -> None:
        if self.transport is not None and self._owns_transport:
            self.transport.close()

    def __enter__(self) -> EdgeRunner:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- auto ----------------------------------------------------------------------------

    def plan_auto(
        self,
        link: str,
        device: str = "host",
        server: str = "host",
        *,
        sample: torch.Tensor | None = None,
        objective: str = "latency",
        budget: float | None = None,
        inputs: AutoInputs | None = None,
        repeats: int = 20,
        replan: ReplanPolicy | None = ReplanPolicy(),
        accuracy_weight: float = 0.0,
    ) -> Decision:
        """Choose the mode that mode ``"auto"`` runs, with the planner (modeled).

        ``inputs`` defaults to this bundle measured here (:func:`~splitinfer.edge.auto.
        measure_inputs`, on ``sample`` images, ``repeats`` timed runs per half); only the
        modes this runner can run compete. With ``replan`` (the default policy unless
        None), the runner plans again as its link estimate moves, on ``link`` with the
        estimated uplink rate and RTT (:mod:`splitinfer.edge.replan`); ``None`` keeps
        this first decision for good. With a transport, its bytes per request and this
        machine's stored probe (``splitinfer plan --probe``, if any) are modeled too.

        With a multi-rate bundle over HTTP or gRPC, re-planning also picks the rate point
        (each point's measured bytes and accuracy; ``accuracy_weight``: cost per accuracy
        point lost, see :func:`~splitinfer.edge.auto.replan_costs`); the first choice is
        the best one on ``link`` itself. A WebSocket session carries point 0 only, so
        there the rate stays 0.
        """
        from splitinfer.edge.auto import decide, measure_inputs, replan_costs
        from splitinfer.plan.protocol import TRANSPORTS, load_probe, request_costs

        request = None
        if self.transport is not None and self.transport.name in TRANSPORTS:
            request = request_costs(load_probe(), self.transport.name)

        if inputs is None:
            inputs = measure_inputs(
                self.bundle, sample, engine=self.engine, repeats=repeats, warmup=min(3, repeats)
            )
        self.decision = decide(
            inputs, link, device, server, objective=objective, budget=budget,
            allowed=self.modes, request=request,
        )  # fmt: skip
        self.replanner = None
        if replan is not None:
            rates = self.transport is not None and self.transport.name in RATE_TRANSPORTS
            self.device_times = DeviceTimes() if replan.measured_device else None
            costs = replan_costs(
                inputs, link, device, server, objective=objective, budget=budget,
                allowed=self.modes, request=request, rates=rates, accuracy_weight=accuracy_weight,
                device_times=self.device_times,
            )  # fmt: skip
            first = Choice(self.decision.mode)
            if rates and len(inputs.rate_points) > 1:  # the best (mode, rate) on the link given
                start = costs(LinkEstimate(None, None, 0, "none"))
                first = min(start, key=start.__getitem__) if start else first
            self.replanner = Replanner(costs, first, replan)
        return self.decision

    @property
    def switches(self) -> list[Switch]:
        """Mode ``auto``'s changes of plan so far (empty without re-planning)."""
        return list(self.replanner.switches) if self.replanner is not None else []

    # --- one inference -------------------------------------------------------------------

    def infer(self, image: torch.Tensor, mode: RunMode = "split", rate: int = 0) -> EdgeResult:
        """Run one uint8 image (C x H x W or 1 x C x H x W) in ``mode``; ``rate``: the
        rate point a multi-rate bundle's split frame uses (mode ``auto`` picks its own)."""
        run = self._resolve(mode)
        if rate:
            self.bundle.check_rate(rate)
        images = self._check(image, one=True)
        choice = None
        if mode == "auto" and self.replanner is not None:
            choice = self.replanner.next_choice()  # this request runs under it, to the end
            run = cast(Mode, choice.mode)
        request_id = self._take_id()
        steps = self.estimator.steps
        start = time.perf_counter()
        if run == "mobile-only" or self.transport is None:
            result = self._mobile(images, request_id)
        elif run == "split":
            if choice is not None:
                rate = int(choice.rate) if choice.rate is not None else 0
            result = self._split(images, request_id, rate)
        else:
            result = self._cloud_only(images, request_id)
        result.total_ms = (time.perf_counter() - start) * 1e3
        self._mark(result, mode, choice)
        if choice is not None and self.replanner is not None:
            moved = False
            if self.device_times is not None and not result.fell_back:
                moved = self.device_times.observe(
                    str(choice), result.head_ms + result.encode_ms, self.replanner.policy.threshold
                )  # fmt: skip
            stepped = self.estimator.steps != steps  # the link changed, seen over requests
            switch = self.replanner.observe(self.estimator.estimate, moved, stepped)  # the next
            if self.replanner.ping_due(Choice(result.mode)):  # after the answer: off its latency
                switch = self._ping(result) or switch
            result.switched_to = str(switch.new) if switch is not None else None
        return result

    def _ping(self, result: EdgeResult) -> Switch | None:
        """A ping after ``result`` (mode auto, on the device): its round trip feeds the
        estimator as a request of 0 bytes, and the re-planner sees the new estimate. A
        ping that gets no answer is counted (:attr:`pings_failed`) and feeds nothing."""
        ping = getattr(self.transport, "ping", None)
        if ping is None or self.replanner is None:
            return None
        steps = self.estimator.steps
        try:
            result.ping_ms = float(ping())
        except (CloudUnavailable, CloudRefused):
            self.pings_failed += 1
            return None
        self.estimator.observe(0, result.ping_ms)
        stepped = self.estimator.steps != steps
        return self.replanner.observe(self.estimator.estimate, stepped=stepped, ping=True)

    # --- a sequence ----------------------------------------------------------------------

    def stream(
        self, images: torch.Tensor, mode: RunMode = "split", *, stream: bool = False
    ) -> Iterator[tuple[int, EdgeResult]]:
        """Run uint8 images (N x C x H x W); yield ``(index, result)`` once per image.

        With ``stream=True`` split frames all go on one transport stream (gRPC
        ``InferStream``; over HTTP, one keep-alive request after another) and results come
        as answers arrive; unanswered ids are resent on a new stream, and those still
        unanswered after the last attempt fall back to mobile-only (or raise
        :class:`CloudUnavailable`). A refusal is raised at once; results yielded before it
        stand. Otherwise (and for the other modes) each image is an :meth:`infer` call.
        """
        run = self._resolve(mode)
        self._check(images, one=False)
        if stream and run == "split" and self.transport is not None:
            yield from self._stream_split(images, mode)
            return
        for i in range(len(images)):
            yield i, self.infer(images[i], mode)

    def infer_many(
        self, images: torch.Tensor, mode: RunMode = "split", *, stream: bool = False
    ) -> list[EdgeResult]:
        """:meth:`stream`, collected in input order."""
        out: list[EdgeResult | None] = [None] * len(images)
        for i, result in self.stream(images, mode, stream=stream):
            out[i] = result
        return [r for r in out if r is not None]

    # --- internals -----------------------------------------------------------------------

    def _resolve(self, mode: str) -> Mode:
        if mode not in RUN_MODES:
            raise BadInput(f"mode must be one of {RUN_MODES}, got {mode!r}")
        if mode == "auto":
            if self.decision is None:
                raise BadInput(
                    "mode 'auto' needs a decision: call runner.plan_auto(link) first "
                    "(`splitinfer run --mode auto --link 4g`)"
                )
            if self.replanner is not None:
                return cast(Mode, self.replanner.current.mode)
            return cast(Mode, self.decision.mode)
        if mode == "cloud-only" and self.transport is not None and not self.transport.sends_images:
            raise BadInput(
                f"cloud-only sends the image, which the {self.transport.name} transport "
                "does not carry; use an http:// server URL"
            )
        return mode

    def _check(self, images: Any, one: bool) -> torch.Tensor:
        shape = self.bundle.spec.input_shape
        if one and isinstance(images, torch.Tensor) and images.dim() == 3:
            images = images.unsqueeze(0)
        if not isinstance(images, torch.Tensor) or images.dim() != 4:
            raise BadInput(f"images must be a uint8 tensor N x {' x '.join(map(str, shape))}")
        if one and images.shape[0] != 1:
            raise BadInput("infer takes one image; use stream() or infer_many() for a batch")
        if images.dtype != torch.uint8:
            raise BadInput(f"images must be uint8 (0..255), got {images.dtype}")
        if tuple(images.shape[1:]) != shape:
            raise BadInput(
                f"bundle {self.bundle.spec.id} takes images of shape {shape}, got "
                f"{tuple(images.shape[1:])}; convert them first (splitinfer.edge.stream."
                "load_images does: grayscale/RGB, resize, uint8)"
            )
        return images

    def _take_id(self) -> int:
        request_id = self._next_id
        self._next_id = (self._next_id + 1) % (wire.MAX_REQUEST_ID + 1)
        return request_id

    def _slowed(self) -> contextlib.AbstractContextManager[None]:
        return self.device.slowed() if self.device is not None else contextlib.nullcontext()

    def _mark(self, result: EdgeResult, mode: str, choice: Choice | None = None) -> EdgeResult:
        if mode == "auto" and self.decision is not None:
            result.planned, result.predicted_ms = self.decision.mode, self.decision.predicted_ms
        if choice is not None and self.replanner is not None:
            result.planned = str(choice)
            result.predicted_ms = self.replanner.last_costs.get(choice, result.predicted_ms)
        est = self.estimator.estimate
        result.est_up_mbps, result.est_rtt_ms, result.est_basis = est.up_mbps, est.rtt_ms, est.basis
        return result

    def _mobile(self, images: torch.Tensor, request_id: int) -> EdgeResult:
        t0 = time.perf_counter()  # the first call joins the group: count its wait
        with self._slowed(), torch.no_grad():
            logits = self.bundle.unsplit(self.bundle.spec.preprocess(images))
        t1 = time.perf_counter()
        pred = int(logits.argmax(1)[0])
        return EdgeResult(request_id, "mobile-only", pred, self.bundle.spec.classes[pred],
                          head_ms=(t1 - t0) * 1e3)  # fmt: skip

    def _split(self, images: torch.Tensor, request_id: int, rate: int = 0) -> EdgeResult:
        head_ms, encode_ms, frame = self._frame(images, request_id, rate)
        transport = cast(Transport, self.transport)
        bundle_id = self.bundle.spec.id
        result = self._exchange(
            lambda: transport.infer_frame(bundle_id, frame), images, request_id, "split",
            len(frame),
        )  # fmt: skip
        if not result.fell_back:
            result.head_ms, result.encode_ms = head_ms, encode_ms
            result.rate = rate if self.bundle.multirate else None
        return result

    def _frame(
        self, images: torch.Tensor, request_id: int, rate: int = 0
    ) -> tuple[float, float, bytes]:
        """Head + reduction, then the frame; rate point ``rate`` (> 0: the bundle's own
        PyTorch edge half, since an engine computes point 0's features)."""
        t0 = time.perf_counter()  # the first call joins the group: count its wait
        with self._slowed():
            z = self.bundle.edge.features(images, rate) if rate else self.engine.features(images)
            t1 = time.perf_counter()
            frame = self.bundle.edge.frame(z, request_id, rate)
        return (t1 - t0) * 1e3, (time.perf_counter() - t1) * 1e3, frame

    def _cloud_only(self, images: torch.Tensor, request_id: int) -> EdgeResult:
        t0 = time.perf_counter()  # the first call joins the group: count its wait
        with self._slowed():
            png = encode_png(images[0])
        head_ms = (time.perf_counter() - t0) * 1e3
        transport = cast(Transport, self.transport)
        bundle_id = self.bundle.spec.id
        result = self._exchange(
            lambda: transport.infer_image(bundle_id, png, request_id), images, request_id,
            "cloud-only", len(png),
        )  # fmt: skip
        if not result.fell_back:
            result.head_ms = head_ms
        return result

    def _exchange(
        self,
        call: Callable[[], Reply],
        images: torch.Tensor,
        request_id: int,
        mode: Mode,
        bytes_up: int,
    ) -> EdgeResult:
        """One request with retries on CloudUnavailable; a refusal is raised at once."""
        errors: list[str] = []
        for attempt in range(1, self.retries + 2):
            try:
                reply = call()
            except CloudUnavailable as err:
                errors.append(f"attempt {attempt}: {err.message}")
                if err.status is not None:  # the server is up but busy: back off a little
                    time.sleep(min(0.05 * attempt, 0.5))
                continue
            return self._answered(reply, request_id, mode, bytes_up, attempt, errors)
        return self._give_up(images, request_id, errors)

    def _answered(
        self, reply: Reply, request_id: int, mode: Mode, bytes_up: int, attempts: int,
        errors: list[str], observe: bool = True,
    ) -> EdgeResult:  # fmt: skip
        """The result of an answered request; ``observe``: feed the link estimator (not
        for streamed requests, whose times overlap)."""
        if reply.request_id != request_id:
            raise CloudRefused(
                "OK", "bad_reply", f"answer for request {reply.request_id}, sent {request_id}"
            )
        result = EdgeResult(
            request_id, mode, reply.class_id, reply.class_name,
            network_ms=max(reply.elapsed_ms - reply.server_ms, 0.0), server_ms=reply.server_ms,
            bytes_up=bytes_up, bytes_down=reply.bytes_down, attempts=attempts, errors=errors,
            transport=cast(Transport, self.transport).name,
        )  # fmt: skip
        if observe:
            self.estimator.observe(bytes_up, result.network_ms)
        return result

    def _give_up(self, images: torch.Tensor, request_id: int, errors: list[str]) -> EdgeResult:
        """After the last failed attempt: mobile-only (recorded), or CloudUnavailable."""
        if not self.fallback:
            raise CloudUnavailable(
                f"{self.url} unanswered after {self.retries + 1} attempts: {'; '.join(errors)}"
            )
        result = self._mobile(images, request_id)
        result.fell_back, result.errors, result.attempts = True, errors, self.retries + 1
        return result

    def _stream_split(self, images: torch.Tensor, mode: str) -> Iterator[tuple[int, EdgeResult]]:
        """Frame every image, then send them on one stream per attempt."""
        transport = cast(Transport, self.transport)
        jobs: dict[int, _Pending] = {}
        current = self.replanner.current if mode == "auto" and self.replanner else None
        rate = int(current.rate) if current is not None and current.rate is not None else 0
        for i in range(len(images)):
            request_id = self._take_id()
            jobs[request_id] = _Pending(i, *self._frame(images[i : i + 1], request_id, rate))
            jobs[request_id].rate = rate if self.bundle.multirate else None
        left = list(jobs)
        for attempt in range(1, self.retries + 2):
            busy = False
            for request_id in left:
                jobs[request_id].attempts = attempt
            batch = [(request_id, jobs[request_id].frame) for request_id in left]
            try:
                with contextlib.closing(transport.stream(self.bundle.spec.id, batch)) as answers:
                    for request_id, outcome in answers:
                        job = jobs.get(request_id)
                        if job is None or job.done:
                            continue  # each id counts once
                        if isinstance(outcome, CloudRefused):
                            raise outcome
                        if isinstance(outcome, CloudUnavailable):
                            job.errors.append(f"attempt {attempt}: {outcome.message}")
                            busy = busy or outcome.status is not None
                            continue
                        job.done = True
                        yield job.index, self._mark(self._streamed(job, request_id, outcome), mode)
            except CloudUnavailable as err:
                for request_id in left:
                    if not jobs[request_id].done:
                        jobs[request_id].errors.append(f"attempt {attempt}: {err.message}")
            left = [request_id for request_id in left if not jobs[request_id].done]
            if not left:
                return
            if busy:
                time.sleep(min(0.05 * attempt, 0.5))
        if not self.fallback:
            first = jobs[left[0]]
            raise CloudUnavailable(
                f"{len(left)} of {len(jobs)} frames unanswered by {self.url} after "
                f"{self.retries + 1} attempts (request ids {left[:5]}...): {first.errors[-1]}"
            )
        for request_id in left:
            job = jobs[request_id]
            result = self._mobile(images[job.index : job.index + 1], request_id)
            result.fell_back, result.errors, result.attempts = True, job.errors, job.attempts
            result.total_ms = result.head_ms
            yield job.index, self._mark(result, mode)

    def _streamed(self, job: _Pending, request_id: int, reply: Reply) -> EdgeResult:
        result = self._answered(
            reply, request_id, "split", len(job.frame), job.attempts, job.errors, observe=False
        )
        result.head_ms, result.encode_ms, result.rate = job.head_ms, job.encode_ms, job.rate
        result.total_ms = job.head_ms + job.encode_ms + reply.elapsed_ms
        return result


def encode_png(image: torch.Tensor) -> bytes:
    """One uint8 image (C x H x W, C in 1 or 3) as PNG bytes: what cloud-only sends."""
    from PIL import Image

    array = image.permute(1, 2, 0).contiguous().numpy()
    buf = io.BytesIO()
    Image.fromarray(array[..., 0] if array.shape[2] == 1 else array).save(buf, format="PNG")
    return buf.getvalue()
