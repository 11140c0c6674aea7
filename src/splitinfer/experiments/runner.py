"""Run the selected experiments, collect ``results.json``, render ``index.html``.

    results = run_bench(bench_config(quick=True), Path("reports/2026-11-27-quick"))

Each experiment is a module with ``NAME``, ``TITLE`` and ``run(config, out_dir) -> dict``
that writes its own JSON and figures into ``out_dir`` (``<report>/<NAME>/``). One that
raises is reported as failed (with its error) and the others still run.
"""

from __future__ import annotations

import importlib
import os
import platform
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from splitinfer.errors import BadInput
from splitinfer.experiments.config import BenchConfig
from splitinfer.experiments.result import dumps

BENCH_FORMAT = "splitinfer.bench/1"

#: Experiment name -> module, in report order.
EXPERIMENTS: dict[str, str] = {
    "seeds": "splitinfer.experiments.seeds",
    "cut-profiles": "splitinfer.experiments.cut_profiles",
    "bandwidth-map": "splitinfer.experiments.bandwidth_map",
    "codecs": "splitinfer.experiments.codec_speed",
    "server": "splitinfer.experiments.server_throughput",
    "rate-accuracy": "splitinfer.experiments.rate_accuracy",
    "end-to-end": "splitinfer.experiments.end_to_end",
    "privacy": "splitinfer.experiments.privacy",
}

Log = Callable[[str], None]


def select(only: list[str] | None) -> list[str]:
    """The experiments to run, in report order; unknown names raise ``BadInput``."""
    if not only:
        return list(EXPERIMENTS)
    unknown = [n for n in only if n not in EXPERIMENTS]
    if unknown:
        raise BadInput(
            f"unknown experiment(s) {', '.join(unknown)}; known: {', '.join(EXPERIMENTS)}"
        )
    return [n for n in EXPERIMENTS if n in only]


def default_out_dir(quick: bool, root: Path = Path("reports")) -> Path:
    """``reports/<date>/`` (``reports/<date>-quick/`` for --quick)."""
    return root / (time.strftime("%Y-%m-%d") + ("-quick" if quick else ""))


def machine() -> dict[str, Any]:
    from splitinfer.partition.profile import machine_info

    return {**machine_info(), "platform": platform.platform(), "load_start": _load()}


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def run_one(name: str, cfg: BenchConfig, out: Path) -> dict[str, Any]:
    """One experiment, timed; a crash becomes a ``failed`` result with the error."""
    module = importlib.import_module(EXPERIMENTS[name])
    load_before = _load()
    t0 = time.perf_counter()
    try:
        result = module.run(cfg, out / name)
    except Exception as err:
        code = getattr(err, "code", type(err).__name__)
        message = getattr(err, "message", str(err))
        result = {
            "name": name, "title": module.TITLE, "status": "failed", "summary": "",
            "tables": [], "figures": [], "config": {}, "data": {},
            "notes": [f"failed: [{code}] {message}"],
            "traceback": traceback.format_exc(limit=8),
        }  # fmt: skip
    result["seconds"] = time.perf_counter() - t0
    result["load_before"] = load_before
    result["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    for f in result["figures"]:
        f["file"] = f"{name}/{f['file']}"
    return result


def run_bench(
    cfg: BenchConfig,
    out: Path,
    only: list[str] | None = None,
    command: str = "splitinfer bench",
    log: Log | None = None,
    embed: bool = True,
) -> dict[str, Any]:
    """Run ``only`` (default: all) into ``out``; write results.json, config.json, index.html.

    With ``only``, experiments already in ``out/results.json`` from a run with the same
    ``quick`` setting are kept, so one experiment can be re-run into a day's report.
    """
    from splitinfer.experiments.html import render

    names = select(only or cfg.experiments)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(dumps(cfg.to_json()))
    start = time.perf_counter()
    results: dict[str, Any] = {
        "format": BENCH_FORMAT,
        "created": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "date": time.strftime("%Y-%m-%d"),
        "command": command,
        "quick": cfg.quick,
        "machine": machine(),
        "config": cfg.to_json(),
        "experiments": {},
        "reruns": [],
    }
    previous = _previous(out, cfg.quick) if only else None
    if previous:  # keep the other experiments of this folder's run, and say so
        results["experiments"] = {
            n: e for n, e in previous.get("experiments", {}).items() if n not in names
        }
        results["command"] = previous.get("command", command)
        results["reruns"] = [*previous.get("reruns", []), {"command": command, "only": names}]
    for name in names:
        if log:
            log(f"[bench] {name} ...")
        result = run_one(name, cfg, out)
        results["experiments"][name] = result
        if log:
            log(f"[bench] {name}: {result['status']} in {result['seconds']:.1f} s")
    results["experiments"] = {
        n: results["experiments"][n] for n in EXPERIMENTS if n in results["experiments"]
    }
    results["machine"]["load_end"] = _load()
    results["seconds"] = time.perf_counter() - start
    (out / "results.json").write_text(dumps(results))
    (out / "index.html").write_text(render(results, out, embed=embed))
    return results


def _previous(out: Path, quick: bool) -> dict[str, Any] | None:
    """The folder's earlier results.json when it comes from a run with the same ``quick``."""
    import json

    try:
        old = json.loads((out / "results.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(old, dict) or old.get("format") != BENCH_FORMAT:
        return None
    return old if old.get("quick") == quick else None
