"""Re-plan across uplink bandwidths: which plan wins where, and what it costs (modeled)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from splitinfer.plan.errors import BadPlanInput
from splitinfer.plan.planner import plan, with_uplink
from splitinfer.plan.profiles import LinkProfile


@dataclass(frozen=True)
class SweepRow:
    """The best plan at one uplink bandwidth, with both baselines."""

    up_mbps: float
    best: str  # "cut: label", "cloud-only" or "mobile-only"
    best_latency_ms: float
    best_energy_mj: float
    cloud_latency_ms: float
    cloud_energy_mj: float
    mobile_latency_ms: float
    mobile_energy_mj: float


def parse_range(text: str) -> tuple[float, float]:
    """``"0.1:100"`` -> ``(0.1, 100.0)``; both > 0 and lo < hi."""
    lo, sep, hi = text.partition(":")
    try:
        lo_f, hi_f = float(lo), float(hi)
    except ValueError:
        lo_f = hi_f = math.nan
    if not sep or not (0 < lo_f < hi_f):
        raise BadPlanInput(f"bandwidth range must be LO:HI in Mbps with 0 < LO < HI, got {text!r}")
    return lo_f, hi_f


def log_points(lo: float, hi: float, n: int = 60) -> list[float]:
    """``n`` log-spaced values from ``lo`` to ``hi`` inclusive."""
    step = (math.log10(hi) - math.log10(lo)) / (n - 1)
    return [10 ** (math.log10(lo) + i * step) for i in range(n)]


def sweep_uplink(
    profile: Any, link: LinkProfile, bandwidths: list[float], **kwargs: Any
) -> list[SweepRow]:
    """``plan(...)`` at every uplink bandwidth (other link numbers unchanged)."""
    rows = []
    for bw in bandwidths:
        p = plan(profile, link=with_uplink(link, bw), **kwargs)
        b, c, m = p.best, p.cloud_only.cost, p.mobile_only.cost
        name = f"{b.cut}: {b.label}" if b.kind == "split" else b.kind
        rows.append(SweepRow(
            bw, name, b.cost.latency_ms, b.cost.energy_mj, c.latency_ms, c.energy_mj,
            m.latency_ms, m.energy_mj,
        ))  # fmt: skip
    return rows
