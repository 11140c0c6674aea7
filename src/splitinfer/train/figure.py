"""Draw a sweep's rate-accuracy figure: every family on one log-bytes axis (PNG).

Markers per family (all points faint, the Pareto front solid and joined), horizontal
lines for the unsplit model, "unsplit - 1 point" and each control, and the 1-point
comparison written under the title. Points below the y range are drawn on its floor as
downward triangles, so a collapsed setting is visible without squashing the rest.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from splitinfer.errors import MissingDependency
from splitinfer.train.sweep import (
    FAMILIES,
    FAMILY_LABELS,
    TRAINED_FAMILIES,
    parse_unit,
    short_codec,
    unit_label,
)

STYLES: dict[str, tuple[str, str]] = {  # family -> (marker, colour)
    "cloud-only": ("s", "tab:grey"),
    "ulhaq": ("^", "tab:orange"),
    "bottlenet": ("D", "tab:blue"),
    "ours": ("o", "tab:red"),
    "learned": ("P", "tab:purple"),
}
#: The y axis starts at most this many points below the unsplit accuracy.
Y_SPAN_POINTS = 12.0


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise MissingDependency(
            "the sweep figure needs matplotlib: pip install matplotlib"
        ) from err
    return plt


def draw_rate_accuracy(doc: Mapping[str, Any], path: str | Path) -> Path:
    """``doc``: a ``sweep.json`` dict (see :func:`splitinfer.train.sweep.assemble`)."""
    plt = _pyplot()
    unsplit = 100 * float(doc["references"]["unsplit_accuracy"])
    points = doc["points"]
    accs = [100 * float(p["accuracy"]) for p in points] or [unsplit]
    floor = max(min(accs) - 1.0, unsplit - Y_SPAN_POINTS)
    top = max([*accs, unsplit] + [100 * c["accuracy"] for c in doc["references"]["controls"]])
    fig, ax = plt.subplots(figsize=(9.5, 6.2))
    budget = f", budget {doc['budget']}" if doc.get("budget") else ""
    trained = set(TRAINED_FAMILIES)
    for family in FAMILIES:
        mine = [p for p in points if p["family"] == family]
        if not mine:
            continue
        marker, colour = STYLES[family]
        xs = [float(p["bytes"]) for p in mine]
        ys = [100 * float(p["accuracy"]) for p in mine]
        inside = [(x, y) for x, y in zip(xs, ys, strict=True) if y >= floor]
        below = [x for x, y in zip(xs, ys, strict=True) if y < floor]
        ax.scatter([x for x, _ in inside], [y for _, y in inside], marker=marker, s=28,
                   facecolors="none", edgecolors=colour, alpha=0.55, linewidths=1)  # fmt: skip
        if below:
            ax.scatter(below, [floor] * len(below), marker="v", s=30, color=colour, alpha=0.7,
                       clip_on=False)  # fmt: skip
        front = doc["fronts"].get(family, [])
        for p in mine:
            if p.get("pareto") and 100 * float(p["accuracy"]) >= floor:
                ax.annotate(_point_label(p), (float(p["bytes"]), 100 * float(p["accuracy"])),
                            xytext=(4, -9), textcoords="offset points", fontsize=6,
                            color=colour)  # fmt: skip
        label = f"{FAMILY_LABELS[family]} ({len(mine)} pts{budget if family in trained else ''})"
        ax.plot([b for b, _ in front], [100 * a for _, a in front], marker=marker, ms=6,
                color=colour, lw=1.6, label=label)  # fmt: skip
    if any(100 * float(p["accuracy"]) < floor for p in points):
        ax.scatter(
            [], [], marker="v", color="grey", label=f"below {floor:.1f}% (drawn at the floor)"
        )
    ax.axhline(unsplit, color="black", lw=1.2, label=f"unsplit model ({unsplit:.2f}%)")
    ax.axhline(unsplit - 1, color="black", lw=1, ls="--", label="unsplit - 1 point")
    for c in doc["references"]["controls"]:
        acc = 100 * float(c["accuracy"])
        what = (("whole model" if c.get("tune") == "all" else "tail") + " fine-tuned"
                if c.get("trained") else "no extra training")  # fmt: skip
        where = "" if c.get("tune") == "all" else f", cut {c['cut']}"
        ax.axhline(acc, color="tab:green", lw=1.1, ls=":",
                   label=f"control{where}: {what}{budget} ({acc:.2f}%)")  # fmt: skip
    for b in doc["references"].get("shipped", []):
        acc = 100 * float(b["accuracy"])
        ax.scatter(
            [float(b["bytes"])],
            [acc],
            marker="*",
            s=170,
            color="gold",
            edgecolors="black",
            linewidths=0.8,
            zorder=5,
            label=f"shipped bundle {b['id']} ({acc:.2f}%, {float(b['bytes']):.1f} B)",
        )
        top = max(top, acc)
    ax.set_xscale("log")
    ax.set_ylim(floor - 0.3, top + 0.8)
    ax.set_xlabel(
        "mean bytes up per inference, log scale: payload + its stream-session framing\n"
        "(one masked WebSocket message: +6 B under 126 B); cloud-only: the image file",
        fontsize=9,
    )
    ax.set_ylabel("top-1 accuracy (%)")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7.5, loc="lower right")
    title = (f"Rate-accuracy: {doc['model']} on {doc['dataset']}, {doc['test_images']} test "
             "images, real encode → frame → decode")  # fmt: skip
    levels = "\n".join(textwrap.fill(lv["text"], 150) for lv in doc.get("levels", [])[:1])
    ax.set_title(title + ("\n" + levels if levels else ""), fontsize=9)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130)
    plt.close(fig)
    return out


def _point_label(p: Mapping[str, Any]) -> str:
    """``stage2 c2s2 q2-ans`` (split points) or ``webp30`` (cloud-only)."""
    unit = unit_label(parse_unit(p["unit"])) if p.get("unit") else ""
    kwargs = " ".join(f"{k}={v}" for k, v in (p.get("train_kwargs") or {}).items())
    parts = [p.get("cut") or "", unit, short_codec(str(p["codec"])), kwargs]
    return " ".join(x for x in parts if x)
