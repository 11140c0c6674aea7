"""Mode ``auto``: the planner picks split, cloud-only or mobile-only for a link and device.

The planner (:mod:`splitinfer.plan`) models each mode's latency from compute times, what
one inference sends, and link / device / server profiles. For a bundle, the inputs
(:class:`AutoInputs`) come from :func:`measure_inputs`:

* the rate point: the bundle's measured operating point (``spec.metrics`` as
  ``splitinfer train units`` writes it: mean frame bytes, encode / decode ms; see
  :func:`splitinfer.plan.ratepoints.ratepoints_for`), or, when the spec lacks it, frames
  of the sample images measured now (accuracy then not measured);
* head / tail / whole-network ms: the engine's edge half, the cloud half and
  :meth:`Bundle.full`, timed on this host (median after warm-up, in rounds, checked by
  :mod:`splitinfer.timing`: a flagged timing is measured once more with twice the runs,
  and a prediction still flagged says so in ``Decision.unreliable``), with their FLOPs
  (``torch.utils.flop_counter``) for FLOP-rated device profiles such as ``phone``;
* cloud-only: the PNGs the runner would send for the sample images.

Mobile-only and cloud-only run :meth:`Bundle.unsplit`: the bundle's unsplit baseline
when it ships one, else its own network (:meth:`Bundle.full`, codec round trip included),
and no accuracy budget applies unless one is given. Every prediction is *modeled*; the
:class:`Decision` records the profiles it used.
"""

from __future__ import annotations

import dataclasses
import io
import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from splitinfer.bundle import Bundle
from splitinfer.edge.estimate import DeviceTimes, LinkEstimate
from splitinfer.edge.replan import LOCAL, Choice, CostFn
from splitinfer.errors import BadInput
from splitinfer.partition.profile import CutProfile, ModelProfile
from splitinfer.partition.split import CutPoint
from splitinfer.plan import InputEncoding, RatePoint
from splitinfer.plan import device as device_profile
from splitinfer.plan import link as link_profile
from splitinfer.plan import plan as make_plan
from splitinfer.plan import server as server_profile
from splitinfer.plan.planner import OBJECTIVES
from splitinfer.plan.profiles import LinkProfile
from splitinfer.plan.protocol import RequestCosts
from splitinfer.timing import Checks, host_info, load_guard, parts_mismatch, time_inputs

MODES = ("split", "cloud-only", "mobile-only")
SAMPLE_IMAGES = 16
_METRIC_KEYS = (
    "mean_payload_bytes", "mean_frame_bytes", "accuracy", "accuracy_loss_points",
    "encode_ms_median", "decode_ms_median",
)  # fmt: skip


@dataclass(frozen=True)
class AutoInputs:
    """What the planner needs about one bundle (host-measured ms, bytes, FLOPs)."""

    profile: ModelProfile  # one cut, the bundle's: head = edge half, tail = cloud half
    rate_point: RatePoint
    input_encoding: InputEncoding  # what cloud-only sends
    unreliable: tuple[str, ...] = ()  # why the timings are not to be trusted (after a retry)
    #: a multi-rate bundle's measured points, in rate-index order (point 0 is ``rate_point``);
    #: empty for a single-rate bundle
    rate_points: tuple[RatePoint, ...] = ()


@dataclass(frozen=True)
class Decision:
    """The mode auto runs, its modeled latency, and every competitor's (all modeled)."""

    mode: str
    predicted_ms: float
    link: str
    device: str
    server: str
    objective: str
    candidates: dict[str, dict[str, float]]  # mode -> latency_ms, energy_mj, bytes_up
    notes: tuple[str, ...]
    unreliable: tuple[str, ...] = ()  # the timing checks that flagged its inputs

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "predicted_ms": self.predicted_ms,
            "link": self.link,
            "device": self.device,
            "server": self.server,
            "objective": self.objective,
            "candidates": self.candidates,
            "notes": list(self.notes),
            "modeled": True,
            "reliable": not self.unreliable,
            "unreliable": list(self.unreliable),
        }


