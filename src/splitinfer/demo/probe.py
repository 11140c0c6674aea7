"""The per-machine probe: the fixed per-request time the planner cannot derive from the
model (``splitinfer plan --probe``; stored by :mod:`splitinfer.plan.protocol`).

It runs the default bundle (or another) as the demo does, over an *unshaped* link
emulator (no rate limit, no delay) in front of the server in a child process, each
request after ``GAP_MS`` of idle time::

    in-process stage times (one image)    ─┐
    EdgeRunner ─► LinkShaper (unshaped) ─► server process: p50 per mode
    fixed_ms[mode] = p50[mode] - the model's stages for that mode (floored at 0)

split: head + encode + decode + tail; cloud-only: PNG encode + PNG decode + whole
network; mobile-only: the whole network. What is left is the HTTP client, the proxy hop,
the server's parsing, batcher and response (and for mobile-only, the runner's own work,
and compute after a request, with colder caches than in a tight loop): fixed per
request, independent of the link. Measured once per machine; rerun it after a change of
machine or server settings.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from splitinfer.bundle import Bundle, default_bundle_path
from splitinfer.demo.config import MODES
from splitinfer.plan.protocol import probe_path, save_probe

COMMAND = "splitinfer plan --probe"
#: idle time before each probe request (a device's requests follow network waits)
GAP_MS = 50.0


def fixed_ms(compute: dict[str, float], p50: dict[str, float]) -> dict[str, float]:
    """Each mode's measured p50 over the unshaped link minus the model's stages (>= 0)."""
    model = {
        "split": compute["edge_ms"] + compute["encode_ms"] + compute["decode_ms"]
        + compute["tail_ms"],
        "cloud-only": compute["png_encode_ms"] + compute["png_decode_ms"] + compute["full_ms"],
        "mobile-only": compute["full_ms"],
    }  # fmt: skip
    return {m: max(p50[m] - model[m], 0.0) for m in MODES}


def probe_against(
    bundle: Bundle, port: int, images: torch.Tensor, labels: torch.Tensor,
    compute: dict[str, float], tick: Callable[[], None] | None = None, gap_ms: float = GAP_MS,
) -> dict[str, Any]:  # fmt: skip
    """Measure the fixed per-request ms against a server already listening on ``port``.

    Each request follows ``gap_ms`` of idle time, as a device's requests follow each
    other's network waits (compute after a wait runs with colder caches than in a tight
    loop); cloud-only and split swap places every image, mobile-only runs between them.
    """
    from splitinfer.edge import EdgeRunner
    from splitinfer.net import LinkSettings, LinkShaper
    from splitinfer.timing import host_info

    flat = LinkSettings(math.inf, math.inf, 0.0, 1, "loopback")
    shaper = LinkShaper.from_settings(flat, ("127.0.0.1", 0), ("127.0.0.1", port))
    times: dict[str, list[float]] = {m: [] for m in MODES}
    with shaper.running() as local, contextlib.ExitStack() as stack:
        url = f"http://127.0.0.1:{local}"
        runners = {m: stack.enter_context(EdgeRunner(bundle, None if m == "mobile-only" else url,
                                                     retries=0, fallback=False))
                   for m in MODES}  # fmt: skip
        for warm in range(5):
            for m in MODES:
                runners[m].infer(images[warm % len(images)], m)  # type: ignore[arg-type]
        for i in range(len(images)):
            a, b = ("cloud-only", "split") if i % 2 == 0 else ("split", "cloud-only")
            for m in (a, "mobile-only", b):
                time.sleep(gap_ms / 1e3)
                times[m].append(runners[m].infer(images[i], m).total_ms)  # type: ignore[arg-type]
            if tick:
                tick()
    p50 = {m: statistics.median(v) for m, v in times.items()}
    fixed = fixed_ms(compute, p50)
    return {
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": COMMAND,
        "machine": {**host_info(), "hostname": platform.node()},
        "bundle": bundle.spec.id,
        "requests_per_mode": len(images),
        "gap_ms": gap_ms,
        "p50_ms": p50,
        "stages_in_process_ms": {
            k: compute[k]
            for k in (
                "edge_ms",
                "encode_ms",
                "decode_ms",
                "tail_ms",
                "full_ms",
                "png_encode_ms",
                "png_decode_ms",
            )
        },
        "fixed_ms": {
            "http": {m: fixed[m] for m in ("split", "cloud-only")},
            "local": {"mobile-only": fixed["mobile-only"]},
        },
        "method": f"p50 over an unshaped link emulator in front of the server (child "
        f"process), {gap_ms:g} ms idle before each request, minus in-process stage medians",
    }


def run_probe(
    bundle_path: Path | None = None,
    out: Path | None = None,
    images: int = 100,
    torch_threads: int = 1,
    tick: Callable[[], None] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Start a server, probe it, store the figures at ``out`` (default :func:`probe_path`)."""
    from splitinfer.data import load_fashion_mnist
    from splitinfer.demo.measure import measure_compute
    from splitinfer.demo.processes import ServerProcess
    from splitinfer.edge.stream import fit_images

    path = bundle_path or default_bundle_path()
    bundle = Bundle.load(path)
    x, y = load_fashion_mnist("test")
    x, y = fit_images(x[:images], bundle.spec.input_shape), y[:images]
    threads = torch.get_num_threads()
    torch.set_num_threads(torch_threads)
    try:
        with ServerProcess(path, None, torch_threads) as srv:
            srv.wait_ready(120.0)
            compute = measure_compute(bundle, x, repeats=60)  # the server idle
            data = probe_against(bundle, srv.port, x, y, compute, tick)
    finally:
        torch.set_num_threads(threads)
    target = out or probe_path()
    save_probe(target, data)
    return target, data
