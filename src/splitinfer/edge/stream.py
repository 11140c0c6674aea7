"""Stream images through an :class:`EdgeRunner` and summarize what it cost.

Latency figures are medians / p95 over the run, measured here (not modeled); an ``auto``
run also carries the planner's decision and its modeled latency. :func:`load_images`
turns an image file or folder into the uint8 tensor a bundle takes.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from splitinfer.data.folder import IMAGE_SUFFIXES, load_image_folder, read_image_tensor
from splitinfer.edge.runner import EdgeResult, EdgeRunner, RunMode
from splitinfer.errors import BadInput

STAGES = ("head_ms", "encode_ms", "network_ms", "server_ms")


@dataclass
class StreamSummary:
    """Running totals of a stream, one entry per request id; ``to_json`` gives medians."""

    mode: str
    results: list[EdgeResult] = field(default_factory=list)
    correct: int = 0
    labelled: int = 0
    duplicates: int = 0  # results for an id already counted (never expected; never counted)
    started: float = field(default_factory=time.perf_counter)
    decision: dict[str, Any] | None = None
    link_estimate: dict[str, Any] | None = None  # the runner's passive estimate at the end
    switches: list[dict[str, Any]] = field(default_factory=list)  # mode auto's plan changes
    replan: dict[str, Any] | None = None  # mode auto's re-planning policy (None: off)
    _ids: set[int] = field(default_factory=set, repr=False)

    def add(self, result: EdgeResult, label: int | None) -> None:
        if result.request_id in self._ids:
            self.duplicates += 1
            return
        self._ids.add(result.request_id)
        self.results.append(result)
        if label is not None:
            self.labelled += 1
            self.correct += int(result.prediction == label)

    @property
    def accuracy(self) -> float | None:
        """Top-1 over the labelled results so far (None without labels)."""
        return self.correct / self.labelled if self.labelled else None

    @property
    def fps(self) -> float:
        return len(self.results) / max(time.perf_counter() - self.started, 1e-9)

    def _stat(self, key: str, q: float = 0.5) -> float:
        values = sorted(float(getattr(r, key)) for r in self.results)
        if not values:
            return 0.0
        if q == 0.5:
            return statistics.median(values)
        return values[min(len(values) - 1, int(q * len(values)))]

    def to_json(self) -> dict[str, Any]:
        n = max(len(self.results), 1)
        modes: dict[str, int] = {}
        for r in self.results:
            modes[r.mode] = modes.get(r.mode, 0) + 1
        return {
            "mode": self.mode,
            "images": len(self.results),
            "accuracy": self.accuracy,
            "labelled": self.labelled,
            "fps": self.fps,
            "fallbacks": sum(r.fell_back for r in self.results),
            "retries": sum(max(r.attempts - 1, 0) for r in self.results),
            "duplicates_ignored": self.duplicates,
            "ran": modes,
            "bytes_up_mean": sum(r.bytes_up for r in self.results) / n,
            "bytes_down_mean": sum(r.bytes_down for r in self.results) / n,
            "latency_ms_p50": self._stat("total_ms"),
            "latency_ms_p95": self._stat("total_ms", 0.95),
            **{f"{k}_p50": self._stat(k) for k in STAGES},
            "measured": True,
            "decision": self.decision,
            "link_estimate": self.link_estimate,
            "replan": self.replan,
            "switches": len(self.switches),
            "switch_log": self.switches,
        }


def run_stream(
    runner: EdgeRunner,
    images: torch.Tensor,
    labels: torch.Tensor | None,
    mode: RunMode,
    progress: Callable[[StreamSummary], None] | None = None,
    *,
    stream: bool = False,
) -> StreamSummary:
    """Send ``images`` (uint8 N x C x H x W) in ``mode``; ``stream``: one gRPC stream."""
    summary = StreamSummary(mode)
    if mode == "auto" and runner.decision is not None:
        summary.decision = runner.decision.to_json()
    replanner = runner.replanner if mode == "auto" else None
    if replanner is not None:
        summary.replan = replanner.policy.to_json()
    for i, result in runner.stream(images, mode, stream=stream):
        summary.add(result, int(labels[i]) if labels is not None else None)
        if replanner is not None and result.switched_to is not None:
            summary.switches = [s.to_json() for s in replanner.switches]
        if progress:
            progress(summary)
    summary.link_estimate = runner.link_estimate.to_json()
    if replanner is not None and summary.replan is not None:  # what the policy did, at the end
        summary.replan = {**summary.replan, "pings": replanner.pings,
                          "pings_skipped": replanner.pings_skipped,
                          "pings_failed": runner.pings_failed,
                          "explorations_skipped": replanner.skipped}  # fmt: skip
    return summary


# --- images from disk --------------------------------------------------------------------


def load_images(
    path: str | Path,
    input_shape: tuple[int, int, int],
    classes: Sequence[str] = (),
    limit: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """An image file or folder as uint8 (N, C, H, W) of ``input_shape``, plus labels.

    A folder of class folders (torchvision's ImageFolder layout, read by
    :func:`splitinfer.data.load_image_folder`) is labelled when every class folder
    names one of ``classes`` (case and punctuation ignored) or is a class index; a flat
    folder or a single file has no labels. Images are converted to grayscale or RGB as C
    says and resized (bilinear) to H x W. ``limit``: the first N, in folder order.
    """
    c, h, w = input_shape
    if c not in (1, 3):
        raise BadInput(f"image input needs 1 or 3 channels, this bundle takes {c}")
    root = Path(path)
    labels: torch.Tensor | None = None
    if root.is_dir() and any(d.is_dir() and not d.name.startswith(".") for d in root.iterdir()):
        images, folder_labels, names = load_image_folder(root, (h, w), c)
        to_bundle = _bundle_labels(names, classes)
        labels = to_bundle[folder_labels] if to_bundle is not None else None
    else:
        if root.is_file():
            files = [root]
        elif root.is_dir():
            files = sorted(
                p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            )
        else:
            raise BadInput(f"no image file or folder at {root}")
        if not files:
            raise BadInput(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {root}")
        images = torch.stack([read_image_tensor(f, input_shape) for f in files[:limit]])
    if limit is not None:
        images = images[:limit]
        labels = labels[:limit] if labels is not None else None
    return images, labels


def fit_images(images: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """uint8 (N, C, H, W) -> ``shape``: gray <-> RGB (ITU-R 601 luma), bilinear resize."""
    c, h, w = shape
    x = images.float()
    if x.shape[1] != c:
        if c == 3 and x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        elif c == 1 and x.shape[1] == 3:
            luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
            x = (x * luma).sum(1, keepdim=True)
        else:
            raise BadInput(f"cannot turn {x.shape[1]}-channel images into {c}-channel ones")
    if tuple(x.shape[2:]) != (h, w):
        x = torch.nn.functional.interpolate(x, size=(h, w), mode="bilinear", antialias=True)
    if x.shape == images.shape:
        return images
    return x.round().clamp(0, 255).to(torch.uint8)


def _bundle_labels(names: Sequence[str], classes: Sequence[str]) -> torch.Tensor | None:
    """Folder index -> bundle class index, when every folder names a class (else None)."""
    index = {_key(c): i for i, c in enumerate(classes)}
    out = []
    for name in names:
        if _key(name) in index:
            out.append(index[_key(name)])
        elif name.isdigit() and int(name) < len(classes):
            out.append(int(name))
        else:
            return None
    return torch.tensor(out, dtype=torch.int64)


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())
