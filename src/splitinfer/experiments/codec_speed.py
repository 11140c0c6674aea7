"""Experiment (d, part 1): codec bytes, distortion and speed on real feature tensors (measured).

A thin call into :func:`splitinfer.experiments.codecbench.report.run_benchmark`
(what ``splitinfer codecs bench`` runs): each image's features encoded on their own,
medians of repeated runs, one torch thread. ``--quick`` measures a handful of codecs on
one feature set.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from splitinfer.experiments.config import QUICK_CODEC_SPECS, BenchConfig
from splitinfer.experiments.plots import plain_log, pyplot, save
from splitinfer.experiments.result import Column, Result, figure, table

NAME = "codecs"
README_SPECS = QUICK_CODEC_SPECS  # the rows the README quotes (one per kind of codec)
TITLE = "Feature codecs: bytes, distortion and speed (measured)"

COLUMNS = [
    Column("features", "features"), Column("spec", "codec spec"),
    Column("payload_bytes", "bytes per sample", "measured", "B"),
    Column("ratio", "vs fp32", "measured", "x"),
    Column("bits_per_element", "bits/element", "measured"),
    Column("psnr_db", "PSNR", "measured", "dB"),
    Column("encode_ms", "encode", "measured", "ms"),
    Column("decode_ms", "decode", "measured", "ms"),
    Column("encode_mbps", "encode speed", "measured", "MB/s"),
]  # fmt: skip


def run(cfg: BenchConfig, out_dir: Path) -> dict[str, Any]:
    from splitinfer.experiments.codecbench.bench import DEFAULT_SPECS
    from splitinfer.experiments.codecbench.report import run_benchmark

    c = cfg.codecs
    res = Result(NAME, TITLE, config=asdict(c))
    report = run_benchmark(
        images=c.images, repeats=c.repeats, models=c.models, specs=c.specs or DEFAULT_SPECS
    )
    rows = [asdict(r) for r in report.rows]
    features = report.meta.get("features")
    notes = (
        "; ".join(f"{k}: {v}" for k, v in features.items()) if isinstance(features, dict) else ""
    )
    caption = (
        f"{c.images} test images per feature set, each encoded on its own; times: median of "
        f"{c.repeats} timed runs after 1 warm-up, per sample, 1 torch thread; PSNR relative "
        f"to the tensor's range (inf: lossless). Features: {notes}."
    )
    chosen = [r for r in rows if r["spec"] in _canonical(README_SPECS)]
    if 0 < len(chosen) < len(rows):
        res.tables.append(table(
            "codecs-selected", "Codec speed, selected codecs", COLUMNS, chosen,
            caption + " The full table follows.", readme=True,
        ))  # fmt: skip
    res.tables.append(table("codecs", "Codec speed, every codec", COLUMNS, rows, caption,
                            readme=len(chosen) in (0, len(rows))))  # fmt: skip
    res.figures.append(figure(
        draw(rows, out_dir), "Bytes per sample vs encode time, every codec",
        "Compares the codecs on each feature set: payload bytes per sample (x, log) against "
        "encode time per sample (y, log); circles: lossless, triangles: lossy; colour: the "
        "last stage of the pipeline (measured).", "measured",
    ))  # fmt: skip
    res.data = {"meta": report.meta, "entropy": [
        {"features": n, **e.to_dict()} for n, e in report.entropy
    ]}  # fmt: skip
    fastest = min(rows, key=lambda r: r["encode_ms"])
    smallest = min(rows, key=lambda r: r["payload_bytes"])
    res.summary = (
        f"{len(rows)} (features, codec) pairs; smallest: {smallest['spec']} on "
        f"{smallest['features']} ({smallest['payload_bytes']:,.0f} B); fastest encode: "
        f"{fastest['spec']} ({fastest['encode_ms']:.3f} ms) (measured)."
    )
    return res.save(out_dir)


def _canonical(specs: list[str]) -> set[str]:
    from splitinfer import codecs

    return {str(codecs.create(s).spec) for s in specs}


def family(spec: str) -> str:
    """The stage that decides the bytes: the last one, with raw's dtype."""
    last = spec.split("|")[-1]
    name = last.split(":")[0]
    if name == "raw":
        return "quant only" if "quant" in spec else last.replace("raw:dtype=", "raw ")
    return "quant only" if name == "quant" else name


def draw(rows: list[dict[str, Any]], out_dir: Path) -> str:
    plt = pyplot()
    sets = list(dict.fromkeys(r["features"] for r in rows))
    fams = list(dict.fromkeys(family(r["spec"]) for r in rows))
    tab20 = plt.get_cmap("tab20")

    def cmap(i: int) -> Any:  # dark shades first, so neighbours differ
        return tab20((2 * i) % 20 + (2 * i) // 20)

    fig, axes = plt.subplots(1, len(sets), figsize=(5.2 * len(sets) + 2.0, 4.4), squeeze=False)
    for ax, name in zip(axes[0], sets, strict=True):
        for r in (r for r in rows if r["features"] == name):
            lossless = not math.isfinite(r["psnr_db"])
            f = family(r["spec"])
            ax.plot(r["payload_bytes"], r["encode_ms"], "o" if lossless else "^",
                    color=cmap(fams.index(f)), ms=6, mec="black", mew=0.4)  # fmt: skip
        plain_log(ax, "x")
        plain_log(ax, "y")
        ax.set_xlabel("payload bytes per sample (log)")
        ax.set_title(name, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
    axes[0, 0].set_ylabel("encode time per sample (ms, log)")
    handles = [
        plt.Line2D([], [], marker="s", ls="", color=cmap(i), label=f) for i, f in enumerate(fams)
    ]
    handles += [plt.Line2D([], [], marker="o", ls="", color="grey", label="lossless"),
                plt.Line2D([], [], marker="^", ls="", color="grey", label="lossy")]  # fmt: skip
    axes[0, -1].legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.suptitle("Feature codecs: bytes vs encode time per sample (measured on this machine)")
    fig.tight_layout()
    return save(fig, out_dir / "codecs.png")
