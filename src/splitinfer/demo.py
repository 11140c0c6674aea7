"""``splitinfer demo``: the main job on the embedded default, end to end as far as it exists.

Today: profile the default 28x28 model on a real Fashion-MNIST test image, then check on
real test images that every cut is exact (``tail(head(x))`` bitwise equal to ``model(x)``).
"""

from __future__ import annotations

import time

from rich.console import Console

from splitinfer import zoo
from splitinfer.partition import verify
from splitinfer.train.data import load_fashion_mnist, normalize_fmnist


def run_demo(console: Console, images: int = 1000) -> dict[str, object]:
    from splitinfer.cli.partition import profile_summary, profile_table, run_profile

    name = zoo.DEFAULT_MODEL
    x_u8, _labels = load_fashion_mnist("test")
    x = normalize_fmnist(x_u8[:images])
    console.print(
        f"[bold]splitinfer demo[/]: model {name} (random init: weights come from "
        f"`splitinfer train`), {len(x)} real Fashion-MNIST test images"
    )
    prof = run_profile(console, name, example=x[:1])
    console.print(profile_table(prof, f"cut points of {name} (one 1x28x28 image)"))
    console.print(profile_summary(prof))

    model = zoo.create(name)
    t0 = time.perf_counter()
    exact = verify(model, x)
    seconds = time.perf_counter() - t0
    ok = sum(exact.values())
    colour = "green" if ok == len(exact) else "red"
    console.print(
        f"[{colour}]tail(head(x)) == model(x) bitwise at {ok}/{len(exact)} cuts[/] on "
        f"{len(x)} real test images ({seconds:.1f} s)"
    )
    smallest = min(prof.cuts, key=lambda r: r.cut.bytes_8bit)
    console.print(
        f"smallest feature at 8 bits: {smallest.cut.bytes_8bit} bytes at cut "
        f"{smallest.cut.name!r} vs {prof.input_bytes} bytes for the raw image "
        f"({smallest.cut.bytes_8bit / prof.input_bytes:.2f}x)"
    )
    bad = [k for k, v in exact.items() if not v]
    if bad:
        raise SystemExit(f"inexact cuts: {bad}")
    return {"exact": exact, "profile": prof}
