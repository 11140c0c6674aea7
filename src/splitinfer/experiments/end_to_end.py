"""Experiment (e, ii): measured end to end over the link emulator, beside the planner.

Runs ``splitinfer demo`` through :mod:`splitinfer.experiments.adapters` (a server
process, the default bundle, 3G / 4G / Wi-Fi emulated on loopback, cloud-only / split /
mobile-only interleaved image by image), or reads a demo's ``results.json``
(``end_to_end.from_json``). Shows measured p50 / p95 latency beside the planner's
prediction for the same setting and its error, ``(planner - p50) / p50``.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

from splitinfer.experiments.adapters import NotAvailable, load_end_to_end, run_end_to_end
from splitinfer.experiments.config import BenchConfig
from splitinfer.experiments.result import Column, Result, figure, table
from splitinfer.experiments.subjects import resolve

NAME = "end-to-end"
TITLE = "Measured end to end over emulated links, beside the planner's prediction"

COLUMNS = [
    Column("link", "link"), Column("mode", "mode"), Column("requests", "requests"),
    Column("latency_ms_p50", "p50 latency", "measured", "ms"),
    Column("latency_ms_p95", "p95 latency", "measured", "ms"),
    Column("planner_ms", "planner (calibrated)", "modeled", "ms"),
    Column("planner_error_pct", "planner error vs p50", "modeled", "%"),
    Column("planner_wire_only_ms", "planner (wire-format inputs)", "modeled", "ms"),
    Column("planner_wire_only_error_pct", "planner error vs p50", "modeled", "%"),
    Column("bytes_up", "bytes up (body)", "measured", "B"),
    Column("accuracy", "top-1", "measured", "%"),
    Column("energy_mj_modeled", "device energy", "modeled", "mJ"),
]  # fmt: skip


def run(cfg: BenchConfig, out_dir: Path) -> dict[str, Any]:
    from splitinfer.bundle import default_bundle_path

    c = cfg.end_to_end
    res = Result(NAME, TITLE, config=asdict(c))
    if c.from_json:
        got = load_end_to_end(resolve(c.from_json))
    else:
        bundle = resolve(cfg.subjects.bundle) if cfg.subjects.bundle else default_bundle_path()
        try:
            got = run_end_to_end(
                c.images, c.links, cfg.quick, bundle, out_dir / "demo", c.trace or None,
                c.device,
            )  # fmt: skip
        except NotAvailable as err:
            return res.skip(f"not available: {err}; run `splitinfer demo` when it exists")
    rows = [_row(r) for r in got["rows"]]
    meta = got["meta"]
    cfg_used = meta.get("config") or {}
    res.tables.append(table(
        "end-to-end", "Measured latency vs the planner's prediction", COLUMNS, rows,
        f"Bundle {(meta.get('bundle') or {}).get('id', '?')}; {cfg_used.get('images', '?')} "
        "test images per link, each sent in every mode (modes interleaved); p50/p95 measured "
        "on this machine through the link emulator on loopback; planner = the cost model "
        "(modeled) with calibrated inputs (stage times and HTTP bytes measured over an "
        "unshaped proxy) and with wire-format inputs only; error = (planner - p50) / p50. "
        f"Top-1 on {cfg_used.get('accuracy_images') or 'all'} test images through each "
        "mode's deployed path; energy modeled for device profile "
        f"{cfg_used.get('device', '?')!r}; edge compute: {_edge_compute(meta)}. "
        f"Source: {got['source']}.", readme=True,
    ))  # fmt: skip
    for chart in got["figures"]:
        name = f"demo-{Path(chart).name}"
        if Path(chart).resolve() != (out_dir / name).resolve():
            out_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(chart, out_dir / name)
        res.figures.append(figure(name, *_caption(Path(chart).name), "measured"))
    errs = [abs(r["planner_error_pct"]) for r in rows if r["mode"] != "mobile-only"]
    res.summary = (
        f"{len(rows)} link x mode cells; planner (calibrated) vs measured p50: max |error| "
        f"{max(errs):.1f}%, mean {sum(errs) / len(errs):.1f}% over the network modes."
        if errs else f"{len(rows)} cells."
    )  # fmt: skip
    res.notes += [str(n) for n in meta.get("notes") or []]
    res.data = {"source": got["source"], "meta": meta}
    return res.save(out_dir)


def _row(r: dict[str, Any]) -> dict[str, Any]:
    out = {c.key: r.get(c.key) for c in COLUMNS}
    out["accuracy"] = 100 * float(r["accuracy"])
    return out


def _caption(name: str) -> tuple[str, str]:
    if name == "fidelity.png":
        return ("Planner fidelity: predicted vs measured p50",
                "Compares the planner's predicted latency (modeled; circles: calibrated "
                "inputs, crosses: wire-format inputs only) with the measured p50 for each "
                "link and mode; the grey band is +-10%.")  # fmt: skip
    return ("Latency per mode and link: measured p50 / p95 and the planner's prediction",
            "Compares cloud-only, split and mobile-only on each emulated link: bars are the "
            "measured p50, whiskers the p95, diamonds the planner's prediction "
            "(modeled, calibrated inputs).")  # fmt: skip


def _edge_compute(meta: dict[str, Any]) -> str:
    """How the demo's edge work ran: emulated at a device's speed, or at host speed."""
    label = meta.get("device_emulation")
    return str(label["note"]) if label else "at host speed (no device emulated)"
