"""The ``splitinfer`` command line.

Each submodule registers the commands of one part of the library on the app; each
command parses its options, calls the library, and prints (rich tables, progress bars).
"""

from __future__ import annotations

import sys
from typing import Any

from splitinfer.errors import MissingDependency, SplitInferError


def build_app() -> Any:
    """The typer app with every command registered."""
    try:
        import typer
        from rich.console import Console
    except ImportError as err:
        raise MissingDependency(
            "the command line needs typer and rich: pip install 'splitinfer[cli]'"
        ) from err

    from splitinfer.cli import bench as bench_cli
    from splitinfer.cli import codecs, export, link, partition, plan, run, serve, sweep, train
    from splitinfer.cli import demo as demo_cli
    from splitinfer.cli import privacy as privacy_cli

    app = typer.Typer(
        add_completion=False,
        no_args_is_help=True,
        help="splitinfer: split inference edge -> wire -> cloud, with every byte and ms counted.",
    )
    # Wide tables stay readable in logs and CI, where there is no terminal to measure.
    console = Console(width=None if sys.stdout.isatty() else 140)
    partition.register(app, console)
    demo_cli.register(app, console)
    codecs.register(app, console)
    plan.register(app, console)
    train.register(app, console)
    sweep.register(app, console)
    link.register(app, console)
    serve.register(app, console)
    run.register(app, console)
    export.register(app, console)
    bench_cli.register(app, console)
    privacy_cli.register(app, console)
    return app


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: typed errors become one clear line and exit code 2."""
    try:
        app = build_app()
    except MissingDependency as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    from rich.console import Console
    from rich.markup import escape

    try:
        # standalone mode: typer/click print usage errors and exit with their own codes.
        app(args=argv, prog_name="splitinfer")
    except SplitInferError as err:
        # soft_wrap: one line whatever the terminal's width, so a log keeps it whole
        Console(stderr=True, soft_wrap=True).print(
            f"[bold red]error[/] {escape(f'[{err.code}] {err.message}')}"
        )
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
