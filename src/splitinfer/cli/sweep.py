"""`splitinfer sweep`: the rate-accuracy sweep (four families), with a table and a figure."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from splitinfer.cli.common import LineProgress, command_line, step_bar
from splitinfer.errors import BadInput


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for text in values or [] for v in text.split(",") if v.strip()]


def sweep_table(doc: Mapping[str, Any], rows: str = "pareto") -> Table:
    """Each family's Pareto-front points (or every point), cheapest first."""
    unsplit = 100 * doc["references"]["unsplit_accuracy"]
    table = Table(
        title=f"rate-accuracy sweep: {doc['model']} on {doc['dataset']}, {doc['test_images']} "
        f"test images, budget {doc.get('budget', '?')}; unsplit {unsplit:.2f}%",
        title_justify="left",
        caption=f"{rows} rows; codecs abbreviated (full specs in sweep.json); loss: points "
        f"below the unsplit model; {doc['bytes_note']}",
        caption_justify="left",
    )
    for col in ("family", "cut", "unit", "codec", "top-1 %", "loss", "session B", "frame B",
                "payload B", "enc ms", "dec ms"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("family", "codec") else "right",
                         overflow="fold")  # fmt: skip
    from splitinfer.train.sweep import parse_unit, short_codec, unit_label

    for p in doc["points"]:
        if rows == "pareto" and not p["pareto"]:
            continue
        unit = unit_label(parse_unit(p["unit"])) if p["unit"] else "-"
        table.add_row(
            p["family"], p["cut"] or "-", unit, escape(short_codec(p["codec"])),
            f"{100 * p['accuracy']:.2f}", f"{p['accuracy_loss_points']:.2f}",
            f"{p['bytes']:.1f}", f"{p['frame_bytes']:.1f}", f"{p['payload_bytes']:.1f}",
            f"{p['encode_ms']:.2f}",
            f"{p['decode_ms']:.2f}",
        )  # fmt: skip
    return table


def print_summary(console: Console, doc: Mapping[str, Any], rows: str) -> None:
    console.print(sweep_table(doc, rows))
    for c in doc["references"]["controls"]:
        what = (
            "no extra training (tune=units)"
            if not c.get("trained")
            else f"whole model fine-tuned, {c['epochs']} epoch(s)"
            if c.get("tune") == "all"
            else f"tail after {c['cut']} fine-tuned, {c['epochs']} epoch(s)"
        )
        console.print(f"control ({what}): top-1 {100 * c['accuracy']:.2f}%")
    for level in doc["levels"]:
        console.print(escape(level["text"]), highlight=False)
    if doc["pending"]:
        console.print(f"{len(doc['pending'])} point(s) not measured yet (filtered out by --points)")


def _hooks(console: Console, bar: Progress | LineProgress) -> Any:
    from splitinfer.train.sweep import SweepHooks

    points = bar.add_task("points", total=None, stats="")
    step = bar.add_task("", total=None, stats="", visible=False)

    def on_point(index: int, total: int, name: str, status: str) -> None:
        bar.update(points, description="control" if name.startswith("control-") else "points")
        if status == "measuring":
            bar.update(points, completed=index - 1, total=total, stats=name)
            bar.reset(step, total=None, description="", stats="", visible=False)
        else:
            bar.update(points, completed=index, total=total, stats=f"{name} {status}")

    def on_step(phase: str, done: int, total: int, stats: dict[str, float]) -> None:
        if phase == "epoch":
            text = ", ".join(f"{k} {v:.4g}" for k, v in stats.items())
            console.print(f"  epoch {done}/{total}: {text}")
            return
        text = ", ".join(f"{k} {v:.4g}" for k, v in stats.items())
        bar.update(step, description=phase, completed=done, total=total, stats=text, visible=True)

    return SweepHooks(point=on_point, step=on_step)


