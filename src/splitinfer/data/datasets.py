"""In-memory datasets named by a spec string (``fmnist``, ``imagefolder:PATH``, ``synthetic``).

For small sets (sweeps, tests): every image is decoded once into a uint8 tensor. Large
sets stream instead, through :mod:`splitinfer.data.stream`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from splitinfer.data.folder import load_image_folder
from splitinfer.data.idx import FMNIST_CLASSES, FMNIST_MEAN, FMNIST_STD, load_fashion_mnist
from splitinfer.data.synthetic import synthetic
from splitinfer.errors import BadInput


@dataclass(frozen=True)
class ImageDataset:
    """A train and a test split of uint8 images, with class names and input statistics.

    ``mean``/``std`` are per channel, of pixel values in [0, 1] over the training split
    (Fashion-MNIST: the published constants); a model sees ``(x / 255 - mean) / std``.
    """

    name: str
    train: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.mean).view(1, -1, 1, 1)
        std = torch.tensor(self.std).view(1, -1, 1, 1)
        return (images.float() / 255.0 - mean) / std


DATASET_SPECS = (
    "fmnist",
    "fmnist:DIR",
    "imagefolder:PATH (PATH/train/<class>/*, PATH/test/<class>/*)",
    "synthetic:TRAIN,TEST",
)


def _statistics(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    x = images.float().div(255.0).transpose(0, 1).reshape(images.shape[1], -1)
    std = x.std(dim=1).clamp_min(1e-3)
    return tuple(float(v) for v in x.mean(dim=1)), tuple(float(v) for v in std)


def load_dataset(spec: str, size: tuple[int, int] = (28, 28), channels: int = 1) -> ImageDataset:
    """A dataset named by a spec string (the `--data` option); see :data:`DATASET_SPECS`.

    ``imagefolder:PATH`` reads ``PATH/train`` and ``PATH/test`` with
    :func:`load_image_folder` (both must hold the same class folders) and shuffles each
    split with a fixed seed, so a "first N images" limit samples every class.
    """
    kind, _, arg = spec.partition(":")
    if kind == "fmnist":
        if size != (28, 28) or channels != 1:
            raise BadInput(f"Fashion-MNIST is 1x28x28; a model taking {channels}x{size} cannot")
        train = load_fashion_mnist("train", arg or None)
        test = load_fashion_mnist("test", arg or None)
        return ImageDataset("fashion-mnist", train, test, FMNIST_CLASSES, (FMNIST_MEAN,),
                            (FMNIST_STD,))  # fmt: skip
    if kind == "imagefolder" and arg:
        return _image_folder_dataset(Path(arg), size, channels)
    if kind == "synthetic":
        return _synthetic_dataset(arg, size, channels)
    raise BadInput(f"unknown dataset {spec!r}; known forms: {', '.join(DATASET_SPECS)}")


def _image_folder_dataset(root: Path, size: tuple[int, int], channels: int) -> ImageDataset:
    missing = [s for s in ("train", "test") if not (root / s).is_dir()]
    if missing:
        raise BadInput(f"{root} needs train/ and test/ subfolders; missing: {', '.join(missing)}")
    xtr, ytr, classes = load_image_folder(root / "train", size, channels)
    xte, yte, test_classes = load_image_folder(root / "test", size, channels)
    if test_classes != classes:
        raise BadInput(
            f"{root}: train and test class folders differ: only in train "
            f"{sorted(set(classes) - set(test_classes))}, only in test "
            f"{sorted(set(test_classes) - set(classes))}"
        )
    g = torch.Generator().manual_seed(0)
    ptr, pte = torch.randperm(len(xtr), generator=g), torch.randperm(len(xte), generator=g)
    mean, std = _statistics(xtr)
    return ImageDataset(f"imagefolder:{root}", (xtr[ptr], ytr[ptr]), (xte[pte], yte[pte]),
                        classes, mean, std)  # fmt: skip


def _synthetic_dataset(arg: str, size: tuple[int, int], channels: int) -> ImageDataset:
    try:
        n_train, n_test = (int(v) for v in (arg or "2048,512").split(","))
    except ValueError:
        raise BadInput(f"synthetic takes TRAIN,TEST image counts, got {arg!r}") from None
    shape = (channels, *size)
    xtr, ytr = synthetic(n_train, shape, seed=0)
    xte, yte = synthetic(n_test, shape, seed=1)
    classes = tuple(f"class{k}" for k in range(10))
    mean, std = _statistics(xtr)
    return ImageDataset(f"synthetic:{n_train},{n_test}", (xtr, ytr), (xte, yte), classes, mean,
                        std)  # fmt: skip
