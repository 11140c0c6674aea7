"""The demo's output: the summary table (rich and Markdown), report.md, the PNG charts and
:func:`write_run`."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from splitinfer.demo.config import MODES
from splitinfer.demo.results import DemoResults
from splitinfer.results import write_json


def _f(v: float, digits: int = 1) -> str:
    return f"{v:,.{digits}f}"


def _ratio(v: float) -> str:
    return f"{v:.2f}x" if math.isfinite(v) else "-"


TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("link", "left"), ("mode", "left"), ("p50 ms", "right"), ("p95 ms", "right"),
    ("planner ms", "right"), ("error", "right"), ("B up", "right"), ("wire B up", "right"),
    ("mJ modeled", "right"), ("top-1", "right"), ("latency ÷ cloud", "right"),
    ("energy ÷ cloud", "right"), ("bytes ÷ cloud", "right"),
)  # fmt: skip


def table_cells(row: dict[str, Any]) -> list[str]:
    """One row of the summary table as text (also the Markdown report's)."""
    return [
        row["link"], row["mode"], _f(row["latency_ms_p50"]), _f(row["latency_ms_p95"]),
        _f(row["planner_ms"]), f"{row['planner_error_pct']:+.1f}%", _f(row["bytes_up"]),
        _f(row["wire_bytes_up"], 0), _f(row["energy_mj_modeled"], 2),
        f"{100 * row['accuracy']:.2f}%", _ratio(row["latency_vs_cloud"]),
        _ratio(row["energy_vs_cloud"]), _ratio(row["bytes_vs_cloud"]),
    ]  # fmt: skip


def table_caption(r: DemoResults) -> str:
    acc = r.accuracy["split"]["images"]
    return (
        f"p50/p95: measured end to end over the emulated link ({r.config.images} test images "
        "per mode, modes interleaved); planner: modeled latency (calibrated inputs), error = "
        "(planner - p50) / p50; B up: request body (frame or PNG); wire B up: with HTTP; "
        f"mJ: device energy MODELED for device profile {r.config.device!r}; top-1: accuracy "
        f"on {acc} test images through the mode's deployed path; ÷ cloud: this mode over "
        "cloud-only on the same link (< 1: less)" + _emulation_note(r)
    )


def _emulation_note(r: DemoResults) -> str:
    """How the edge's compute ran: emulated (the device's speed) or at host speed."""
    labels = [run.device_emulation for run in r.links if run.device_emulation]
    if not labels:
        return "; edge compute: at host speed (no --device emulated)"
    return f"; edge compute: {labels[0]['note']}"


def summary_table(r: DemoResults) -> Any:
    """The demo's one table (rich)."""
    from rich.table import Table

    b = r.bundle
    table = Table(
        title=f"splitinfer demo: bundle {b['id']} ({b['model']}, cut {b['cut']}, {b['codec']})",
        title_justify="left", caption=table_caption(r), caption_justify="left",
    )  # fmt: skip
    for name, justify in TABLE_COLUMNS:
        table.add_column(name, justify=justify, no_wrap=justify == "left")  # type: ignore[arg-type]
    last = None
    for row in r.rows():
        if last is not None and row["link"] != last:
            table.add_section()
        last = row["link"]
        table.add_row(*table_cells(row))
    return table


def fidelity_lines(r: DemoResults) -> list[str]:
    """Planner error summary per input set: worst and mean |error| over the table's cells."""
    rows = r.rows()
    out = []
    for key, label in (("planner_error_pct", "calibrated"),
                       ("planner_wire_only_error_pct", "model-only inputs")):  # fmt: skip
        errs = [abs(row[key]) for row in rows]
        net = [abs(row[key]) for row in rows if row["mode"] != "mobile-only"]
        out.append(
            f"planner vs measured p50 ({label}): max |error| {max(errs):.1f}% (network modes "
            f"{max(net):.1f}%), mean {sum(errs) / len(errs):.1f}% over {len(errs)} cells"
        )
    return out


def _inputs_line(link: str, kind: str, inp: dict[str, Any]) -> str:
    shown = ", ".join(f"{k} {v:.3g}" for k, v in inp.items() if isinstance(v, int | float))
    if isinstance(inp.get("fixed_ms"), dict):
        shown += "; fixed ms per request: " + ", ".join(
            f"{k} {v:.3g}" for k, v in inp["fixed_ms"].items()
        )
    return f"- {link}, {kind}: {shown}"


def markdown_report(r: DemoResults, files: Sequence[str]) -> str:
    """report.md: the table, fidelity, accuracy, settings, machine, phases, charts."""
    rows = r.rows()
    m, c, b = r.machine, r.config, r.bundle
    lines = [
        f"# splitinfer demo — {r.started}", "",
        f"Command: `{c.command}` (how to read this report: docs/demo.md)", "",
        f"Bundle `{b['id']}`: model `{b['model']}`, cut `{b['cut']}`, unit {b['unit']}, codec "
        f"`{b['codec']}`, fingerprint `{b['fingerprint']}` ({b['path']}).", "",
        "## Results", "",
        "| " + " | ".join(name for name, _ in TABLE_COLUMNS) + " |",
        "|" + "|".join("---" if j == "left" else "---:" for _, j in TABLE_COLUMNS) + "|",
    ]  # fmt: skip
    lines += ["| " + " | ".join(table_cells(row)) + " |" for row in rows]
    lines += ["", table_caption(r) + ".", ""]
    lines += ["## Planner fidelity", "", *[f"- {s}" for s in fidelity_lines(r)], ""]
    lines += [
        "| link | mode | measured p50 ms | planner, model-only inputs ms | error | "
        "planner, calibrated ms | error |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['link']} | {row['mode']} | {_f(row['latency_ms_p50'], 2)} | "
            f"{_f(row['planner_wire_only_ms'], 2)} | {row['planner_wire_only_error_pct']:+.1f}% | "
            f"{_f(row['planner_ms'], 2)} | {row['planner_error_pct']:+.1f}% |"
        )
    first = next(iter(r.planner_inputs.values()))
    lines += ["", "Planner inputs (ms, bytes):", "", _inputs_line("all links", "wire_only",
              first["wire_only"])]  # fmt: skip
    lines += [_inputs_line(k, "calibrated", v["calibrated"]) for k, v in r.planner_inputs.items()]
    lines += ["", f"Model-only: {first['wire_only']['source']}. Calibrated: "
              f"{first['calibrated']['source']}."]  # fmt: skip
    lines += ["", "## Accuracy (top-1)", ""]
    for mode in MODES:
        a = r.accuracy[mode]
        ran = f" (runs {a['network']})" if a.get("network") else ""
        lines.append(
            f"- {mode}: {100 * a['accuracy']:.2f}% on {a['images']} images — {a['path']}{ran}"
        )
    lines += ["", "Online predictions over the links that match the offline path on the same "
              "images:", ""]  # fmt: skip
    for link, agree in r.agreement.items():
        lines.append(f"- {link}: " + ", ".join(f"{k} {v}/{c.images}" for k, v in agree.items()))
    lines += ["", "## Settings", ""]
    for lr in r.links:
        s = lr.settings
        lines.append(
            f"- link {lr.link}: up {s['up_mbps']:g} Mbps, down {s['down_mbps']:g} Mbps, RTT "
            f"{s['rtt_ms']:g} ms, token-bucket burst {s['burst_bytes']} B; measured in "
            f"{lr.seconds:.1f} s by {s.get('devices', 1)} emulated device(s), each with its "
            "own emulator, sharing the images"
            + (
                f"; the link followed trace {s['trace']} (the planner models the fixed rates above)"
                if s.get("trace")
                else ""
            )
        )
    lines += [
        f"- {c.images} test images per link (+{c.warmup} warm-up per path); each image goes "
        "cloud-only, split and mobile-only over the link, and the three again side by side "
        "through an unshaped proxy (the calibration): cloud-only and split swap places every "
        "image, mobile-only runs between them, each calibration twin right after what its "
        "original follows",
        "- links " + (f"in parallel, one worker process per emulated device (a link "
                      f"slower than {c.link_budget_s:g} s is shared by several)"
                      if c.parallel_links else "one after another in one worker process")
        + "; the server in its own process (HTTP/1.1 keep-alive, dynamic batching, loopback)",
        f"- torch threads while timing: {c.torch_threads} in every process",
        f"- energy device profile: {c.device}; server profile: host (the server runs here)",
        "",
        "## Machine", "",
        f"- {m.get('cpu')}, {m.get('cores')} cores, {m.get('platform')}; torch "
        f"{m.get('torch')}, Python {m.get('python')}",
        "- load average (1, 5, 15 min) at start "
        + ", ".join(f"{v:.1f}" for v in m["load_avg_start"]) + "; at end "
        + ", ".join(f"{v:.1f}" for v in m["load_avg_end"])
        + f" ({m.get('cores')} cores: above that, other jobs compete for the CPU)",
        "", "## Time", "",
        "Wall seconds per phase: " + ", ".join(f"{k} {v:.1f}" for k, v in r.phases.items())
        + ". CPU seconds (this process and its children): "
        + ", ".join(f"{k} {v:.1f}" for k, v in r.cpu_seconds.items()) + ".",
    ]  # fmt: skip
    if r.notes:
        lines += ["", "## Notes", "", *[f"- {n}" for n in r.notes]]
    lines += ["", "## Charts", ""] + [f"![{f}]({f})" for f in files]
    return "\n".join(lines) + "\n"


MODE_COLORS = {"cloud-only": "#4c72b0", "split": "#dd8452", "mobile-only": "#55a868"}


def write_charts(r: DemoResults, folder: Path) -> list[str]:
    """latency.png, bytes.png, energy.png, fidelity.png; returns the file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = r.rows()
    links = [lr.link for lr in r.links]
    cell = {(row["link"], row["mode"]): row for row in rows}
    width = 0.8 / len(MODES)
    xs = np.arange(len(links))
    title_tail = f"bundle {r.bundle['id']}, {r.config.images} images per link"
    files = []

    fig, ax = plt.subplots(figsize=(8, 4.8))
    for k, mode in enumerate(MODES):
        p50 = np.array([cell[(lk, mode)]["latency_ms_p50"] for lk in links])
        p95 = np.array([cell[(lk, mode)]["latency_ms_p95"] for lk in links])
        pos = xs + (k - 1) * width
        ax.bar(pos, p50, width, color=MODE_COLORS[mode], label=f"{mode} p50 (measured)")
        ax.errorbar(pos, p50, yerr=[np.zeros_like(p50), p95 - p50], fmt="none", ecolor="black",
                    capsize=3, lw=1)  # fmt: skip
        pred = [cell[(lk, mode)]["planner_ms"] for lk in links]
        ax.scatter(pos, pred, marker="D", s=22, color="black", zorder=3,
                   label="planner (modeled, calibrated)" if k == 0 else None)  # fmt: skip
    _plain_log_axis(ax)
    ax.set_xticks(xs, links)
    ax.set_xlabel("emulated link")
    ax.set_ylabel("latency per inference (ms, log scale)")
    ax.set_title(f"Latency: bar = p50, whisker = p95 ({title_tail})", fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    files.append(_save(fig, folder / "latency.png"))

    fig, ax = plt.subplots(figsize=(7, 4.5))
    first = r.links[0]
    body = [first.modes[m].summary()["bytes_up_mean"] for m in MODES]
    wire = [first.modes[m].summary()["wire_bytes_up_per_request"] for m in MODES]
    xm = np.arange(len(MODES))
    ax.bar(xm - 0.2, [max(v, 1e-9) for v in body], 0.4, color="#4c72b0",
           label="request body (frame or PNG)")  # fmt: skip
    ax.bar(xm + 0.2, [max(v, 1e-9) for v in wire], 0.4, color="#c44e52",
           label="on the wire (HTTP request included)")  # fmt: skip
    for i, (bv, wv) in enumerate(zip(body, wire, strict=True)):
        if bv == 0 and wv == 0:
            ax.text(i, 1.2, "0 B: nothing sent", ha="center", fontsize=9)
        else:
            ax.text(i - 0.2, bv * 1.1, f"{bv:,.0f}", ha="center", fontsize=8)
            ax.text(i + 0.2, wv * 1.1, f"{wv:,.0f}", ha="center", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylim(1, max(wire + body) * 4)
    ax.set_xticks(xm, MODES)
    ax.set_xlabel("mode")
    ax.set_ylabel("bytes up per inference (log scale)")
    ax.set_title(f"Bytes sent per inference (measured, link {first.link})", fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    files.append(_save(fig, folder / "bytes.png"))

    fig, ax = plt.subplots(figsize=(8, 4.8))
    for k, mode in enumerate(MODES):
        e = [cell[(lk, mode)]["energy_mj_modeled"] for lk in links]
        pos = xs + (k - 1) * width
        ax.bar(pos, e, width, color=MODE_COLORS[mode], label=mode)
        for xp, v in zip(pos, e, strict=True):
            ax.text(xp, v, f"{v:.0f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(xs, links)
    ax.set_xlabel("emulated link")
    ax.set_ylabel("device energy per inference (mJ, modeled)")
    ax.set_title(f"Modeled device energy, device profile {r.config.device!r} ({title_tail})",
                 fontsize=10)  # fmt: skip
    ax.legend(fontsize=8)
    files.append(_save(fig, folder / "energy.png"))

    fig, ax = plt.subplots(figsize=(6.2, 5.6))
    meas = np.array([row["latency_ms_p50"] for row in rows])
    kinds = (("planner_ms", "o", "calibrated inputs"),
             ("planner_wire_only_ms", "x", "model-only inputs"))  # fmt: skip
    for key, marker, _ in kinds:
        ax.scatter(meas, [row[key] for row in rows], marker=marker,
                   c=[MODE_COLORS[row["mode"]] for row in rows], zorder=3)  # fmt: skip
    every = np.concatenate([meas, [row[k] for row in rows for k, _, _ in kinds]])
    line = np.geomspace(every.min() * 0.7, every.max() * 1.4, 50)
    ax.plot(line, line, color="black", lw=1)
    ax.fill_between(line, line * 0.9, line * 1.1, color="grey", alpha=0.25)
    _plain_log_axis(ax, "both")
    ax.set_xlabel("measured p50 latency (ms, log scale)")
    ax.set_ylabel("planner's predicted latency (ms, modeled, log scale)")
    ax.set_title(f"Planner fidelity: predicted vs measured p50\n(bundle {r.bundle['id']}, "
                 f"{r.config.images} images per link)", fontsize=9)  # fmt: skip
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [
        *[Line2D([], [], ls="", marker=mk, color="black", label=lb) for _, mk, lb in kinds],
        *[Patch(color=MODE_COLORS[m], label=m) for m in MODES],
        Line2D([], [], color="black", lw=1, label="predicted = measured"),
        Patch(color="grey", alpha=0.25, label="within ±10%"),
    ]
    ax.legend(handles=handles, fontsize=8, loc="upper left")
    files.append(_save(fig, folder / "fidelity.png"))
    return files


def _plain_log_axis(ax: Any, which: str = "y") -> None:
    """Log scale labelled 1, 2, 5, 10, 20, 50 ... in plain numbers."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    for axis in ("x", "y"):
        if which in (axis, "both"):
            getattr(ax, f"set_{axis}scale")("log")
            a = getattr(ax, f"{axis}axis")
            a.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=30))
            a.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
            a.set_minor_formatter(NullFormatter())


def _save(fig: Any, path: Path) -> str:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def default_out_dir(root: Path = Path("runs")) -> Path:
    return root / time.strftime("demo-%Y%m%d-%H%M%S")


def write_run(r: DemoResults, folder: Path) -> Path:
    """Write results.json, the charts and report.md into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "results.json", r.to_json())
    files = write_charts(r, folder)
    (folder / "report.md").write_text(markdown_report(r, files))
    return folder
