"""Commands for the model side: `models`, `profile`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from splitinfer.cli.common import LineProgress, warn


def _parse_size(text: str | None, model: str, weights: str | None) -> tuple[int, int, int]:
    from splitinfer.zoo import default_input_size

    if not text:
        return default_input_size(model, weights)
    try:
        parts = [int(p) for p in text.replace("x", ",").split(",") if p.strip()]
    except ValueError:
        parts = []
    if len(parts) == 1:
        c = default_input_size(model, weights)[0]
        return (c, parts[0], parts[0])
    if len(parts) == 3 and all(p > 0 for p in parts):
        return (parts[0], parts[1], parts[2])
    raise typer.BadParameter(f"--input-size takes H (square), or C,H,W; got {text!r}")


def progress_bar(console: Console) -> Progress | LineProgress:
    """A transient bar on a terminal, plain lines (:class:`LineProgress`) otherwise."""
    if not console.is_terminal:
        return LineProgress(console)
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[what]}"),
        console=console,
        transient=True,
    )


def _kb(n: float) -> str:
    return f"{n / 1024:,.1f}"


def profile_table(prof: Any, title: str) -> Table:
    """The per-cut table: what each cut costs the edge, the link and the cloud."""
    total = max(prof.total_flops, 1)
    table = Table(
        title=title,
        title_justify="left",
        caption=(
            "feature: crossing tensor shape; x input: 8-bit feature bytes / raw 8-bit input bytes; "
            "ms: median measured here; ! = a timing check flagged this cut (see the warning)"
        ),
        caption_justify="left",
    )
    for col, justify in [
        ("#", "right"), ("cut", "left"), ("feature", "left"), ("fp32 KB", "right"),
        ("8-bit KB", "right"), ("x input", "right"), ("head GFLOP", "right"),
        ("head %", "right"), ("tail GFLOP", "right"), ("head ms", "right"),
        ("tail ms", "right"),
    ]:  # fmt: skip
        table.add_column(col, justify=justify)  # type: ignore[arg-type]

    def ms(v: float | None, flagged: bool = False) -> str:
        return "-" if v is None else f"{v:.2f}{'!' if flagged else ''}"

    for row in prof.cuts:
        c = row.cut
        bad = bool(row.flags)
        table.add_row(
            str(c.index), c.name, "x".join(map(str, c.shape)), _kb(c.bytes_fp32),
            _kb(c.bytes_8bit), f"{c.bytes_8bit / prof.input_bytes:.2f}",
            f"{c.flops_head / 1e9:.3f}", f"{100 * c.flops_head / total:.1f}",
            f"{c.flops_tail / 1e9:.3f}", ms(row.head_ms, bad), ms(row.tail_ms, bad),
        )  # fmt: skip
    return table


def profile_summary(prof: Any) -> str:
    full = "-" if prof.full_ms is None else f"{prof.full_ms:.2f} ms"
    m = prof.machine
    return (
        f"{prof.model}: input {'x'.join(map(str, prof.input_shape))} "
        f"({_kb(prof.input_bytes)} KB at 8 bits), {prof.total_flops / 1e9:.3f} GFLOPs, "
        f"{prof.params / 1e6:.2f} M params, full model {full}; {len(prof.cuts)} cut points. "
        f"Measured on {m.get('cpu')} ({m.get('torch_threads')} torch threads), "
        f"median of {prof.timing.get('repeats')} runs after {prof.timing.get('warmup')} warm-up; "
        f"load average {(m.get('load_average') or ['?'])[0]} on {m.get('cores')} cores."
    )


def warn_profile(prof: Any) -> None:
    """The one warning line when any timing check flagged ``prof`` (nothing otherwise)."""
    from splitinfer.timing import Checks

    warn(Checks(list(prof.timing.get("warnings", []))).warning())


def run_profile(
    console: Console,
    model_name: str,
    input_size: str | None = None,
    batch: int = 1,
    weights: str | None = None,
    num_classes: int | None = None,
    in_channels: int | None = None,
    repeats: int = 10,
    warmup: int = 3,
    measure: bool = True,
    example: Any = None,
) -> Any:
    import torch

    from splitinfer import zoo
    from splitinfer.partition import profile_model

    model = zoo.create(
        model_name, weights=weights, num_classes=num_classes, in_channels=in_channels
    )
    if example is None:
        c, h, w = _parse_size(input_size, model_name, weights)
        if in_channels:
            c = in_channels
        example = torch.randn(batch, c, h, w, generator=torch.Generator().manual_seed(0))
    with progress_bar(console) as bar:
        task = bar.add_task("profiling", total=None, what="tracing")

        def tick(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, what=what)

        prof = profile_model(
            model, example, name=model_name, measure=measure, repeats=repeats, warmup=warmup,
            progress=tick,
        )  # fmt: skip
    return prof


def register(app: Any, console: Console) -> None:
    """Add `models` and `profile` to ``app``."""

    @app.command("models")
    def models_cmd(
        all_models: bool = typer.Option(False, "--all", help="also list torchvision's models"),
    ) -> None:
        """List the models `profile` and the library accept."""
        from splitinfer import zoo

        table = Table(title="splitinfer zoo", title_justify="left")
        table.add_column("name")
        table.add_column("input (C,H,W)")
        table.add_column("description")
        for name in zoo.ZOO.names():
            e = zoo.ZOO[name]
            table.add_row(name, "x".join(map(str, e.input_size)), e.description)
        console.print(table)
        tv = zoo.torchvision_models()
        if all_models:
            console.print("torchvision: " + ", ".join(tv))
        else:
            console.print(f"+ {len(tv)} torchvision classification models (--all lists them)")

    @app.command("profile")
    def profile_cmd(
        model: str = typer.Argument(..., help="model name (see `splitinfer models`)"),
        input_size: str = typer.Option(
            None, "--input-size", help="H (square) or C,H,W; default: the model's own"
        ),
        batch: int = typer.Option(1, min=1, help="batch size of the example input"),
        weights: str = typer.Option(None, help="weights file or torchvision weights name"),
        num_classes: int = typer.Option(None, min=1, help="override the number of classes"),
        in_channels: int = typer.Option(None, min=1, help="override the input channels"),
        repeats: int = typer.Option(10, min=1, help="timed runs per half (median is reported)"),
        warmup: int = typer.Option(3, min=0, help="untimed warm-up runs per half"),
        threads: int = typer.Option(None, min=1, help="torch.set_num_threads (default: torch's)"),
        latency: bool = typer.Option(
            True, help="measure head/tail latency (--no-latency: static only)"
        ),
        json_out: Path = typer.Option(None, "--json", help="write the profile as JSON here"),
    ) -> None:
        """Per-cut table: feature shape and bytes, head/tail FLOPs and measured latency."""
        import torch

        if threads:
            torch.set_num_threads(threads)
        prof = run_profile(
            console, model, input_size, batch, weights, num_classes, in_channels, repeats,
            warmup, latency,
        )  # fmt: skip
        console.print(profile_table(prof, f"splitinfer profile {model}"))
        console.print(profile_summary(prof))
        warn_profile(prof)
        if json_out:
            prof.save(json_out)
            console.print(f"wrote {json_out}")
