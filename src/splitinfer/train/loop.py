"""A small, explicit training loop: seeded, resumable, with progress callbacks.

Everything the recipes need and nothing more: SGD with momentum and a cosine schedule,
optional label smoothing and distillation targets, augmentation for 28x28 images, and a
checkpoint after every epoch that ``resume=True`` continues from.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from splitinfer.errors import BadInput
from splitinfer.train.runtime import CPU, Runtime

ProgressFn = Callable[[str, int, int, dict[str, float]], None]  # (phase, done, total, stats)


@dataclass(frozen=True)
class FitConfig:
    epochs: int = 8
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0
    augment: bool = True
    seed: int = 0
    threads: int | None = None
    optimizer: str = "sgd"  # sgd (momentum, nesterov) | adam

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise BadInput(f"epochs, batch_size and lr must be positive: {self}")
        if self.optimizer not in ("sgd", "adam"):
            raise BadInput(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")


@dataclass
class FitResult:
    epochs_done: int
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0  # training time, resumed runs included; NaN if a checkpoint lacked it
    skipped: int = 0  # unreadable training images skipped (streamed data, all ranks)
    images_seen: int = 0  # training images this session stepped on, all ranks together
    session_seconds: float = 0.0  # this session's training time (a resume's part only)

    @property
    def images_per_second(self) -> float | None:
        """Training throughput of this session (all ranks), or None before any step."""
        if not self.images_seen or self.session_seconds <= 0:
            return None
        return round(self.images_seen / self.session_seconds, 1)

    @property
    def train_seconds(self) -> float | None:
        """``seconds`` rounded for a results file; None when unknown (a resumed old run)."""
        return None if math.isnan(self.seconds) else round(self.seconds, 1)


def augment_28(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random 2-pixel shifts (pad + crop) and horizontal flips, per image."""
    n, _, h, w = x.shape
    padded = F.pad(x, (2, 2, 2, 2), mode="constant", value=float(x.min()))
    dx = torch.randint(0, 5, (n,), generator=g)
    dy = torch.randint(0, 5, (n,), generator=g)
    shifted = _shift(padded, dx, dy, h, w)
    flip = torch.rand(n, generator=g) < 0.5
    return torch.where(flip.view(n, 1, 1, 1), shifted.flip(3), shifted)


def _shift(
    padded: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor, h: int, w: int
) -> torch.Tensor:
    n, c = padded.shape[:2]
    rows = (dy.view(n, 1) + torch.arange(h)).view(n, 1, h, 1).expand(n, c, h, padded.shape[3])
    out = padded.gather(2, rows)
    cols = (dx.view(n, 1) + torch.arange(w)).view(n, 1, 1, w).expand(n, c, h, w)
    return out.gather(3, cols)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 500) -> float:
    """Top-1 accuracy (fraction) of ``model`` in eval mode."""
    was_training = model.training
    model.eval()
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    correct = 0
    for i in range(0, len(x), batch_size):
        logits = model(x[i : i + batch_size].to(device)).cpu()
        correct += int((logits.argmax(1) == y[i : i + batch_size]).sum())
    model.train(was_training)
    return correct / max(len(x), 1)


@dataclass
class Stream:
    """Training data that streams: uint8 batches, made model inputs on the device.

    ``prepare``: uint8 (N, C, H, W) on the device -> the model's float input.
    ``skipped``: unreadable images dropped in the latest epoch (this rank's share).
    """

    train: Any  # a DataLoader of splitinfer.data.stream.Batch
    prepare: Callable[[torch.Tensor], torch.Tensor]
    test: Any = None  # a DataLoader for the per-epoch accuracy, or None
    skipped: int = 0


