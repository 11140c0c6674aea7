"""Run the selected experiments, collect ``results.json``, render ``index.html``.

    results = run_bench(bench_config(quick=True), Path("reports/2026-11-27-quick"))

Each experiment is a module with ``NAME``, ``TITLE`` and ``run(config, out_dir) -> dict``
that writes its own JSON and figures into ``out_dir`` (``<report>/<NAME>/``), registered
here as an :class:`Experiment` in :data:`REGISTRY`. One that raises is reported as failed
(with its error) and the others still run.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from splitinfer.errors import BadInput
from splitinfer.experiments import (
    adaptation,
    bandwidth_map,
    codec_speed,
    cut_profiles,
    end_to_end,
    privacy,
    rate_accuracy,
    seeds,
    server_throughput,
    wire_bytes,
)
from splitinfer.experiments.config import BenchConfig
from splitinfer.experiments.result import dumps
from splitinfer.registry import Registry
from splitinfer.timing import Checks, host_info, load_average, load_guard

BENCH_FORMAT = "splitinfer.bench/1"


class BenchDoc(TypedDict):
    """results.json of a bench run (``splitinfer.bench/1``; docs/bench.md)."""

    format: str
    created: str
    date: str
    command: str
    quick: bool
    machine: dict[str, Any]  # host_info() + platform, load at start and end
    config: dict[str, Any]  # BenchConfig.to_json()
    experiments: dict[str, dict[str, Any]]  # name -> Result.to_json() + timing, report order
    reruns: list[dict[str, Any]]  # later --only runs merged into this one
    seconds: float


@dataclass(frozen=True)
class Experiment:
    """One experiment of the bench: ``run(config, out_dir)`` writes its JSON and figures
    into ``out_dir`` and returns its result (see :mod:`splitinfer.experiments.result`)."""

    name: str
    title: str
    run: Callable[[BenchConfig, Path], dict[str, Any]]


#: Every experiment by name (an unknown name is a ``BadInput`` that lists the known ones).
REGISTRY: Registry[Experiment] = Registry("experiment")
_REPORT_ORDER = (seeds, cut_profiles, bandwidth_map, codec_speed, server_throughput,
                 rate_accuracy, end_to_end, wire_bytes, privacy, adaptation)  # fmt: skip
for _module in _REPORT_ORDER:
    REGISTRY.add(_module.NAME, Experiment(_module.NAME, _module.TITLE, _module.run))

#: Experiment names, in report order.
EXPERIMENTS: tuple[str, ...] = tuple(m.NAME for m in _REPORT_ORDER)

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
    """:func:`splitinfer.timing.host_info`, plus the load average at the start."""
    return {**host_info(), "load_start": _load()}


def _load() -> list[float]:
    return list(load_average())


def run_one(name: str, cfg: BenchConfig, out: Path) -> dict[str, Any]:
    """One experiment, timed; a crash becomes a ``failed`` result with the error."""
    experiment = REGISTRY[name]
    load_before = _load()
    t0 = time.perf_counter()
    try:
        result = experiment.run(cfg, out / name)
    except Exception as err:
        code = getattr(err, "code", type(err).__name__)
        message = getattr(err, "message", str(err))
        result = {
            "name": name, "title": experiment.title, "status": "failed", "summary": "",
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
) -> BenchDoc:
    """Run ``only`` (default: all) into ``out``; write results.json, config.json, index.html.

    With ``only``, experiments already in ``out/results.json`` from a run with the same
    ``quick`` setting are kept, so one experiment can be re-run into a day's report.
    """
    from splitinfer.experiments.html import render

    names = select(only or cfg.experiments)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(dumps(cfg.to_json()))
    start = time.perf_counter()
    results: BenchDoc = {
        "format": BENCH_FORMAT,
        "created": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "date": time.strftime("%Y-%m-%d"),
        "command": command,
        "quick": cfg.quick,
        "machine": machine(),
        "config": cfg.to_json(),
        "experiments": {},
        "reruns": [],
        "seconds": 0.0,
    }
    previous = _previous(out, cfg.quick) if only else None
    if previous:  # keep the other experiments of this folder's run, and say so
        results["experiments"] = {
            n: e for n, e in previous.get("experiments", {}).items() if n not in names
        }
        results["command"] = previous.get("command", command)
        results["reruns"] = [*previous.get("reruns", []), {"command": command, "only": names}]
    checks = Checks()
    for name in names:
        if log:
            log(f"[bench] {name} ...")
        busy = load_guard()
        checks.add(f"{name}: {busy}" if busy else None)
        result = run_one(name, cfg, out)
        if busy:
            result["timing_unreliable"] = busy  # its figures were measured on a busy machine
        results["experiments"][name] = result
        if log:
            log(f"[bench] {name}: {result['status']} in {result['seconds']:.1f} s")
    results["experiments"] = {
        n: results["experiments"][n] for n in EXPERIMENTS if n in results["experiments"]
    }
    results["machine"]["load_end"] = _load()
    results["machine"]["timing"] = checks.to_json()  # the load guard before each experiment
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
