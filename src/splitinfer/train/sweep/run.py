"""Running a sweep: :func:`validate` it, measure every point (:func:`run_sweep`), and
:func:`assemble` ``sweep.json`` with its Pareto fronts; ``ratepoints.json`` for the
planner."""

from __future__ import annotations

import inspect
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from fnmatch import fnmatch
from pathlib import Path
from typing import Any, TypedDict

import torch

from splitinfer import zoo
from splitinfer.errors import BadInput
from splitinfer.results import write_json
from splitinfer.train.loop import evaluate
from splitinfer.train.recipes import train_units
from splitinfer.train.sweep.cloud_only import image_codec
from splitinfer.train.sweep.config import (
    BYTES_NOTE,
    FAMILIES,
    SWEEP_FORMAT,
    Group,
    Point,
    SweepConfig,
    parse_unit,
    unit_label,
)
from splitinfer.train.sweep.control import _controls
from splitinfer.train.sweep.pareto import compare_at_level, family_fronts
from splitinfer.train.sweep.points import (
    SweepHooks,
    _cached,
    _load_context,
    _measure,
    _read_json,
    input_shape,
    slug,
)


def validate(config: SweepConfig, input_shape: tuple[int, int, int]) -> None:
    """Fail before any training: unknown codecs, cuts, units that do not fit, bad kwargs."""
    from splitinfer.bottleneck import make_units
    from splitinfer.codecs import needs_state
    from splitinfer.errors import UnknownCutPoint
    from splitinfer.partition import list_cut_points

    model = zoo.create(config.model, in_channels=input_shape[0])
    cuts = {c.name: c for c in list_cut_points(model, torch.zeros(1, *input_shape))}
    accepted = set(inspect.signature(train_units).parameters) - {
        "bm", "teacher", "data", "config", "out", "tune", "distill", "resume", "progress",
        "extra",
    }  # fmt: skip
    for p in config.points():
        if p.family == "cloud-only":
            image_codec(p.codec)
            continue
        canonical_codec(p.codec)
        if p.cut not in cuts:
            raise UnknownCutPoint(str(p.cut), list(cuts), config.model)
        if p.unit is not None:
            make_units(cuts[p.cut].shape, p.unit)
        elif needs_state(p.codec):
            raise BadInput(
                f"{p.family}: codec {p.codec} codes a unit's output; this family has none"
            )
        kwargs = dict(p.train_kwargs)
        unknown = set(kwargs) - accepted
        if unknown:
            raise BadInput(
                f"train_kwargs {sorted(unknown)} are not extra parameters of train_units "
                f"(it takes {', '.join(sorted(accepted)) or 'none'})"
            )
        if kwargs.get("rate_lambda") and not needs_state(p.codec):
            raise BadInput(
                f"rate_lambda needs a learned prior codec ('learned:levels=L,tables=...'), "
                f"not {p.codec}: a registry codec has no rate term to weigh"
            )


def canonical_codec(spec: str) -> str:
    """A feature codec spec written canonically: a registry pipeline's canonical spec, or a
    bundle-held learned prior's (``learned:levels=L,tables=...``)."""
    from splitinfer import codecs

    return codecs.canonical_text(spec)


def canonical_points(config: SweepConfig) -> SweepConfig:
    """The config with every feature codec spec written canonically (stable cache keys)."""

    def canon(g: Group) -> Group:
        if g.family == "cloud-only":
            return g
        return replace(g, codecs=tuple(canonical_codec(c) for c in g.codecs))

    return replace(config, groups=tuple(canon(g) for g in config.groups))


def run_sweep(
    config: SweepConfig,
    out: str | Path,
    *,
    select: Sequence[str] = (),
    hooks: SweepHooks | None = None,
    threads: int | None = None,
    command: str = "",
    figure: bool = True,
) -> SweepDoc:
    """Measure every point of ``config`` (cached ones are read back); write the results.

    select: fnmatch patterns on point slugs or family names (``control`` for the
    controls); points not selected are still reported when cached, else listed as
    pending. Returns the ``sweep.json`` dict.
    """
    from splitinfer.timing import host_info

    hooks = hooks or SweepHooks()
    out = Path(out)
    if threads:
        torch.set_num_threads(threads)
    config = canonical_points(config)
    validate(config, input_shape(config))
    ctx = _load_context(config, threads, command)
    unsplit = evaluate(ctx.backbone(), *ctx.data.test)
    ctx.unsplit = unsplit
    keys = {p: ctx.point_key(p) for p in config.points()}
    slugs = {p: slug(p, keys[p]) for p in keys}

    def chosen(p: Point) -> bool:
        return not select or any(fnmatch(slugs[p], s) or s == p.family for s in select)

    todo = [p for p in keys if chosen(p)]
    records, pending = [], []
    for p in keys:
        pdir = out / "points" / slugs[p]
        record = _cached(pdir, ctx)
        if record is None and p in todo:
            if hooks.point:
                hooks.point(todo.index(p) + 1, len(todo), slugs[p], "measuring")
            record = _measure(p, keys[p], slugs[p], pdir, ctx, hooks)
        if record is None:
            pending.append(slugs[p])
            continue
        if hooks.point and p in todo:
            hooks.point(todo.index(p) + 1, len(todo), slugs[p], "done")
        records.append(record)
    controls = []
    if config.control:
        wanted = not select or any(s.startswith("control") for s in select)
        controls = _controls(ctx, records, out, hooks, measure=wanted, pending=pending)
    shipped = [_shipped(Path(b), ctx, out) for b in config.shipped]
    doc = assemble(config, records, unsplit, controls, pending, ctx.dataset.name,
                   len(ctx.test_u8), command, host_info(), shipped)  # fmt: skip
    write_json(out / "sweep.json", doc)
    _write_ratepoints(out / "ratepoints.json", doc)
    if figure:
        from splitinfer.train.figure import draw_rate_accuracy

        draw_rate_accuracy(doc, out / "pareto.png")
    return doc


