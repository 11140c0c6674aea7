"""The planner: cost every (cut, rate point) plus cloud-only and mobile-only; pick the best.

Inputs: a ``ModelProfile`` (splitinfer.partition.profile), rate points (measured by a sweep,
or codec-only estimates), a device, link and server profile, an objective (``latency`` |
``energy`` | ``bytes``) and an accuracy-loss budget in percentage points. Every number
it returns is *modeled* (plan/cost.py) and says how its compute times were obtained.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from splitinfer import wire
from splitinfer.errors import UnknownCutPoint
from splitinfer.plan.cost import (
    MODES,
    CostBreakdown,
    LinkParams,
    Mode,
    Stages,
    local_cost,
    offload_cost,
)
from splitinfer.plan.errors import BadPlanInput
from splitinfer.plan.inputs import InputEncoding, default_input_encoding
from splitinfer.plan.profiles import DeviceProfile, LinkProfile
from splitinfer.plan.protocol import RequestCosts
from splitinfer.plan.ratepoints import RatePoint, estimate_ratepoints

Objective = Literal["latency", "energy", "bytes"]
OBJECTIVES: tuple[Objective, ...] = ("latency", "energy", "bytes")
Kind = Literal["split", "cloud-only", "mobile-only"]

# Frame v1 overhead around a payload: a compact frame (bundle fingerprint, request id and
# payload length as 2-byte varints, CRC), exactly as splitinfer.wire encodes it.
DEFAULT_HEADER_BYTES = wire.frame_overhead(wire.FrameHeader(request_id=1000, bundle=0), 1000)
# A top-1 result: class id (4 bytes) + score (4 bytes) ...
DEFAULT_RESULT_BYTES = 8
# ... inside a result frame, whose overhead is what the wire adds to those 8 bytes.
RESULT_FRAME_OVERHEAD = (
    len(wire.encode_result(wire.TopK(request_id=1000, class_ids=(0,), scores=(1.0,))))
    - DEFAULT_RESULT_BYTES
)


@dataclass(frozen=True)
class Candidate:
    """One way to run the model, with its modeled cost."""

    kind: Kind
    cut: str | None
    label: str
    cost: CostBreakdown
    accuracy_loss: float | None  # percentage points; None = not measured
    measured: bool  # the rate point was measured (not estimated)
    source: str
    within_budget: bool

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["cost"] = self.cost.to_json()
        return out


@dataclass
class Plan:
    """The ranked candidates, the best plan and its ratios against the two baselines."""

    model: str
    mode: Mode
    objective: Objective
    budget: float
    link: LinkProfile
    device: DeviceProfile
    server: DeviceProfile
    input_encoding: InputEncoding
    candidates: list[Candidate]  # ranked best first; baselines included
    notes: list[str] = field(default_factory=list)

    @property
    def best(self) -> Candidate:
        return next(c for c in self.candidates if c.within_budget)

    @property
    def cloud_only(self) -> Candidate:
        return next(c for c in self.candidates if c.kind == "cloud-only")

    @property
    def mobile_only(self) -> Candidate:
        return next(c for c in self.candidates if c.kind == "mobile-only")

    def ratios(self) -> dict[str, float]:
        """Baseline / best: >1 means the best plan is that many times faster or thriftier."""
        b = self.best.cost
        out = {}
        for name, base in (
            ("cloud_only", self.cloud_only.cost),
            ("mobile_only", self.mobile_only.cost),
        ):
            out[f"latency_vs_{name}"] = _ratio(base.latency_ms, b.latency_ms)
            out[f"energy_vs_{name}"] = _ratio(base.energy_mj, b.energy_mj)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "splitinfer.plan/1",
            "modeled": True,
            "model": self.model,
            "mode": self.mode,
            "objective": self.objective,
            "budget_pp": self.budget,
            "link": dataclasses.asdict(self.link),
            "device": {**dataclasses.asdict(self.device), "compute": self.device.compute_basis},
            "server": {**dataclasses.asdict(self.server), "compute": self.server.compute_basis},
            "input_encoding": dataclasses.asdict(self.input_encoding),
            "best": self.best.to_json(),
            "ratios": self.ratios(),
            "candidates": [c.to_json() for c in self.candidates],
            "notes": self.notes,
        }


def _ratio(base: float, best: float) -> float:
    return base / best if best > 0 else float("inf")


class _Timing:
    """Turns host-measured ms (or FLOPs) into ms on a device or server profile."""

    def __init__(self, profile: Any) -> None:
        self.profile = profile
        full = profile.full_ms
        self.host_gflops = profile.total_flops / (full * 1e6) if full else None

    def plus(self, host_ms: float | None, flops: float) -> float | None:
        """``host_ms`` plus the host time of ``flops`` more work (a unit), at the model's
        measured FLOP rate on this host."""
        if host_ms is None or not flops:
            return host_ms
        return host_ms + (flops / (self.host_gflops * 1e6) if self.host_gflops else 0.0)

    def compute(self, host_ms: float | None, flops: float, where: DeviceProfile) -> float:
        if where.speed is not None:
            if host_ms is None:
                raise BadPlanInput(
                    f"profile of {self.profile.model} has no measured times, and "
                    f"{where.name!r} is host-relative (speed); profile with latency "
                    f"(`splitinfer profile {self.profile.model} --json ...`) or use a "
                    "profile with gflops= (e.g. --device phone)"
                )
            return host_ms / where.speed
        if where.gflops is None:  # excluded by DeviceProfile's own check
            raise BadPlanInput(f"profile {where.name!r} has neither speed nor gflops")
        return flops / (where.gflops * 1e6)

    def other(self, host_ms: float, where: DeviceProfile) -> float:
        """Non-FLOP work (codecs): scaled by speed, or by device/host GFLOP/s if known."""
        if where.speed is not None:
            return host_ms / where.speed
        if self.host_gflops and where.gflops:
            return host_ms * self.host_gflops / where.gflops
        return host_ms


def plan(
    profile: Any,
    *,
    link: LinkProfile,
    device: DeviceProfile,
    server: DeviceProfile,
    rate_points: Sequence[RatePoint] | None = None,
    objective: Objective = "latency",
    budget: float = 1.0,
    mode: Mode = "realistic",
    header_bytes: float = DEFAULT_HEADER_BYTES,
    result_bytes: float = DEFAULT_RESULT_BYTES,
    input_encoding: InputEncoding | None = None,
    compression: float | None = None,
    include_unmeasured: bool = True,
    request: RequestCosts | None = None,
) -> Plan:
    """Rank every candidate for ``objective`` and return the :class:`Plan`.

    Without ``rate_points``, codec-only estimates are derived from the profile (see
    ``ratepoints.estimate_ratepoints``). A candidate is within budget when its measured
    accuracy loss is <= ``budget`` pp; points whose loss was not measured count as within
    budget only with ``include_unmeasured`` (flagged in every output).

    ``request`` (realistic mode): the transport's protocol bytes replace ``result_bytes``
    and the result frame down, and are added to what goes up (its request head on the
    frame or image; a transport that sends the payload alone drops the frame header),
    and each mode's fixed per-request ms is added (:mod:`splitinfer.plan.protocol`).
    """
    _check(profile, objective, mode, budget)
    timing = _Timing(profile)
    notes = [
        f"modeled ({mode} mode); device compute: {device.compute_basis}; "
        f"server: {server.compute_basis}"
    ]
    if rate_points is None:
        rate_points = estimate_ratepoints([c.cut for c in profile.cuts], header_bytes, compression)
        notes.append(
            "rate points: codec-only ESTIMATES from the profile, accuracy loss not measured"
        )
    enc = input_encoding or default_input_encoding(profile.input_shape)
    params = LinkParams(
        link.up_mbps, link.down_mbps, link.rtt_ms, link.alpha_up, link.alpha_down, link.beta
    )
    seed = mode == "seed"
    down = result_bytes + (0 if seed else RESULT_FRAME_OVERHEAD)
    proto = None if seed else request
    if proto is not None:
        down = proto.transport.down
        notes.append(
            f"per request: {proto.transport.name} bytes ({proto.transport.source}); fixed ms: "
            f"{proto.source}"
        )

    def up(body: float, frame_header: float) -> float:
        if proto is None:
            return body
        drop = 0.0 if proto.transport.frame_header else frame_header
        return body - drop + proto.transport.up

    def fixed(kind: str) -> float:
        return proto.fixed(kind) if proto is not None else 0.0

    cuts = {c.cut.name: c for c in profile.cuts}
    candidates = []
    for rp in rate_points:
        cp = cuts.get(rp.cut)
        if cp is None:
            raise UnknownCutPoint(rp.cut, list(cuts), profile.model)
        head_flops, tail_flops = (cp.cut.flops_head + rp.unit_flops_edge,
                                  cp.cut.flops_tail + rp.unit_flops_cloud)  # fmt: skip
        stages = Stages(
            head_ms=timing.compute(timing.plus(cp.head_ms, rp.unit_flops_edge), head_flops, device),
            encode_ms=timing.other(rp.encode_ms, device),
            bytes_up=rp.payload_bytes
            if seed
            else up(rp.frame_bytes, rp.frame_bytes - rp.payload_bytes),
            decode_ms=0.0 if seed else timing.other(rp.decode_ms, server),
            tail_ms=timing.compute(
                timing.plus(cp.tail_ms, rp.unit_flops_cloud), tail_flops, server
            ),
            bytes_down=down,
            fixed_ms=fixed("split"),
        )
        ok = rp.accuracy_loss <= budget if rp.accuracy_loss is not None else include_unmeasured
        cost = offload_cost(stages, params, device.active_w, device.idle_w, mode)
        candidates.append(
            Candidate("split", rp.cut, rp.label, cost, rp.accuracy_loss, rp.measured, rp.source, ok)
        )
    cloud = Stages(
        head_ms=timing.other(enc.encode_ms, device),
        encode_ms=0.0,
        bytes_up=enc.bytes if seed else (up(enc.bytes, 0.0) if proto else enc.bytes + header_bytes),
        decode_ms=0.0 if seed else timing.other(enc.decode_ms, server),
        tail_ms=timing.compute(profile.full_ms, profile.total_flops, server),
        bytes_down=down,
        fixed_ms=fixed("cloud-only"),
    )
    cloud_cost = offload_cost(cloud, params, device.active_w, device.idle_w, mode)
    candidates.append(
        Candidate("cloud-only", None, "input image", cloud_cost, 0.0, True, enc.source, True)
    )
    full = timing.compute(profile.full_ms, profile.total_flops, device)
    candidates.append(Candidate(
        "mobile-only", None, "whole model on the device",
        local_cost(full, device.active_w, fixed("mobile-only")),
        0.0, True, "nothing sent", True,
    ))  # fmt: skip
    candidates.sort(key=lambda c: _rank_key(c, objective))
    return Plan(
        profile.model, mode, objective, budget, link, device, server, enc, candidates, notes
    )


def _rank_key(c: Candidate, objective: Objective) -> tuple[float, ...]:
    cost = c.cost
    primary = {"latency": cost.latency_ms, "energy": cost.energy_mj, "bytes": cost.bytes_up}[
        objective
    ]
    # "bytes" is about what to send when offloading: mobile-only sends none and ranks last.
    offloads = 1.0 if (objective == "bytes" and c.kind == "mobile-only") else 0.0
    return (0.0 if c.within_budget else 1.0, offloads, primary, cost.latency_ms)


def _check(profile: Any, objective: str, mode: str, budget: float) -> None:
    check_options(objective, mode, budget)
    if not profile.cuts:
        raise BadPlanInput(f"profile of {profile.model} lists no cut points; nothing to plan")


def check_options(objective: str, mode: str, budget: float) -> None:
    """Raise :class:`BadPlanInput` for an unknown objective or mode, or a negative budget."""
    if objective not in OBJECTIVES:
        raise BadPlanInput(
            f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}"
        )
    if mode not in MODES:
        raise BadPlanInput(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if not budget >= 0:
        raise BadPlanInput(f"accuracy-loss budget must be >= 0 percentage points, got {budget!r}")


def with_uplink(link: LinkProfile, up_mbps: float) -> LinkProfile:
    """The same link at another uplink bandwidth (for bandwidth sweeps)."""
    return dataclasses.replace(link, up_mbps=up_mbps, name=f"{link.name}@{up_mbps:g}Mbps")
