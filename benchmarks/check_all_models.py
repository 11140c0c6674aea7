"""Check exact splitting on every torchvision classification model.

For each model: trace, list cut points, and at EVERY cut check that
``tail(head(x))`` is bitwise equal to ``model(x)`` (eval mode, CPU, fp32, random init).
Prints one line per model and a summary; writes JSON with ``--json``.

    python benchmarks/check_all_models.py [--only resnet18,vit_b_16] [--json out.json]

Input size: the smallest that each architecture accepts, to keep the run short
(64 px for convolutional nets, the native size for fixed-size transformers).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch
import torchvision

from splitinfer.errors import SplitInferError
from splitinfer.partition.graph import analyze
from splitinfer.partition.split import split_analysis
from splitinfer.timing import cpu_name
from splitinfer.zoo import default_input_size


def check(name: str, size: int | None) -> dict[str, object]:
    t0 = time.perf_counter()
    torch.manual_seed(0)
    model = torchvision.models.get_model(name).eval()
    c, h, w = default_input_size(name)
    if size is not None and not name.startswith(("vit", "swin", "maxvit")):
        h = w = max(size, 75 if name == "inception_v3" else size)
    x = torch.randn(1, c, h, w)
    row: dict[str, object] = {"model": name, "input": [1, c, h, w]}
    try:
        a = analyze(model, x)
    except SplitInferError as err:
        status = "untraceable" if err.code == "untraceable_model" else f"error:{err.code}"
        row.update(status=status, error=str(err)[:300])
        return row
    names = [a.names[i][0] for i in a.cuts]
    mismatched = []
    with torch.no_grad():
        ref = model(x)
        for cut in names:
            s = split_analysis(a, cut)
            if not torch.equal(s.tail(s.head(x)), ref):
                mismatched.append(cut)
    row.update(
        status="ok" if not mismatched else "MISMATCH",
        cuts=len(names),
        mismatched=mismatched,
        seconds=round(time.perf_counter() - t0, 1),
    )
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated model names")
    ap.add_argument("--size", type=int, default=64, help="input side for conv nets")
    ap.add_argument("--json", default="", help="write the rows to this file")
    args = ap.parse_args()
    names = (
        args.only.split(",")
        if args.only
        else torchvision.models.list_models(module=torchvision.models)
    )
    rows = []
    for name in names:
        row = check(name, args.size)
        rows.append(row)
        print(json.dumps(row), flush=True)
    ok = sum(r["status"] == "ok" for r in rows)
    bad = [r["model"] for r in rows if r["status"] == "MISMATCH"]
    untraceable = [
        r["model"] for r in rows if str(r["status"]).startswith(("untraceable", "error"))
    ]
    print(
        f"{ok}/{len(rows)} models exact at every cut; mismatched: {bad or 'none'}; "
        f"untraceable or failed: {untraceable or 'none'} "
        f"(torch {torch.__version__}, torchvision {torchvision.__version__}, "
        f"{cpu_name()})"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