def decide(
    inputs: AutoInputs,
    link: str | LinkProfile,
    device: str = "host",
    server: str = "host",
    *,
    objective: str = "latency",
    budget: float | None = None,
    allowed: Sequence[str] = MODES,
    request: RequestCosts | None = None,
) -> Decision:
    """The best of the ``allowed`` modes for ``objective`` on this link and device;
    ``request``: the transport's bytes and fixed ms per request (:mod:`splitinfer.plan.
    protocol`), else the frame and result frame alone."""
    if objective not in OBJECTIVES:
        raise BadInput(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    if "mobile-only" not in allowed or not set(allowed) <= set(MODES):
        raise BadInput(f"allowed modes must include mobile-only and be among {MODES}")
    p = make_plan(
        inputs.profile, link=link_profile(link), device=device_profile(device),
        server=server_profile(server), rate_points=[inputs.rate_point],
        objective=objective, budget=math.inf if budget is None else budget,
        input_encoding=inputs.input_encoding, request=request,
    )  # fmt: skip
    ranked = [c for c in p.candidates if c.kind in allowed]
    best = next(c for c in ranked if c.within_budget)  # mobile-only always is
    notes = [*p.notes, f"rate point: {inputs.rate_point.source}",
             f"cloud-only input: {inputs.input_encoding.source}"]  # fmt: skip
    if len(allowed) < len(MODES):
        notes.append(f"competing: {', '.join(allowed)} (what this transport can run)")
    return Decision(
        best.kind, best.cost.latency_ms, p.link.name, p.device.name, p.server.name, objective,
        {
            c.kind: {
                "latency_ms": c.cost.latency_ms, "energy_mj": c.cost.energy_mj,
                "bytes_up": c.cost.bytes_up, "within_budget": float(c.within_budget),
                "device_ms": c.cost.head_ms + c.cost.encode_ms,
                "compute_mj": c.cost.compute_mj,
            }
            for c in ranked
        },
        tuple(notes),
        inputs.unreliable,
    )  # fmt: skip


_OBJECTIVE_KEY = {"latency": "latency_ms", "energy": "energy_mj", "bytes": "bytes_up"}


def estimated_link(base: LinkProfile, est: LinkEstimate) -> LinkProfile:
    """``base`` with the estimated uplink rate and RTT where the estimate has them."""
    up = est.up_mbps if est.up_mbps is not None and est.up_mbps > 0 else base.up_mbps
    rtt = est.rtt_ms if est.rtt_ms is not None else base.rtt_ms
    if (up, rtt) == (base.up_mbps, base.rtt_ms):
        return base
    return dataclasses.replace(
        base, name=f"{base.name}~estimated", up_mbps=up, rtt_ms=rtt,
        source=f"{base.source}; up rate and RTT: the runner's passive estimate ({est.basis})",
    )  # fmt: skip


def replan_costs(
    inputs: AutoInputs,
    link: str | LinkProfile,
    device: str = "host",
    server: str = "host",
    *,
    objective: str = "latency",
    budget: float | None = None,
    allowed: Sequence[str] = MODES,
    request: RequestCosts | None = None,
    rates: bool = True,
    accuracy_weight: float = 0.0,
    device_times: DeviceTimes | None = None,
) -> CostFn:
    """The cost function :class:`~splitinfer.edge.replan.Replanner` re-plans with: the
    same :func:`decide` on ``link`` with the estimated uplink rate and RTT; the modeled
    ``objective`` of each allowed choice within the accuracy budget.

    With a multi-rate bundle's points (``inputs.rate_points``) and ``rates``, split competes
    once per rate point (``Choice("split", "K")``, K the rate index its frames carry), each
    with its measured bytes and accuracy; ``accuracy_weight`` adds that many cost units
    (ms, mJ or bytes) per percentage point of accuracy lost, so a fast link buys the
    accurate point and a slow one the small point (0: the objective alone, which always
    picks the smallest point within the budget). Points over the budget never compete.

    With ``device_times``, each choice's modeled device work (head + encode) is replaced
    by what the runner measured for it (:class:`~splitinfer.edge.estimate.DeviceTimes`),
    in the latency and in the compute energy; bytes are not affected.
    """
    if accuracy_weight < 0:
        raise BadInput(f"accuracy_weight must be >= 0, got {accuracy_weight}")
    base, key = link_profile(link), _OBJECTIVE_KEY[objective]
    points = inputs.rate_points if rates and len(inputs.rate_points) > 1 else ()
    decide(inputs, base, device, server, objective=objective, budget=budget, allowed=allowed,
           request=request)  # fmt: skip  # checks the arguments once, up front

    def penalty(loss: float | None) -> float:
        return accuracy_weight * loss if loss is not None else 0.0

    def costs(est: LinkEstimate) -> dict[Choice, float]:
        if points:
            return _rate_costs(inputs, points, estimated_link(base, est), device, server,
                               objective, budget, allowed, request, penalty,
                               device_times)  # fmt: skip
        d = decide(inputs, estimated_link(base, est), device, server, objective=objective,
                   budget=budget, allowed=allowed, request=request)  # fmt: skip
        return {
            Choice(m): math.inf
            if objective == "bytes" and m == "mobile-only"
            else _measured(c, key, device_times, str(Choice(m)))
            + (penalty(inputs.rate_point.accuracy_loss) if m == "split" else 0.0)
            for m, c in d.candidates.items()
            if c["within_budget"]
        }  # "bytes" is about what to send when offloading: mobile-only ranks last, as in plan

    return costs


def _rate_costs(
    inputs: AutoInputs,
    points: Sequence[RatePoint],
    link: LinkProfile,
    device: str,
    server: str,
    objective: str,
    budget: float | None,
    allowed: Sequence[str],
    request: RequestCosts | None,
    penalty: Callable[[float | None], float],
    device_times: DeviceTimes | None = None,
) -> dict[Choice, float]:
    """Every allowed (mode, rate) choice within budget and its cost, one plan for all."""
    if objective not in OBJECTIVES:
        raise BadInput(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    p = make_plan(
        inputs.profile, link=link, device=device_profile(device), server=server_profile(server),
        rate_points=list(points), objective=objective,
        budget=math.inf if budget is None else budget, input_encoding=inputs.input_encoding,
        request=request,
    )  # fmt: skip
    index = {pt.label: k for k, pt in enumerate(points)}
    out: dict[Choice, float] = {}
    for c in p.candidates:
        if c.kind not in allowed or not c.within_budget:
            continue
        key = _OBJECTIVE_KEY[objective]
        row = {**c.cost.to_json(), "device_ms": c.cost.head_ms + c.cost.encode_ms}
        choice = Choice("split", str(index[c.label])) if c.kind == "split" else Choice(c.kind)
        cost = _measured(row, key, device_times, str(choice))
        if c.kind == "split":
            out[choice] = cost + penalty(c.accuracy_loss)
        else:
            out[choice] = math.inf if objective == "bytes" and c.kind == LOCAL else cost
    return out


def _measured(
    row: Mapping[str, float], key: str, device_times: DeviceTimes | None, choice: str
) -> float:
    """``row[key]`` with the modeled device work replaced by the measured one (latency and
    compute energy; bytes as they are)."""
    if device_times is None or key == "bytes_up":
        return row[key]
    modeled = row["device_ms"]
    measured = device_times.corrected(choice, modeled)
    if key == "latency_ms":
        return row[key] - modeled + measured
    scale = measured / modeled if modeled > 0 else 1.0
    return row[key] - row["compute_mj"] + row["compute_mj"] * scale


def measure_inputs(
    bundle: Bundle,
    sample: torch.Tensor | None = None,
    *,
    engine: Any = None,
    repeats: int = 20,
    warmup: int = 3,
    sample_note: str | None = None,
) -> AutoInputs:
    """Time the bundle's halves here and read (or measure) its operating point.

    ``sample_note`` says what ``sample`` is (default: "N sample images").
    """
    images, note = _sample(bundle, sample)
    sample_note = f"{len(images)} {sample_note}" if sample is not None and sample_note else note
    engine = engine or bundle.edge
    one = images[:1]
    x = bundle.spec.preprocess(one)
    with torch.no_grad():
        z = bundle.edge.features(one)
    for attempt in range(2):  # a flagged timing is measured once more, with twice the runs
        runs = repeats * (attempt + 1)
        head = time_inputs(engine.features, one.clone, runs, warmup)
        tail = time_inputs(bundle.cloud.run, z.clone, runs, warmup)
        full = time_inputs(bundle.full, x.clone, runs, warmup)
        checks = Checks()
        checks.add(load_guard(torch.get_num_threads()))
        for what, t in (("edge half", head), ("cloud half", tail), ("whole network", full)):
            checks.timing(what, t)
        checks.add(
            parts_mismatch([head.median_ms, tail.median_ms], full.median_ms, "edge+cloud halves")
        )
        if checks.reliable:
            break
    head_ms, tail_ms, full_ms = head.median_ms, tail.median_ms, full.median_ms
    if bundle.baseline is not None:  # the baselines run the unsplit model: time that one
        full_ms = time_inputs(bundle.unsplit, x.clone, runs, warmup).median_ms
    m = bundle.model
    params_head = _params(m.head, m.reduction)
    cut = CutPoint(
        name=bundle.spec.cut, aliases=(), node=bundle.spec.cut, index=0,
        shape=tuple(z.shape), dtype=str(z.dtype).removeprefix("torch."), numel=z.numel(),
        bytes_fp32=4 * z.numel(), flops_head=_flops(m.edge, x), flops_tail=_flops(m.cloud, z),
        params_head=params_head, params_tail=_params(m.restoration, m.tail),
    )  # fmt: skip
    profile = ModelProfile(
        model=bundle.spec.model, input_shape=tuple(one.shape), input_bytes=one.numel(),
        total_flops=_flops(bundle.unsplit, x), params=cut.params_head + cut.params_tail,
        full_ms=full_ms, cuts=[CutProfile(cut, head_ms, tail_ms, tuple(checks.reasons))],
        machine=host_info(),
        timing={"repeats": runs, "warmup": warmup, "measured": True, "stat": "median",
                "what": f"bundle {bundle.spec.id}: edge half / cloud half / Bundle.unsplit",
                **checks.to_json()},
    )  # fmt: skip
    return AutoInputs(
        profile, rate_point(bundle, images, engine, sample_note),
        png_encoding(images, sample_note), tuple(checks.reasons), rate_points(bundle),
    )  # fmt: skip


def rate_points(bundle: Bundle) -> tuple[RatePoint, ...]:
    """A multi-rate bundle's measured points in rate-index order (empty for a single-rate
    bundle, or one whose points lack their measurements)."""
    from splitinfer.plan.ratepoints import ratepoints_for

    metrics = [bundle.spec.metrics, *(p.metrics for p in bundle.spec.rates)]
    if not bundle.multirate or not all(all(k in m for k in _METRIC_KEYS) for m in metrics):
        return ()
    return tuple(RatePoint(**p) for p in ratepoints_for(bundle.spec)["points"])


def rate_point(bundle: Bundle, images: torch.Tensor, engine: Any, note: str) -> RatePoint:
    """The bundle's measured operating point, or one measured now on ``images``."""
    if all(k in bundle.spec.metrics for k in _METRIC_KEYS):
        from splitinfer.plan.ratepoints import ratepoints_for

        return RatePoint(**ratepoints_for(bundle.spec)["points"][0])
    payloads, frames, enc, dec = [], [], [], []
    for i in range(len(images)):
        z = engine.features(images[i : i + 1])
        t0 = time.perf_counter()
        frame = bundle.edge.frame(z, i)
        enc.append((time.perf_counter() - t0) * 1e3)
        payload = bundle.codec.encode(z)
        t0 = time.perf_counter()
        bundle.codec.decode(payload)
        dec.append((time.perf_counter() - t0) * 1e3)
        payloads.append(len(payload))
        frames.append(len(frame))
    return RatePoint(
        cut=bundle.spec.cut, label=bundle.spec.codec,
        payload_bytes=statistics.fmean(payloads), frame_bytes=statistics.fmean(frames),
        accuracy=None, accuracy_loss=None, encode_ms=statistics.median(enc),
        decode_ms=statistics.median(dec), measured=True,
        source=f"measured here on {note} (the spec has no metrics; accuracy not measured)",
    )  # fmt: skip


def png_encoding(images: torch.Tensor, note: str) -> InputEncoding:
    """What cloud-only sends for ``images``: mean PNG bytes, median encode / decode ms."""
    from PIL import Image

    from splitinfer.edge.runner import encode_png

    sizes, enc, dec = [], [], []
    for image in images:
        t0 = time.perf_counter()
        png = encode_png(image)
        enc.append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        with Image.open(io.BytesIO(png)) as im:
            im.load()
        dec.append((time.perf_counter() - t0) * 1e3)
        sizes.append(len(png))
    return InputEncoding(
        statistics.fmean(sizes),
        statistics.median(enc),
        statistics.median(dec),
        f"PNG of {note}, measured here (Pillow)",
    )


def _sample(bundle: Bundle, sample: torch.Tensor | None) -> tuple[torch.Tensor, str]:
    if sample is not None and len(sample) > 0:
        images = sample[:SAMPLE_IMAGES]
        return images, f"{len(images)} sample images"
    g = torch.Generator().manual_seed(0)
    shape = (8, *bundle.spec.input_shape)
    noise = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
    return noise, "8 random-pixel images (no sample given: PNG sizes are pessimistic)"


def _flops(fn: Callable[[torch.Tensor], Any], x: torch.Tensor) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn(x)
    return int(counter.get_total_flops())


def _params(*modules: torch.nn.Module) -> int:
    return sum(p.numel() for module in modules for p in module.parameters())
