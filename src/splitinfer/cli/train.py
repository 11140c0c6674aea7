"""`splitinfer train ...`: the training recipes, with progress bars and resumable runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import Progress

from splitinfer.cli.common import LineProgress, command_line, step_bar
from splitinfer.train.loop import FitConfig

if TYPE_CHECKING:
    from splitinfer.data.stream import DataSpec, Streams


def progress_callback(console: Console, bar: Progress | LineProgress) -> Any:
    task = bar.add_task("training", total=None, stats="")

    def tick(phase: str, done: int, total: int, stats: dict[str, float]) -> None:
        text = ", ".join(f"{k} {v:.4g}" for k, v in stats.items())
        if phase == "train":
            bar.update(task, completed=done, total=total, stats=text)
        else:
            console.print(f"epoch {done}/{total}: {text}")

    return tick


DATA_HELP = (
    "fmnist[:DIR] | imagefolder:PATH (PATH/train/<class>/*, PATH/test|val/<class>/*) | "
    "synthetic:CLASSES,SIZE (generated images, for tests and throughput only); a plain "
    "folder is read as Fashion-MNIST's IDX files"
)


def open_data(
    console: Console,
    data: str | None,
    model: str,
    weights: str | None,
    limit: int | None,
    image_size: int | None,
    mean: str | None,
    std: str | None,
    workers: int,
    runtime: Any,
) -> Any:
    """In-memory Fashion-MNIST for a native 1x28x28 model (as before), else a stream."""
    from splitinfer import zoo
    from splitinfer.data.stream import parse_data_spec
    from splitinfer.train.recipes import fashion_mnist, stream_data

    spec = parse_data_spec(data or "fmnist")
    native = zoo.default_input_size(model, weights) == (1, 28, 28) and image_size in (None, 28)
    if spec.kind == "fmnist" and native and not runtime.distributed and mean is None:
        return fashion_mnist(spec.path, limit)
    streamed = stream_data(
        data or "fmnist", model, weights, image_size, _floats(mean), _floats(std), workers
    )
    if limit:
        streamed = streamed.limited(limit)
    if runtime.is_main:
        s = streamed.streams
        console.print(
            f"data: {spec.label}; {len(s.classes)} classes, {len(s.train)} train / "  # type: ignore[arg-type]
            f"{len(s.test)} test images at {s.input_shape}, normalised by mean "  # type: ignore[arg-type]
            f"{streamed.mean} std {streamed.std}; device {runtime.device}"
            + (f", {runtime.world} processes" if runtime.distributed else "")
        )
    return streamed


# Options `train backbone` and `train units` share: one definition, one help text.
DATA_OPT = typer.Option(None, help=DATA_HELP)
IMAGE_SIZE_OPT = typer.Option(
    None, min=8, help="square input side (default: the weights' crop, else the model's)"
)
MEAN_OPT = typer.Option(None, help="input mean per channel, e.g. 0.485,0.456,0.406")
STD_OPT = typer.Option(None, help="input std per channel, e.g. 0.229,0.224,0.225")
DEVICE_OPT = typer.Option("auto", help="auto | cpu | cuda | cuda:N")
AMP_OPT = typer.Option(True, help="bf16 autocast on CUDA (no effect on CPU)")
WORKERS_OPT = typer.Option(2, min=0, help="DataLoader worker processes (streamed data)")


def load_recipe(path: Path) -> dict[str, dict[str, Any]]:
    """A recipe file's command sections (``yaml.safe_load``), with option names as keys."""
    import yaml

    from splitinfer.errors import BadInput

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise BadInput(f"cannot read recipe {path}: {err}") from None
    if not isinstance(data, dict):
        raise BadInput(f"{path}: a recipe is a mapping of command -> options")
    sections = {k: v for k, v in data.items() if k in ("backbone", "units", "evaluate")}
    if not sections or not all(isinstance(v, dict) for v in sections.values()):
        raise BadInput(f"{path}: needs a `backbone:`, `units:` or `evaluate:` mapping")
    return {cmd: {str(k).replace("-", "_"): v for k, v in opts.items()}
            for cmd, opts in sections.items()}  # fmt: skip


def _floats(text: str | None) -> tuple[float, ...] | None:
    from splitinfer.errors import BadInput

    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise BadInput(f"expected comma-separated numbers, got {text!r}") from None


