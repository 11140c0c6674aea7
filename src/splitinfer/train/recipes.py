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
from splitinfer.data import load_fashion_mnist, normalize_fmnist
from splitinfer.data.stream import Streams, make_loader, open_streams, parse_data_spec
from splitinfer.data.transforms import normalizer
from splitinfer.errors import BadInput
from splitinfer.plan.ratepoints import ratepoints_for
from splitinfer.timing import host_info
from splitinfer.train.loop import (
    FitConfig,
    FitResult,
    ProgressFn,
    Stream,
    evaluate,
    evaluate_stream,
    fit,
)
from splitinfer.train.runtime import CPU, Runtime

Tune = Literal["units", "units+tail", "all"]
TUNES: tuple[str, ...] = ("units", "units+tail", "all")
PRIOR_LR_SCALE = 10.0


@dataclass(frozen=True)
class Data:
    train: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class StreamData:
    """Data that streams from disk (:mod:`splitinfer.data.stream`), normalised on the device.

    ``mean``/``std``: the model input's normalisation (recorded in the bundle).
    ``workers``: DataLoader worker processes (0: load in this process).
    """

    streams: Streams
    mean: tuple[float, ...]
    std: tuple[float, ...]
    workers: int = 0

    def stream(self, config: FitConfig, runtime: Runtime, evaluate_each_epoch: bool) -> Stream:
        """The training stream (shuffled, this rank's share) and the per-epoch test one."""
        pin = runtime.cuda
        train = make_loader(
            self.streams.train, config.batch_size, shuffle=True, workers=self.workers,
            seed=config.seed, pin_memory=pin, distributed=runtime.distributed,
            drop_last=runtime.distributed,
        )  # fmt: skip
        test = self.test_loader(config.batch_size, runtime) if evaluate_each_epoch else None
        return Stream(train, normalizer(self.mean, self.std), test)

    def limited(self, n: int) -> StreamData:
        """The first ``n`` training images only (the test split whole)."""
        from torch.utils.data import Subset

        train = Subset(self.streams.train, range(min(n, len(self.streams.train))))  # type: ignore[arg-type]
        return replace(self, streams=replace(self.streams, train=train))

    def test_loader(self, batch_size: int, runtime: Runtime, whole: bool = False) -> Any:
        """The test split in order; this rank's share, or all of it when ``whole``."""
        return make_loader(
            self.streams.test, batch_size, shuffle=False, workers=self.workers,
            pin_memory=runtime.cuda, distributed=runtime.distributed and not whole,
        )  # fmt: skip


