"""``splitinfer demo``: the default bundle, end to end over emulated 3G / 4G / Wi-Fi links.

::

    link worker ─► EdgeRunner ─► LinkShaper (3g|4g|wifi) ─► server process (HTTP, DataPlane)
      cloud-only: PNG ────────────────────────────────────►  decode image -> bundle.full
      split:      head + reduction -> codec -> frame ─────►  decode frame -> restoration + tail
      mobile-only: bundle.full on the device, nothing sent
    (and cloud-only / split again through an unshaped proxy, side by side: the calibration)

:func:`run_demo` measures, :func:`write_run` writes ``report.md``, ``results.json`` and PNG
charts, :func:`summary_table` is the one table the command prints (docs/demo.md).

* **measured** (this machine, real sockets): per-request latency of each mode over each
  emulated link (p50 / p95; modes interleaved image by image so they share the machine's
  conditions), bytes of each request body and on the wire (HTTP included, counted by the
  emulator), top-1 accuracy on the test split through each mode's deployed path;
* **modeled** (:mod:`splitinfer.plan`): device energy, and the planner's latency beside
  the measured p50, from model-only inputs (wire and protocol bytes, the per-machine
  probe) and from inputs calibrated side by side.

Processes: the server is a child process (its own interpreter and GIL, as a real server
would be) on a loopback socket the parent binds first; each emulated device is a *link
worker* process (its runners and its emulators, so no emulator timer waits on another
link's GIL). Every child stops on exit, on error, on Ctrl-C, and when the parent dies
(its stdin closes).

Modules: config.py (:class:`DemoConfig`, the modes and links), results.py (what a run
measured; results.json), measure.py (accuracy, stage times, one link), processes.py (the
server and link-worker children; ``__main__.py`` is their entry point), planner.py (the
planner's inputs and predictions), run.py (:func:`run_demo`), report.py (the table,
report.md, the charts).
"""

from __future__ import annotations

from splitinfer.demo.config import (
    DEFAULT_LINKS,
    MODES,
    NETWORK_MODES,
    RESULTS_FORMAT,
    DemoConfig,
    DemoFailed,
    ProgressFn,
)
from splitinfer.demo.measure import (
    LOOPBACK,
    accuracy_counts,
    encode_png,
    measure_accuracy,
    measure_compute,
    measure_link,
    merge_accuracy,
)
from splitinfer.demo.planner import planner_inputs, predict
from splitinfer.demo.processes import (
    Event,
    LinkWorker,
    ServerProcess,
    link_worker_main,
    serve_child,
)
from splitinfer.demo.report import (
    MODE_COLORS,
    TABLE_COLUMNS,
    default_out_dir,
    fidelity_lines,
    markdown_report,
    summary_table,
    table_caption,
    table_cells,
    write_charts,
    write_run,
)
from splitinfer.demo.results import DemoResults, LinkRun, ModeSamples
from splitinfer.demo.run import run_demo

__all__ = [
    "DEFAULT_LINKS",
    "LOOPBACK",
    "MODES",
    "MODE_COLORS",
    "NETWORK_MODES",
    "RESULTS_FORMAT",
    "TABLE_COLUMNS",
    "DemoConfig",
    "DemoFailed",
    "DemoResults",
    "Event",
    "LinkRun",
    "LinkWorker",
    "ModeSamples",
    "ProgressFn",
    "ServerProcess",
    "accuracy_counts",
    "default_out_dir",
    "encode_png",
    "fidelity_lines",
    "link_worker_main",
    "markdown_report",
    "measure_accuracy",
    "measure_compute",
    "measure_link",
    "merge_accuracy",
    "planner_inputs",
    "predict",
    "run_demo",
    "serve_child",
    "summary_table",
    "table_caption",
    "table_cells",
    "write_charts",
    "write_run",
]