def register(app: Any, console: Console) -> None:
    """Add the `sweep` command to ``app``."""

    @app.command("sweep")
    def sweep_cmd(
        config: Path = typer.Option(
            None, help="sweep config (YAML/JSON), e.g. configs/sweep-fmnist.yaml; flags override it"
        ),
        out: Path = typer.Option(Path("runs/sweep"), help="output folder (cache in OUT/points)"),
        model: str = typer.Option(None, help="zoo model of the backbone"),
        backbone: str = typer.Option(None, help="backbone weights (safetensors)"),
        data: str = typer.Option(
            None,
            help="fmnist | fmnist:DIR | imagefolder:PATH "
            "(PATH/train/<class>/*, PATH/test/<class>/*) | synthetic:N,M",
        ),
        channels: int = typer.Option(None, min=1, help="input channels (imagefolder: 1 or 3)"),
        limit_test: int = typer.Option(None, min=1, help="first N test images (default all)"),
        budget: str = typer.Option(
            None,
            help="training budget by name: quick (1 epoch on 20,000 images, head frozen; "
            "the CI figure) | full (the default bundle's recipe: 11 epochs on all images, "
            "the whole network tuned, distillation) | a name from the config's budgets:; "
            "default: the config's budget:, else quick",
        ),
        epochs: int = typer.Option(None, min=1, help="epochs per trained point and control"),
        train_limit: int = typer.Option(None, min=1, help="first N training images"),
        tune: str = typer.Option(None, help="units | units+tail | all"),
        distill: float = typer.Option(None, min=0.0, help="distillation temperature (0: off)"),
        lr: float = typer.Option(None, min=1e-6),
        batch_size: int = typer.Option(None, min=1),
        seed: int = typer.Option(None),
        threads: int = typer.Option(None, min=1, help="torch.set_num_threads"),
        points: list[str] = typer.Option(
            None,
            help="only these points: fnmatch patterns on slugs or family names ('control' for "
            "the controls), comma-separated",
        ),
        cuts: list[str] = typer.Option(None, help="cuts for every split family"),
        units: list[str] = typer.Option(None, help="units cCsS[kK] for trained families"),
        cloud_only: list[str] = typer.Option(
            None,
            "--cloud-only",
            help="image codec: png, webp-lossless, jpeg:quality=Q, webp:quality=Q",
        ),
        ulhaq: list[str] = typer.Option(None, help="feature codec spec (no unit)"),
        bottlenet: list[str] = typer.Option(None, help="feature codec spec with JPEG"),
        ours: list[str] = typer.Option(None, help="feature codec spec (quant + ANS)"),
        learned: list[str] = typer.Option(
            None, help="learned-prior codec spec, e.g. learned:levels=4,tables=element"
        ),
        ours_kwargs: list[str] = typer.Option(
            None,
            help="JSON kwargs for train_units, one training run each, for the ours and "
            "learned families, e.g. '{\"rate_lambda\": 0.01}'",
        ),
        no_control: bool = typer.Option(False, "--no-control", help="skip the control"),
        rows: str = typer.Option("pareto", help="table rows: pareto | all"),
        plot_only: bool = typer.Option(False, help="redraw OUT/pareto.png from OUT/sweep.json"),
    ) -> None:
        """Rate-accuracy sweep: cloud-only, Ulhaq-style, BottleNet-style and ours, measured
        through real frames; writes OUT/sweep.json, OUT/ratepoints.json and OUT/pareto.png."""
        from splitinfer.train.figure import draw_rate_accuracy
        from splitinfer.train.sweep import SweepConfig, load_config, override, parse_unit, run_sweep

        if rows not in ("pareto", "all"):
            raise BadInput(f"--rows must be 'pareto' or 'all', got {rows!r}")
        if plot_only:
            try:
                doc = json.loads((out / "sweep.json").read_text())
            except (OSError, json.JSONDecodeError) as err:
                raise BadInput(f"cannot read {out / 'sweep.json'}: {err}") from None
            console.print(f"wrote {draw_rate_accuracy(doc, out / 'pareto.png')}")
            print_summary(console, doc, rows)
            return
        base = (
            load_config(config)
            if config
            else SweepConfig(model=model or "fmnist_resnet10", backbone=backbone or "")
        )
        try:
            kwargs = [json.loads(k) for k in ours_kwargs or []]
        except json.JSONDecodeError as err:
            raise BadInput(f"--ours-kwargs takes JSON objects: {err}") from None
        if not all(isinstance(k, dict) for k in kwargs):
            raise BadInput("--ours-kwargs takes JSON objects, e.g. '{\"rate_lambda\": 0.01}'")
        resolved = override(
            base, cuts=_split(cuts), units=[parse_unit(u) for u in _split(units)],
            family_codecs={"cloud-only": cloud_only or [], "ulhaq": ulhaq or [],
                           "bottlenet": bottlenet or [], "ours": ours or [],
                           "learned": learned or []},
            ours_kwargs=kwargs, budget=budget, model=model, backbone=backbone, data=data,
            channels=channels,
            test_limit=limit_test, control=False if no_control else None, epochs=epochs,
            train_limit=train_limit, tune=tune, lr=lr, batch_size=batch_size, seed=seed,
        )  # fmt: skip
        if distill is not None:
            from dataclasses import replace

            resolved = replace(resolved, train=replace(resolved.train, distill=distill or None))
        if not resolved.backbone:
            raise BadInput("give --backbone WEIGHTS (or a --config that names one)")
        if not resolved.groups:
            raise BadInput(
                "nothing to sweep: give --config configs/sweep-fmnist.yaml, or family flags "
                "(--cloud-only png --ulhaq SPEC --cuts stage1 ...)"
            )
        command = command_line()
        n = len(resolved.points())
        console.print(f"sweep: {n} points ({resolved.model}, {resolved.data}), budget "
                      f"{resolved.budget}; cache {out}/points")  # fmt: skip
        with step_bar(console) as bar:
            doc = run_sweep(resolved, out, select=_split(points), hooks=_hooks(console, bar),
                            threads=threads, command=command)  # fmt: skip
        print_summary(console, doc, rows)
        console.print(f"wrote {out}/sweep.json, {out}/ratepoints.json, {out}/pareto.png")