def stream_data(
    spec: str,
    model_name: str,
    weights: str | None = None,
    image_size: int | None = None,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    workers: int = 0,
) -> StreamData:
    """``--data`` for ``model_name`` at ``--image-size`` (default: the weights' crop, else
    the model's), normalised by ``mean``/``std``, else the weights' metadata, else the
    data's own statistics (Fashion-MNIST), else ImageNet's."""
    c, h, _w = zoo.default_input_size(model_name, weights)
    side = image_size or h
    streams = open_streams(parse_data_spec(spec), (c, side, side))
    if (mean is None) != (std is None):
        raise BadInput("give both --mean and --std, or neither")
    if mean is None or std is None:
        known = zoo.input_normalization(model_name, weights)
        if known is None and streams.mean is not None and streams.std is not None:
            known = (streams.mean, streams.std)
        if known is None:
            known = (zoo.IMAGENET_MEAN, zoo.IMAGENET_STD) if c == 3 else ((0.5,), (0.25,))
        mean, std = known
    if len(mean) != c or len(std) != c:
        raise BadInput(f"mean and std need {c} value(s) each (one per channel): {mean}, {std}")
    return StreamData(streams, tuple(mean), tuple(std), workers)


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
    data: Data | StreamData,
    config: FitConfig,
    out: str | Path,
    *,
    resume: bool = False,
    progress: ProgressFn | None = None,
    command: str = "",
    weights: str | None = None,
    runtime: Runtime = CPU,
) -> dict[str, Any]:
    """Recipe (a): train ``model_name`` (from scratch, or from ``weights``); the results dict.

    With :class:`StreamData` the model gets the data's class count and channels; only
    rank 0 writes files. ``weights``: a file or ``torchvision:ENUM`` to start from.
    """
    out = Path(out)
    if isinstance(data, StreamData):
        c = data.streams.input_shape[0]
        model = zoo.create(model_name, weights=weights, num_classes=len(data.streams.classes),
                           in_channels=c)  # fmt: skip
    else:
        model = zoo.create(model_name, weights=weights)
    extra = {"data": data.streams.name, "weights": weights, "input_shape": data.streams.input_shape,
             "mean": data.mean, "std": data.std, "world_size": runtime.world,
             "device": str(runtime.device)} if isinstance(data, StreamData) else {}  # fmt: skip
    if runtime.is_main:
        _write(out, "config.json", {"recipe": "backbone", "model": model_name, **asdict(config),
                                    **extra, "command": command})  # fmt: skip
    if isinstance(data, StreamData):
        stream = data.stream(config, runtime, evaluate_each_epoch=True)
        result = fit(model, stream, config, checkpoint=out / "checkpoint.pt", resume=resume,
                     progress=progress, runtime=runtime)  # fmt: skip
        accuracy, n_test, test_skipped = evaluate_stream(
            model, data.test_loader(config.batch_size, runtime), stream.prepare, runtime
        )
        skipped = _total(stream.skipped, runtime) + test_skipped
        model.to("cpu")
    else:
        result = fit(model, data.train, config, evaluate_on=data.test,
                     checkpoint=out / "checkpoint.pt", resume=resume,
                     progress=progress, runtime=runtime)  # fmt: skip
        accuracy, n_test, skipped = evaluate(model, *data.test), len(data.test[0]), 0
        model.to("cpu")
    results = _results(model_name, result, accuracy, n_test)
    results.update(train_images_per_second=result.images_per_second, **_peak_memory(runtime))
    if isinstance(data, StreamData):
        results.update(extra, skipped_images=skipped, classes=list(data.streams.classes))
    if runtime.is_main:
        save_weights(model, out / "weights.safetensors")
        _write(out, "results.json", results)
    return results


def _peak_memory(runtime: Runtime) -> dict[str, float]:
    """Peak CUDA memory this process allocated (MiB), on CUDA only."""
    if not runtime.cuda:
        return {}
    return {"peak_gpu_memory_mib": round(torch.cuda.max_memory_allocated(runtime.device) / 2**20)}


