"""The two places the bench calls modules that other parts of splitinfer own.

Everything the bench needs from the rate-accuracy sweep (``splitinfer.train.sweep``) and
from the end-to-end demo (``splitinfer.demo``) goes through the functions here, and they
hand back plain data in the shapes documented below. If either API changes, this file is
the only one to edit; if it is missing, the experiment says "not available" instead of
failing.

Sweep: ``load_sweep(path)`` / ``quick_sweep(...)`` return a ``splitinfer.sweep/1`` dict:
``{"model", "dataset", "test_images", "references": {"unsplit_accuracy", "controls"},
"points": [{"family", "cut", "unit", "codec", "accuracy", "frame_bytes",
"payload_bytes", "accuracy_loss_points", "pareto"}], "levels": [{"name", "accuracy",
"bytes": {family: B or None}, "best_baseline", "ratio", "text"}]}``.

Demo: ``run_end_to_end(...)`` / ``load_end_to_end(path)`` return ``{"rows": [{"link",
"mode", "requests", "latency_ms_p50", "latency_ms_p95", "planner_ms",
"planner_error_pct", "planner_wire_only_ms", "planner_wire_only_error_pct", "bytes_up",
"accuracy", "energy_mj_modeled"}], "figures": [PNG paths], "meta": {...}}``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

from splitinfer.errors import BadInput

SWEEP_FORMAT = "splitinfer.sweep/1"
DEMO_FORMAT = "splitinfer.demo/1"


class NotAvailable(Exception):
    """An optional experiment input is missing; the message says how to produce it."""


# --- the rate-accuracy sweep ------------------------------------------------------------


def load_sweep(path: str | Path) -> dict[str, Any]:
    """A ``sweep.json`` written by ``splitinfer sweep``; BadInput when it is not one."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise BadInput(f"cannot read sweep {path}: {err}") from None
    if not isinstance(doc, dict) or doc.get("format") != SWEEP_FORMAT:
        raise BadInput(f"{path} is not a sweep result (expected format {SWEEP_FORMAT!r})")
    for key in ("points", "references", "levels"):
        if key not in doc:
            raise BadInput(f"{path}: sweep result lacks {key!r}")
    return doc


def draw_sweep(doc: dict[str, Any], path: Path) -> Path:
    """The sweep's own rate-accuracy figure (``splitinfer.train.figure``)."""
    from splitinfer.train.figure import draw_rate_accuracy

    return draw_rate_accuracy(doc, path)


def quick_sweep(sweep_config: Path, out: Path, test_images: int = 200) -> dict[str, Any]:
    """A small sweep of the untrained families (cloud-only, Ulhaq & Bajic) with the model,
    backbone and first cut of ``sweep_config``, on ``test_images`` test images: no training.
    """
    try:
        from splitinfer.train.sweep import Group, SweepConfig, load_config, run_sweep
    except ImportError as err:
        raise NotAvailable(f"the sweep API is not available ({err})") from None
    full = load_config(sweep_config)
    if not Path(full.backbone).is_file():
        raise NotAvailable(
            f"no backbone weights at {full.backbone} (named by {sweep_config}) for a quick sweep"
        )
    cut = next((g.cuts[0] for g in full.groups if g.cuts), None)
    jpeg = "quant:bits=8,clip=p99.9|tile|jpeg:quality={}"
    groups = [Group("cloud-only", ("png", "jpeg:quality=50"))]
    if cut:
        groups.append(Group("ulhaq", (jpeg.format(20), jpeg.format(60)), (cut,)))
    config = SweepConfig(model=full.model, backbone=full.backbone, data=full.data,
                         test_limit=test_images, control=False, groups=tuple(groups))  # fmt: skip
    doc = run_sweep(config, out, command="splitinfer bench --quick (rate-accuracy)",
                    figure=False)  # fmt: skip
    return cast(dict[str, Any], doc)  # read like any sweep.json (load_sweep)


# --- the end-to-end demo ----------------------------------------------------------------


def run_end_to_end(
    images: int, links: list[str], quick: bool, bundle: Path | None, out: Path,
    trace: str | None = None,
    device: str = "host",
) -> dict[str, Any]:  # fmt: skip
    """``splitinfer.demo.run_demo`` on ``links`` with ``images`` test images per link;
    ``trace``: every link follows that trace file; the link workers' edge work runs at
    ``device``'s speed (see :mod:`splitinfer.device`)."""
    try:
        from splitinfer.demo import DemoConfig, run_demo, write_run
    except ImportError as err:
        raise NotAvailable(f"the demo API is not available ({err})") from None
    extra: dict[str, Any] = {"images": images, "links": tuple(links), "bundle": bundle,
                             "command": "splitinfer bench (end-to-end)",
                             "trace": trace, "device": device}  # fmt: skip
    config = DemoConfig.quick(**extra) if quick else DemoConfig(**extra)
    results = run_demo(config, log_dir=out)
    write_run(results, out)
    return load_end_to_end(out / "results.json")


def load_end_to_end(path: str | Path) -> dict[str, Any]:
    """The rows (and charts) of a ``splitinfer demo`` run's ``results.json``."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise BadInput(f"cannot read demo results {path}: {err}") from None
    if not isinstance(doc, dict) or doc.get("format") != DEMO_FORMAT or "rows" not in doc:
        raise BadInput(f"{path} is not a demo result (expected format {DEMO_FORMAT!r})")
    folder = Path(path).parent
    charts = [folder / n for n in ("latency.png", "fidelity.png") if (folder / n).is_file()]
    meta = {k: doc.get(k) for k in ("started", "config", "machine", "bundle", "notes",
                                    "phases_s", "planner_inputs")}  # fmt: skip
    labels = [lr.get("device_emulation") for lr in doc.get("links") or [] if isinstance(lr, dict)]
    meta["device_emulation"] = next((x for x in labels if x), None)
    return {"rows": doc["rows"], "figures": charts, "meta": meta, "source": str(path)}
