"""Draw a bandwidth sweep: best plan, cloud-only and mobile-only vs uplink bandwidth (PNG)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from splitinfer.errors import MissingDependency
from splitinfer.plan.sweep import SweepRow


def draw_sweep(rows: Sequence[SweepRow], path: str | Path, title: str) -> Path:
    """Two panels (latency, device energy) on a log bandwidth axis; best plan coloured by choice."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise MissingDependency(
            "--sweep-bandwidth draws with matplotlib: pip install matplotlib"
        ) from err
    bw = [r.up_mbps for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2))
    choices = list(dict.fromkeys(r.best for r in rows))
    colours = plt.get_cmap("tab10")
    panels = (
        ("latency (ms)", "best_latency_ms", "cloud_latency_ms", "mobile_latency_ms"),
        ("device energy (mJ)", "best_energy_mj", "cloud_energy_mj", "mobile_energy_mj"),
    )
    for ax, (ylabel, best, cloud, mobile) in zip(axes, panels, strict=True):
        ax.plot(bw, [getattr(r, cloud) for r in rows], "--", color="grey", label="cloud-only")
        ax.plot(bw, [getattr(r, mobile) for r in rows], ":", color="black", label="mobile-only")
        for i, choice in enumerate(choices):
            xs = [r.up_mbps for r in rows if r.best == choice]
            ys = [getattr(r, best) for r in rows if r.best == choice]
            ax.plot(xs, ys, "o", ms=4, color=colours(i % 10), label=f"best: {choice}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("uplink bandwidth (Mbps)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7, loc="upper right")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