def register(app: Any, console: Console) -> None:
    """Add the `train` command group to ``app``."""
    train_app = typer.Typer(
        no_args_is_help=True, help="Training recipes: any zoo, torchvision or timm model, any data."
    )
    app.add_typer(train_app, name="train")

    @train_app.callback()
    def train_group(
        ctx: typer.Context,
        config: Path = typer.Option(
            None,
            help="a recipe (YAML, e.g. configs/resnet50-layer2.yaml): its `backbone:`, "
            "`units:` and `evaluate:` sections are the commands' defaults; flags override",
        ),
    ) -> None:
        """Training recipes: any zoo, torchvision or timm model, any data."""
        if config is not None:
            ctx.default_map = {**(ctx.default_map or {}), **load_recipe(config)}

    register_units(train_app, console)
    register_multirate(train_app, console)
    register_evaluate(train_app, console)

    @train_app.command("backbone")
    def backbone_cmd(
        model: str = typer.Option(
            "fmnist_resnet10", help="zoo or torchvision model, or timm:NAME (`splitinfer models`)"
        ),
        weights: str = typer.Option(
            None, help="start from: a .safetensors / state-dict file, or torchvision:ENUM_NAME"
        ),
        data: str = DATA_OPT,
        image_size: int = IMAGE_SIZE_OPT,
        mean: str = MEAN_OPT,
        std: str = STD_OPT,
        device: str = DEVICE_OPT,
        amp: bool = AMP_OPT,
        workers: int = WORKERS_OPT,
        out: Path = typer.Option(Path("runs/backbone"), help="output folder"),
        epochs: int = typer.Option(8, min=1, help="training epochs"),
        batch_size: int = typer.Option(128, min=1, help="images per step (per process)"),
        lr: float = typer.Option(0.05, min=1e-6, help="peak learning rate (cosine schedule)"),
        seed: int = typer.Option(0, help="random seed"),
        threads: int = typer.Option(None, min=1, help="torch.set_num_threads"),
        limit: int = typer.Option(None, min=1, help="use only the first N training images"),
        resume: bool = typer.Option(False, help="continue from OUT/checkpoint.pt"),
    ) -> None:
        """Recipe (a): train a backbone; writes weights and results to OUT (rank 0)."""
        from splitinfer.train import runtime as rt
        from splitinfer.train.recipes import train_backbone

        run = rt.start(device, amp)
        config = FitConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                           threads=threads)  # fmt: skip
        command = command_line()
        try:
            dataset = open_data(console, data, model, weights, limit, image_size, mean, std,
                                workers, run)  # fmt: skip
            with step_bar(console, disable=not run.is_main) as bar:
                results = train_backbone(
                    model, dataset, config, out, resume=resume,
                    progress=progress_callback(console, bar), command=command,
                    weights=weights, runtime=run,
                )  # fmt: skip
        finally:
            rt.stop(run)
        if not run.is_main:
            return
        skipped = results.get("skipped_images")
        console.print(
            f"{model}: top-1 {100 * results['test_accuracy']:.2f}% on "
            f"{results['test_images']} test images after {results['epochs']} epochs "
            f"({results['train_seconds']:.0f} s); wrote {out}/weights.safetensors"
            + (f"; {skipped} unreadable image(s) skipped" if skipped is not None else "")
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
        from splitinfer.data import load_fashion_mnist

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
        backbone: str = typer.Option(
            ...,
            "--backbone",
            "--weights",
            help="the trained backbone: .safetensors / state-dict file, or torchvision:ENUM_NAME",
        ),
        model: str = typer.Option(
            "fmnist_resnet10", help="zoo, torchvision or timm:NAME model the weights belong to"
        ),
        data: str = DATA_OPT,
        image_size: int = IMAGE_SIZE_OPT,
        mean: str = MEAN_OPT,
        std: str = STD_OPT,
        device: str = DEVICE_OPT,
        amp: bool = AMP_OPT,
        workers: int = WORKERS_OPT,
        cut: str = typer.Option(..., help="cut point (see `splitinfer profile MODEL`)"),
        channels: int = typer.Option(2, min=1, help="channels after the reduction unit"),
        stride: int = typer.Option(1, min=1, help="spatial reduction of the unit"),
        kernel: int = typer.Option(3, min=1, help="unit kernel size (odd)"),
        depth: int = typer.Option(1, min=1, max=4, help="convolutions per unit side, 1 to 4"),
        hidden: int = typer.Option(
            0, min=0, help="hidden channels of a deeper unit (0: the cut's channels)"
        ),
        codec: str = typer.Option(
            "quant:bits=2,clip=0:1|ans",
            help="codec spec in the loop; 'learned:levels=L,tables=element|channel' trains "
            "a learned prior the bundle keeps (rate-aware with --rate-lambda); add "
            "',coder=range' for big latents (compiled range coder; default exact, at most "
            "4,096 symbols) or ',coder=auto' (exact up to 256 symbols)",
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
        out: Path = typer.Option(Path("runs/units"), help="run folder (config, checkpoint)"),
        bundle: Path = typer.Option(Path("runs/bundle"), help="where the bundle is written"),
        bundle_id: str = typer.Option("fmnist-split", help="bundle id"),
        resume: bool = typer.Option(False, help="continue from OUT/checkpoint.pt"),
    ) -> None:
        """Train a butterfly unit on a trained backbone (frozen or fine-tuned); save the bundle."""
        from splitinfer.bottleneck import UnitConfig
        from splitinfer.errors import BadInput
        from splitinfer.train import runtime as rt
        from splitinfer.train.recipes import TUNES, train_unit_bundle

        if tune not in TUNES:
            raise BadInput(f"--tune must be one of {', '.join(TUNES)}; got {tune!r}")
        config = FitConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                           threads=threads, optimizer=optimizer)  # fmt: skip
        command = command_line()
        runtime = rt.start(device, amp)
        try:
            dataset = open_data(console, data, model, backbone, limit, image_size, mean, std,
                                workers, runtime)  # fmt: skip
            with step_bar(console, disable=not runtime.is_main) as bar:
                run = train_unit_bundle(
                    model_name=model,
                    backbone=backbone,
                    cut=cut,
                    unit=UnitConfig(
                        channels=channels, stride=stride, kernel=kernel, depth=depth,
                        hidden=hidden,
                    ),
                    codec=codec,
                    data=dataset,
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
                    runtime=runtime,
                )  # fmt: skip
        finally:
            rt.stop(runtime)
        if not runtime.is_main:
            return
        m = run.metrics
        console.print(
            f"bundle {run.bundle_dir}: top-1 {100 * m['accuracy']:.2f}% through real frames "
            f"({100 * m['unsplit_accuracy']:.2f}% unsplit, loss "
            f"{m['accuracy_loss_points']:.2f} points) on {m['images']} test images; "
            f"mean frame {m['mean_frame_bytes']:.1f} B (payload "
            f"{m['mean_payload_bytes']:.1f} B); encode {m['encode_ms_median']:.2f} ms, "
            f"decode {m['decode_ms_median']:.2f} ms (median per image)"
        )
        if "skipped_images" in m:
            console.print(
                f"data {m['data']}: {m['skipped_images']} unreadable test image(s) and "
                f"{m['skipped_train_images']} training image(s) skipped"
            )
        if "mean_estimated_payload_bits" in m:
            console.print(
                f"rate: {m['mean_estimated_payload_bits']:.1f} bits estimated by the bundle's "
                f"tables, {m['mean_actual_payload_bits']:.1f} bits sent (per image)"
            )


