"""Benchmark every feature codec on real feature tensors; print a table, write JSON.

    python benchmarks/codecs_bench.py --quick                  # ~1-2 min on 2 CPU cores
    python benchmarks/codecs_bench.py --images 8 --repeats 5   # the full run (~5-10 min)
    python benchmarks/codecs_bench.py --spec "quant:bits=8|ans" --spec jpeg:quality=50
    python benchmarks/codecs_bench.py --quick --fuzz 200000    # a benchmark-size fuzz run

Features (see ``splitinfer.experiments.codecbench.features``): fmnist_resnet and
fmnist_cnn cut at stage2, resnet50 cut at layer2 on Fashion-MNIST test images upsampled
to 224x224. Weights are random-init with a fixed seed (no model hub on this machine)
unless ``--weights model=path`` is given; the output says which. Each image's features
are encoded on their own. A thin wrapper over
:func:`splitinfer.experiments.codecbench.report.run_benchmark`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from splitinfer.experiments.codecbench.bench import DEFAULT_SPECS
from splitinfer.experiments.codecbench.report import run_benchmark


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="2 images, 3 repeats")
    p.add_argument("--images", type=int, default=8, help="images per model (default 8)")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats (median reported)")
    p.add_argument("--models", default="fmnist_resnet,fmnist_cnn,resnet50")
    p.add_argument("--spec", action="append", help="codec spec (repeatable); default: all")
    p.add_argument("--weights", action="append", default=[], help="model=path checkpoint")
    p.add_argument("--fuzz", type=int, default=0, help="also decode N mutated payloads")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--json", default="reports/codecs_bench.json", help="output JSON path")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = run_benchmark(
        quick=args.quick,
        images=args.images,
        repeats=args.repeats,
        models=args.models.split(","),
        specs=args.spec or DEFAULT_SPECS,
        weights=dict(w.split("=", 1) for w in args.weights),
        fuzz=args.fuzz,
        threads=args.threads,
        progress=lambda f, s: print(f"  {f} {s}", file=sys.stderr),
    )
    report.meta["command"] = " ".join(["python", *sys.argv])
    print(report.format())
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report.to_json())
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
