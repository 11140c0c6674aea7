"""How accurately does the link shaper impose its rate and RTT? Measured vs set, error %.

    python benchmarks/shaper_accuracy.py            # rates 1,5,20,50 Mbps x RTT 0,20,70,150 ms
    python benchmarks/shaper_accuracy.py --quick    # 2 rates x 2 RTTs, 1 repeat (~15 s)
    python benchmarks/shaper_accuracy.py --no-tbf   # skip the kernel tbf cross-check

Three processes per measurement, as in use: a probe server (its own process, loopback),
the shaper (this process, a background thread), the probe client (its own process,
blocking sockets). Rate = payload bytes / (median transfer time - median ping RTT on the
same connection); added RTT = median ping through the shaper - median ping direct.
Targets: rate within 5% for transfers >= 100 KB, added RTT within 2 ms.

With root and ``ip netns``/``tc``, the same client and server also measure a kernel
``tbf`` link (veth between two namespaces) at each rate; tbf counts header bytes, so its
payload rate is divided by 1448/1514 before it is compared. Writes JSON (--json).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

from splitinfer.net import LinkShaper
from splitinfer.net.probe import Measurement
from splitinfer.net.tbf import (
    PAYLOAD_PER_WIRE_BYTE,
    measure_process,
    measure_tbf,
    probe_server_process,
    unavailable_reason,
)
from splitinfer.timing import host_info

RATE_TARGET_PCT, RTT_TARGET_MS = 5.0, 2.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rates", default="1,5,20,50", help="Mbps, comma-separated")
    p.add_argument("--rtts", default="0,20,70,150", help="ms, comma-separated")
    p.add_argument("--max-seconds", type=float, default=1.6, help="cap on one transfer's time")
    p.add_argument("--repeats", type=int, default=3, help="transfers per size (median used)")
    p.add_argument("--pings", type=int, default=15, help="pings per setting (median used)")
    p.add_argument("--quick", action="store_true", help="rates 5,50; RTTs 0,70; 1 repeat")
    p.add_argument("--no-tbf", action="store_true", help="skip the kernel tbf cross-check")
    p.add_argument("--json", default="reports/shaper_accuracy.json", help="output JSON path")
    return p.parse_args(argv)


def sizes_for(mbps: float, max_seconds: float) -> list[int]:
    """100 KB (the target's floor) and the largest of 1 MB / 250 KB that fits the cap."""
    fits = int(mbps * 1e6 / 8 * max_seconds)
    return [100_000, max(s for s in (250_000, 1_000_000) if s <= max(fits, 250_000))]


def machine() -> dict[str, Any]:
    return {
        **host_info(),
        "kernel": platform.release(),
        "time_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
    }


def through_shaper(
    server: str, mbps: float, rtt: float, sizes: list[int], pings: int, repeats: int
) -> Measurement:
    shaper = LinkShaper("127.0.0.1:0", server, mbps, mbps, rtt)
    with shaper.running() as port:
        return measure_process([], f"127.0.0.1:{port}", sizes, pings, repeats)


def err_pct(measured: float, target: float) -> float:
    return 100.0 * (measured - target) / target


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rates = [5.0, 50.0] if args.quick else [float(x) for x in args.rates.split(",")]
    rtts = [0.0, 70.0] if args.quick else [float(x) for x in args.rtts.split(",")]
    repeats = 1 if args.quick else args.repeats
    meta = {"machine": machine(), "command": " ".join(["python", *sys.argv])}
    rows: list[dict[str, Any]] = []
    tbf_rows: list[dict[str, Any]] = []
    with probe_server_process([], "127.0.0.1:0") as server:
        direct = measure_process([], server, [], args.pings * 2, 1)
        print(f"direct loopback RTT (no shaper): {direct.rtt_ms:.3f} ms", file=sys.stderr)
        for mbps in rates:
            sizes = sizes_for(mbps, args.max_seconds)
            for rtt in rtts:
                m = through_shaper(server, mbps, rtt, sizes, args.pings, repeats)
                added = m.rtt_ms - direct.rtt_ms
                for t in m.transfers:
                    rows.append({
                        "set_mbps": mbps, "set_rtt_ms": rtt, "direction": t.direction,
                        "bytes": t.nbytes, "seconds": t.seconds, "mbps": t.mbps,
                        "rate_err_pct": err_pct(t.mbps, mbps), "added_rtt_ms": added,
                        "rtt_err_ms": added - rtt,
                    })  # fmt: skip
                print(f"  {mbps:g} Mbps, RTT {rtt:g} ms: added RTT {added:.2f} ms", file=sys.stderr)
        reason = "--no-tbf given" if args.no_tbf else unavailable_reason()
        if reason is None:
            for mbps in rates:
                size = sizes_for(mbps, args.max_seconds)[-1]
                kernel = measure_tbf(mbps, mbps, [size], pings=5, repeats=repeats)
                for k in kernel.transfers:
                    ours = next(
                        r["mbps"] for r in rows
                        if (r["set_mbps"], r["set_rtt_ms"], r["bytes"], r["direction"])
                        == (mbps, rtts[0], size, k.direction)
                    )  # fmt: skip
                    wire = k.mbps / PAYLOAD_PER_WIRE_BYTE
                    tbf_rows.append({
                        "set_mbps": mbps, "direction": k.direction, "bytes": size,
                        "tbf_payload_mbps": k.mbps, "tbf_wire_mbps": wire,
                        "tbf_err_pct": err_pct(wire, mbps), "shaper_mbps": ours,
                        "shaper_err_pct": err_pct(ours, mbps),
                        "shaper_vs_tbf_pct": err_pct(ours, wire),
                    })  # fmt: skip
        meta["tbf"] = reason or "measured"
    print(report(meta, direct.rtt_ms, rows, tbf_rows))
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "direct_rtt_ms": direct.rtt_ms, "rows": rows,
                               "tbf": tbf_rows}, indent=1))  # fmt: skip
    print(f"wrote {out}")
    return 0


