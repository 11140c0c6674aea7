"""Measuring one point: the sweep's context (data, backbone, cache keys), each point's slug
and cache folder, the point's bundle (trained, resumed or loaded), and its record."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from splitinfer import zoo
from splitinfer.data import ImageDataset, load_dataset
from splitinfer.errors import BadInput
from splitinfer.results import write_json
from splitinfer.train.loop import ProgressFn
from splitinfer.train.recipes import Data, train_units
from splitinfer.train.sweep.cloud_only import measure_cloud_only
from splitinfer.train.sweep.config import Point, SweepConfig, unit_label


@dataclass
class SweepHooks:
    """Progress callbacks: ``point(index, total, label, status)`` and training/eval steps."""

    point: Callable[[int, int, str, str], None] | None = None
    step: ProgressFn | None = None


@dataclass
class _Context:
    config: SweepConfig
    dataset: ImageDataset
    data: Data  # normalized, train limited
    test_u8: torch.Tensor
    input_shape: tuple[int, int, int]
    backbone_sha256: str
    threads: int | None
    command: str
    unsplit: float | None = None  # the unsplit backbone's accuracy on the test split

    def backbone(self) -> nn.Module:
        c = self.config
        return zoo.create(c.model, weights=c.backbone, num_classes=len(self.dataset.classes),
                          in_channels=self.input_shape[0])  # fmt: skip

    def preprocess(self) -> Any:
        from splitinfer.bundle import Preprocess

        return Preprocess(self.dataset.mean, self.dataset.std)

    def eval_key(self) -> dict[str, Any]:
        # "bytes": what a record's bytes count (records of older versions are measured again)
        return {"data": self.config.data, "test_images": len(self.test_u8),
                "bytes": BYTES_VERSION}  # fmt: skip

    def point_key(self, point: Point) -> dict[str, Any]:
        key = {**point.describe(), "model": self.config.model,
               "backbone_sha256": self.backbone_sha256, "data": self.config.data,
               "input_shape": list(self.input_shape)}  # fmt: skip
        if point.trained or point.family == "control":
            key["train"] = asdict(self.config.train)
        return key


#: What a point's ``bytes`` count: the payload in a stream session's message (see
#: :data:`~splitinfer.train.sweep.config.BYTES_NOTE`).
BYTES_VERSION = "session-v1"


def _sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError as err:
        raise BadInput(f"cannot read the backbone weights {path}: {err}") from None
    return h.hexdigest()


_SHORT_CODEC = (
    (r"quant:bits=(\d+)", r"q\1"),
    (r",clip=0\.0:1\.0", ""),
    (r",clip=", "-"),
    (r"tile:align=1", "tile"),
    (r"(jpeg|webp|avif):quality=", r"\1"),
    (r"png:level=9", "png"),
    (r"ans:model=auto", "ans"),
    (r"learned:levels=(\d+),tables=(\w+)", r"learned\1\2"),
    (r",coder=(\w+)", r"-\1"),
)


def short_codec(spec: str) -> str:
    """A compact name for a canonical codec spec: ``q8-p99.9-tile-jpeg30``, ``q2-ans``."""
    for pattern, repl in _SHORT_CODEC:
        spec = re.sub(pattern, repl, spec)
    return spec.replace("|", "-")


def slug(point: Point, key: Mapping[str, Any]) -> str:
    """``family-cut-unit-codec-<hash>``: readable, a valid bundle id, unique per key."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    codec = short_codec(point.codec)
    kwargs = "-".join(f"{k.replace('rate_lambda', 'lam')}{v}" for k, v in point.train_kwargs)
    parts = [point.family, point.cut or "", unit_label(point.unit) if point.unit else "", codec,
             kwargs]  # fmt: skip
    text = "-".join(p for p in parts if p).lower()
    text = re.sub(r"[^a-z0-9.]+", "-", text).strip("-.")
    return f"{text[:54]}-{digest[:8]}"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def input_shape(config: SweepConfig) -> tuple[int, int, int]:
    """(C, H, W) the sweep feeds the model: its default size, ``config.channels`` if set."""
    c, h, w = zoo.default_input_size(config.model)
    return (config.channels or c, h, w)


def _load_context(config: SweepConfig, threads: int | None, command: str) -> _Context:
    shape = input_shape(config)
    dataset = load_dataset(config.data, (shape[1], shape[2]), shape[0])
    xtr, ytr = dataset.train
    if config.train.train_limit:
        xtr, ytr = xtr[: config.train.train_limit], ytr[: config.train.train_limit]
    xte, yte = dataset.test
    if config.test_limit:
        xte, yte = xte[: config.test_limit], yte[: config.test_limit]
    data = Data((dataset.normalize(xtr), ytr), (dataset.normalize(xte), yte))
    return _Context(config, dataset, data, xte, shape, _sha256(config.backbone), threads,
                    command)  # fmt: skip


def _cached(pdir: Path, ctx: _Context) -> dict[str, Any] | None:
    record = _read_json(pdir / "results.json")
    if isinstance(record, dict) and record.get("eval_key") == ctx.eval_key():
        return record
    return None


