"""Datasets: Fashion-MNIST from IDX files, and a synthetic set for tests.

Fashion-MNIST is read from the IDX files (``*-ubyte.gz``) in, in order: an explicit
``root``, ``$SPLITINFER_FMNIST_DIR``, or Debian's ``dataset-fashion-mnist`` package
(``/usr/share/datasets/fashion-mnist``). ``download=True`` fetches them with torchvision
where the internet is reachable.
"""

from __future__ import annotations

import gzip
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from splitinfer.errors import BadInput

DEBIAN_FMNIST = Path("/usr/share/datasets/fashion-mnist")
FMNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
# Per-channel statistics of the Fashion-MNIST training split (pixel values in [0, 1]).
FMNIST_MEAN = 0.2860
FMNIST_STD = 0.3530

_IDX_DTYPES: dict[int, str] = {
    0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8",
}  # fmt: skip
_MAX_IDX_BYTES = 1 << 31


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped) into a numpy array, checking its header."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read(_MAX_IDX_BYTES + 1)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise BadInput(f"{path} is not an IDX file (bad magic)")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES or ndim == 0:
        raise BadInput(f"{path}: unknown IDX element type 0x{code:02x} or rank {ndim}")
    if len(raw) < 4 + 4 * ndim:
        raise BadInput(f"{path}: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    dtype = np.dtype(_IDX_DTYPES[code])
    count = int(np.prod(dims))
    body = raw[4 + 4 * ndim :]
    if len(body) != count * dtype.itemsize:
        raise BadInput(
            f"{path}: IDX header says {dims} ({count * dtype.itemsize} bytes) "
            f"but the file holds {len(body)} bytes"
        )
    return np.frombuffer(body, dtype=dtype).reshape(dims)


def fmnist_root(root: str | Path | None = None) -> Path:
    """The folder holding the Fashion-MNIST IDX files, or a clear error saying how to get them."""
    candidates = [Path(root)] if root else []
    if os.environ.get("SPLITINFER_FMNIST_DIR"):
        candidates.append(Path(os.environ["SPLITINFER_FMNIST_DIR"]))
    candidates.append(DEBIAN_FMNIST)
    for folder in candidates:
        if (folder / "t10k-images-idx3-ubyte.gz").is_file() or (
            folder / "t10k-images-idx3-ubyte"
        ).is_file():
            return folder
    raise BadInput(
        "Fashion-MNIST not found (looked in "
        + ", ".join(str(c) for c in candidates)
        + "). Install Debian's dataset-fashion-mnist, set SPLITINFER_FMNIST_DIR, "
        "or pass download=True on a machine with internet access."
    )


def _download(root: Path) -> Path:
    import torchvision

    torchvision.datasets.FashionMNIST(str(root), download=True)
    return root / "FashionMNIST" / "raw"


def load_fashion_mnist(
    split: str = "test", root: str | Path | None = None, download: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images as uint8 ``(N, 1, 28, 28)`` and labels as int64 ``(N,)``."""
    if split not in ("train", "test"):
        raise BadInput(f"split must be 'train' or 'test', got {split!r}")
    try:
        folder = fmnist_root(root)
    except BadInput:
        if not download:
            raise
        folder = _download(Path(root or "data"))
    prefix = "train" if split == "train" else "t10k"

    def find(stem: str) -> Path:
        for name in (f"{prefix}-{stem}-ubyte.gz", f"{prefix}-{stem}-ubyte"):
            if (folder / name).is_file():
                return folder / name
        raise BadInput(f"{folder} lacks {prefix}-{stem}-ubyte(.gz)")

    images = read_idx(find("images-idx3"))
    labels = read_idx(find("labels-idx1"))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise BadInput(f"{folder}: images {images.shape} and labels {labels.shape} do not match")
    x = torch.from_numpy(images.copy()).unsqueeze(1)
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


def normalize_fmnist(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float32, scaled to [0, 1] and standardized with the train statistics."""
    return (images.float() / 255.0 - FMNIST_MEAN) / FMNIST_STD


def synthetic(
    n: int, shape: tuple[int, int, int] = (1, 28, 28), classes: int = 10, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """A learnable synthetic image set for tests (uint8 images, int64 labels).

    Class ``k`` is a stripe texture with its own orientation and frequency, at a random
    phase per image, plus pixel noise: local, translation-invariant evidence that a small
    CNN with global pooling learns in a few steps.
    """
    if n < 1 or classes < 1:
        raise BadInput(f"n and classes must be positive, got n={n}, classes={classes}")
    g = torch.Generator().manual_seed(seed)
    c, h, w = shape
    labels = torch.randint(0, classes, (n,), generator=g)
    angle = labels.double() * torch.pi / classes
    freq = 0.15 + 0.1 * (labels % 3).double()
    phase = 2 * torch.pi * torch.rand(n, generator=g, dtype=torch.float64)
    yy, xx = torch.meshgrid(torch.arange(h).double(), torch.arange(w).double(), indexing="ij")
    arg = (xx * torch.cos(angle).view(n, 1, 1) + yy * torch.sin(angle).view(n, 1, 1)) * freq.view(
        n, 1, 1
    )
    stripes = 0.5 + 0.4 * torch.sin(2 * torch.pi * arg + phase.view(n, 1, 1))
    noise = 0.1 * torch.randn((n, c, h, w), generator=g, dtype=torch.float64)
    images = (stripes.unsqueeze(1) + noise).clamp(0, 1).mul(255).round().to(torch.uint8)
    return images, labels


# --- ImageFolder ---------------------------------------------------------------------------

#: File name endings read as images; anything else in a class folder is ignored.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm",
                  ".pgm")  # fmt: skip
#: Caps that keep a stray file or a huge folder from exhausting memory.
MAX_IMAGE_FILE_BYTES = 64 << 20
MAX_SOURCE_PIXELS = 8192 * 8192
MAX_FOLDER_BYTES = 8 << 30  # of the decoded uint8 tensor
MAX_SIDE = 4096


def _class_folders(root: Path) -> list[Path]:
    if not root.is_dir():
        raise BadInput(f"image folder {str(root)!r} does not exist or is not a directory")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise BadInput(
            f"{root} holds no class folders; expected ROOT/<class name>/<image files>, "
            "one subfolder per class (torchvision's ImageFolder layout)"
        )
    return folders


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    )


def _read_image(path: Path, size: tuple[int, int], mode: str) -> np.ndarray:
    """One file -> uint8 array H x W (x 3), resized; bounded before any pixel is decoded."""
    from PIL import Image

    if path.stat().st_size > MAX_IMAGE_FILE_BYTES:
        raise BadInput(f"{path} is larger than {MAX_IMAGE_FILE_BYTES >> 20} MiB")
    try:
        with Image.open(path) as im:
            if im.size[0] * im.size[1] > MAX_SOURCE_PIXELS:
                raise BadInput(f"{path}: {im.size[0]}x{im.size[1]} pixels exceeds the cap")
            converted = im.convert(mode)
            h, w = size
            if converted.size != (w, h):
                converted = converted.resize((w, h), Image.Resampling.BILINEAR)
            return np.asarray(converted, dtype=np.uint8)
    except BadInput:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise BadInput(f"cannot read image {path}: {err}") from None


def load_image_folder(
    root: str | Path, size: tuple[int, int] = (28, 28), channels: int = 1
) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """Images under ``root/<class>/`` as uint8 ``(N, C, H, W)``, int64 labels, class names.

    Classes are the subfolder names in sorted order (label ``k`` is the k-th); images are
    the files ending in one of :data:`IMAGE_SUFFIXES`, sorted by name, converted to grey
    (``channels=1``) or RGB (``channels=3``) and resized (bilinear) to ``size`` (H, W).
    Hidden files and folders are skipped. Raises :class:`BadInput` for a missing root, no
    class folders, a class folder without images, an unreadable or oversized image, or a
    decoded set beyond :data:`MAX_FOLDER_BYTES`.
    """
    if channels not in (1, 3):
        raise BadInput(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
    h, w = size
    if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
        raise BadInput(f"image size must be H,W in 1..{MAX_SIDE}, got {size}")
    folders = _class_folders(Path(root))
    files = [_image_files(f) for f in folders]
    empty = [f.name for f, found in zip(folders, files, strict=True) if not found]
    if empty:
        raise BadInput(
            f"{root}: class folder(s) without images: {', '.join(empty)} "
            f"(image files end in {', '.join(IMAGE_SUFFIXES)})"
        )
    n = sum(len(found) for found in files)
    if n * channels * h * w > MAX_FOLDER_BYTES:
        raise BadInput(
            f"{root}: {n} images of {channels}x{h}x{w} exceed {MAX_FOLDER_BYTES >> 30} GiB "
            "decoded; use a smaller size or a subset"
        )
    images = np.empty((n, h, w, channels), dtype=np.uint8)
    labels = np.empty(n, dtype=np.int64)
    i = 0
    for label, found in enumerate(files):
        for path in found:
            images[i] = _read_image(path, size, "L" if channels == 1 else "RGB").reshape(
                h, w, channels
            )
            labels[i] = label
            i += 1
    x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    return x, torch.from_numpy(labels), tuple(f.name for f in folders)


# --- dataset specs (`--data`) ----------------------------------------------------------------


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
