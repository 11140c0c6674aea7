"""Does a device emulated by a cgroup CPU quota run as fast as its profile says?

    python benchmarks/device_emulation.py                 # default bundle + resnet18 @224
    python benchmarks/device_emulation.py --quick         # fewer calls (~30 s)
    python benchmarks/device_emulation.py --json out.json

For each subject (the shipped bundle's edge half and whole network; torchvision resnet18 at
224x224, random weights, cut after layer2) and each device profile, the host's speed is
probed the way ``splitinfer run --device`` does (GFLOP/s of one thread on the whole network,
per CPU second), a cgroup is opened with the resulting quota, and the edge half and the
whole network are each called back to back inside ``DeviceEmulation.slowed``. The
measured time is the mean wall time per call, the join into the group included (a thread
joining a throttled group waits there); the profile's prediction is the planner's, FLOPs /
the profile's GFLOP/s. Target: measured / predicted within 15% (0.85..1.15). A second
ratio isolates the cgroup from the FLOP model: measured / (this thread's CPU ms per call
at host speed / the share). Each cell runs twice: open loop (the probe's share) and
calibrated (``DeviceEmulation.calibrate``: one feedback step on the whole network, so for
the whole network that row shows how well the correction holds, and the edge half is the
independent check; ``run --device`` does not calibrate).

A quota limits CPU time per period, so the figure to compare is the mean over many calls
(a single call shorter than a period may run on the period's unused budget). One torch
thread throughout. Needs Linux, root and a cgroup cpu controller; elsewhere it says why
and exits 1. Writes JSON with --json; prints the load average, which moves the figures on
a shared machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from splitinfer.device import DeviceEmulation, count_flops, host_gflops
from splitinfer.device.cgroup import CgroupUnavailable, detect
from splitinfer.device.probe import cpu_ms
from splitinfer.timing import host_info, load_average

TARGET = 0.15
PROFILES = ("phone", "slow-phone:gflops=5")

Fn = Callable[[torch.Tensor], Any]


def subjects() -> list[tuple[str, Fn, Fn, torch.Tensor]]:
    """(name, edge half, whole network, input) for each subject."""
    import torchvision

    from splitinfer.bundle import Bundle, default_bundle_path
    from splitinfer.partition import split

    b = Bundle.load(default_bundle_path())
    g = torch.Generator().manual_seed(0)
    shape = (1, *b.spec.input_shape)
    x = b.spec.preprocess(torch.randint(0, 256, shape, generator=g, dtype=torch.uint8))
    out: list[tuple[str, Fn, Fn, torch.Tensor]] = [
        (f"bundle {b.spec.id} (cut {b.spec.cut})", b.model.edge, b.unsplit, x)
    ]
    model = torchvision.models.resnet18(weights=None).eval()
    x224 = torch.randn(1, 3, 224, 224, generator=g)
    head, _ = split(model, "layer2", x224)
    out.append(("resnet18 @224 (cut layer2, random weights)", head, model, x224))
    return out


def mean_ms(emulation: DeviceEmulation | None, fn: Fn, x: torch.Tensor, calls: int) -> float:
    """Mean wall ms per call of ``fn(x)``, back to back, each inside ``slowed`` (at host
    speed without an emulation)."""
    samples = []
    slowed = emulation.slowed if emulation is not None else contextlib.nullcontext
    with torch.inference_mode():
        with slowed():
            fn(x)  # warm-up
        for _ in range(calls):
            t0 = time.perf_counter()  # joining a throttled group stalls: count it
            with slowed():
                fn(x)
            samples.append((time.perf_counter() - t0) * 1e3)
    return statistics.fmean(samples)


def calls_for(predicted_ms: float, budget_s: float) -> int:
    return max(5, min(300, int(budget_s * 1e3 / predicted_ms)))


def measure(budget_s: float, method: str = "cgroup") -> list[dict[str, Any]]:
    rows = []
    # a dilated device has no quota to calibrate: open loop only
    modes = (False, True) if method == "cgroup" else (False,)
    for name, head, full, x in subjects():
        parts = (("head", head), ("full", full))
        flops = {part: count_flops(fn, x) for part, fn in parts}
        for spec, calibrated in [(p, c) for p in PROFILES for c in modes]:
            probe = lambda f=full, x=x: host_gflops(f, x, 1.0)  # noqa: E731
            with DeviceEmulation.start(spec, probe, method=method) as emu:
                if not emu.emulated or emu.quota is None:
                    print(f"{name}: {emu.describe()}", flush=True)
                    rows.append({"subject": name, "device": spec, "emulated": False,
                                 "note": emu.describe()})  # fmt: skip
                    continue
                # this thread's CPU ms per call at host speed, before it joins the group
                host = {part: cpu_ms(fn, x, budget_s / 4, 5) for part, fn in parts}
                gflops = emu.profile.gflops or 0.0
                if calibrated:  # one feedback step on the whole network
                    emu.calibrate(full, x, flops["full"] / (gflops * 1e6), 1.0)
                print(f"{name}: {emu.describe()}", flush=True)
                for part, fn in parts:
                    predicted = flops[part] / (gflops * 1e6)
                    calls = calls_for(predicted, budget_s)
                    host_ms = host[part]
                    measured = mean_ms(emu, fn, x, calls)
                    ratio = measured / predicted
                    # the cgroup alone: measured vs host CPU time / share (no FLOP model)
                    share = emu.quota.share if method == "dilate" else emu.quota.effective
                    quota_ratio = measured * share / host_ms
                    rows.append({
                        "subject": name, "device": spec, "part": part, "emulated": True,
                        "method": method,
                        "calibrated": calibrated, "calibration": emu.calibration,
                        "flops": flops[part], "host_gflops": emu.host_gflops,
                        "quota": emu.quota.to_json() if emu.quota else None, "calls": calls,
                        "measured_ms": measured, "predicted_ms": predicted, "ratio": ratio,
                        "host_ms": host_ms, "quota_ratio": quota_ratio,
                        "within_target": abs(ratio - 1) <= TARGET,
                    })  # fmt: skip
                    how = "calibrated" if calibrated else "open loop"
                    print(f"  {how:10s} {part:4s} measured {measured:8.2f} ms  predicted "
                          f"{predicted:8.2f} ms  ratio {ratio:.3f}  (host {host_ms:.2f} ms: vs "
                          f"host/share {quota_ratio:.3f}; {calls} calls)", flush=True)  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about 1 s of calls per cell")
    parser.add_argument("--json", type=Path, help="write the rows and the machine here")
    parser.add_argument("--method", choices=("cgroup", "dilate"), default="cgroup",
                        help="a CFS quota (root, Linux) or a sleep of each block's own CPU "
                        "time x (1/share - 1)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.method == "cgroup":
        try:
            detect()
        except CgroupUnavailable as err:
            print(f"device emulation unavailable: {err.message}", file=sys.stderr)
            return 1
    torch.set_num_threads(1)
    load_before = load_average()
    rows = measure(1.0 if args.quick else 4.0, args.method)
    load_after = load_average()
    hit = [r for r in rows if r.get("emulated")]
    ok = sum(r["within_target"] for r in hit)
    print(f"within {TARGET:.0%}: {ok} of {len(hit)} cells; load average (1/5/15 min) "
          f"before {load_before}, after {load_after}")  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        command = " ".join(["python benchmarks/device_emulation.py", *sys.argv[1:]])
        doc = {"format": "splitinfer.device-emulation/1", "target": TARGET, "rows": rows,
               "load_before": load_before, "load_after": load_after, "machine": host_info(),
               "command": command}  # fmt: skip
        args.json.write_text(json.dumps(doc, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
