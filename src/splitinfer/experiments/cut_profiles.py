"""Experiment (b): per-cut profiles, the classic layer-wise partition figure (modeled).

For every cut of each subject and every link: the modeled latency stacked as device head,
encode, uplink, RTT + downlink and cloud (decode + tail), Neurosurgeon style, beside
cloud-only and mobile-only; and the device energy stacked as compute, radio and idle.
Each cut sends its feature quantized to 8 bits (a codec-only *estimate*, Ulhaq & Bajic's
setting); the subject's own unit points (the bundle's measured one, ResNet-50's
paper-assumed ones) get their own hatched bars after their cut.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from splitinfer.experiments.config import BenchConfig
from splitinfer.experiments.planning import link_text, plan_subject, stage_energy, stage_times
from splitinfer.experiments.plots import pyplot, save
from splitinfer.experiments.result import Column, Result, figure, table
from splitinfer.experiments.subjects import Subject, subjects
from splitinfer.plan import Candidate, Plan, link

NAME = "cut-profiles"
TITLE = "Per-cut latency and device energy, every cut, every link (modeled)"

TIME_STACK = (("head_ms", "device head", "#4c72b0"), ("encode_ms", "encode", "#8172b2"),
              ("uplink_ms", "uplink", "#dd8452"), ("rtt_down_ms", "RTT + downlink", "#c4ad66"),
              ("cloud_ms", "cloud (decode + tail)", "#55a868"))  # fmt: skip
ENERGY_STACK = (("compute_mj", "device compute", "#4c72b0"), ("radio_mj", "radio", "#dd8452"),
                ("idle_mj", "idle while waiting", "#b0b0b0"))  # fmt: skip


def run(cfg: BenchConfig, out_dir: Path) -> dict[str, Any]:
    res = Result(NAME, TITLE, config={"plan": cfg.plan.__dict__})
    rows = []
    for s in subjects(cfg.subjects):
        per_link = {name: bars(s, plan_for_figure(s, name, cfg)) for name in cfg.plan.links}
        res.data[s.key] = per_link
        for name, items in per_link.items():
            fastest = min(items, key=lambda b: b["latency_ms"])
            thriftiest = min(items, key=lambda b: b["energy_mj"])
            rows.append({
                "subject": s.key, "link": name, "fastest": fastest["bar"],
                "fastest_ms": fastest["latency_ms"], "cloud_ms": items[0]["latency_ms"],
                "mobile_ms": items[-1]["latency_ms"], "thriftiest": thriftiest["bar"],
                "thriftiest_mj": thriftiest["energy_mj"],
            })  # fmt: skip
        for kind in ("latency", "energy"):
            file = draw(s, per_link, kind, cfg, out_dir)
            res.figures.append(figure(file, *_caption(s, kind, cfg), "modeled"))
    res.tables.append(table(
        "cut-profiles-best", "Fastest and thriftiest bar of each figure", _columns(), rows,
        "Among the bars of the figures (8-bit estimates at every cut, the subject's unit "
        "points, cloud-only, mobile-only); no accuracy budget applied.",
    ))  # fmt: skip
    res.summary = (
        "; ".join(
            f"{r['subject']} on {r['link']}: fastest {r['fastest']} ({r['fastest_ms']:.1f} ms)"
            for r in rows
        )
        + " (modeled)."
    )
    return res.save(out_dir)


def _columns() -> list[Column]:
    return [
        Column("subject", "subject"), Column("link", "link"),
        Column("fastest", "fastest"), Column("fastest_ms", "its latency", "modeled", "ms"),
        Column("cloud_ms", "cloud-only latency", "modeled", "ms"),
        Column("mobile_ms", "mobile-only latency", "modeled", "ms"),
        Column("thriftiest", "least device energy"),
        Column("thriftiest_mj", "its energy", "modeled", "mJ"),
    ]  # fmt: skip


def plan_for_figure(s: Subject, link_name: str, cfg: BenchConfig) -> Plan:
    points = s.estimates("quant8") + s.points
    return plan_subject(s, link_name, cfg.plan.figure_mode, points=points, budget=math.inf)


def bars(s: Subject, p: Plan) -> list[dict[str, Any]]:
    """cloud-only, each figure cut, mobile-only: stage times and energies (modeled)."""
    by_cut: dict[str, Candidate] = {}
    for c in p.candidates:
        if c.kind == "split" and c.cut and (c.label == "quant8" or c.cut in s.unit_cuts):
            by_cut[c.cut] = c
    chosen = [("cloud-only", p.cloud_only)]
    chosen += [(name, by_cut[name]) for name in s.figure_cuts("all") if name in by_cut]
    chosen.append(("mobile-only", p.mobile_only))
    return [
        {"bar": name, "unit": name in s.unit_cuts, "label": c.label, "bytes_up": c.cost.bytes_up,
         **stage_times(c), **stage_energy(c)}
        for name, c in chosen
    ]  # fmt: skip


def _caption(s: Subject, kind: str, cfg: BenchConfig) -> tuple[str, str]:
    what = "latency by stage" if kind == "latency" else "device energy by component"
    title = f"{s.title}: {what} at every cut"
    caption = (
        f"Compares, for each link, cloud-only (left), every cut "
        f"({'module boundaries' if cfg.plan.figure_cuts == 'modules' else 'all cuts'}; "
        f"the feature quantized to 8 bits: an estimate, accuracy not measured) and "
        f"mobile-only (right); hatched bars: the subject's own unit point "
        f"({s.points_basis}). {cfg.plan.figure_mode} mode; device {s.device.name} "
        f"({s.device.compute_basis}), server {s.server.name} ({s.server.compute_basis}). "
        "Bars taller than the axis are cut off and labelled with their total."
    )
    return title, caption


def idx_unit(shown: list[dict[str, Any]]) -> int:
    """Index of the first unit bar (labelled once in the legend)."""
    return next((i for i, b in enumerate(shown) if b["unit"]), -1)


def _fmt_total(v: float, unit: str) -> str:
    if unit == "ms" and v >= 1000:
        return f"{v / 1000:.1f} s"
    if unit == "mJ" and v >= 1000:
        return f"{v / 1000:.1f} J"
    return f"{v:.0f} {unit}"


def draw(
    s: Subject, per_link: dict[str, list[dict[str, Any]]], kind: str, cfg: BenchConfig,
    out_dir: Path,
) -> str:  # fmt: skip
    plt = pyplot()
    stack, total_key, unit = (
        (TIME_STACK, "latency_ms", "ms") if kind == "latency" else (ENERGY_STACK, "energy_mj", "mJ")
    )
    names = [b["bar"] for b in next(iter(per_link.values()))]
    keep = set(s.figure_cuts(cfg.plan.figure_cuts)) | {"cloud-only", "mobile-only"}
    idx = [i for i, n in enumerate(names) if n in keep]
    width = max(8.0, 0.32 * len(idx) + 2)
    fig, axes = plt.subplots(len(per_link), 1, figsize=(width, 2.6 * len(per_link) + 0.8),
                             sharex=True, squeeze=False)  # fmt: skip
    for ax, (link_name, items) in zip(axes[:, 0], per_link.items(), strict=True):
        shown = [items[i] for i in idx]
        base = [shown[0][total_key], shown[-1][total_key], min(b[total_key] for b in shown)]
        top = 2.2 * max(base) or 1.0
        bottom = [0.0] * len(shown)
        for key, label, colour in stack:
            heights = [b[key] for b in shown]
            ax.bar(range(len(shown)), heights, bottom=bottom, color=colour, label=label,
                   width=0.8)  # fmt: skip
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        for i, b in enumerate(shown):
            if b["unit"]:
                ax.bar(
                    i,
                    min(b[total_key], top),
                    width=0.8,
                    fill=False,
                    hatch="//",
                    edgecolor="black",
                    linewidth=0.8,
                    label="the subject's unit point" if i == idx_unit(shown) else None,
                )
            if b[total_key] > top:
                ax.text(i, top * 0.98, _fmt_total(b[total_key], unit), rotation=90,
                        ha="center", va="top", fontsize=7, color="white",
                        fontweight="bold")  # fmt: skip
        ax.set_ylim(0, top)
        ax.set_ylabel(f"{'latency' if kind == 'latency' else 'device energy'} ({unit})")
        ax.set_title(f"{link_text(link(link_name))} ({cfg.plan.figure_mode} mode)",
                     fontsize=9, loc="left")  # fmt: skip
        ax.grid(True, axis="y", alpha=0.3)
    axes[0, 0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.005, 1.0))
    ticks = [items[i]["bar"] for i in idx]
    axes[-1, 0].set_xticks(range(len(ticks)))
    axes[-1, 0].set_xticklabels(ticks, rotation=60, ha="right", fontsize=7)
    axes[-1, 0].set_xlabel("where the model is cut (cloud-only, cut points in order, mobile-only)")
    what = "modeled latency by stage" if kind == "latency" else "modeled device energy"
    fig.suptitle(f"{s.title}: {what} per cut, device {s.device.name}, server {s.server.name}")
    return save(fig, out_dir / f"cut-{kind}-{s.key}.png")