def fit(
    model: nn.Module,
    train: tuple[torch.Tensor, torch.Tensor] | Stream,
    config: FitConfig,
    *,
    params: Iterable[nn.Parameter] | None = None,
    param_groups: list[dict[str, Any]] | None = None,
    loss_fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    evaluate_on: tuple[torch.Tensor, torch.Tensor] | None = None,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    train_mode: Callable[[nn.Module], None] | None = None,
    progress: ProgressFn | None = None,
    runtime: Runtime = CPU,
) -> FitResult:
    """Train ``model`` on ``train`` for ``config.epochs``.

    train: float inputs and int64 labels in memory (augmented by :func:`augment_28`), or
    a :class:`Stream` (augmented by its loader's transforms; evaluated on ``Stream.test``).
    params: what to optimize (default: every parameter that requires grad).
    param_groups: optimizer groups instead (``{"params": [...], "lr_scale": 10}``: that
    group's learning rate is ``config.lr * lr_scale``).
    loss_fn: ``(logits, labels, inputs) -> loss``; default cross-entropy.
    train_mode: called instead of ``model.train()`` at each epoch (e.g. to keep a
    frozen backbone's BatchNorm in eval mode).
    checkpoint: written after each epoch (model, optimizer, epoch, history); with
    ``resume=True`` training continues from it.
    runtime: the device (the model is moved there and left there), bf16 autocast on
    CUDA, and DistributedDataParallel across ranks; only rank 0 reports and checkpoints.
    """
    if config.threads:
        torch.set_num_threads(config.threads)
    streamed = isinstance(train, Stream)
    if not isinstance(train, Stream):
        x, y = train
        if len(x) != len(y) or len(x) == 0:
            raise BadInput(
                f"train inputs ({len(x)}) and labels ({len(y)}) must be non-empty and match"
            )
        steps_per_epoch = math.ceil(len(x) / config.batch_size)
    else:
        steps_per_epoch = len(train.train)
        if steps_per_epoch == 0:
            raise BadInput("the training stream is empty")
    torch.manual_seed(config.seed)
    g = torch.Generator().manual_seed(config.seed)
    if param_groups is None:
        pool = params if params is not None else model.parameters()
        param_groups = [{"params": list(pool)}]
    groups = []
    for group in param_groups:
        chosen = [p for p in group["params"] if p.requires_grad]
        if chosen:
            groups.append({"params": chosen, "lr": config.lr * group.get("lr_scale", 1.0)})
    if not groups:
        raise BadInput("nothing to train: no parameter requires grad")
    if runtime.device.type != "cpu":
        model.to(runtime.device)
        if runtime.cuda:
            model.to(memory_format=torch.channels_last)
    opt: torch.optim.Optimizer
    if config.optimizer == "adam":
        opt = torch.optim.Adam(groups, lr=config.lr)
    else:
        opt = torch.optim.SGD(
            groups, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay,
            nesterov=True,
        )  # fmt: skip
    total_steps = steps_per_epoch * config.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total_steps) / total_steps))
    )
    result = FitResult(epochs_done=0)
    ckpt = Path(checkpoint) if checkpoint else None
    if resume and ckpt and ckpt.is_file():
        state = torch.load(ckpt, map_location=runtime.device, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        g.set_state(state["generator"].cpu())
        result.epochs_done = int(state["epoch"])
        result.history = json.loads(state["history"])
        # training time before the resume (absent from checkpoints of older versions)
        earlier_s = float(state.get("seconds", float("nan")))
    else:
        earlier_s = 0.0
    crit = loss_fn or (
        lambda logits, labels, _x: F.cross_entropy(
            logits, labels, label_smoothing=config.label_smoothing
        )
    )
    net = _parallel(model, runtime)
    report = progress if runtime.is_main else None
    t0 = time.perf_counter()
    for epoch in range(result.epochs_done, config.epochs):
        (train_mode or (lambda m: m.train()))(model)
        batches = (
            _stream_batches(train, epoch, config.seed, runtime)
            if isinstance(train, Stream)
            else _on_device(_tensor_batches(x, y, config, g, steps_per_epoch), runtime)
        )
        running, seen = 0.0, 0
        for step, (xb, yb) in enumerate(batches):
            with runtime.autocast():
                loss = crit(net(xb), yb, xb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            running += float(loss.detach()) * len(yb)
            seen += len(yb)
            result.images_seen += len(yb) * runtime.world
            if report:
                report("train", epoch * steps_per_epoch + step + 1, total_steps,
                       {"epoch": epoch + 1, "loss": running / max(seen, 1)})  # fmt: skip
        stats: dict[str, float] = {"epoch": epoch + 1, "loss": running / max(seen, 1)}
        if evaluate_on is not None and not streamed:
            stats["accuracy"] = evaluate(model, *evaluate_on)
        elif isinstance(train, Stream) and train.test is not None:
            stats["accuracy"] = evaluate_stream(model, train.test, train.prepare, runtime)[0]
        result.history.append(stats)
        result.epochs_done = epoch + 1
        if ckpt and runtime.is_main:
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            torch.save(
                {
                    "model": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "generator": g.get_state(),
                    "epoch": epoch + 1,
                    "history": json.dumps(result.history),
                    "seconds": earlier_s + time.perf_counter() - t0,
                },
                ckpt,
            )
        runtime.barrier()
        if report:
            report("epoch", epoch + 1, config.epochs, stats)
    result.session_seconds = time.perf_counter() - t0
    result.seconds = earlier_s + result.session_seconds
    return result


def _parallel(model: nn.Module, runtime: Runtime) -> nn.Module:
    """``model`` itself, or wrapped in DistributedDataParallel across the ranks."""
    if not runtime.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [runtime.device.index] if runtime.cuda else None
    # static_graph: the same parameters take part in every step. A learned prior's rate
    # terms reach the loss beside the logits, not through them, which the
    # find_unused_parameters search (it walks back from the outputs only) would misread.
    return DistributedDataParallel(model, device_ids=ids, static_graph=True)


def _tensor_batches(
    x: torch.Tensor, y: torch.Tensor, config: FitConfig, g: torch.Generator, steps: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    order = torch.randperm(len(x), generator=g)
    for step in range(steps):
        idx = order[step * config.batch_size : (step + 1) * config.batch_size]
        xb, yb = x[idx], y[idx]
        if config.augment:
            xb = augment_28(xb, g)  # on the CPU, with the CPU generator
        yield xb, yb


def _on_device(
    batches: Iterator[tuple[torch.Tensor, torch.Tensor]], runtime: Runtime
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for xb, yb in batches:
        if runtime.device.type == "cpu":
            yield xb, yb
        else:
            xb = xb.to(runtime.device, non_blocking=True)
            if runtime.cuda:
                xb = xb.contiguous(memory_format=torch.channels_last)
            yield xb, yb.to(runtime.device, non_blocking=True)


def _stream_batches(
    stream: Stream, epoch: int, seed: int, runtime: Runtime
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    from splitinfer.data.stream import epoch_batches

    stream.skipped = 0  # each epoch reads every file once: the count is of files
    for batch in epoch_batches(stream.train, epoch, seed):
        stream.skipped += batch.skipped
        if len(batch.labels) == 0:
            continue
        yield _to_device(batch.images, batch.labels, stream.prepare, runtime)


def _to_device(
    images: torch.Tensor,
    labels: torch.Tensor,
    prepare: Callable[[torch.Tensor], torch.Tensor],
    runtime: Runtime,
) -> tuple[torch.Tensor, torch.Tensor]:
    xb = prepare(images.to(runtime.device, non_blocking=True))
    if runtime.cuda:
        xb = xb.contiguous(memory_format=torch.channels_last)
    return xb, labels.to(runtime.device, non_blocking=True)


@torch.no_grad()
def evaluate_stream(
    model: nn.Module,
    loader: Any,
    prepare: Callable[[torch.Tensor], torch.Tensor],
    runtime: Runtime = CPU,
) -> tuple[float, int, int]:
    """(top-1 accuracy, images, skipped) over a loader of uint8 batches, summed over ranks."""
    was_training = model.training
    model.eval()
    counts = torch.zeros(3, dtype=torch.int64)  # correct, seen, skipped
    for batch in loader:
        counts[2] += batch.skipped
        if len(batch.labels) == 0:
            continue
        xb, yb = _to_device(batch.images, batch.labels, prepare, runtime)
        with runtime.autocast():
            predicted = model(xb).argmax(1)
        counts[0] += int((predicted == yb).sum())
        counts[1] += len(yb)
    model.train(was_training)
    if runtime.distributed:
        reduced = counts.to(runtime.device)
        torch.distributed.all_reduce(reduced)
        counts = reduced.cpu()
    correct, seen, skipped = (int(v) for v in counts)
    return correct / max(seen, 1), seen, skipped


def config_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as a JSON-ready dict (written beside results)."""
    return asdict(config)
