"""The study's figures: reconstruction quality against bytes, and inputs beside reconstructions."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from splitinfer.privacy.study import Study

FAMILY_COLORS = {
    "cloud-only": "#444444", "ulhaq": "#1f77b4", "butterfly+jpeg": "#ff7f0e",
    "default bundle": "#d62728", "learned prior": "#2ca02c", "default bundle + noise": "#e377c2",
}  # fmt: skip
VIEW_MARKERS = {"image": "s", "feature": "o", "latent": "v", "restored": "^"}


def _plt() -> Any:
    from splitinfer.experiments.plots import pyplot

    return pyplot()


def draw_quality_vs_bytes(study: Study, path: Path) -> Path:
    """PSNR and SSIM of the reconstructions against mean frame bytes per inference."""
    plt = _plt()
    from splitinfer.experiments.plots import plain_log

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    seen: set[str] = set()
    for r in study.results:
        for v in r.views:
            color = FAMILY_COLORS.get(r.family, "#9467bd")
            label = f"{r.family} ({v.view})"
            for ax, value in zip(axes, (v.psnr, v.ssim), strict=True):
                if not math.isfinite(value):
                    continue
                ax.scatter(r.frame_bytes, value, color=color,
                           marker=VIEW_MARKERS.get(v.view, "o"), s=36,
                           label=None if label in seen else label)  # fmt: skip
            seen.add(label)
        if r.views and r.family not in ("learned prior", "default bundle + noise"):
            # one label per member beside its most leaking view (crowded families: legend)
            best = r.best()
            axes[0].annotate(r.name[:24], (r.frame_bytes, best.psnr), fontsize=6,
                             xytext=(3, 3), textcoords="offset points")  # fmt: skip
    styles = (":", "--")
    for ref, style in zip(study.references, styles, strict=False):
        for ax, key in zip(axes, ("psnr", "ssim"), strict=True):
            ax.axhline(ref[key], color="#888888", linestyle=style, linewidth=1,
                       label=f"reference: {ref['name']}" if key == "ssim" else None)  # fmt: skip
    for ax, name in zip(axes, ("PSNR of the reconstruction (dB)", "SSIM"), strict=True):
        plain_log(ax, "x")
        ax.set_xlabel("mean frame bytes per inference (log)")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    b = study.budget
    fig.suptitle(f"Model inversion: higher = more of the image leaks (decoder width "
                 f"{b.width}, {b.epochs} epochs on {b.train_limit} train images)")  # fmt: skip
    axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def draw_grid(study: Study, path: Path, images: int = 8) -> Path:
    """Row 0: the test inputs; then one row per (subject, view): its reconstructions."""
    plt = _plt()
    rows = [("input", study.test_grid.float().div(255))]
    for r in study.results:
        for v in r.views:
            if v.grid is not None:
                rows.append((f"{r.name}\n{v.view}: {v.psnr:.1f} dB", v.grid))
    n = min(images, len(study.test_grid))
    fig, axes = plt.subplots(len(rows), n, figsize=(n * 0.9 + 1.8, len(rows) * 0.95),
                             squeeze=False)  # fmt: skip
    for i, (label, grid) in enumerate(rows):
        for j in range(n):
            ax = axes[i][j]
            img = grid[j]
            pixels = (img[0] if img.shape[0] == 1 else img.permute(1, 2, 0)).numpy()
            ax.imshow(pixels, cmap="gray",
                      vmin=0, vmax=1)  # fmt: skip
            ax.set_xticks([])
            ax.set_yticks([])
        axes[i][0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=6)
    fig.suptitle("Test inputs (top) and what the server's attack decoder rebuilds", fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
