#!/usr/bin/env python3
"""Write the link traces shipped under traces/ (see traces/README.md for what each is).

    python scripts/make-traces.py            # rewrites traces/*.csv and traces/*.trace
    python scripts/make-traces.py --check    # exit 1 if a shipped file differs

The traces are synthetic: mean rates and RTTs are the link profiles of
splitinfer.plan.profiles (3g, 4g, wifi); second-to-second variation is lognormal
(sigma 0.25) from a fixed seed, so the files are reproducible byte for byte.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from pathlib import Path

from splitinfer.plan.profiles import link

OUT = Path(__file__).resolve().parent.parent / "traces"
HEADER = "t_s,up_mbps,down_mbps,rtt_ms,loss"
SIGMA = 0.25  # lognormal spread of each second's rate around the profile's mean
PACKET_BITS = 1500 * 8  # one Mahimahi delivery opportunity

Row = tuple[float, float, float, float, float]


def jitter(rng: random.Random, mean: float) -> float:
    """A lognormal sample with the given mean."""
    return mean * math.exp(rng.gauss(0.0, SIGMA) - SIGMA**2 / 2)


def seconds(rng: random.Random, profile: str, n: int, loss: float, *,
            rate_scale: float = 1.0, rtt_add: float = 0.0) -> list[Row]:  # fmt: skip
    """``n`` one-second rows around a link profile's rates and RTT."""
    p = link(profile)
    return [
        (0.0, jitter(rng, p.up_mbps * rate_scale), jitter(rng, p.down_mbps * rate_scale),
         p.rtt_ms * rng.uniform(0.9, 1.1) + rtt_add, loss)
        for _ in range(n)
    ]  # fmt: skip


def outage(n: int, rtt_ms: float) -> list[Row]:
    """``n`` seconds with no capacity either way (a hand-over or a drop-out)."""
    return [(0.0, 0.0, 0.0, rtt_ms, 0.0)] * n


def commute(rng: random.Random) -> list[Row]:
    """Wi-Fi at home (45 s), a 2 s hand-over gap, 4G (58 s), 3G (60 s), a 1 s gap, 4G (75 s)."""
    return [
        *seconds(rng, "wifi", 45, 0.001), *outage(2, 70.0),
        *seconds(rng, "4g", 58, 0.005), *seconds(rng, "3g", 60, 0.01),
        *outage(1, 150.0), *seconds(rng, "4g", 75, 0.005),
    ]  # fmt: skip


def congested_4g(rng: random.Random) -> list[Row]:
    """4G (180 s) with a 10 s congestion episode every 30 s: the rate falls to 15-30% of
    the profile's and queueing adds 150-300 ms of RTT, with 2% loss."""
    rows: list[Row] = []
    for _ in range(6):
        rows += seconds(rng, "4g", 20, 0.005)
        scale, extra = rng.uniform(0.15, 0.3), rng.uniform(150.0, 300.0)
        rows += seconds(rng, "4g", 10, 0.02, rate_scale=scale, rtt_add=extra)
    return rows


def dropouts_3g(rng: random.Random) -> list[Row]:
    """3G (180 s) with four drop-outs of 2-6 s (no capacity at all), 1% loss otherwise."""
    rows: list[Row] = []
    for _ in range(4):
        rows += seconds(rng, "3g", rng.randint(30, 40), 0.01)
        rows += outage(rng.randint(2, 6), 150.0)
    return rows + seconds(rng, "3g", 180 - len(rows), 0.01) if len(rows) < 180 else rows


def csv_text(rows: list[Row]) -> str:
    lines = [HEADER]
    for t, (_, up, down, rtt, loss) in enumerate(rows):
        lines.append(f"{t},{up:.3f},{down:.3f},{rtt:.1f},{loss:g}")
    return "\n".join(lines) + "\n"


def mahimahi_text(rates_mbps: list[float]) -> str:
    """Delivery opportunities (ms) for one-second rates: one line each time the capacity
    so far crosses another 1500-byte packet; the last line marks the loop period."""
    stamps: list[int] = []
    bits = 0.0
    for second, mbps in enumerate(rates_mbps):
        for ms in range(1000):
            bits += mbps * 1e3  # Mbps over one millisecond
            while bits >= PACKET_BITS:
                bits -= PACKET_BITS
                stamps.append(second * 1000 + ms + 1)
    period = len(rates_mbps) * 1000
    if not stamps or stamps[-1] < period:
        stamps.append(period)
    return "\n".join(map(str, stamps)) + "\n"


def build() -> dict[str, str]:
    files: dict[str, str] = {}
    for name, make, seed in (("commute", commute, 1), ("congested-4g", congested_4g, 2),
                             ("3g-dropouts", dropouts_3g, 3)):  # fmt: skip
        rows = make(random.Random(seed))
        files[f"{name}.csv"] = csv_text(rows)
        if name == "3g-dropouts":  # the same schedule in Mahimahi's format, both ways
            files[f"{name}.up.trace"] = mahimahi_text([r[1] for r in rows])
            files[f"{name}.down.trace"] = mahimahi_text([r[2] for r in rows])
    return files


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with traces/, write nothing")
    args = ap.parse_args()
    stale = []
    for name, text in build().items():
        path = OUT / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(OUT.parent)} ({len(text.splitlines())} lines)")
    if stale:
        print(f"out of date: {', '.join(stale)}; run scripts/make-traces.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
