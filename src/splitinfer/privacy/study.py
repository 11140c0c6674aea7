"""The comparison: every family member attacked on the same budget, results cached.

    subjects = [Subject("cloud-only", "cloud-only png", ImageObserver), ...]
    study = run_study(subjects, load_split("train"), load_split("test"), budget, cache)

Each subject's result is written to ``cache/<key>.json`` (with its grid images) as soon as
it is measured, keyed by its name, the budget and the test size, so a long comparison
resumes where it stopped and ``--only`` style re-runs cost nothing.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from splitinfer.privacy.attack import AttackResult, ViewResult, attack
from splitinfer.privacy.budget import AttackBudget
from splitinfer.privacy.metrics import (
    mean_psnr,
    psnr_per_image,
    reidentification_rate,
    ssim_per_image,
    top1,
    train_classifier,
)
from splitinfer.privacy.observe import Observer

Log = Callable[[str], None]


@dataclass
class Subject:
    """A family member, built lazily (loading a bundle or a backbone costs seconds)."""

    family: str
    name: str
    build: Callable[[], Observer]


@dataclass
class Split:
    images: torch.Tensor  # uint8 N x C x H x W
    labels: torch.Tensor


@dataclass
class Study:
    budget: AttackBudget
    results: list[AttackResult]
    classifier: dict[str, Any]  # its own top-1 on the clean test images, its cost
    test_grid: torch.Tensor  # the first test images (uint8)
    seconds: float
    references: list[dict[str, Any]] = field(default_factory=list)  # no-attack baselines

    def rows(self) -> list[dict[str, Any]]:
        """One row per (subject, view), in subject order."""
        out = []
        for r in self.results:
            acc = r.accuracy if r.accuracy is not None else r.about.get("accuracy")
            for v in r.views:
                out.append({
                    "family": r.family, "name": r.name, "view": v.view,
                    "shape": "x".join(map(str, v.shape)), "frame_bytes": r.frame_bytes,
                    "accuracy": None if acc is None else 100 * float(acc),
                    "psnr": v.psnr, "ssim": v.ssim, "top1": 100 * v.classifier_top1,
                    "reid": 100 * v.reid_rate, "decoder_s": v.decoder["train_seconds"],
                })  # fmt: skip
        return out + self.references


def _key(subject: Subject, budget: AttackBudget, n_test: int, n_train: int) -> str:
    text = json.dumps([subject.family, subject.name, budget.to_json(), n_test, n_train])
    slug = "".join(ch if ch.isalnum() else "-" for ch in subject.name.lower())[:40]
    return f"{slug}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"


def _save(path: Path, result: AttackResult) -> None:
    data = result.to_json()
    for v, vr in zip(data["views"], result.views, strict=True):
        if vr.grid is not None:
            v["grid"] = (vr.grid * 255).round().to(torch.uint8).flatten(1).tolist()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, allow_nan=True))
    tmp.replace(path)


def _load(path: Path, shape: tuple[int, ...]) -> AttackResult | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    views = []
    for v in data.pop("views"):
        grid = v.pop("grid", None)
        t = torch.tensor(grid, dtype=torch.float32).div(255).view(-1, *shape) if grid else None
        views.append(ViewResult(**v, grid=t))
    return AttackResult(**data, views=views)


def _reference(name: str, recon: torch.Tensor, test: Split, clf: Any) -> dict[str, Any]:
    target = test.images.float() / 255.0
    return {
        "family": "reference", "name": name, "view": "-", "shape": "-", "frame_bytes": 0.0,
        "accuracy": None,
        "psnr": mean_psnr(psnr_per_image(recon, target)),
        "ssim": float(ssim_per_image(recon, target).mean()),
        "top1": 100 * top1(clf, recon, test.labels),
        "reid": 100 * reidentification_rate(recon, target), "decoder_s": 0.0,
    }  # fmt: skip


def references(train: Split, test: Split, clf: Any) -> list[dict[str, Any]]:
    """What an attacker gets from no frame at all: the train split's mean image for every
    test image; and from the class alone: the mean train image of the test image's class."""
    x = train.images.float() / 255.0
    mean = x.mean(0, keepdim=True).expand(len(test.images), -1, -1, -1)
    classes = int(max(train.labels.max(), test.labels.max())) + 1
    per_class = torch.stack([
        x[train.labels == k].mean(0) if bool((train.labels == k).any()) else x.mean(0)
        for k in range(classes)
    ])  # fmt: skip
    return [
        _reference("no frame: the mean train image", mean, test, clf),
        _reference("class only: its class's mean image", per_class[test.labels], test, clf),
    ]


def run_study(
    subjects: list[Subject],
    train: Split,
    test: Split,
    budget: AttackBudget,
    cache: Path,
    classifier_epochs: int = 2,
    log: Log | None = None,
) -> Study:
    """Attack every subject; reuse cached results for the same budget and test split."""
    say = log or (lambda _m: None)
    t0 = time.perf_counter()
    n_train = min(len(train.images), budget.train_limit or len(train.images))
    budget.check(n_train)
    torch.manual_seed(budget.seed)
    say(f"classifier: training on {len(train.images)} clean train images, "
        f"{classifier_epochs} epochs")  # fmt: skip
    clf, clf_seconds = train_classifier(train.images, train.labels, classifier_epochs,
                                        seed=budget.seed)  # fmt: skip
    clean = top1(clf, test.images.float() / 255.0, test.labels)
    say(f"classifier: {100 * clean:.2f}% top-1 on the clean test images ({clf_seconds:.0f} s)")
    results = []
    shape = tuple(test.images.shape[1:])
    for s in subjects:
        path = cache / f"{_key(s, budget, len(test.images), n_train)}.json"
        cached = _load(path, shape)
        if cached is not None:
            say(f"{s.name}: cached ({path.name})")
            results.append(cached)
            continue
        result = attack(s.build(), train.images, test.images, test.labels, budget, clf, log)
        result.family = s.family
        result.name = s.name
        _save(path, result)
        results.append(result)
    return Study(
        budget=budget, results=results, references=references(train, test, clf),
        classifier={"architecture": "2 conv (16, 32) + linear, ~26k weights",
                    "epochs": classifier_epochs, "train_images": len(train.images),
                    "train_seconds": round(clf_seconds, 1), "clean_top1": clean},
        test_grid=test.images[:8], seconds=time.perf_counter() - t0,
    )  # fmt: skip