def report(
    meta: dict[str, Any], direct_ms: float, rows: list[dict[str, Any]], tbf: list[dict[str, Any]]
) -> str:
    m = meta["machine"]
    lines = [
        f"# shaper accuracy ({m['time_utc']} UTC; {m['cores']} CPUs, load average "
        f"{'/'.join(map(str, m['load_average']))} at the start; Python {m['python']}; "
        f"kernel {m['kernel']}; direct loopback RTT {direct_ms:.3f} ms)",
        "",
        "| set Mbps | set RTT ms | KB | up Mbps | up err % | down Mbps | down err % "
        "| added RTT ms | RTT err ms |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    by_key: dict[tuple[float, float, int], dict[str, dict[str, Any]]] = {}
    for r in rows:
        by_key.setdefault((r["set_mbps"], r["set_rtt_ms"], r["bytes"]), {})[r["direction"]] = r
    for (mbps, rtt, n), d in by_key.items():
        up, down = d["up"], d["down"]
        lines.append(
            f"| {mbps:g} | {rtt:g} | {n / 1000:g} | {up['mbps']:.3f} | {up['rate_err_pct']:+.2f} "
            f"| {down['mbps']:.3f} | {down['rate_err_pct']:+.2f} | {up['added_rtt_ms']:.2f} "
            f"| {up['rtt_err_ms']:+.2f} |"
        )
    worst_rate = max(abs(r["rate_err_pct"]) for r in rows)
    worst_rtt = max(abs(r["rtt_err_ms"]) for r in rows)
    lines += [
        "",
        f"worst rate error {worst_rate:.2f}% (target {RATE_TARGET_PCT:g}%: "
        f"{'met' if worst_rate <= RATE_TARGET_PCT else 'MISSED'}); worst RTT error "
        f"{worst_rtt:.2f} ms (target {RTT_TARGET_MS:g} ms: "
        f"{'met' if worst_rtt <= RTT_TARGET_MS else 'MISSED'})",
        "",
        f"## kernel tbf cross-check: {meta['tbf']}",
    ]
    if tbf:
        lines += [
            "",
            "| set Mbps | dir | KB | tbf payload Mbps | tbf wire Mbps | tbf err % "
            "| shaper Mbps | shaper err % | shaper vs tbf % |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for t in tbf:
            lines.append(
                f"| {t['set_mbps']:g} | {t['direction']} | {t['bytes'] / 1000:g} "
                f"| {t['tbf_payload_mbps']:.3f} | {t['tbf_wire_mbps']:.3f} "
                f"| {t['tbf_err_pct']:+.2f} | {t['shaper_mbps']:.3f} "
                f"| {t['shaper_err_pct']:+.2f} | {t['shaper_vs_tbf_pct']:+.2f} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