def register_multirate(train_app: Any, console: Console) -> None:
    """`splitinfer train multirate`: extra rate points on a bundle's frozen head and tail."""

    @train_app.command("multirate")
    def multirate_cmd(
        source: Path = typer.Option(
            ..., "--from", help="a trained single-rate bundle with a learned codec (rate 0)"
        ),
        point: list[str] = typer.Option(
            ...,
            help="an extra rate point 'levels=L,lambda=X[,channels=C]' (repeat; levels and "
            "channels default to the source's; same channels start from the source unit)",
        ),
        data: str = typer.Option(None, help="Fashion-MNIST folder (default: the usual places)"),
        distill: float = typer.Option(
            4.0, min=0.0, help="distillation temperature from the bundle's baseline (0: none)"
        ),
        epochs: int = typer.Option(2, min=1, help="epochs per point"),
        batch_size: int = typer.Option(128, min=1, help="training batch size"),
        lr: float = typer.Option(0.001, min=1e-6, help="Adam learning rate (units only)"),
        seed: int = typer.Option(0, help="seed of the shuffling and the augmentation"),
        threads: int = typer.Option(None, min=1, help="torch.set_num_threads"),
        limit: int = typer.Option(None, min=1, help="use only the first N training images"),
        out: Path = typer.Option(
            Path("runs/multirate"), help="run folder: one rate-K subfolder per point"
        ),
        bundle: Path = typer.Option(Path("runs/bundle-multirate"), help="where the bundle goes"),
        bundle_id: str = typer.Option("fmnist-multirate", help="the new bundle's id"),
        resume: bool = typer.Option(
            False, help="reuse finished points (OUT/rate-K/units.safetensors), resume the rest"
        ),
    ) -> None:
        """Train extra rate points (units + learned priors, head and tail frozen) on a bundle;
        measure every point through real frames on the test split; save a multi-rate bundle."""
        from splitinfer.train.multirate import build_multirate
        from splitinfer.train.recipes import fashion_mnist

        config = FitConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                           threads=threads, optimizer="adam")  # fmt: skip
        dataset = fashion_mnist(data, limit)

        def measured(k: int, m: dict[str, Any]) -> None:
            console.print(
                f"rate {k}: top-1 {100 * m['accuracy']:.2f}% on {m['images']} test images "
                f"through real frames; mean frame {m['mean_frame_bytes']:.1f} B "
                f"(payload {m['mean_payload_bytes']:.1f} B)"
            )

        with step_bar(console) as bar:
            b = build_multirate(
                source, point, data=dataset, config=config, out=out, bundle_dir=bundle,
                bundle_id=bundle_id, distill=distill or None, resume=resume,
                progress=progress_callback(console, bar), on_point=measured,
                command=command_line(),
            )  # fmt: skip
        console.print(
            f"bundle {bundle}: {b.spec.id} ({b.fingerprint:#010x}), {b.rate_count} rate points"
        )


