"""Training recipes for Fashion-MNIST: the backbone, then the butterfly unit.

(a) ``train_backbone``: a zoo model from scratch.
(b) ``train_units`` with ``tune="units"``: the backbone frozen (BatchNorm statistics
    included), only the reduction and restoration units learn, through the codec proxy.
(c) ``tune="units+tail"``: the units and the tail learn; the head stays frozen, so the
    edge half is the backbone's own. ``tune="all"``: the head learns too (end to end, as
    BottleNet trains), at ``head_lr_scale`` times the learning rate; the bundle then
    carries the fine-tuned head.
(d) ``distill=T``: knowledge distillation from the unsplit model (soft labels at
    temperature T, Hinton et al. 2015) mixed with the hard labels.
(e) ``rate_lambda``: with a learned prior (codec ``learned:...``), rate-aware training:
    task loss + lambda * estimated bits per image (see :mod:`splitinfer.bottleneck.prior`).

Every run writes into its output folder: ``config.json`` (resolved), ``checkpoint.pt``
(resumable, written each epoch), ``weights.safetensors`` and ``results.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from splitinfer import zoo
from splitinfer.bottleneck import BottleneckModel, UnitConfig
from splitinfer.errors import BadInput
from splitinfer.timing import host_info
from splitinfer.train.data import load_fashion_mnist, normalize_fmnist
from splitinfer.train.loop import FitConfig, FitResult, ProgressFn, evaluate, fit

Tune = Literal["units", "units+tail", "all"]
TUNES: tuple[str, ...] = ("units", "units+tail", "all")
PRIOR_LR_SCALE = 10.0


@dataclass(frozen=True)
class Data:
    train: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]


def fashion_mnist(root: str | Path | None = None, limit: int | None = None) -> Data:
    """Normalized Fashion-MNIST; ``limit`` keeps the first N training images (tests)."""
    (xtr, ytr), (xte, yte) = load_fashion_mnist("train", root), load_fashion_mnist("test", root)
    if limit:
        xtr, ytr = xtr[:limit], ytr[:limit]
    return Data((normalize_fmnist(xtr), ytr), (normalize_fmnist(xte), yte))


def _write(out: Path, name: str, data: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / name).write_text(json.dumps(data, indent=1, default=str) + "\n")


def save_weights(model: nn.Module, path: Path) -> None:
    from safetensors.torch import save_file

    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(path))


def train_backbone(
    model_name: str,
    data: Data,
    config: FitConfig,
    out: str | Path,
    *,
    resume: bool = False,
    progress: ProgressFn | None = None,
    command: str = "",
) -> dict[str, Any]:
    """Recipe (a): train ``model_name`` from scratch; returns the results dict."""
    out = Path(out)
    model = zoo.create(model_name)
    _write(out, "config.json", {"recipe": "backbone", "model": model_name, **asdict(config),
                                "command": command})  # fmt: skip
    result = fit(model, data.train, config, evaluate_on=data.test,
                 checkpoint=out / "checkpoint.pt", resume=resume, progress=progress)  # fmt: skip
    save_weights(model, out / "weights.safetensors")
    results = _results(model_name, result, evaluate(model, *data.test), len(data.test[0]))
    _write(out, "results.json", results)
    return results


def _results(model: str, result: FitResult, accuracy: float, n_test: int) -> dict[str, Any]:
    return {
        "model": model,
        "test_accuracy": accuracy,
        "test_images": n_test,
        "epochs": result.epochs_done,
        "train_seconds": result.train_seconds,
        "history": result.history,
        "machine": host_info(),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _freeze(module: nn.Module) -> None:
    for p in module.parameters():
        p.requires_grad_(False)


def distillation_loss(teacher: nn.Module, temperature: float, weight: float = 0.5) -> Any:
    """``(logits, labels, x) -> loss``: hard-label CE mixed with soft-label KL (Hinton)."""

    def loss(logits: torch.Tensor, labels: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            soft = F.softmax(teacher(x) / temperature, dim=1)
        kd = F.kl_div(F.log_softmax(logits / temperature, dim=1), soft, reduction="batchmean")
        return (1 - weight) * F.cross_entropy(logits, labels) + weight * temperature**2 * kd

    return loss


def train_units(
    bm: BottleneckModel,
    teacher: nn.Module,
    data: Data,
    config: FitConfig,
    out: str | Path,
    *,
    tune: Tune = "units",
    distill: float | None = None,
    rate_lambda: float = 0.0,
    tail_lr_scale: float = 1.0,
    head_lr_scale: float = 1.0,
    feature_match: float = 0.0,
    resume: bool = False,
    progress: ProgressFn | None = None,
    extra: dict[str, Any] | None = None,
) -> FitResult:
    """Recipes (b)-(d): train the butterfly unit (and the tail, or everything) through the proxy.

    With ``tune="units"`` or ``"units+tail"`` the head is frozen and kept in eval mode
    (BatchNorm statistics included), so the deployed edge half is the backbone's own; with
    ``"units"`` the tail is frozen too. ``"all"`` trains the head as well, at
    ``head_lr_scale`` times the learning rate.
    """
    if tune not in TUNES:
        raise BadInput(f"tune must be one of {', '.join(TUNES)}; got {tune!r}")
    out = Path(out)
    if tune != "all":
        _freeze(bm.head)
    _freeze(teacher)
    teacher.eval()
    if tune == "units":
        _freeze(bm.tail)

    def train_mode(m: nn.Module) -> None:
        m.train()
        if tune != "all":
            bm.head.eval()
        if tune == "units":
            bm.tail.eval()

    if rate_lambda < 0:
        raise BadInput(f"rate_lambda must be >= 0, got {rate_lambda}")
    _write(out, "config.json", {"recipe": f"units ({tune})", "distill": distill,
                                "rate_lambda": rate_lambda, **asdict(config),
                                **(extra or {})})  # fmt: skip
    task = distillation_loss(teacher, distill) if distill else (
        lambda logits, labels, _x: F.cross_entropy(logits, labels)
    )  # fmt: skip
    if tail_lr_scale <= 0 or head_lr_scale <= 0 or feature_match < 0:
        raise BadInput("tail_lr_scale and head_lr_scale must be > 0 and feature_match >= 0")
    prior_ids = {id(p) for p in bm.prior.parameters()} if bm.prior is not None else set()
    tail_ids = {id(p) for p in bm.tail.parameters()}
    head_ids = {id(p) for p in bm.head.parameters()}
    groups: list[dict[str, Any]] = [
        {"params": [p for p in bm.parameters()
                    if p.requires_grad and id(p) not in prior_ids | tail_ids | head_ids]},
        # a pretrained tail (and head) is fine-tuned, often best more gently than the units
        {"params": [p for p in bm.tail.parameters() if p.requires_grad],
         "lr_scale": tail_lr_scale},
        {"params": [p for p in bm.head.parameters() if p.requires_grad],
         "lr_scale": head_lr_scale},
    ]  # fmt: skip
    if bm.prior is not None:  # a density model: a faster learning rate than the network's
        groups.append({"params": list(bm.prior.parameters()), "lr_scale": PRIOR_LR_SCALE})
    bm.match_features = feature_match > 0
    result = fit(
        bm, data.train, config, param_groups=groups,
        loss_fn=_with_extras(bm, task, rate_lambda, feature_match),
        evaluate_on=data.test, checkpoint=out / "checkpoint.pt", resume=resume,
        train_mode=train_mode, progress=progress,
    )  # fmt: skip
    bm.match_features = False
    if bm.prior is not None:
        bm.prior.update_tables()
    return result


def _with_extras(bm: BottleneckModel, task: Any, rate_lambda: float, feature_match: float) -> Any:
    loss = rate_aware_loss(bm, task, rate_lambda) if bm.prior is not None else task
    if not feature_match:
        return loss

    def matched(logits: torch.Tensor, labels: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        base = loss(logits, labels, x)
        return base if bm.match_loss is None else base + feature_match * bm.match_loss

    return matched


def rate_aware_loss(bm: BottleneckModel, task: Any, rate_lambda: float) -> Any:
    """``task + lambda * bits`` for a model with a learned prior.

    The prior itself is fitted by maximum likelihood on the (detached) noisy symbols,
    at full strength whatever lambda is: a density model should match its data; only
    the encoder's incentive to spend fewer bits is weighted by lambda.
    """
    prior = bm.prior
    if prior is None:
        raise BadInput("rate-aware training needs a learned prior (codec 'learned:...')")

    def loss(logits: torch.Tensor, labels: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        base = task(logits, labels, x)
        if bm.rate_bits is None or bm.rate_fit is None:
            return base
        return base + rate_lambda * bm.rate_bits + bm.rate_fit

    return loss


@dataclass(frozen=True)
class UnitRun:
    """What `splitinfer train units` builds: a bundle and how it measured."""

    bundle_dir: Path
    metrics: dict[str, Any]


def train_unit_bundle(
    *,
    model_name: str,
    backbone: str | Path,
    cut: str,
    unit: UnitConfig,
    codec: str,
    data: Data,
    config: FitConfig,
    out: str | Path,
    bundle_dir: str | Path,
    bundle_id: str,
    tune: Tune = "units",
    distill: float | None = None,
    rate_lambda: float = 0.0,
    tail_lr_scale: float = 1.0,
    head_lr_scale: float = 1.0,
    feature_match: float = 0.0,
    resume: bool = False,
    progress: ProgressFn | None = None,
    command: str = "",
    test_images_u8: torch.Tensor | None = None,
) -> UnitRun:
    """Recipes (b)-(d) end to end: units on a trained backbone -> a measured bundle.

    The bundle's metrics come from the real deployed path on the test split
    (:func:`splitinfer.train.evaluate.evaluate_bundle`), beside the unsplit backbone's
    accuracy on the same images.
    """
    from splitinfer.bottleneck import insert_bottleneck
    from splitinfer.bundle import Bundle, Preprocess, check_bundle_id
    from splitinfer.partition import split
    from splitinfer.train.data import FMNIST_CLASSES, FMNIST_MEAN, FMNIST_STD, load_fashion_mnist
    from splitinfer.train.evaluate import evaluate_bundle

    check_bundle_id(bundle_id)  # before the training, not after it
    out = Path(out)
    model = zoo.create(model_name, weights=backbone)
    teacher = zoo.create(model_name, weights=backbone)
    unsplit = evaluate(teacher, *data.test)
    input_shape = zoo.default_input_size(model_name)
    bm = insert_bottleneck(split(model, cut, torch.zeros(1, *input_shape)), unit, codec)
    result = train_units(
        bm, teacher, data, config, out, tune=tune, distill=distill, rate_lambda=rate_lambda,
        tail_lr_scale=tail_lr_scale, head_lr_scale=head_lr_scale, feature_match=feature_match,
        resume=resume, progress=progress,
        extra={"model": model_name, "backbone": str(backbone), "cut": cut,
               "unit": unit.to_dict(), "codec": codec, "command": command},
    )  # fmt: skip
    bundle = Bundle.build(
        bundle_id=bundle_id, model_name=model_name, model=model, cut=cut, unit=unit,
        codec=codec, classes=FMNIST_CLASSES, units=bm,
        preprocess=Preprocess((FMNIST_MEAN,), (FMNIST_STD,)), input_shape=input_shape,
        built_by=command,
    )  # fmt: skip
    images = test_images_u8 if test_images_u8 is not None else load_fashion_mnist("test")[0]
    measured = evaluate_bundle(bundle, images, data.test[1])
    metrics = {
        **measured,
        "unsplit_accuracy": unsplit,
        "accuracy_loss_points": 100 * (unsplit - measured["accuracy"]),
        "proxy_accuracy": result.history[-1].get("accuracy") if result.history else None,
        "train_seconds": result.train_seconds,
        "tune": tune,
        "distill": distill,
        "rate_lambda": rate_lambda,
        "tail_lr_scale": tail_lr_scale,
        "head_lr_scale": head_lr_scale,
        "feature_match": feature_match,
        "machine": host_info(),
    }
    bundle = Bundle(replace(bundle.spec, metrics=metrics), bundle.source, bundle.model)
    folder = bundle.save(bundle_dir)
    _write(out, "results.json", metrics)
    _write(out, "ratepoints.json", ratepoints_for(bundle.spec))
    return UnitRun(folder, metrics)


def ratepoints_for(spec: Any) -> dict[str, Any]:
    """The bundle's measured operating point in the planner's ``splitinfer.ratepoints/1``."""
    from splitinfer.plan.ratepoints import RATEPOINTS_FORMAT

    m = spec.metrics
    unit = f"unit c={spec.unit.channels} s={spec.unit.stride}" if spec.unit else "no unit"
    return {
        "format": RATEPOINTS_FORMAT,
        "model": spec.model,
        "points": [
            {
                "cut": spec.cut,
                "label": f"{unit} + {spec.codec}",
                "payload_bytes": m["mean_payload_bytes"],
                "frame_bytes": m["mean_frame_bytes"],
                "accuracy": m["accuracy"],
                "accuracy_loss": m["accuracy_loss_points"],
                "encode_ms": m["encode_ms_median"],
                "decode_ms": m["decode_ms_median"],
                "measured": True,
                "source": f"bundle {spec.id}: {spec.built_by}",
            }
        ],
    }
