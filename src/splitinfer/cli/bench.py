"""Command `bench`: run the experiments, write ``reports/<date>/`` (index.html, results.json)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from splitinfer.cli.common import command_line, warn
from splitinfer.timing import Checks

ADVICE_BENCH = "rerun the bench on a quieter machine (the load guard fired)"


def summary_table(results: Mapping[str, Any]) -> Table:
    """One row per experiment: status, seconds, summary."""
    table = Table(title=f"splitinfer bench ({'quick' if results['quick'] else 'full'})",
                  title_justify="left")  # fmt: skip
    for col in ("experiment", "status", "s", "summary"):
        table.add_column(col, justify="right" if col == "s" else "left", overflow="fold")
    colours = {"ok": "green", "skipped": "yellow", "failed": "red"}
    for e in results["experiments"].values():
        text = e["summary"] or "; ".join(e["notes"][:1])
        table.add_row(e["name"], f"[{colours[e['status']]}]{e['status']}[/]",
                      f"{e['seconds']:.1f}", escape(text))  # fmt: skip
    return table


def register(app: Any, console: Console) -> None:
    """Add `bench` to ``app``."""

    @app.command("bench")
    def bench_cmd(
        quick: bool = typer.Option(False, help="small subsets of every experiment (CI, ~2 min)"),
        only: str = typer.Option(None, help="comma-separated experiments (default: all)"),
        out: Path = typer.Option(None, help="report folder (default: reports/<date>[-quick])"),
        config: Path = typer.Option(None, help="YAML/JSON overrides of the bench settings"),
        sweep: Path = typer.Option(None, help="sweep.json for rate-accuracy"),
        demo_json: Path = typer.Option(None, help="a `splitinfer demo` results.json to show"),
        bundle: Path = typer.Option(None, help="bundle to study (default: the shipped one)"),
        device: str = typer.Option(
            None,
            help="end-to-end: run the edge workers at this device profile's speed (phone, "
            "jetson-tx2, NAME:gflops=X) under a cgroup CPU quota (default: host speed)",
        ),
        list_: bool = typer.Option(False, "--list", help="list the experiments and exit"),
    ) -> None:
        """Run the experiments; write index.html, results.json, config.json and PNG figures."""
        from splitinfer.experiments.config import bench_config
        from splitinfer.experiments.runner import EXPERIMENTS, default_out_dir, run_bench

        if list_:
            for name in EXPERIMENTS:
                console.print(name)
            return
        cfg = bench_config(quick=quick, path=config)
        if sweep:
            cfg.rate_accuracy.sweep = str(sweep)
        if demo_json:
            cfg.end_to_end.from_json = str(demo_json)
        if bundle:
            cfg.subjects.bundle = str(bundle)
        if device:
            from splitinfer.plan import device as device_profile

            device_profile(device)  # an unknown name fails here, listing the valid ones
            cfg.end_to_end.device = device
        folder = out or default_out_dir(quick)
        names = [n.strip() for n in only.split(",") if n.strip()] if only else None
        command = command_line()
        results = run_bench(
            cfg,
            folder,
            names,
            command,
            log=lambda m: console.print(m, markup=False, highlight=False),
        )
        console.print(summary_table(results))
        warn(Checks(list(results["machine"]["timing"]["warnings"])).warning(ADVICE_BENCH))
        console.print(f"wrote {folder / 'index.html'} and {folder / 'results.json'}")
        if any(e["status"] == "failed" for e in results["experiments"].values()):
            raise typer.Exit(1)
