"""The control (DESIGN.md section 5): the unsplit model given the same extra training as the
units, one per cut that trained points use."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from splitinfer import zoo
from splitinfer.bottleneck import BottleneckModel
from splitinfer.results import write_json
from splitinfer.train.loop import FitConfig, ProgressFn, evaluate
from splitinfer.train.recipes import Data, Tune, save_weights, train_units
from splitinfer.train.sweep.config import Point
from splitinfer.train.sweep.points import (
    SweepHooks,
    _cached,
    _Context,
    _read_json,
    slug,
)


def train_control(
    model: nn.Module,
    teacher: nn.Module,
    cut: str,
    input_shape: tuple[int, int, int],
    data: Data,
    config: FitConfig,
    out: str | Path,
    *,
    tune: Tune = "units+tail",
    distill: float | None = None,
    resume: bool = False,
    progress: ProgressFn | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The control of DESIGN.md section 5: the unsplit model given the units' extra training.

    The very recipe the units get (:func:`~splitinfer.train.recipes.train_units`: head
    after ``cut`` frozen in eval mode, the same :class:`FitConfig`, the same distillation
    teacher and temperature), with no unit and no codec: with ``tune="units+tail"`` the
    model's tail after ``cut`` is fine-tuned for as many epochs as the units were. With
    ``tune="units"`` the units' training touches nothing the unsplit model has, so the
    control is ``model`` as it is; with ``tune="all"`` the whole model is trained (head
    included), so the control is the same whatever the cut. ``model`` is trained in
    place; returns its measurement.
    """
    from splitinfer.partition import split

    if tune == "units":
        accuracy = evaluate(model, *data.test)
        return {"accuracy": accuracy, "trained": False, "train_seconds": 0.0,
                "note": "tune=units trains nothing the unsplit model has"}  # fmt: skip
    s = split(model, cut, torch.zeros(1, *input_shape))
    bm = BottleneckModel(s.head, nn.Identity(), nn.Identity(), s.tail, codec_spec=None)
    result = train_units(
        bm, teacher, data, config, out, tune=tune, distill=distill, resume=resume,
        progress=progress, extra={"control": True, "cut": cut, **(extra or {})},
    )  # fmt: skip
    save_weights(model, Path(out) / "weights.safetensors")
    return {
        "accuracy": evaluate(model, *data.test),
        "trained": True,
        "train_seconds": result.train_seconds,
        "history": result.history,
    }


def _controls(
    ctx: _Context,
    records: Sequence[Mapping[str, Any]],
    out: Path,
    hooks: SweepHooks,
    *,
    measure: bool,
    pending: list[str],
) -> list[dict[str, Any]]:
    """One control per cut that trained points use, cached like points; without
    ``measure``, only cached controls are returned and the others go to ``pending``.
    With ``tune: all`` the control trains the whole model whatever the cut: one control,
    under the first cut's name."""
    cuts = sorted(
        {str(r["cut"]) for r in records if r["trained"]}
        | {str(p.cut) for p in ctx.config.points() if p.trained}
    )
    settings = ctx.config.train
    if settings.tune == "all":
        cuts = cuts[:1]
    controls = []
    for i, cut in enumerate(cuts):
        point = Point("control", "none", cut)
        key = ctx.point_key(point)
        name = slug(point, key)
        pdir = out / "points" / name
        record = _cached(pdir, ctx)
        if record is None and not measure:
            pending.append(name)
            continue
        if record is None:
            if hooks.point:
                hooks.point(i + 1, len(cuts), name, "measuring")
            model = ctx.backbone()
            if (pdir / "weights.safetensors").is_file() and settings.tune != "units":
                model = zoo.create(ctx.config.model, weights=pdir / "weights.safetensors",
                                   num_classes=len(ctx.dataset.classes),
                                   in_channels=ctx.input_shape[0])  # fmt: skip
                measured: dict[str, Any] = {"accuracy": evaluate(model, *ctx.data.test),
                                            "trained": True}  # fmt: skip
                measured.update(_read_json(pdir / "trained.json") or {})
            else:
                measured = train_control(
                    model, ctx.backbone(), cut, ctx.input_shape, ctx.data,
                    settings.fit_config(ctx.threads), pdir, tune=settings.tune,
                    distill=settings.distill, resume=True, progress=hooks.step,
                    extra={"model": ctx.config.model, "command": ctx.command},
                )  # fmt: skip
                write_json(pdir / "trained.json", {k: v for k, v in measured.items()
                                                    if k != "accuracy"})  # fmt: skip
                (pdir / "checkpoint.pt").unlink(missing_ok=True)
            record = {"slug": name, "cut": cut, **measured, "epochs": settings.epochs,
                      "tune": settings.tune, "distill": settings.distill,
                      "test_images": len(ctx.test_u8), "config": key,
                      "eval_key": ctx.eval_key(), "command": ctx.command}  # fmt: skip
            write_json(pdir / "results.json", record)
        controls.append(record)
    return controls
