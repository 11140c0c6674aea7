"""Datasets that stream from disk, for sets of any size (ImageNet's 1.28 M images).

    files on disk -> worker processes (decode, transform) -> uint8 batches in pinned memory
    -> the training device (normalise there)

Nothing is held whole in memory: an ImageFolder dataset keeps only the list of file paths
and labels; each image is opened, bounded (:func:`~splitinfer.data.folder.open_image`),
transformed and dropped by a ``DataLoader`` worker. An image that cannot be read is
skipped and counted (:class:`Batch` ``.skipped``), never fatal.

``--data`` specs (:func:`parse_data_spec`):

- ``fmnist`` / ``fmnist:DIR``: Fashion-MNIST's IDX files (small: held in memory, 47 MB);
- ``imagefolder:PATH``: ``PATH/train/<class>/*`` and ``PATH/test/<class>/*`` (or ``val``),
  torchvision's ImageFolder semantics (sorted class folder names are the labels);
- ``synthetic:CLASSES,SIZE``: SIZE generated training images of CLASSES classes (and
  SIZE/4 test images), for tests and throughput checks; labelled synthetic everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, cast

import torch
from torch.utils.data import DataLoader, Dataset

from splitinfer.data.folder import class_folders, image_files, open_image
from splitinfer.data.idx import FMNIST_CLASSES, FMNIST_MEAN, FMNIST_STD, load_fashion_mnist
from splitinfer.data.synthetic import synthetic
from splitinfer.data.transforms import Transform, eval_transform, train_transform
from splitinfer.errors import BadInput

DATA_SPECS = ("fmnist", "fmnist:DIR", "imagefolder:PATH", "synthetic:CLASSES,SIZE")
#: What every synthetic set is called, wherever its name is shown or recorded.
SYNTHETIC_LABEL = "synthetic (generated images, not a real dataset)"
MAX_SYNTHETIC = 10_000_000
TEST_SPLITS = ("test", "val")


@dataclass(frozen=True)
class DataSpec:
    """A parsed ``--data`` value."""

    kind: str  # fmnist | imagefolder | synthetic
    path: Path | None = None
    classes: int = 0  # synthetic only
    size: int = 0  # synthetic only: training images

    @property
    def label(self) -> str:
        if self.kind == "synthetic":
            return f"synthetic:{self.classes},{self.size} — {SYNTHETIC_LABEL}"
        if self.kind == "fmnist":
            return f"fashion-mnist ({self.path or 'default location'})"
        return f"imagefolder:{self.path}"


def parse_data_spec(spec: str) -> DataSpec:
    """``fmnist[:DIR] | imagefolder:PATH | synthetic:CLASSES,SIZE`` (see the module doc)."""
    kind, _, arg = spec.partition(":")
    if kind == "fmnist":
        return DataSpec("fmnist", Path(arg) if arg else None)
    if kind == "imagefolder" and arg:
        return DataSpec("imagefolder", Path(arg))
    if kind == "synthetic":
        try:
            classes, size = (int(v) for v in arg.split(","))
        except ValueError:
            raise BadInput(
                f"synthetic takes CLASSES,SIZE (e.g. synthetic:10,2048), got {arg!r}"
            ) from None
        if not (2 <= classes <= 1000 and 4 <= size <= MAX_SYNTHETIC):
            raise BadInput(f"synthetic needs 2..1000 classes and 4..{MAX_SYNTHETIC} images")
        return DataSpec("synthetic", classes=classes, size=size)
    if not arg and Path(spec).is_dir():  # the old `--data DIR`: a Fashion-MNIST folder
        return DataSpec("fmnist", Path(spec))
    raise BadInput(f"unknown data {spec!r}; known forms: {', '.join(DATA_SPECS)}")


# --- datasets -----------------------------------------------------------------------------


class Sample(NamedTuple):
    image: torch.Tensor  # uint8 (C, H, W); empty when unreadable
    label: int  # -1: unreadable, to be skipped


class FolderImages(Dataset[Sample]):
    """One ImageFolder split: file paths and labels in memory, pixels read on demand."""

    def __init__(self, root: Path, mode: str, transform: Transform) -> None:
        folders = class_folders(root)
        self.root = root
        self.classes = tuple(f.name for f in folders)
        self.samples: list[tuple[str, int]] = []
        empty = []
        for label, folder in enumerate(folders):
            files = image_files(folder)
            if not files:
                empty.append(folder.name)
            self.samples.extend((str(p), label) for p in files)
        if empty:
            raise BadInput(
                f"{root}: class folder(s) without images: {', '.join(empty)} (torchvision's "
                "ImageFolder layout: ROOT/<class>/<image files>)"
            )
        self.mode, self.transform = mode, transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> Sample:
        path, label = self.samples[index]
        try:
            return Sample(self.transform(open_image(Path(path), self.mode)), label)
        except BadInput:  # unreadable, truncated or oversized: skipped and counted
            return Sample(torch.empty(0, dtype=torch.uint8), -1)


class TensorImages(Dataset[Sample]):
    """uint8 images already in memory (Fashion-MNIST), through the same PIL transforms."""

    def __init__(
        self, images: torch.Tensor, labels: torch.Tensor, mode: str, transform: Transform
    ) -> None:
        self.images, self.labels, self.mode, self.transform = images, labels, mode, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> Sample:
        from PIL import Image

        pixels = self.images[index].permute(1, 2, 0).squeeze(2).numpy()
        image = Image.fromarray(pixels).convert(self.mode)
        return Sample(self.transform(image), int(self.labels[index]))


class SyntheticImages(Dataset[Sample]):
    """Generated stripe images (:func:`~splitinfer.data.synthetic.synthetic`), one per index."""

    def __init__(self, n: int, classes: int, shape: tuple[int, int, int], seed: int) -> None:
        self.n, self.classes, self.shape, self.seed = n, classes, shape, seed

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> Sample:
        images, labels = synthetic(1, self.shape, self.classes, seed=self.seed * 1_000_003 + index)
        return Sample(images[0], int(labels[0]))


# --- the pair of splits -------------------------------------------------------------------


@dataclass(frozen=True)
class Streams:
    """A train and a test split that stream, with what a bundle must record about them."""

    name: str
    train: Dataset[Sample]
    test: Dataset[Sample]
    classes: tuple[str, ...]
    input_shape: tuple[int, int, int]  # C, H, W of the uint8 images both splits yield
    mean: tuple[float, ...] | None  # the data's own statistics where known (Fashion-MNIST)
    std: tuple[float, ...] | None


def open_streams(
    spec: DataSpec, input_shape: tuple[int, int, int], augment: bool = True
) -> Streams:
    """Both splits of ``spec`` at ``input_shape`` (C: 1 grey or 3 RGB; H == W).

    ``augment=False``: the train split is prepared like the test split (no random crop or
    flip), e.g. to fit something to what a deployed edge will see.
    """
    c, h, w = input_shape
    if c not in (1, 3) or h != w:
        raise BadInput(f"streamed images are square grey or RGB; the model takes {input_shape}")
    mode = "L" if c == 1 else "RGB"
    eval_tf = eval_transform(h)
    train_tf = train_transform(h) if augment else eval_tf
    if spec.kind == "imagefolder" and spec.path is not None:
        root = spec.path
        if not (root / "train").is_dir():
            raise BadInput(f"{root} needs a train/ folder (and test/ or val/) of class folders")
        test_dir = next((root / s for s in TEST_SPLITS if (root / s).is_dir()), None)
        if test_dir is None:
            raise BadInput(f"{root} needs a test/ (or val/) folder beside train/")
        train = FolderImages(root / "train", mode, train_tf)
        test = FolderImages(test_dir, mode, eval_tf)
        check_class_sets(train.classes, test.classes, root)
        return Streams(f"imagefolder:{root}", train, test, train.classes, input_shape, None, None)
    if spec.kind == "synthetic":
        classes = tuple(f"class{k}" for k in range(spec.classes))
        train_s = SyntheticImages(spec.size, spec.classes, input_shape, seed=0)
        test_s = SyntheticImages(max(spec.size // 4, 2), spec.classes, input_shape, seed=1)
        name = f"synthetic:{spec.classes},{spec.size} ({SYNTHETIC_LABEL})"
        return Streams(name, train_s, test_s, classes, input_shape, None, None)
    (xtr, ytr), (xte, yte) = (load_fashion_mnist(s, spec.path) for s in ("train", "test"))
    # Fashion-MNIST is centred with no border: resized whole, never centre-cropped (the
    # ImageNet-style crop zooms in and cost the default bundle 5 points in `train evaluate`)
    whole = eval_transform(h, crop_fraction=1.0)
    train_t = TensorImages(xtr, ytr, mode, train_tf if augment else whole)
    test_t = TensorImages(xte, yte, mode, whole)
    mean, std = (FMNIST_MEAN,) * c, (FMNIST_STD,) * c
    return Streams("fashion-mnist", train_t, test_t, FMNIST_CLASSES, input_shape, mean, std)


def check_class_sets(train: tuple[str, ...], test: tuple[str, ...], root: Path) -> None:
    """Train and test must hold the same class folders, at least two of them."""
    if len(train) < 2:
        raise BadInput(f"{root}/train holds {len(train)} class folder(s); a classifier needs 2+")
    if set(train) != set(test):
        raise BadInput(
            f"{root}: train and test class folders differ: only in train "
            f"{sorted(set(train) - set(test))}, only in test {sorted(set(test) - set(train))}"
        )


# --- batches ------------------------------------------------------------------------------


class Batch(NamedTuple):
    images: torch.Tensor  # uint8 (N, C, H, W)
    labels: torch.Tensor  # int64 (N,)
    skipped: int  # unreadable images dropped from this batch


def collate(samples: list[Sample]) -> Batch:
    """Stack the readable samples; count the rest."""
    good = [s for s in samples if s.label >= 0]
    if not good:
        return Batch(torch.empty(0, dtype=torch.uint8), torch.empty(0, dtype=torch.int64),
                     len(samples))  # fmt: skip
    images = torch.stack([s.image for s in good])
    labels = torch.tensor([s.label for s in good], dtype=torch.int64)
    return Batch(images, labels, len(samples) - len(good))


def make_loader(
    dataset: Dataset[Sample],
    batch_size: int,
    *,
    shuffle: bool,
    workers: int = 0,
    seed: int = 0,
    pin_memory: bool = False,
    distributed: bool = False,
    drop_last: bool = False,
) -> DataLoader[Any]:
    """A ``DataLoader`` of :class:`Batch` es; under ``torch.distributed`` each rank its share.

    Shuffling is seeded (``seed``; call ``set_epoch`` on the sampler, or use
    :func:`epoch_batches`), so a resumed run sees the same order as an uninterrupted one.
    """
    from torch.utils.data import DistributedSampler, RandomSampler, SequentialSampler

    sampler: Any
    if distributed:
        sampler = DistributedSampler(dataset, shuffle=shuffle, seed=seed, drop_last=drop_last)
    elif shuffle:
        sampler = RandomSampler(cast(Sized, dataset), generator=torch.Generator().manual_seed(seed))
    else:
        sampler = SequentialSampler(cast(Sized, dataset))
    return DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
        collate_fn=collate, pin_memory=pin_memory, drop_last=drop_last,
        persistent_workers=workers > 0, prefetch_factor=4 if workers > 0 else None,
    )  # fmt: skip


def epoch_batches(loader: DataLoader[Any], epoch: int, seed: int) -> Iterator[Batch]:
    """The batches of ``epoch``: a fresh, seeded order per epoch (resume-safe)."""
    sampler = loader.sampler
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(epoch)
    elif getattr(sampler, "generator", None) is not None:
        sampler.generator.manual_seed(seed * 1_000_003 + epoch)  # type: ignore[attr-defined]
    yield from loader


def first_test_images(
    spec: str, input_shape: tuple[int, int, int], limit: int
) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """The first ``limit`` readable test images of ``spec`` as a bundle takes them.

    uint8 ``(N, *input_shape)`` and labels: Fashion-MNIST at its own 1x28x28 as stored,
    anything else through the eval transform (Resize + CenterCrop). For checks on a
    handful of images (``export --check``); evaluation streams instead.
    """
    parsed = parse_data_spec(spec)
    if parsed.kind == "fmnist" and input_shape == (1, 28, 28):
        x, y = load_fashion_mnist("test", parsed.path)
        return x[:limit], y[:limit], FMNIST_CLASSES
    streams = open_streams(parsed, input_shape)
    images, labels = [], []
    for batch in make_loader(streams.test, 64, shuffle=False):
        images.append(batch.images)
        labels.append(batch.labels)
        if sum(len(b) for b in labels) >= limit:
            break
    return torch.cat(images)[:limit], torch.cat(labels)[:limit], streams.classes
