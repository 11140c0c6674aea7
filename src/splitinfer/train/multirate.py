"""Train the extra rate points of a multi-rate bundle on a trained bundle's frozen halves.

A multi-rate bundle (see :mod:`splitinfer.bundle`) holds one head, one tail and several
butterfly units, each with its own learned prior: rate point ``k`` is
``head -> reduction_k -> learned codec_k -> restoration_k -> tail``. Rate 0 is the source
bundle's own unit, unchanged; every other point trains *only* its unit and prior (recipe
(b), ``tune="units"``) with the head and tail frozen in eval mode, so all the points share
the edge's head, and the edge switches rate by picking another small reduction unit.

A new point starts from the source unit's weights (the same unit shape) and its prior's
tables rescaled to the new level count, so a few short epochs move it to a new rate
rather than learning a unit from scratch. Distillation is from the bundle's unsplit
baseline when it carries one.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from splitinfer.bottleneck import BottleneckModel, UnitConfig, make_units
from splitinfer.bottleneck.prior import LearnedSpec
from splitinfer.errors import BadInput
from splitinfer.train.loop import FitConfig, ProgressFn
from splitinfer.train.recipes import Data, train_units

UNITS_FILE = "units.safetensors"
FACTS_FILE = "point.json"
_POINT_RE = re.compile(r"^(?:levels=(\d+),)?lambda=([0-9.eE+-]+)(?:,channels=(\d+))?$")


@dataclass(frozen=True)
class PointConfig:
    """One extra rate point: the learned codec's levels, the rate weight, the unit's channels.

    ``warm``: start from the source unit: its weights where the shapes match, and for a
    unit with more channels the source's channels first, the new ones feeding the
    restoration through zero weights (so training starts from the source point's function).
    """

    levels: int
    rate_lambda: float
    channels: int
    warm: bool = True

    def codec(self, source_codec: str) -> str:
        spec = LearnedSpec.parse(source_codec)
        return str(LearnedSpec(self.levels, spec.tables, spec.coder))

    def label(self) -> str:
        return f"levels={self.levels},lambda={self.rate_lambda:g},channels={self.channels}"


def parse_points(texts: list[str], source_unit: UnitConfig, source_codec: str) -> list[PointConfig]:
    """``levels=L,lambda=X[,channels=C]`` (levels and channels default to the source's)."""
    if not texts:
        raise BadInput("give at least one --point 'levels=L,lambda=X' (e.g. 'lambda=0.006')")
    base = LearnedSpec.parse(source_codec)
    points = []
    for text in texts:
        m = _POINT_RE.match(text.strip())
        if not m:
            raise BadInput(
                f"bad --point {text!r}; expected 'levels=L,lambda=X[,channels=C]', "
                "e.g. 'levels=16,lambda=0.0002'"
            )
        levels = int(m.group(1)) if m.group(1) else base.levels
        try:
            lam = float(m.group(2))
        except ValueError:
            raise BadInput(f"bad lambda in --point {text!r}") from None
        if not (lam >= 0 and math.isfinite(lam)):
            raise BadInput(f"lambda must be a finite number >= 0 in --point {text!r}")
        channels = int(m.group(3)) if m.group(3) else source_unit.channels
        LearnedSpec(levels, base.tables)  # validates the levels
        points.append(PointConfig(levels, lam, channels, warm=channels >= source_unit.channels))
    return points


def new_point(source: BottleneckModel, unit: UnitConfig, codec: str, cut_shape: tuple[int, ...],
              warm: bool) -> BottleneckModel:  # fmt: skip
    """A unit and prior for ``codec`` between ``source``'s head and tail (shared modules)."""
    reduction, restoration = make_units(cut_shape, unit)
    with torch.no_grad():
        z = reduction.eval()(torch.zeros(1, *cut_shape[1:]))
    c, h, w = z.shape[1:]
    bm = BottleneckModel(source.head, reduction, restoration, source.tail, codec,
                         feature_shape=(c, h, w))  # fmt: skip
    if warm:
        _grow(bm.reduction, source.reduction, zero_extra_inputs=False)
        _grow(bm.restoration, source.restoration, zero_extra_inputs=True)
        if source.prior is not None and bm.prior is not None:
            _warm_prior(bm, source)
    return bm


@torch.no_grad()
def _grow(dst: torch.nn.Module, src: torch.nn.Module, zero_extra_inputs: bool) -> None:
    """Copy ``src``'s tensors into ``dst``'s: whole where the shapes match, else the
    leading slice; with ``zero_extra_inputs`` a convolution's extra input channels get
    zero weights (the restoration ignores the new channels until it learns them)."""
    theirs = src.state_dict()
    for name, mine in dst.state_dict().items():
        t = theirs.get(name)
        if t is None or t.dim() != mine.dim():
            continue
        if t.shape == mine.shape:
            mine.copy_(t)
            continue
        if any(a > b for a, b in zip(t.shape, mine.shape, strict=True)):
            continue  # a smaller unit: leave its fresh initialisation
        if zero_extra_inputs and mine.dim() == 4 and mine.shape[1] > t.shape[1]:
            mine[:, t.shape[1] :].zero_()
        mine[tuple(slice(0, n) for n in t.shape)].copy_(t)


@torch.no_grad()
def _warm_prior(bm: BottleneckModel, source: BottleneckModel) -> None:
    """Copy the source prior, stretched from its level count to the new one."""
    src, dst = source.prior, bm.prior
    assert src is not None and dst is not None
    rows = min(src.means.shape[0], dst.means.shape[0])  # channel-major: the source's first
    if src.means.shape[1] != dst.means.shape[1] or src.tables != dst.tables:
        return
    ratio = (dst.levels - 1) / (src.levels - 1)
    dst.weight_logits[:rows].copy_(src.weight_logits[:rows])
    dst.means[:rows].copy_(src.means[:rows] * ratio)
    dst.log_scales[:rows].copy_(src.log_scales[:rows] + math.log(ratio))
    dst.update_tables()


def train_point(
    source: BottleneckModel,
    teacher: torch.nn.Module,
    source_unit: UnitConfig,
    source_codec: str,
    cut_shape: tuple[int, ...],
    point: PointConfig,
    data: Data,
    config: FitConfig,
    out: Path,
    *,
    distill: float | None,
    resume: bool = False,
    progress: ProgressFn | None = None,
) -> tuple[BottleneckModel, dict[str, Any]]:
    """Train one extra point (units and prior only); its model and training facts.

    Writes ``out/units.safetensors`` (the point's reduction, restoration and prior) when
    done; with ``resume`` a finished point is read back instead of trained again.
    """
    from safetensors.torch import load_file, save_file

    unit = UnitConfig(**{**source_unit.to_dict(), "channels": point.channels})
    codec = point.codec(source_codec)
    bm = new_point(source, unit, codec, cut_shape, point.warm)
    done = out / UNITS_FILE
    if resume and done.is_file():
        state = load_file(str(done))
        for part in ("reduction", "restoration", "prior"):
            module = getattr(bm, part)
            module.load_state_dict(
                {k.partition(".")[2]: v for k, v in state.items() if k.startswith(part + ".")}
            )
        facts_file = out / FACTS_FILE
        facts = json.loads(facts_file.read_text()) if facts_file.is_file() else {}
        return bm.eval(), {"train_seconds": None, **facts, "resumed": True}
    result = train_units(
        bm, teacher, data, config, out, tune="units", distill=distill,
        rate_lambda=point.rate_lambda, resume=resume, progress=progress,
        extra={"point": point.label(), "codec": codec, "unit": unit.to_dict()},
    )  # fmt: skip
    state = {}
    for part in ("reduction", "restoration", "prior"):
        for k, v in getattr(bm, part).state_dict().items():
            state[f"{part}.{k}"] = v.detach().contiguous()
    out.mkdir(parents=True, exist_ok=True)
    save_file(state, str(done))
    facts = {
        "train_seconds": result.train_seconds,
        "epochs": result.epochs_done,
        "proxy_accuracy": result.history[-1].get("accuracy") if result.history else None,
    }
    (out / FACTS_FILE).write_text(json.dumps(facts, indent=1) + "\n")
    return bm.eval(), facts


def build_multirate(
    source_dir: str | Path,
    texts: list[str],
    *,
    data: Data,
    config: FitConfig,
    out: str | Path,
    bundle_dir: str | Path,
    bundle_id: str,
    distill: float | None = 4.0,
    resume: bool = False,
    progress: ProgressFn | None = None,
    on_point: Any = None,
    command: str = "",
    test_images_u8: torch.Tensor | None = None,
) -> Any:
    """A trained single-rate bundle + extra points -> a measured multi-rate bundle, saved.

    Rate 0 is the source bundle's unit; rate ``k`` is ``texts[k-1]`` trained by
    :func:`train_point` into ``out/rate-k``. Every point is then measured through real
    frames of the new bundle on the whole test split (its frames carry the rate byte, so
    point 0's frame is one byte longer than the source bundle's) and the metrics stored
    in the spec. ``on_point(k, metrics)`` is called after each measurement.
    """
    from splitinfer.bundle import Bundle, check_bundle_id
    from splitinfer.data import load_fashion_mnist
    from splitinfer.timing import host_info
    from splitinfer.train.evaluate import evaluate_bundle

    check_bundle_id(bundle_id)  # before the training, not after it
    source = Bundle.load(source_dir)
    if source.multirate:
        raise BadInput(f"{source_dir} is already a multi-rate bundle; start from a single-rate one")
    if source.spec.unit is None or source.model.prior is None:
        raise BadInput(
            f"bundle {source.spec.id} has no butterfly unit with a learned codec; multi-rate "
            "points are trained as units with learned priors (train one with `train units "
            "--codec learned:...`)"
        )
    unit0 = source.spec.unit
    points = parse_points(texts, unit0, source.spec.codec)
    with torch.no_grad():
        cut_shape = tuple(source.model.head.eval()(torch.zeros(1, *source.spec.input_shape)).shape)
    teacher = source.baseline if source.baseline is not None else source.source
    trained = []
    for k, point in enumerate(points, start=1):
        bm, facts = train_point(
            source.model, teacher, unit0, source.spec.codec, cut_shape, point, data, config,
            Path(out) / f"rate-{k}", distill=distill, resume=resume, progress=progress,
        )  # fmt: skip
        unit = UnitConfig(**{**unit0.to_dict(), "channels": point.channels})
        trained.append((unit, point.codec(source.spec.codec), bm, {
            **facts, "rate_lambda": point.rate_lambda, "tune": "units", "distill": distill,
            "warm_start": point.warm, "limit": len(data.train[0]), **_fit_facts(config),
        }))  # fmt: skip
    bundle = source.with_rates(trained, bundle_id=bundle_id, built_by=command)
    images = test_images_u8 if test_images_u8 is not None else load_fashion_mnist("test")[0]
    labels = data.test[1]
    measured = []
    for k in range(bundle.rate_count):
        m = evaluate_bundle(bundle, images, labels, rate=k)
        measured.append(m)
        if on_point is not None:
            on_point(k, m)
    unsplit = source.spec.metrics.get("unsplit_accuracy")

    def loss(m: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(unsplit, float):
            return {}
        return {
            "unsplit_accuracy": unsplit,
            "accuracy_loss_points": 100 * (unsplit - m["accuracy"]),
        }

    metrics0 = {
        **source.spec.metrics, **measured[0], **loss(measured[0]), "machine": host_info(),
        "source_bundle": f"{source.spec.id} ({source.fingerprint:#010x})",
        "source_built_by": source.spec.built_by,
    }  # fmt: skip
    rates = tuple(
        type(p)(p.unit, p.codec, {**p.metrics, **m, **loss(m), "machine": host_info()})
        for p, m in zip(bundle.spec.rates, measured[1:], strict=True)
    )
    from dataclasses import replace

    final = Bundle(
        replace(bundle.spec, metrics=metrics0, rates=rates), bundle.source, bundle.model,
        bundle.baseline, [m for m, _s, _c in bundle.points[1:]],
    )  # fmt: skip
    final.save(bundle_dir)
    from splitinfer.plan.ratepoints import ratepoints_for

    (Path(out) / "ratepoints.json").write_text(
        json.dumps(ratepoints_for(final.spec), indent=1) + "\n"
    )
    return Bundle.load(bundle_dir)


def _fit_facts(config: FitConfig) -> dict[str, Any]:
    return {"epochs": config.epochs, "lr": config.lr, "optimizer": config.optimizer,
            "batch_size": config.batch_size, "seed": config.seed}  # fmt: skip
