"""Command `privacy`: a model-inversion attack on a bundle, against the cloud-only ceiling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table


def result_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="model inversion on the test split (lower bounds on leakage)",
                  title_justify="left")  # fmt: skip
    heads = ("member", "view", "frame B", "cloud top-1 %", "PSNR dB", "SSIM", "classifier %",
             "re-id %", "decoder s")  # fmt: skip
    for h in heads:
        table.add_column(h, justify="left" if h in ("member", "view") else "right")
    for r in rows:
        acc = "-" if r["accuracy"] is None else f"{r['accuracy']:.2f}"
        table.add_row(escape(r["name"]), r["view"], f"{r['frame_bytes']:.1f}", acc,
                      f"{r['psnr']:.2f}", f"{r['ssim']:.3f}", f"{r['top1']:.1f}",
                      f"{r['reid']:.1f}", f"{r['decoder_s']:.0f}")  # fmt: skip
    return table


def register(app: Any, console: Console) -> None:
    """Add `privacy` to ``app``."""

    @app.command("privacy")
    def privacy_cmd(
        bundle: Path = typer.Argument(..., help="bundle folder to attack"),
        epochs: int = typer.Option(2, help="attack decoder epochs"),
        train_limit: int = typer.Option(
            5_000, help="first N training images the attacker (and the classifier) uses"
        ),
        test_limit: int = typer.Option(None, min=1, help="first N test images (default all)"),
        batch_size: int = typer.Option(64, help="attack decoder batch size"),
        lr: float = typer.Option(2e-3, help="attack decoder learning rate (Adam)"),
        width: int = typer.Option(32, help="channels of the attack decoder's convolutions"),
        classifier_epochs: int = typer.Option(
            2, min=1, help="epochs of the third party's classifier (clean train images)"
        ),
        ceiling: bool = typer.Option(
            True, help="also attack the cloud-only PNG image on the same budget (the ceiling)"
        ),
        seed: int = typer.Option(0, help="seed of the decoder and classifier training"),
        threads: int = typer.Option(None, min=1, help="torch.set_num_threads"),
        data: Path = typer.Option(None, help="folder with the Fashion-MNIST IDX files"),
        out: Path = typer.Option(
            None, help="folder for results.json and figures (default runs/privacy/<bundle id>)"
        ),
    ) -> None:
        """Train a decoder that rebuilds the input from what the server holds after decoding
        each frame (the latent; the restored feature), measure PSNR, SSIM, a classifier's
        top-1 and the re-identification rate of its reconstructions on the test split."""
        import torch

        from splitinfer.bundle import Bundle
        from splitinfer.data import load_fashion_mnist
        from splitinfer.experiments.result import dumps
        from splitinfer.privacy import AttackBudget
        from splitinfer.privacy.figures import draw_grid, draw_quality_vs_bytes
        from splitinfer.privacy.observe import check_image_input
        from splitinfer.privacy.study import Split, run_study
        from splitinfer.privacy.subjects import bundle as bundle_subject
        from splitinfer.privacy.subjects import cloud_only

        if threads:
            torch.set_num_threads(threads)
        b = Bundle.load(bundle)
        check_image_input(b)
        budget = AttackBudget(epochs=epochs, train_limit=train_limit, batch_size=batch_size,
                              lr=lr, width=width, seed=seed)  # fmt: skip
        train = Split(*load_fashion_mnist("train", data))
        test = Split(*load_fashion_mnist("test", data))
        if tuple(test.images.shape[1:]) != b.spec.input_shape:
            from splitinfer.errors import BadInput

            raise BadInput(f"bundle {b.spec.id} takes {b.spec.input_shape} images; the data "
                           f"has {tuple(test.images.shape[1:])}")  # fmt: skip
        train = Split(train.images[:train_limit], train.labels[:train_limit])
        if test_limit:
            test = Split(test.images[:test_limit], test.labels[:test_limit])
        budget.check(len(train.images))
        folder = out or Path("runs/privacy") / b.spec.id
        subjects = ([cloud_only("png")] if ceiling else []) + [bundle_subject(bundle)]
        console.print(f"attack: decoder width {width}, {epochs} epochs on {len(train.images)} "
                      f"train images; {len(test.images)} test images")  # fmt: skip
        with console.status("attacking ...") as status:

            def log(message: str) -> None:
                console.print(escape(message))
                status.update(escape(message))

            study = run_study(subjects, train, test, budget, folder / "cache",
                              classifier_epochs, log=log)  # fmt: skip
        console.print(result_table(study.rows()))
        folder.mkdir(parents=True, exist_ok=True)
        doc = {"command": "splitinfer privacy " + str(bundle), "budget": budget.to_json(),
               "classifier": study.classifier, "rows": study.rows(),
               "results": [r.to_json() for r in study.results]}  # fmt: skip
        (folder / "results.json").write_text(dumps(doc))
        draw_quality_vs_bytes(study, folder / "quality-vs-bytes.png")
        draw_grid(study, folder / "grid.png")
        console.print(f"wrote {folder}/results.json, quality-vs-bytes.png, grid.png "
                      f"({study.seconds:.0f} s)")  # fmt: skip