def _measure(
    p: Point, key: dict[str, Any], name: str, pdir: Path, ctx: _Context, hooks: SweepHooks
) -> dict[str, Any]:
    from splitinfer.train.evaluate import evaluate_bundle

    test_y = ctx.data.test[1]

    def eval_progress(done: int, total: int) -> None:
        if hooks.step:
            hooks.step("eval", done, total, {})

    trained: dict[str, Any] = {}
    if p.family == "cloud-only":
        model = ctx.backbone()
        measured = measure_cloud_only(model, ctx.preprocess(), ctx.test_u8, test_y, p.codec,
                                      progress=eval_progress)  # fmt: skip
    else:
        if p.trained:
            bundle, trained = _trained_bundle(p, name, pdir, ctx, hooks)
        else:
            bundle = _bundle(p, name, ctx.backbone(), ctx, None)
        measured = evaluate_bundle(bundle, ctx.test_u8, test_y, progress=eval_progress)
        if p.trained:  # the point's bundle carries its measurement, like `train units` ones
            _record_metrics(bundle, measured, trained, p, ctx).save(pdir / "bundle")
    record = {
        "slug": name,
        **p.describe(),
        "trained": p.trained,
        "accuracy": measured["accuracy"],
        "bytes": measured["mean_session_bytes"],
        "session_bytes": measured["mean_session_bytes"],
        "frame_bytes": measured["mean_frame_bytes"],
        "payload_bytes": measured["mean_payload_bytes"],
        "encode_ms": measured["encode_ms_median"],
        "decode_ms": measured["decode_ms_median"],
        "test_images": measured["images"],
        "eval_seconds": measured["seconds"],
        "path": measured["path"],
        "proxy_accuracy": trained.get("proxy_accuracy"),
        "train_seconds": trained.get("train_seconds"),
        "bundle": str(pdir / "bundle") if p.trained else None,
        "config": key,
        "eval_key": ctx.eval_key(),
        "command": ctx.command,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_json(pdir / "results.json", record)
    return record


def _record_metrics(
    bundle: Any, measured: dict[str, Any], trained: dict[str, Any], p: Point, ctx: _Context
) -> Any:
    """``bundle`` with ``spec.metrics``: its measurement and how it was trained."""
    from dataclasses import replace

    from splitinfer.bundle import Bundle
    from splitinfer.timing import host_info

    settings = ctx.config.train
    unsplit = ctx.unsplit
    metrics = {
        **measured,
        "unsplit_accuracy": unsplit,
        "accuracy_loss_points": None if unsplit is None else 100 * (unsplit - measured["accuracy"]),
        "proxy_accuracy": trained.get("proxy_accuracy"),
        "train_seconds": trained.get("train_seconds"),
        "budget": ctx.config.budget,
        "epochs": settings.epochs,
        "tune": settings.tune,
        "distill": settings.distill,
        **dict(p.train_kwargs),
        "machine": host_info(),
    }
    return Bundle(replace(bundle.spec, metrics=metrics), bundle.source, bundle.model)


def _bundle(p: Point, name: str, model: nn.Module, ctx: _Context, units: Any) -> Any:
    from splitinfer.bundle import Bundle

    return Bundle.build(
        bundle_id=name, model_name=ctx.config.model, model=model, cut=str(p.cut), unit=p.unit,
        codec=p.codec, classes=ctx.dataset.classes, preprocess=ctx.preprocess(),
        input_shape=ctx.input_shape, units=units, built_by=ctx.command,
    )  # fmt: skip


def _trained_bundle(
    p: Point, name: str, pdir: Path, ctx: _Context, hooks: SweepHooks
) -> tuple[Any, dict[str, Any]]:
    """Train the point's units (resuming a checkpoint), or load the bundle trained before."""
    from splitinfer.bottleneck import insert_bottleneck
    from splitinfer.bundle import Bundle
    from splitinfer.partition import split

    info = _read_json(pdir / "trained.json")
    if isinstance(info, dict) and (pdir / "bundle" / "spec.json").is_file():
        return Bundle.load(pdir / "bundle"), info
    settings = ctx.config.train
    model, teacher = ctx.backbone(), ctx.backbone()
    assert p.unit is not None and p.cut is not None
    s = split(model, p.cut, torch.zeros(1, *ctx.input_shape))
    bm = insert_bottleneck(s, p.unit, p.codec)
    result = train_units(
        bm, teacher, ctx.data, settings.fit_config(ctx.threads), pdir, tune=settings.tune,
        distill=settings.distill, resume=True, progress=hooks.step,
        extra={"sweep_point": p.describe(), "model": ctx.config.model,
               "backbone": ctx.config.backbone, "command": ctx.command},
        **dict(p.train_kwargs),
    )  # fmt: skip
    bundle = _bundle(p, name, model, ctx, bm)
    bundle.save(pdir / "bundle")
    info = {
        "proxy_accuracy": result.history[-1].get("accuracy") if result.history else None,
        "train_seconds": result.train_seconds,
        "history": result.history,
    }
    write_json(pdir / "trained.json", info)
    (pdir / "checkpoint.pt").unlink(missing_ok=True)
    return bundle, info
