"""Experiment (c): which cut wins at which uplink bandwidth, from the planner (modeled).

For each subject, the link ``plan.sweep_link`` with its uplink swept over
``plan.sweep_mbps`` (log-spaced): a heatmap of the modeled latency (and device energy) of
every option (cloud-only, each cut with its best admissible rate point, mobile-only)
over bandwidth, with the planner's choice marked in each column.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from splitinfer.experiments.config import BenchConfig
from splitinfer.experiments.planning import link_text, plan_subject, where
from splitinfer.experiments.plots import plain_log, pyplot, save
from splitinfer.experiments.result import Column, Result, figure, table
from splitinfer.experiments.subjects import Subject, subjects
from splitinfer.plan import Plan, link
from splitinfer.plan.planner import with_uplink
from splitinfer.plan.sweep import log_points, parse_range

NAME = "bandwidth-map"
TITLE = "Best cut vs uplink bandwidth (modeled)"
OBJECTIVES = (("latency", "latency_ms", "ms"), ("energy", "energy_mj", "mJ"))


def run(cfg: BenchConfig, out_dir: Path) -> dict[str, Any]:
    res = Result(NAME, TITLE, config={"plan": cfg.plan.__dict__})
    lo, hi = parse_range(cfg.plan.sweep_mbps)
    bandwidths = log_points(lo, hi, max(2, cfg.plan.sweep_points))
    base = link(cfg.plan.sweep_link)
    rows = []
    for s in subjects(cfg.subjects):
        grids = {
            obj: sweep(s, base, bandwidths, obj, cfg.plan.figure_cuts) for obj, _, _ in OBJECTIVES
        }
        res.data[s.key] = {"up_mbps": bandwidths, **grids}
        file = draw(s, grids, bandwidths, base, out_dir)
        res.figures.append(figure(file, *_caption(s, base), "modeled"))
        rows += _switches(s, grids["latency"], bandwidths)
    res.tables.append(table(
        "bandwidth-map-switches", "Where the planner's choice changes (latency objective)",
        [Column("subject", "subject"), Column("from_mbps", "from uplink", "", "Mbps"),
         Column("to_mbps", "to uplink", "", "Mbps"), Column("choice", "planner's choice"),
         Column("latency_lo_ms", "latency at 'from'", "modeled", "ms"),
         Column("latency_hi_ms", "latency at 'to'", "modeled", "ms")],
        rows, f"Uplink swept on {link_text(base)} (other numbers fixed), realistic mode.",
    ))  # fmt: skip
    res.summary = (
        "; ".join(
            f"{r['subject']}: {r['choice']} from {r['from_mbps']:.3g} to {r['to_mbps']:.3g} Mbps"
            for r in rows
        )
        + " (modeled, latency objective)."
    )
    return res.save(out_dir)


def sweep(
    s: Subject, base: Any, bandwidths: list[float], objective: str, cuts: str = "modules"
) -> dict[str, Any]:
    """Per option (row) and bandwidth (column): the objective's value; the choice per column.

    The planner chooses among all cuts; rows show ``cuts`` ("modules" or "all") plus any
    cut the planner chose.
    """
    key = "latency_ms" if objective == "latency" else "energy_mj"
    options = ["cloud-only", *s.figure_cuts("all"), "mobile-only"]
    shown = {"cloud-only", "mobile-only", *s.figure_cuts(cuts)}
    grid: dict[str, list[float]] = {o: [] for o in options}
    choice = []
    for bw in bandwidths:
        p = plan_subject(s, with_uplink(base, bw), "realistic", objective)
        best = _best_per_option(p, key)
        for o in options:
            grid[o].append(best.get(o, math.nan))
        choice.append(where(p.best))
    shown |= set(choice)
    kept = [o for o in options if o in shown and not all(math.isnan(v) for v in grid[o])]
    return {"options": kept, "values": [grid[o] for o in kept], "choice": choice, "key": key}


def _best_per_option(p: Plan, key: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for c in p.candidates:
        if not c.within_budget:
            continue
        value = c.cost.latency_ms if key == "latency_ms" else c.cost.energy_mj
        name = where(c)
        out[name] = min(out.get(name, math.inf), value)
    return out


def _switches(s: Subject, grid: dict[str, Any], bandwidths: list[float]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    choice = grid["choice"]
    values = dict(zip(grid["options"], grid["values"], strict=True))
    start = 0
    for i in range(1, len(choice) + 1):
        if i == len(choice) or choice[i] != choice[start]:
            c = choice[start]
            rows.append({
                "subject": s.key, "from_mbps": bandwidths[start], "to_mbps": bandwidths[i - 1],
                "choice": c, "latency_lo_ms": values[c][start],
                "latency_hi_ms": values[c][i - 1],
            })  # fmt: skip
            start = i
    return rows


def _caption(s: Subject, base: Any) -> tuple[str, str]:
    return (
        f"{s.title}: modeled latency and device energy of every option vs uplink bandwidth",
        f"Compares cloud-only, every cut (its best rate point within the {s.budget_pp:g} pp "
        f"budget: lossless fp32, or the subject's {s.points_basis} unit point on the '+unit' "
        f"rows) and mobile-only as the uplink of {link_text(base)} is swept (other link "
        f"numbers fixed, realistic mode); colour: log10 of the value; white dots: the "
        f"planner's choice for that objective at each bandwidth. Device {s.device.name}, "
        f"server {s.server.name}.",
    )


def draw(
    s: Subject, grids: dict[str, dict[str, Any]], bandwidths: list[float], base: Any,
    out_dir: Path,
) -> str:  # fmt: skip
    plt = pyplot()
    import matplotlib.colors as mcolors
    import numpy as np

    n_rows = len(grids["latency"]["options"])
    fig, axes = plt.subplots(1, 2, figsize=(14, max(4.0, 0.22 * n_rows + 2.2)))
    edges = np.logspace(math.log10(bandwidths[0]), math.log10(bandwidths[-1]), len(bandwidths))
    for ax, (obj, _key, unit) in zip(axes, OBJECTIVES, strict=True):
        g = grids[obj]
        values = np.array(g["values"], dtype=float)
        finite = values[np.isfinite(values)]
        norm = mcolors.LogNorm(vmin=max(finite.min(), 1e-3), vmax=finite.max())
        mesh = ax.pcolormesh(edges, np.arange(len(g["options"])), values, norm=norm,
                             cmap="viridis_r", shading="nearest")  # fmt: skip
        rows = [g["options"].index(c) for c in g["choice"]]
        ax.plot(bandwidths, rows, "o", ms=3.5, color="white", mec="black", mew=0.5)
        plain_log(ax, "x")
        ax.set_yticks(range(len(g["options"])))
        ax.set_yticklabels(g["options"], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel(f"uplink bandwidth (Mbps, log scale); down {base.down_mbps:g} Mbps, "
                      f"RTT {base.rtt_ms:g} ms")  # fmt: skip
        ax.set_title(f"modeled {'latency' if obj == 'latency' else 'device energy'}; "
                     f"white dots: the planner's choice (objective: {obj})",
                     fontsize=9)  # fmt: skip
        bar = fig.colorbar(mesh, ax=ax, pad=0.01)
        bar.set_label(f"{'latency' if obj == 'latency' else 'device energy'} ({unit}, log)")
    axes[0].set_ylabel("option (cloud-only, cut, mobile-only)")
    fig.suptitle(f"{s.title}: best option vs uplink bandwidth on {base.name}, device "
                 f"{s.device.name}, server {s.server.name} (modeled)")  # fmt: skip
    fig.tight_layout()
    return save(fig, out_dir / f"bandwidth-map-{s.key}.png")
