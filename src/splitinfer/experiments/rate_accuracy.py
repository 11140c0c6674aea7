"""Experiment (e, i): rate-accuracy from the sweep (measured).

Reads the ``sweep.json`` that ``splitinfer sweep --budget full`` writes
(``rate_accuracy.sweep``, default ``runs/sweep-full/sweep.json``; without it, the full
sweep committed with the docs, ``rate_accuracy.committed``); in ``--quick`` without a
sweep file, runs a small sweep of the untrained families through
:mod:`splitinfer.experiments.adapters` (the CI figure). Shows each family's Pareto points,
the sweep's figure, and the bytes each family needs at the "1 point below the unsplit
model" level, with ours vs each baseline.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from splitinfer.experiments.adapters import NotAvailable, draw_sweep, load_sweep, quick_sweep
from splitinfer.experiments.config import BenchConfig
from splitinfer.experiments.result import Column, Result, figure, ratio, table
from splitinfer.experiments.subjects import resolve

NAME = "rate-accuracy"
TITLE = "Rate vs accuracy from the sweep (measured)"
HOW = (
    "`splitinfer sweep --config configs/sweep-fmnist.yaml --budget full --out runs/sweep-full "
    "--threads 1`"
)


def run(cfg: BenchConfig, out_dir: Path) -> dict[str, Any]:
    res = Result(NAME, TITLE, config=asdict(cfg.rate_accuracy))
    path = resolve(cfg.rate_accuracy.sweep)
    committed = resolve(cfg.rate_accuracy.committed) if cfg.rate_accuracy.committed else None
    if path.is_file():
        doc, source = load_sweep(path), str(path)
    elif not cfg.quick and committed is not None and committed.is_file():
        doc = load_sweep(committed)
        source = (f"{cfg.rate_accuracy.committed}, the sweep committed with the docs "
                  f"(created {doc.get('created')}; regenerate with {HOW})")  # fmt: skip
    elif cfg.quick and cfg.rate_accuracy.run_quick_sweep:
        ra = cfg.rate_accuracy
        try:
            doc = quick_sweep(resolve(ra.sweep_config), out_dir / "sweep", ra.quick_test_images)
        except NotAvailable as err:
            return res.skip(f"not available: {err}; no sweep result at {path} either: run {HOW}")
        source = (f"a quick sweep run now: untrained families only, {ra.quick_test_images} "
                  f"test images, model and backbone from {ra.sweep_config}")  # fmt: skip
    else:
        return res.skip(
            f"not available: no sweep result at {path}. Run {HOW} (hours: it trains units), "
            "then `splitinfer bench --only rate-accuracy --sweep runs/sweep-full/sweep.json`."
        )
    return _present(res, doc, source, out_dir)


def _present(res: Result, doc: dict[str, Any], source: str, out_dir: Path) -> dict[str, Any]:
    unsplit = float(doc["references"]["unsplit_accuracy"])
    budget = doc.get("budget") or "not recorded"
    where = (f"{doc.get('model')} on {doc.get('dataset')}, {doc.get('test_images')} test "
             f"images, through real frames, training budget {budget}; from {source}")  # fmt: skip
    res.tables.append(table(
        "rate-accuracy-pareto", "Each family's Pareto points", _point_columns(),
        [_point_row(p) for p in doc["points"] if p.get("pareto")],
        f"{where}. Unsplit top-1 {100 * unsplit:.2f}%; loss in points below it. "
        + str(doc.get("bytes_note", "")),
    ))  # fmt: skip
    levels = doc.get("levels") or []
    families = sorted({f for lv in levels for f in lv.get("bytes", {})})
    rows = [_level_row(lv, families) for lv in levels]
    res.tables.append(table(
        "rate-accuracy-levels", "Bytes needed at the 1-point-loss level", _level_columns(families),
        rows, "Fewest mean bytes up per inference (payload + stream-session framing) at which "
        "each family's Pareto front reaches the level (interpolated in log bytes; '-': never "
        "reaches it); ours = the cheaper of ours (quant + ANS) and learned (learned prior); "
        f"ratios = a baseline's bytes / ours. Training budget: {budget}.", readme=True,
    ))  # fmt: skip
    file = draw_sweep(doc, out_dir / "rate-accuracy.png")
    res.figures.append(figure(
        file.name, "Top-1 vs bytes per inference, every family",
        f"Compares the families (cloud-only image codecs, Ulhaq & Bajic, BottleNet-style, "
        f"ours with quant + ANS and with the learned prior; budget {budget}) on one "
        f"log-bytes axis: faint markers every point, solid lines the Pareto "
        f"fronts; horizontal lines: the unsplit model and 1 point below it ({where}).",
        "measured",
    ))  # fmt: skip
    res.summary = (levels[0]["text"] if levels else "no level comparison") + " (measured)."
    res.data = {"source": source, "sweep": {k: doc.get(k) for k in (
        "model", "budget", "dataset", "test_images", "command", "machine", "created",
        "references", "levels", "pending")}}  # fmt: skip
    return res.save(out_dir)


def _unit(u: Any) -> str:
    if not isinstance(u, dict):
        return "-"
    return f"c{u.get('channels')}s{u.get('stride')}"


def _point_columns() -> list[Column]:
    return [
        Column("family", "family"), Column("cut", "cut"), Column("unit", "unit"),
        Column("codec", "codec"), Column("bytes", "bytes up, session", "measured", "B"),
        Column("frame_bytes", "frame bytes", "measured", "B"),
        Column("payload_bytes", "payload bytes", "measured", "B"),
        Column("top1", "top-1", "measured", "%"),
        Column("loss_pp", "loss vs unsplit", "measured", "pp"),
    ]  # fmt: skip


def _point_row(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "family": p["family"], "cut": p.get("cut") or "-", "unit": _unit(p.get("unit")),
        "codec": p["codec"], "bytes": float(p["bytes"]), "frame_bytes": float(p["frame_bytes"]),
        "payload_bytes": float(p["payload_bytes"]), "top1": 100 * float(p["accuracy"]),
        "loss_pp": float(p["accuracy_loss_points"]),
    }  # fmt: skip


def _level_columns(families: list[str]) -> list[Column]:
    cols = [Column("level", "level"), Column("accuracy", "at top-1", "measured", "%")]
    cols += [Column(f"bytes_{f}", f"{f} bytes", "measured", "B") for f in families]
    cols += [Column("ours", "ours (cheapest)"),
             Column("best_baseline", "best baseline"),
             Column("ratio", "best baseline / ours", "measured", "x"),
             Column("bottlenet_ratio", "BottleNet-style / ours", "measured", "x"),
             Column("cloud_ratio", "cloud-only / ours", "measured", "x")]  # fmt: skip
    return cols


def _level_row(lv: dict[str, Any], families: list[str]) -> dict[str, Any]:
    got = lv.get("bytes", {})
    row: dict[str, Any] = {"level": lv["name"], "accuracy": 100 * float(lv["accuracy"])}
    for f in families:
        row[f"bytes_{f}"] = got.get(f) if got.get(f) is not None else "-"
    mine = lv.get("ours") or ("ours" if got.get("ours") is not None else None)
    ours = got.get(mine) if mine else None
    row["ours"] = mine or "-"
    row["best_baseline"] = lv.get("best_baseline") or "-"
    row["ratio"] = lv["ratio"] if lv.get("ratio") is not None else "-"
    for key, family in (("bottlenet_ratio", "bottlenet"), ("cloud_ratio", "cloud-only")):
        other = got.get(family)
        value = ratio(other, ours) if ours and other else "-"
        row[key] = value if not isinstance(value, float) or math.isfinite(value) else "-"
    return row
