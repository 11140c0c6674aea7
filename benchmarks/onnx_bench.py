"""Per-image edge latency: torch vs ONNX Runtime, side by side, batch 1.

Times ``features`` (preprocess + head + reduction unit) and ``encode`` (features + codec
+ frame) for one image at a time through ``bundle.edge`` and ``OnnxEdgeEngine``. The two
engines alternate within each repeat, in a rotating order, so load on the machine hits
both alike; medians over the repeats after a warm-up. Prints one table and the machine;
writes JSON with ``--json``.

    python benchmarks/onnx_bench.py [--bundle bundles/...] [--threads 1] [--repeats 300]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import onnxruntime
import torch

from splitinfer.bundle import Bundle, default_bundle_path
from splitinfer.data import load_fashion_mnist, synthetic
from splitinfer.edge.onnx import OnnxEdgeEngine
from splitinfer.errors import BadInput
from splitinfer.timing import host_info


def _images(n: int, bundle: Bundle) -> torch.Tensor:
    try:
        return load_fashion_mnist("test")[0][:n]
    except BadInput:
        return synthetic(n, bundle.spec.input_shape)[0]


def _ms(fn: Callable[[torch.Tensor], object], x: torch.Tensor) -> float:
    t0 = time.perf_counter()
    fn(x)
    return (time.perf_counter() - t0) * 1e3


def bench(bundle: Bundle, engine: OnnxEdgeEngine, repeats: int, warmup: int) -> dict[str, Any]:
    images = _images(repeats + warmup, bundle)
    runs: dict[str, Callable[[torch.Tensor], object]] = {
        "torch features": bundle.edge.features,
        "onnx features": engine.features,
        "torch encode": bundle.edge.encode,
        "onnx encode": engine.encode,
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    for i in range(repeats + warmup):
        x = images[i : i + 1]
        order = list(runs.items())
        for name, fn in order[i % 4 :] + order[: i % 4]:  # rotate: no engine always first
            ms = _ms(fn, x)
            if i >= warmup:
                times[name].append(ms)
    return {name: statistics.median(v) for name, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, default=default_bundle_path())
    parser.add_argument("--threads", type=int, default=1, help="torch and ORT intra-op threads")
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    bundle = Bundle.load(args.bundle)
    with tempfile.TemporaryDirectory() as tmp:
        engine = OnnxEdgeEngine.from_bundle(bundle, Path(tmp) / "edge.onnx", threads=args.threads)
        medians = bench(bundle, engine, args.repeats, args.warmup)
    machine = {**host_info(), "threads": args.threads, "onnxruntime": onnxruntime.__version__}
    print(f"bundle {bundle.spec.id}, batch 1, median of {args.repeats} after {args.warmup} warm-up")
    print(f"machine: {machine}")
    print(f"{'stage':<12} {'torch ms':>10} {'onnx ms':>10} {'torch/onnx':>11}")
    for stage in ("features", "encode"):
        t, o = medians[f"torch {stage}"], medians[f"onnx {stage}"]
        print(f"{stage:<12} {t:>10.3f} {o:>10.3f} {t / o:>10.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"bundle": bundle.spec.id, "machine": machine,
                                         "median_ms": medians}, indent=1) + "\n")  # fmt: skip


if __name__ == "__main__":
    main()