def _bundle_streams(bundle: Any, data: str, augment: bool = True) -> tuple[DataSpec, Streams]:
    """(data spec, streams) of ``data`` at ``bundle``'s input, its classes checked."""
    from splitinfer.data.stream import open_streams, parse_data_spec
    from splitinfer.errors import BadInput

    spec = parse_data_spec(data)
    streams = open_streams(spec, bundle.spec.input_shape, augment=augment)
    if tuple(streams.classes) != tuple(bundle.spec.classes):
        raise BadInput(
            f"the data's classes {list(streams.classes)[:10]} are not the bundle's "
            f"{list(bundle.spec.classes)[:10]} (same names, same order)"
        )
    return spec, streams


def register_evaluate(train_app: Any, console: Console) -> None:
    """`splitinfer train evaluate`: a bundle on a test split that streams from disk."""

    @train_app.command("refit")
    def refit_cmd(
        bundle: Path = typer.Argument(..., help="bundle folder with a learned prior"),
        out: Path = typer.Option(..., help="folder for the refit bundle (a new bundle)"),
        bundle_id: str = typer.Option(None, help="its id (default: the old id + '-refit')"),
        data: str = typer.Option(
            "fmnist", help=DATA_HELP + " (tables fitted on its train split, measured on test)"
        ),
        limit: int = typer.Option(None, min=1, help="fit on the first N training images"),
        alpha: float = typer.Option(0.5, min=1e-6, help="add-alpha smoothing of the counts"),
        batch_size: int = typer.Option(500, min=1, help="images per batch"),
        workers: int = typer.Option(0, min=0, help="DataLoader worker processes"),
        threads: int = typer.Option(None, min=1, help="torch.set_num_threads"),
    ) -> None:
        """Refit a bundle's entropy-coding tables on the train split (the symbols' empirical
        frequencies, in place of the learned prior's); measure it on the test split.

        Symbols, features and accuracy are unchanged: only the bits per image change. Every
        rate point with a learned prior is refit and measured; the new bundle has its own
        id and fingerprint, the old one is untouched.
        """
        import torch
        from torch.utils.data import Subset

        from splitinfer.bundle import Bundle
        from splitinfer.data.stream import make_loader
        from splitinfer.train.evaluate import evaluate_bundle_stream
        from splitinfer.train.tables import refit_tables

        if threads:
            torch.set_num_threads(threads)
        b = Bundle.load(bundle)
        new_id = bundle_id or f"{b.spec.id}-refit"
        spec, streams = _bundle_streams(b, data, augment=False)
        train = streams.train
        if limit:
            train = Subset(train, range(min(limit, len(train))))  # type: ignore[arg-type]

        def batches() -> Any:
            loader = make_loader(train, batch_size, shuffle=False, workers=workers)
            return (batch.images for batch in loader)

        def test_batches() -> Any:
            loader = make_loader(streams.test, batch_size, shuffle=False, workers=workers)
            return ((batch.images, batch.labels) for batch in loader)

        with step_bar(console) as bar:
            task = bar.add_task("fitting", total=len(train), stats="")  # type: ignore[arg-type]
            fits = refit_tables(b, batches, alpha=alpha,
                                progress=lambda rate, done: bar.update(
                                    task, completed=done, stats=f"rate point {rate}"))  # fmt: skip
            refit = b.rebuilt(bundle_id=new_id, built_by=command_line())  # new codecs
            measured = []
            for rate in range(b.rate_count):
                bar.reset(task, total=len(streams.test), description=f"measuring {rate}")  # type: ignore[arg-type]
                measured.append(evaluate_bundle_stream(
                    refit, test_batches(), len(streams.test),  # type: ignore[arg-type]
                    lambda done, total: bar.update(task, completed=done), rate=rate,
                ))  # fmt: skip
        by_rate = {f["rate"]: f for f in fits}
        metrics = []
        for rate, m in enumerate(measured):
            old = b.spec.metrics if rate == 0 else b.spec.rates[rate - 1].metrics
            m = {**old, **m, "data": spec.label}
            if rate in by_rate:
                m["tables_refit"] = {**by_rate[rate], "from_bundle": b.spec.id}
            metrics.append(m)
        new = refit.rebuilt(bundle_id=new_id, built_by=command_line(), metrics=metrics[0],
                            rate_metrics=metrics[1:])  # fmt: skip
        new.save(out)
        for rate, m in enumerate(metrics):
            old = b.spec.metrics if rate == 0 else b.spec.rates[rate - 1].metrics
            before = old.get("mean_payload_bytes")
            was = f" (was {before:.2f} B)" if isinstance(before, int | float) else ""
            console.print(
                f"rate point {rate}: top-1 {100 * m['accuracy']:.2f}% on {m['images']} test "
                f"images; payload {m['mean_payload_bytes']:.2f} B{was}, session "
                f"{m['mean_session_bytes']:.2f} B, frame {m['mean_frame_bytes']:.2f} B"
            )
        console.print(f"wrote {out} (bundle {new_id}, fingerprint 0x{new.fingerprint:08x})")

    @train_app.command("evaluate")
    def evaluate_cmd(
        bundle: Path = typer.Option(..., help="bundle folder"),
        data: str = typer.Option("fmnist", help=DATA_HELP + " (its test split is used)"),
        batch_size: int = typer.Option(64, min=1, help="images per cloud batch"),
        workers: int = typer.Option(2, min=0, help="DataLoader worker processes"),
        limit: int = typer.Option(None, min=1, help="only the first N test images"),
        json_out: Path = typer.Option(None, "--json", help="write the metrics here"),
    ) -> None:
        """Accuracy and bytes of BUNDLE through real frames, one image per frame, on the
        test split of --data (Resize + CenterCrop to the bundle's input; unreadable images
        skipped and counted)."""
        import json

        from torch.utils.data import Subset

        from splitinfer.bundle import Bundle
        from splitinfer.data.stream import make_loader
        from splitinfer.train.evaluate import evaluate_bundle_stream

        b = Bundle.load(bundle)
        spec, streams = _bundle_streams(b, data)
        test = streams.test
        if limit:
            test = Subset(test, range(min(limit, len(test))))  # type: ignore[arg-type]
        loader = make_loader(test, batch_size, shuffle=False, workers=workers)
        skipped = [0]

        def batches() -> Any:
            for batch in loader:
                skipped[0] += batch.skipped
                yield batch.images, batch.labels

        with step_bar(console) as bar:
            task = bar.add_task("evaluating", total=len(test), stats="")  # type: ignore[arg-type]

            def tick(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            m = evaluate_bundle_stream(b, batches(), len(test), tick,  # type: ignore[arg-type]
                                       skipped=lambda: skipped[0])  # fmt: skip
        m["data"] = spec.label
        console.print(
            f"bundle {b.spec.id} on {spec.label}: top-1 {100 * m['accuracy']:.2f}% on "
            f"{m['images']} test images through real frames; mean frame "
            f"{m['mean_frame_bytes']:.1f} B (payload {m['mean_payload_bytes']:.1f} B); "
            f"{m['skipped_images']} unreadable image(s) skipped"
        )
        if json_out:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(m, indent=1) + "\n")
            console.print(f"wrote {json_out}")