class SweepDoc(TypedDict):
    """sweep.json (``splitinfer.sweep/...``): every point measured, and the Pareto fronts."""

    format: str
    model: str
    backbone: str
    budget: str  # the training budget's name (SweepConfig.budget)
    dataset: str
    test_images: int
    bytes_note: str
    config: dict[str, Any]  # SweepConfig.to_dict()
    command: str
    machine: dict[str, Any]
    created: str  # UTC, ISO 8601
    references: dict[str, Any]  # unsplit_accuracy, controls, shipped (bundles measured)
    points: list[dict[str, Any]]  # one per point, with family, bytes, accuracy, pareto
    pending: list[str]  # points not measured yet
    fronts: dict[str, list[list[float]]]  # family -> [(bytes, accuracy), ...]
    levels: list[dict[str, Any]]  # bytes each family needs at an accuracy level


def assemble(
    config: SweepConfig,
    records: Sequence[Mapping[str, Any]],
    unsplit: float,
    controls: Sequence[Mapping[str, Any]],
    pending: Sequence[str],
    dataset: str,
    test_images: int,
    command: str,
    machine: Mapping[str, Any],
    shipped: Sequence[Mapping[str, Any]] = (),
) -> SweepDoc:
    """The ``sweep.json`` document: config, references, points, Pareto fronts, levels."""
    points = []
    for r in records:
        p = dict(r)
        p["accuracy_loss_points"] = 100 * (unsplit - float(p["accuracy"]))
        points.append(p)
    fronts = family_fronts(points)
    for p in points:
        p["pareto"] = (float(p["bytes"]), float(p["accuracy"])) in fronts.get(p["family"], [])
    levels = [compare_at_level(fronts, unsplit - 0.01, "unsplit - 1 point")]
    if controls:
        best = max(float(c["accuracy"]) for c in controls)
        levels.append(compare_at_level(fronts, best - 0.01, "control - 1 point"))
    return {
        "format": SWEEP_FORMAT,
        "model": config.model,
        "backbone": config.backbone,
        "budget": config.budget,
        "dataset": dataset,
        "test_images": test_images,
        "bytes_note": BYTES_NOTE,
        "config": config.to_dict(),
        "command": command,
        "machine": dict(machine),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "references": {
            "unsplit_accuracy": unsplit,
            "controls": list(controls),
            "shipped": list(shipped),
        },
        "points": sorted(points, key=lambda p: (FAMILIES.index(p["family"]), p["bytes"])),
        "pending": list(pending),
        "fronts": {f: [list(pt) for pt in front] for f, front in fronts.items()},
        "levels": [lv.to_dict() for lv in levels],
    }


def _write_ratepoints(path: Path, doc: Mapping[str, Any]) -> None:
    """The split points in the planner's ``splitinfer.ratepoints/1`` (``plan --rates``)."""
    from splitinfer.plan.ratepoints import RatePoint, save_ratepoints

    rows = [
        RatePoint(
            cut=str(p["cut"]),
            label=f"{p['family']}: "
            f"{unit_label(parse_unit(p['unit'])) if p['unit'] else 'no unit'} + {p['codec']}",
            payload_bytes=float(p["payload_bytes"]),
            frame_bytes=float(p["frame_bytes"]),
            accuracy=float(p["accuracy"]),
            accuracy_loss=float(p["accuracy_loss_points"]),
            encode_ms=float(p["encode_ms"]),
            decode_ms=float(p["decode_ms"]),
            measured=True,
            source=f"sweep {doc['created']}: {doc['command'] or 'run_sweep'}",
        )
        for p in doc["points"]
        if p["cut"] is not None
    ]
    if rows:
        save_ratepoints(path, rows, str(doc["model"]))


def _shipped(folder: Path, ctx: Any, out: Path) -> dict[str, Any]:
    """A shipped bundle measured like the points (cached by its weights and the test split)."""
    from splitinfer.bundle import Bundle
    from splitinfer.train.evaluate import evaluate_bundle

    bundle = Bundle.load(folder)
    spec = bundle.spec
    if spec.model != ctx.config.model or tuple(spec.input_shape) != ctx.input_shape:
        raise BadInput(
            f"shipped bundle {folder}: model {spec.model} {tuple(spec.input_shape)}, "
            f"not the sweep's {ctx.config.model} {ctx.input_shape}"
        )
    key = {"id": spec.id, "weights_sha256": spec.weights_sha256, **ctx.eval_key()}
    cache = out / "shipped" / f"{spec.id}.json"
    record = _read_json(cache)
    if isinstance(record, dict) and record.get("key") == key:
        return record
    m = evaluate_bundle(bundle, ctx.test_u8, ctx.data.test[1])
    record = {"id": spec.id, "path": str(folder), "cut": spec.cut,
              "codec": spec.codec, "accuracy": m["accuracy"], "bytes": m["mean_session_bytes"],
              "frame_bytes": m["mean_frame_bytes"], "payload_bytes": m["mean_payload_bytes"],
              "built_by": spec.built_by, "key": key}  # fmt: skip
    write_json(cache, record)
    return record
