"""Command `demo`: the default bundle end to end over emulated 3G / 4G / Wi-Fi links."""

from __future__ import annotations

import shlex
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.measure import Measurement

PHASES = {
    "load": "loading bundle and data",
    "accuracy": "accuracy, every mode, in slices",
    "start": "waiting for the server",
    "compute": "stage times in-process",
    "links": "streaming over the links",
}


class PlainProgress:
    """Progress as plain lines (logs, CI): each phase's start, quarters, and end."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.started: dict[str, float] = {}
        self.shown: dict[str, int] = {}

    def __call__(self, task: str, done: int, total: int | None) -> None:
        now = time.perf_counter()
        if task not in self.started:
            self.started[task] = now
            self.shown[task] = -1
            self.console.print(f"[demo] {PHASES.get(task, task)} ...", markup=False)
        if not total:
            return
        quarter = 4 * done // total
        if quarter > self.shown[task]:
            self.shown[task] = quarter
            if done >= total:
                self.console.print(
                    f"[demo] {task}: done ({done}/{total}, {now - self.started[task]:.1f} s)",
                    markup=False,
                )
            elif quarter > 0:
                self.console.print(f"[demo] {task}: {done}/{total}", markup=False)


@contextmanager
def progress_display(console: Console) -> Iterator[Any]:
    """A rich progress display on a terminal, plain lines otherwise."""
    if not console.is_terminal:
        yield PlainProgress(console)
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    tasks: dict[str, Any] = {}
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=console, transient=False,
    ) as bar:  # fmt: skip

        def update(task: str, done: int, total: int | None) -> None:
            if task not in tasks:
                tasks[task] = bar.add_task(PHASES.get(task, task), total=total)
            bar.update(tasks[task], completed=done, total=total)

        yield update


def register(app: Any, console: Console) -> None:
    """Add `demo` to ``app``."""

    @app.command("demo")
    def demo_cmd(
        images: int = typer.Option(
            None, min=1, max=10000, help="test images per link, each in every mode (default 200)"
        ),
        links: str = typer.Option(
            None, help="links to emulate, comma-separated (default 3g,4g,wifi; custom:up=..)"
        ),
        out: Path = typer.Option(
            None, help="folder for report.md, results.json and charts (default runs/demo-<time>)"
        ),
        bundle: Path = typer.Option(None, help="bundle directory (default: the shipped one)"),
        device: str = typer.Option(
            "host",
            help="device profile (host, phone, jetson-tx2, NAME:gflops=X): the modeled energy, "
            "and the edge's work runs at its speed under a cgroup CPU quota",
        ),
        emulate_device: bool = typer.Option(
            True, help="slow the edge to --device's speed (else: energy model only)"
        ),
        device_method: str = typer.Option(
            "cgroup",
            help="how the edge is slowed: cgroup (a CFS CPU quota) | dilate (a sleep "
            "of each block's own CPU time x (1/share - 1))",
        ),
        sequential: bool = typer.Option(
            False, help="measure one link at a time instead of in parallel (slower)"
        ),
        quick: bool = typer.Option(
            False, help="smoke run: 10 images, one link (wifi), accuracy on 200 images"
        ),
        ui: bool = typer.Option(
            False, "--ui", help="serve the live monitor (/ui/) while the demo runs; print its URL"
        ),
        trace: Path = typer.Option(
            None,
            "--trace",
            help="every link follows this trace: Mahimahi (uplink; each "
            "profile's RTT and downlink) or CSV (one link); see traces/README.md",
        ),
        probe_file: Path = typer.Option(
            None,
            help="this machine's probe (`splitinfer plan --probe`) for the model-only planner "
            "(default: $SPLITINFER_PROBE or ~/.cache/splitinfer/probe.json; probed now and "
            "stored there when missing)",
        ),
    ) -> None:
        """Cloud-only vs split vs mobile-only over emulated links, through the real server.

        Starts the server on a loopback port, puts an emulated link in front of it, streams
        Fashion-MNIST test images in each mode, adds each mode's accuracy on the test split,
        and sets the planner's modeled latency beside what was measured.
        """
        from splitinfer.demo import (
            DEFAULT_LINKS,
            DemoConfig,
            default_out_dir,
            fidelity_lines,
            run_demo,
            summary_table,
            table_caption,
            write_run,
        )

        chosen = tuple(s.strip() for s in links.split(",") if s.strip()) if links else None
        argv = ["splitinfer", "demo"]
        for flag, value in (("--images", images), ("--links", links), ("--out", out),
                            ("--bundle", bundle), ("--trace", trace),
                            ("--probe-file", probe_file)):  # fmt: skip
            if value is not None:
                argv += [flag, str(value)]
        argv += [
            f for f, on in (("--sequential", sequential), ("--quick", quick), ("--ui", ui)) if on
        ]
        if device != "host":
            argv += ["--device", device]
        if not emulate_device:
            argv += ["--no-emulate-device"]
        if device_method != "cgroup":
            argv += ["--device-method", device_method]
        from splitinfer.plan import device as device_profile

        device_profile(device)  # an unknown name fails here, listing the valid ones
        given: dict[str, Any] = {
            "bundle": bundle, "device": device, "emulate_device": emulate_device,
            "device_method": device_method,
            "parallel_links": not sequential,
            "command": shlex.join(argv), "ui": ui,
            "trace": None if trace is None else str(trace),
            "probe": None if probe_file is None else str(probe_file),
        }  # fmt: skip
        if images is not None:
            given["images"] = images
        if quick:
            given["links"] = chosen[:1] if chosen else ("wifi",)
            config = DemoConfig.quick(**given)
        else:
            given["links"] = chosen or DEFAULT_LINKS
            config = DemoConfig(**given)
        folder = out or default_out_dir()
        t0 = time.perf_counter()

        def announce(url: str) -> None:
            console.print(f"monitor (live while the demo runs): {url}/ui/  edge page: {url}/edge/")

        try:
            with progress_display(console) as progress:
                results = run_demo(
                    config, progress=progress, log_dir=folder, on_server=announce if ui else None
                )
        except KeyboardInterrupt:
            console.print("interrupted: the server and the link workers were stopped")
            raise typer.Exit(130) from None
        write_run(results, folder)
        table = summary_table(results)
        # never squeeze numbers into ellipses: on a narrow terminal the rows wrap instead
        table.caption = None  # printed below as text, which wraps at any width
        wide = Measurement.get(console, console.options.update(width=400), table).maximum
        width = console.width
        console.width = max(width, min(wide, 400))
        try:
            console.print(table)
        finally:
            console.width = width
        console.print(table_caption(results))
        for line in fidelity_lines(results):
            console.print(line)
        for note in results.notes:
            console.print(f"[yellow]note[/]: {note}")
        console.print(f"wrote {folder}/report.md, results.json and charts "
                      f"in {time.perf_counter() - t0:.0f} s")  # fmt: skip