def _total(count: int, runtime: Runtime) -> int:
    """``count`` summed over the ranks."""
    if not runtime.distributed:
        return count
    t = torch.tensor([count], dtype=torch.int64, device=runtime.device)
    torch.distributed.all_reduce(t)
    return int(t.item())


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
    data: Data | StreamData,
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
    runtime: Runtime = CPU,
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
    if runtime.is_main:
        _write(out, "config.json", {"recipe": f"units ({tune})", "distill": distill,
                                    "rate_lambda": rate_lambda, **asdict(config),
                                    **(extra or {})})  # fmt: skip
    teacher.to(runtime.device)
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
    stream = data.stream(config, runtime, True) if isinstance(data, StreamData) else None
    result = fit(
        bm, stream or data.train, config, param_groups=groups,  # type: ignore[union-attr]
        loss_fn=_with_extras(bm, task, rate_lambda, feature_match),
        evaluate_on=None if stream else data.test,  # type: ignore[union-attr]
        checkpoint=out / "checkpoint.pt", resume=resume,
        train_mode=train_mode, progress=progress, runtime=runtime,
    )  # fmt: skip
    bm.to("cpu")
    teacher.to("cpu")
    if stream is not None:
        result.skipped = _total(stream.skipped, runtime)
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
    data: Data | StreamData,
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
    runtime: Runtime = CPU,
) -> UnitRun:
    """Recipes (b)-(d) end to end: units on a trained backbone -> a measured bundle.

    The bundle's metrics come from the real deployed path on the test split
    (:func:`splitinfer.train.evaluate.evaluate_bundle`), beside the unsplit backbone's
    accuracy on the same images.
    """
    from splitinfer.bottleneck import insert_bottleneck
    from splitinfer.bundle import Bundle, Preprocess, check_bundle_id
    from splitinfer.data import FMNIST_CLASSES, FMNIST_MEAN, FMNIST_STD, load_fashion_mnist
    from splitinfer.partition import split
    from splitinfer.train.evaluate import evaluate_bundle, evaluate_bundle_stream

    check_bundle_id(bundle_id)  # before the training, not after it
    out = Path(out)
    if isinstance(data, StreamData):
        classes, input_shape = data.streams.classes, data.streams.input_shape
        preprocess = Preprocess(data.mean, data.std)
        sizes = {"num_classes": len(classes), "in_channels": input_shape[0]}
    else:
        classes, input_shape = FMNIST_CLASSES, zoo.default_input_size(model_name)
        preprocess = Preprocess((FMNIST_MEAN,), (FMNIST_STD,))
        sizes = {}
    model = zoo.create(model_name, weights=str(backbone), **sizes)
    teacher = zoo.create(model_name, weights=str(backbone), **sizes)
    if isinstance(data, StreamData):
        prepare = normalizer(data.mean, data.std)
        unsplit, _n, _skipped = evaluate_stream(
            teacher.to(runtime.device), data.test_loader(config.batch_size, runtime), prepare,
            runtime,
        )  # fmt: skip
        teacher.to("cpu")
    else:
        unsplit = evaluate(teacher, *data.test)
    bm = insert_bottleneck(split(model, cut, torch.zeros(1, *input_shape)), unit, codec)
    result = train_units(
        bm, teacher, data, config, out, tune=tune, distill=distill, rate_lambda=rate_lambda,
        tail_lr_scale=tail_lr_scale, head_lr_scale=head_lr_scale, feature_match=feature_match,
        resume=resume, progress=progress, runtime=runtime,
        extra={"model": model_name, "backbone": str(backbone), "cut": cut,
               "unit": unit.to_dict(), "codec": codec, "command": command,
               "data": data.streams.name if isinstance(data, StreamData) else "fashion-mnist",
               "input_shape": input_shape, "world_size": runtime.world,
               "device": str(runtime.device)},
    )  # fmt: skip
    bundle = Bundle.build(
        bundle_id=bundle_id, model_name=model_name, model=model, cut=cut, unit=unit,
        codec=codec, classes=classes, units=bm, preprocess=preprocess,
        input_shape=input_shape, built_by=command,
    )  # fmt: skip
    if not runtime.is_main:  # rank 0 alone measures and writes the bundle; no collective
        return UnitRun(Path(bundle_dir), {})  # follows, so the others need not wait for it
    if isinstance(data, StreamData):
        loader = data.test_loader(config.batch_size, runtime, whole=True)
        seen = [0]

        def batches() -> Any:
            for batch in loader:
                seen[0] += batch.skipped
                yield batch.images, batch.labels

        measured = evaluate_bundle_stream(bundle, batches(), skipped=lambda: seen[0])
        measured["data"] = data.streams.name
        measured["skipped_train_images"] = result.skipped
    else:
        images = test_images_u8 if test_images_u8 is not None else load_fashion_mnist("test")[0]
        measured = evaluate_bundle(bundle, images, data.test[1])
    metrics = {
        **measured,
        "unsplit_accuracy": unsplit,
        "accuracy_loss_points": 100 * (unsplit - measured["accuracy"]),
        "proxy_accuracy": result.history[-1].get("accuracy") if result.history else None,
        "train_seconds": result.train_seconds,
        "train_images_per_second": result.images_per_second,
        **_peak_memory(runtime),
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
