"""`splitinfer export`: a bundle's halves as ONNX files, optionally checked against torch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from splitinfer.cli.partition import progress_bar


def _files_table(report: Any) -> Table:
    table = Table(title=f"splitinfer export: bundle {report.bundle} ({report.fingerprint})",
                  title_justify="left",
                  caption=f"exporter: {report.exporter}, opset {report.opset}, batch axis dynamic; "
                          "the codec stays in Python",
                  caption_justify="left")  # fmt: skip
    for col, justify in [("half", "left"), ("file", "left"), ("KB", "right"),
                         ("input", "left"), ("output", "left")]:  # fmt: skip
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    c, h, w = report.feature_shape[1:]
    feature = f"features float32 N x {c} x {h} x {w}"
    kb = f"{report.edge_bytes / 1024:,.1f}"
    table.add_row("edge", report.edge_path, kb, "images uint8 N x C x H x W", feature)
    if report.cloud_path is not None:
        kb = f"{report.cloud_bytes / 1024:,.1f}"
        table.add_row("cloud", report.cloud_path, kb, feature, "logits float32 N x classes")
    return table


def _pct(x: float, digits: int = 2) -> str:
    return f"{100 * x:.{digits}f}%"


def _check_table(r: dict[str, Any]) -> Table:
    table = Table(
        title=f"ONNX Runtime vs torch on {r['images']} {r.get('data', 'fmnist')} test images "
        f"(bundle {r['bundle']}, codec {r['codec']})",
        title_justify="left",
        caption=(
            f"edge features: max |onnx - torch| = {r['feature_max_abs_diff']:.3g}; quantized "
            f"symbols that differ: {r['symbols_differ']} of {r['symbols']} "
            f"({_pct(r['symbol_diff_rate'], 4)}). Each image is one frame, decoded by the cloud."
        ),
        caption_justify="left",
    )
    for col in ("edge", "cloud", "accuracy", "predictions = torch", "frames = torch",
                "mean frame B"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("edge", "cloud") else "right")
    table.add_row("torch", "torch", _pct(r["accuracy_torch"]), "-", "-",
                  f"{r['mean_frame_bytes_torch']:.2f}")  # fmt: skip
    table.add_row("onnx", "torch", _pct(r["accuracy_onnx"]), _pct(r["prediction_agreement"]),
                  _pct(r["frames_equal_rate"]), f"{r['mean_frame_bytes_onnx']:.2f}")  # fmt: skip
    if "accuracy_onnx_cloud" in r:
        table.add_row("onnx", "onnx", _pct(r["accuracy_onnx_cloud"]),
                      _pct(r["prediction_agreement_onnx_cloud"]), _pct(r["frames_equal_rate"]),
                      f"{r['mean_frame_bytes_onnx']:.2f}")  # fmt: skip
        table.caption = (
            f"{table.caption} Cloud logits max |onnx - torch| on identical frames: "
            f"{r['logit_max_abs_diff_onnx_cloud']:.3g}."
        )
    return table


def _check(
    console: Console,
    bundle: Any,
    edge: Path,
    cloud: Path | None,
    n: int,
    threads: int | None,
    data: str = "fmnist",
) -> dict[str, Any]:
    from splitinfer.data.stream import first_test_images
    from splitinfer.edge.onnx import OnnxCloudEngine, OnnxEdgeEngine, check_agreement

    x, y, _classes = first_test_images(data, bundle.spec.input_shape, n)
    engine = OnnxEdgeEngine(bundle, edge, threads=threads)
    cloud_engine = None if cloud is None else OnnxCloudEngine(bundle, cloud, threads=threads)
    with progress_bar(console) as bar:
        task = bar.add_task("checking", total=len(x), what="")

        def tick(done: int) -> None:
            bar.update(task, completed=done)

        result = check_agreement(bundle, engine, x, y, cloud=cloud_engine, progress=tick)
    result["data"] = data
    console.print(_check_table(result))
    return result


def register(app: Any, console: Console) -> None:
    """Add `export` to ``app``."""

    @app.command("export")
    def export_cmd(
        bundle: Path = typer.Argument(..., help="bundle directory"),
        edge: Path = typer.Option(..., help="where to write the edge half (.onnx)"),
        cloud: Path = typer.Option(None, help="where to write the cloud half (.onnx)"),
        check: int = typer.Option(
            0,
            min=0,
            max=10000,
            help="check the files against torch on the first N test images of --check-data",
        ),
        check_data: str = typer.Option(
            "fmnist",
            help="images for --check: fmnist[:DIR] | imagefolder:PATH | synthetic:CLASSES,SIZE "
            "(test split, resized and centre-cropped to the bundle's input)",
        ),
        opset: int = typer.Option(17, help="ONNX opset (11..20)"),
        threads: int = typer.Option(
            None, min=1, help="torch and ONNX Runtime intra-op threads for --check"
        ),
        json_out: Path = typer.Option(None, "--json", help="write the report (and check) here"),
    ) -> None:
        """Export a bundle's edge half (uint8 images -> preprocess, head, reduction unit ->
        feature) and, with --cloud, its cloud half (decoded feature -> restoration unit,
        tail -> logits) to ONNX with a dynamic batch axis. The codec is not in the graphs:
        it stays Python on both sides, so frames are the bundle's own.

        --check N compares torch and ONNX Runtime on N test images (--check-data):
        features, quantized symbols, frames, cloud predictions and accuracy.
        """
        import torch

        from splitinfer.bundle import Bundle
        from splitinfer.onnx_export import export_bundle

        if threads is not None:
            torch.set_num_threads(threads)
        b = Bundle.load(bundle)
        report = export_bundle(b, edge, cloud, opset=opset)
        console.print(_files_table(report))
        data: dict[str, Any] = {"export": report.to_json()}
        if check:
            data["check"] = _check(console, b, edge, cloud, check, threads, check_data)
        if json_out:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(data, indent=1) + "\n")
            console.print(f"wrote {json_out}")
