"""Thin helpers over ``splitinfer.plan`` shared by the modeled experiments."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from splitinfer.experiments.subjects import Subject
from splitinfer.plan import Candidate, LinkProfile, Plan, RatePoint, link, plan


def plan_subject(
    s: Subject,
    link_spec: str | LinkProfile,
    mode: str = "realistic",
    objective: str = "latency",
    points: Sequence[RatePoint] | None = None,
    budget: float | None = None,
) -> Plan:
    """The planner on subject ``s`` (its plan points unless ``points`` are given)."""
    return plan(
        s.profile, link=link(link_spec), device=s.device, server=s.server,
        rate_points=list(points if points is not None else s.plan_points()),
        objective=objective,  # type: ignore[arg-type]
        budget=s.budget_pp if budget is None else budget,
        mode=mode,  # type: ignore[arg-type]
        include_unmeasured=False,
    )  # fmt: skip


def best_split(p: Plan) -> Candidate:
    """The best within-budget candidate that actually splits the model."""
    return next(c for c in p.candidates if c.kind == "split" and c.within_budget)


def where(c: Candidate) -> str:
    """A short name for a candidate: its cut, or the baseline's name."""
    return c.cut if c.kind == "split" and c.cut else c.kind


def stage_times(c: Candidate) -> dict[str, float]:
    """A candidate's modeled latency split into the stages the figures stack (ms)."""
    k = c.cost
    return {
        "head_ms": k.head_ms,
        "encode_ms": k.encode_ms,
        "uplink_ms": k.uplink_ms,
        "rtt_down_ms": k.rtt_ms + k.downlink_ms,
        "cloud_ms": k.server_ms,
        "latency_ms": k.latency_ms,
    }


def stage_energy(c: Candidate) -> dict[str, float]:
    k = c.cost
    return {
        "compute_mj": k.compute_mj,
        "radio_mj": k.radio_mj,
        "idle_mj": k.idle_mj,
        "energy_mj": k.energy_mj,
    }


def link_text(lp: LinkProfile) -> str:
    return f"{lp.name}: up {lp.up_mbps:g} / down {lp.down_mbps:g} Mbps, RTT {lp.rtt_ms:g} ms"


def describe(s: Subject) -> dict[str, Any]:
    """What a subject is, for the experiment's JSON."""
    return {
        "title": s.title,
        "model": s.profile.model,
        "device": {
            "name": s.device.name,
            "compute": s.device.compute_basis,
            "source": s.device.source,
        },
        "server": {
            "name": s.server.name,
            "compute": s.server.compute_basis,
            "source": s.server.source,
        },
        "budget_pp": s.budget_pp,
        "points": [dataclasses.asdict(p) for p in s.points],
        "points_basis": s.points_basis,
        "unsplit_accuracy": s.unsplit_accuracy,
        "facts": s.facts,
    }
