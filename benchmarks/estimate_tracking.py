"""Does the EdgeRunner's passive link estimate follow a real link step? Measured here.

    python benchmarks/estimate_tracking.py           # ~15 s: server + traced link + runner
    python benchmarks/estimate_tracking.py --json out.json

The default bundle served by ``splitinfer serve`` (its own process), the link emulator in
front of it following a CSV trace with one step (uplink 2 -> 0.5 Mbps, RTT 40 -> 150 ms at
``--step-s``; token-bucket burst 1 byte, so every message is serialized at the rate), and
an EdgeRunner alternating cloud-only (a PNG, ~0.5-0.8 KB) and split (a ~30 B frame), so
request sizes differ and the estimator can fit RTT and rate apart. Reported per phase:
the estimate's median over the phase's second half, against the trace; and how many
requests after the step the estimate stays within 10% of the new RTT.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from splitinfer.bundle import Bundle, default_bundle_path
from splitinfer.data import load_fashion_mnist
from splitinfer.edge import EdgeRunner
from splitinfer.harness import server as harness
from splitinfer.net import LinkShaper
from splitinfer.timing import load_average

PHASES = ((2.0, 40.0), (0.5, 150.0))  # (up Mbps, RTT ms) before and after the step


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--step-s", type=float, default=6.0, help="when the link steps (s)")
    ap.add_argument("--json", type=Path, help="write per-request estimates here")
    args = ap.parse_args()
    bundle = Bundle.load(default_bundle_path())
    x, _ = load_fashion_mnist("test")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "step.csv"
        (u0, r0), (u1, r1) = PHASES
        trace.write_text(
            f"t_s,up_mbps,down_mbps,rtt_ms,loss\n0,{u0},10,{r0},0\n{args.step_s},{u1},10,{r1},0\n"
        )
        server = harness.start([default_bundle_path()], grpc=False)
        try:
            upstream = ("127.0.0.1", int(server.url.rsplit(":", 1)[1]))
            shaper = LinkShaper("127.0.0.1:0", upstream, 1, 10, 0, 1, trace=str(trace))
            with (
                shaper.running() as port,
                EdgeRunner(bundle, f"http://127.0.0.1:{port}", retries=0, fallback=False) as runner,
            ):
                i = 0
                while (shaper.trace_time() or 0.0) < 2 * args.step_s:
                    mode = "cloud-only" if i % 2 == 0 else "split"
                    r = runner.infer(x[i % len(x)], mode)
                    rows.append({
                        "t_s": round(shaper.trace_time() or 0.0, 3), "mode": mode,
                        "bytes_up": r.bytes_up, "network_ms": round(r.network_ms, 3),
                        "est_up_mbps": r.est_up_mbps, "est_rtt_ms": r.est_rtt_ms,
                        "basis": r.est_basis,
                    })  # fmt: skip
                    i += 1
        finally:
            server.terminate()
    report(rows, args.step_s)
    if args.json:
        args.json.write_text(json.dumps({"load_avg": load_average(), "rows": rows}, indent=1))
    return 0


def report(rows: list[dict[str, Any]], step_s: float) -> None:
    for k, (mbps, rtt) in enumerate(PHASES):
        lo, hi = (0.0, step_s) if k == 0 else (step_s, 2 * step_s)
        phase = [r for r in rows if lo <= r["t_s"] < hi]
        late = phase[len(phase) // 2 :]
        est_rtt = statistics.median(r["est_rtt_ms"] for r in late)
        ups = [r["est_up_mbps"] for r in late if r["est_up_mbps"] is not None]
        est_up = statistics.median(ups) if ups else None
        shown = "n/a" if est_up is None else f"{est_up:.3f}"
        print(f"phase {k} (trace: up {mbps} Mbps, RTT {rtt:g} ms): {len(phase)} requests; "
              f"estimate over the second half: RTT {est_rtt:.1f} ms "
              f"({100 * (est_rtt / rtt - 1):+.1f}%), up {shown} Mbps, basis "
              f"{late[-1]['basis']}")  # fmt: skip
    after = [r for r in rows if r["t_s"] >= step_s]
    new_rtt = PHASES[1][1]
    settled = next(
        (j for j in range(len(after))
         if all(abs(r["est_rtt_ms"] / new_rtt - 1) <= 0.10 for r in after[j:])),
        None,
    )  # fmt: skip
    print(f"RTT estimate within 10% of {new_rtt:g} ms from request "
          f"{'never' if settled is None else settled + 1} after the step on "
          f"(of {len(after)}); load average {load_average()}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
