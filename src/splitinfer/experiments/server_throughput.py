"""Experiment (d, part 2): server throughput with dynamic batching on / off (measured).

Runs :func:`splitinfer.experiments.server_load.run_load_test` on the default bundle (or
``server.bundle``): one ``splitinfer serve`` process per batching mode on 127.0.0.1,
N keep-alive clients sending real compact frames back to back.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from splitinfer.experiments.config import BenchConfig
from splitinfer.experiments.plots import plain_log, pyplot, save
from splitinfer.experiments.result import Column, Result, figure, ratio, table
from splitinfer.experiments.server_load import run_load_test
from splitinfer.experiments.subjects import resolve

NAME = "server"
TITLE = "Server throughput with dynamic batching on / off (measured)"

COLUMNS = [
    Column("transport", "transport"), Column("mode", "batching"),
    Column("clients", "clients"), Column("max_batch", "max batch"),
    Column("max_wait_ms", "max wait", "", "ms"),
    Column("rps", "throughput", "measured", "req/s"),
    Column("p50_ms", "p50 latency", "measured", "ms"),
    Column("p99_ms", "p99 latency", "measured", "ms"),
    Column("mean_batch", "mean batch", "measured"),
    Column("errors", "errors", "measured"),
]  # fmt: skip


def run(cfg: BenchConfig, out_dir: Path) -> dict[str, Any]:
    from splitinfer.bundle import default_bundle_path

    c = cfg.server
    res = Result(NAME, TITLE, config=asdict(c))
    given = c.bundle or cfg.subjects.bundle
    bundle = resolve(given) if given else default_bundle_path()
    report = run_load_test(c, bundle)  # ServerConfig is a LoadSettings
    rows = report["rows"]
    caption = (
        f"Bundle {bundle.name}, mean frame {report['frame_bytes_mean']:.1f} B; "
        f"{c.requests} requests per row after {c.warmup} warm-up; server with "
        f"{c.threads} torch thread(s); client and server share this machine (load average "
        f"{report['machine']['loadavg_before'][0]:.1f} before), so rows compare modes side "
        "by side and are not capacity figures."
    )
    res.tables.append(table("server", "Server throughput and latency", COLUMNS, rows, caption))
    gains = _gains(rows)
    if gains:
        res.tables.append(table(
            "server-batching-gain", "Batching on vs off, side by side",
            [Column("transport", "transport"), Column("clients", "clients"),
             Column("mode", "batching"), Column("rps", "throughput", "measured", "req/s"),
             Column("off_rps", "throughput, batching off", "measured", "req/s"),
             Column("gain", "gain vs off", "measured", "x")],
            gains, "gain = throughput with batching / throughput without, same run.",
            readme=True,
        ))  # fmt: skip
    res.figures.append(figure(
        draw(rows, out_dir), "Throughput and p99 latency vs concurrent clients",
        "Compares batching modes (on: max batch and wait; greedy: no wait; off: batch 1) per "
        "transport: requests/s (left) and client-side p99 latency (right) vs the number of "
        "concurrent clients (measured).", "measured",
    ))  # fmt: skip
    res.data = {k: v for k, v in report.items() if k != "rows"}
    best = max(gains, key=lambda g: g["gain"]) if gains else None
    res.summary = (
        f"best batching gain: {best['gain']:.2f}x ({best['mode']}, {best['transport']}, "
        f"{best['clients']} clients) (measured)." if best else
        f"{len(rows)} rows (measured); no 'off' mode to compare against."
    )  # fmt: skip
    return res.save(out_dir)


def _gains(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    off = {(r["transport"], r["clients"]): r["rps"] for r in rows if r["mode"] == "off"}
    out = []
    for r in rows:
        base = off.get((r["transport"], r["clients"]))
        if r["mode"] != "off" and base:
            out.append({
                "transport": r["transport"], "clients": r["clients"], "mode": r["mode"],
                "rps": r["rps"], "off_rps": base, "gain": ratio(r["rps"], base),
            })  # fmt: skip
    return out


def draw(rows: list[dict[str, Any]], out_dir: Path) -> str:
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    series = list(dict.fromkeys((r["transport"], r["mode"]) for r in rows))
    colours = {"on": "tab:blue", "greedy": "tab:green", "off": "tab:red"}
    for transport, mode in series:
        pts = sorted((r for r in rows if (r["transport"], r["mode"]) == (transport, mode)),
                     key=lambda r: r["clients"])  # fmt: skip
        style = "-o" if transport == "http" else "--s"
        for ax, key in zip(axes, ("rps", "p99_ms"), strict=True):
            ax.plot([r["clients"] for r in pts], [r[key] for r in pts], style,
                    color=colours.get(mode), label=f"{transport}, batching {mode}")  # fmt: skip
    clients = sorted({r["clients"] for r in rows})
    plain_log(axes[1])
    for ax, label in zip(axes, ("throughput (requests/s)", "p99 latency (ms, log)"), strict=True):
        ax.set_xscale("log", base=2)
        ax.set_xticks(clients)
        ax.set_xticklabels([str(c) for c in clients])
        ax.set_xlabel("concurrent clients (log scale)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle("Server throughput and tail latency by batching mode (measured, this machine)")
    fig.tight_layout()
    return save(fig, out_dir / "server.png")
