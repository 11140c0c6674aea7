"""Fashion-MNIST from its IDX files.

Fashion-MNIST is read from the IDX files (``*-ubyte.gz``) in, in order: an explicit
``root``, ``$SPLITINFER_FMNIST_DIR``, or Debian's ``dataset-fashion-mnist`` package
(``/usr/share/datasets/fashion-mnist``). ``download=True`` fetches them with torchvision
where the internet is reachable.
"""

from __future__ import annotations

import gzip
import os
import struct
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
