"""`splitinfer codecs ...`: list the codec stages and benchmark them on real features."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from splitinfer.cli.common import command_line


def register(app: Any, console: Console) -> None:
    """Add the `codecs` command group to ``app``."""
    codecs_app = typer.Typer(no_args_is_help=True, help="Feature codecs: list and benchmark.")
    app.add_typer(codecs_app, name="codecs")

    @codecs_app.command("list")
    def list_cmd() -> None:
        """Every registered codec stage and an example canonical spec."""
        from splitinfer import codecs

        for name in codecs.list_codecs():
            console.print(f"{name:8s} {escape(str(codecs.canonical(name)))}")

    @codecs_app.command("bench")
    def bench_cmd(
        quick: bool = typer.Option(False, help="2 images, 3 repeats (about a minute)"),
        images: int = typer.Option(8, min=1, help="images per feature set"),
        repeats: int = typer.Option(5, min=1, help="timed repeats (median reported)"),
        models: str = typer.Option("fmnist_resnet,fmnist_cnn,resnet50", help="feature sets"),
        spec: list[str] = typer.Option(None, help="codec spec (repeatable); default: all"),
        weights: list[str] = typer.Option(None, help="model=path weights for a feature set"),
        fuzz: int = typer.Option(0, min=0, help="also decode N mutated payloads"),
        threads: int = typer.Option(1, min=1, help="torch threads during the run"),
        json_out: Path = typer.Option(Path("reports/codecs_bench.json"), "--json"),
    ) -> None:
        """Bytes, distortion (MSE, PSNR) and encode/decode speed of each codec; ANS vs entropy."""
        from splitinfer.experiments.codecbench.bench import DEFAULT_SPECS
        from splitinfer.experiments.codecbench.report import run_benchmark

        pairs = [w.split("=", 1) for w in weights or []]
        if any(len(p) != 2 for p in pairs):
            raise typer.BadParameter("--weights takes model=path")
        with console.status("benchmarking codecs") as status:
            report = run_benchmark(
                quick=quick, images=images, repeats=repeats, models=models.split(","),
                specs=spec or DEFAULT_SPECS, weights=dict(pairs), fuzz=fuzz, threads=threads,
                progress=lambda f, s: status.update(f"benchmarking {f}: {s}"),
            )  # fmt: skip
        report.meta["command"] = command_line()
        console.print(escape(report.format()), highlight=False)
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(report.to_json())
        console.print(f"wrote {json_out}")
