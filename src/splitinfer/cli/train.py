"""`splitinfer train ...`: the training recipes, with progress bars and resumable runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import Progress

from splitinfer.cli.common import LineProgress, command_line, step_bar
from splitinfer.train.loop import FitConfig


def progress_callback(console: Console, bar: Progress | LineProgress) -> Any:
    task = bar.add_task("training", total=None, stats="")

    def tick(phase: str, done: int, total: int, stats: dict[str, float]) -> None:
        text = ", ".join(f"{k} {v:.4g}" for k, v in stats.items())
        if phase == "train":
            bar.update(task, completed=done, total=total, stats=text)
        else:
            console.print(f"epoch {done}/{total}: {text}")

    return tick


def register(app: Any, console: Console) -> None:
    """Add the `train` command group to ``app``."""
    train_app = typer.Typer(no_args_is_help=True, help="Training recipes (Fashion-MNIST).")
    app.add_typer(train_app, name="train")
    register_units(train_app, console)

    @train_app.command("backbone")
    def backbone_cmd(
        model: str = typer.Option("fmnist_resnet10", help="zoo model to train from scratch"),
        out: Path = typer.Option(Path("runs/backbone"), help="output folder"),
        epochs: int = typer.Option(8, min=1),
        batch_size: int = typer.Option(128, min=1),
        lr: float = typer.Option(0.05, min=1e-6),
        seed: int = typer.Option(0),
        threads: int = typer.Option(None, min=1, help="torch.set_num_threads"),
        limit: int = typer.Option(None, min=1, help="use only the first N training images"),
        data: Path = typer.Option(None, help="folder with the Fashion-MNIST IDX files"),
        resume: bool = typer.Option(False, help="continue from OUT/checkpoint.pt"),
    ) -> None:
        """Recipe (a): train a backbone from scratch; writes weights and results to OUT."""
        from splitinfer.train.recipes import fashion_mnist, train_backbone

        config = FitConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                           threads=threads)  # fmt: skip
        command = command_line()
        with step_bar(console) as bar:
            results = train_backbone(
                model, fashion_mnist(data, limit), config, out, resume=resume,
                progress=progress_callback(console, bar), command=command,
            )  # fmt: skip
        console.print(
            f"{model}: top-1 {100 * results['test_accuracy']:.2f}% on "
            f"{results['test_images']} test images after {results['epochs']} epochs "
            f"({results['train_seconds']:.0f} s); wrote {out}/weights.safetensors"
        )

    @train_app.command("baseline")
    def baseline_cmd(
        bundle: Path = typer.Argument(..., help="bundle directory to give an unsplit baseline"),
        weights: Path = typer.Option(
            ..., help="the unsplit model's weights (`splitinfer train backbone` wrote them)"
        ),
        data: Path = typer.Option(None, help="folder with the Fashion-MNIST IDX files"),
        images: int = typer.Option(
            10000, min=1, max=10000, help="test images its accuracy is measured on"
        ),
        threads: int = typer.Option(None, min=1, help="torch.set_num_threads"),
    ) -> None:
        """Ship an unsplit baseline with a bundle: cloud-only and mobile-only then run it.

        Writes baseline.safetensors beside the bundle and its digest and test accuracy into
        spec.json; weights.safetensors, the fingerprint and the frames stay as they were.
        """
        import torch

        from splitinfer import zoo
        from splitinfer.bundle import Bundle
        from splitinfer.train.data import load_fashion_mnist

        if threads:
            torch.set_num_threads(threads)
        b = Bundle.load(bundle)
        model = zoo.create(
            b.spec.model, weights=weights, num_classes=b.spec.num_classes,
            in_channels=b.spec.in_channels,
        )  # fmt: skip
        x, y = load_fashion_mnist("test", data)
        x, y = x[:images], y[:images]
        correct = 0
        with torch.no_grad():
            for i in range(0, len(x), 500):
                logits = model(b.spec.preprocess(x[i : i + 500]))
                correct += int((logits.argmax(1) == y[i : i + 500]).sum())
        accuracy = round(correct / len(x), 4)
        b = b.attach_baseline(bundle, model, accuracy, command_line())
        console.print(
            f"{b.spec.id}: baseline {b.spec.model} top-1 {100 * accuracy:.2f}% on {len(x)} test "
            f"images (split: {100 * b.spec.metrics.get('accuracy', float('nan')):.2f}%); wrote "
            f"{bundle}/baseline.safetensors"
        )


def register_units(train_app: Any, console: Console) -> None:
    """`splitinfer train units`: recipes (b)-(d), ending in a measured bundle."""

    @train_app.command("units")
    def units_cmd(
        backbone: Path = typer.Option(..., help="trained backbone weights (safetensors)"),
        model: str = typer.Option("fmnist_resnet10", help="zoo model the weights belong to"),
        cut: str = typer.Option(..., help="cut point (see `splitinfer profile MODEL`)"),
        channels: int = typer.Option(2, min=1, help="channels after the reduction unit"),
        stride: int = typer.Option(1, min=1, help="spatial reduction of the unit"),
        kernel: int = typer.Option(3, min=1, help="unit kernel size (odd)"),
        depth: int = typer.Option(1, min=1, max=2, help="convolutions per unit (1 or 2)"),
        hidden: int = typer.Option(
            0, min=0, help="hidden channels of a depth-2 unit (0: the cut's channels)"
        ),
        codec: str = typer.Option(
            "quant:bits=2,clip=0:1|ans",
            help="codec spec in the loop; 'learned:levels=L,tables=element|channel' trains "
            "a learned prior the bundle keeps (rate-aware with --rate-lambda)",
        ),
        rate_lambda: float = typer.Option(
            0.0, min=0.0, help="weight of the estimated bits per image (learned codec)"
        ),
        optimizer: str = typer.Option("sgd", help="sgd | adam"),
        tail_lr_scale: float = typer.Option(
            1.0, min=1e-6, help="the tail's learning rate relative to --lr (units+tail, all)"
        ),
        head_lr_scale: float = typer.Option(
            1.0, min=1e-6, help="the head's learning rate relative to --lr (--tune all)"
        ),
        feature_match: float = typer.Option(
            0.0, min=0.0, help="weight of MSE(restored, original feature) at the cut"
        ),
        tune: str = typer.Option(
            "units", help="units | units+tail | all (all: the head is fine-tuned too)"
        ),
        distill: float = typer.Option(None, min=0.5, help="distillation temperature"),
        epochs: int = typer.Option(3, min=1),
        batch_size: int = typer.Option(128, min=1),
        lr: float = typer.Option(0.05, min=1e-6),
        seed: int = typer.Option(0),
        threads: int = typer.Option(None, min=1, help="torch.set_num_threads"),
        limit: int = typer.Option(None, min=1, help="use only the first N training images"),
        data: Path = typer.Option(None, help="folder with the Fashion-MNIST IDX files"),
        out: Path = typer.Option(Path("runs/units"), help="run folder (config, checkpoint)"),
        bundle: Path = typer.Option(Path("runs/bundle"), help="where the bundle is written"),
        bundle_id: str = typer.Option("fmnist-split", help="bundle id"),
        resume: bool = typer.Option(False, help="continue from OUT/checkpoint.pt"),
    ) -> None:
        """Train a butterfly unit on a trained backbone (frozen or fine-tuned); save the bundle."""
        from splitinfer.bottleneck import UnitConfig
        from splitinfer.errors import BadInput
        from splitinfer.train.recipes import TUNES, fashion_mnist, train_unit_bundle

        if tune not in TUNES:
            raise BadInput(f"--tune must be one of {', '.join(TUNES)}; got {tune!r}")
        config = FitConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                           threads=threads, optimizer=optimizer)  # fmt: skip
        command = command_line()
        with step_bar(console) as bar:
            run = train_unit_bundle(
                model_name=model,
                backbone=backbone,
                cut=cut,
                unit=UnitConfig(
                    channels=channels, stride=stride, kernel=kernel, depth=depth, hidden=hidden
                ),
                codec=codec,
                data=fashion_mnist(data, limit),
                config=config,
                out=out,
                bundle_dir=bundle,
                bundle_id=bundle_id,
                tune=tune,  # type: ignore[arg-type]
                distill=distill,
                rate_lambda=rate_lambda,
                tail_lr_scale=tail_lr_scale,
                head_lr_scale=head_lr_scale,
                feature_match=feature_match,
                resume=resume,
                progress=progress_callback(console, bar),
                command=command,
            )
        m = run.metrics
        console.print(
            f"bundle {run.bundle_dir}: top-1 {100 * m['accuracy']:.2f}% through real frames "
            f"({100 * m['unsplit_accuracy']:.2f}% unsplit, loss "
            f"{m['accuracy_loss_points']:.2f} points) on {m['images']} test images; "
            f"mean frame {m['mean_frame_bytes']:.1f} B (payload "
            f"{m['mean_payload_bytes']:.1f} B); encode {m['encode_ms_median']:.2f} ms, "
            f"decode {m['decode_ms_median']:.2f} ms (median per image)"
        )
        if "mean_estimated_payload_bits" in m:
            console.print(
                f"rate: {m['mean_estimated_payload_bits']:.1f} bits estimated by the bundle's "
                f"tables, {m['mean_actual_payload_bits']:.1f} bits sent (per image)"
            )
