"""ImageFolder on disk: torchvision's layout, read with bounded memory per image.

``ROOT/<class name>/<image files>``: classes are the subfolder names in sorted order,
images the files with a known suffix, hidden files and folders skipped. Every image is
capped (file bytes, source pixels) before its pixels are decoded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from splitinfer.errors import BadInput

#: File name endings read as images; anything else in a class folder is ignored.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm",
                  ".pgm")  # fmt: skip
#: Caps that keep a stray file or a huge folder from exhausting memory.
MAX_IMAGE_FILE_BYTES = 64 << 20
MAX_SOURCE_PIXELS = 8192 * 8192
MAX_FOLDER_BYTES = 8 << 30  # of the decoded uint8 tensor
MAX_SIDE = 4096


def class_folders(root: Path) -> list[Path]:
    if not root.is_dir():
        raise BadInput(f"image folder {str(root)!r} does not exist or is not a directory")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise BadInput(
            f"{root} holds no class folders; expected ROOT/<class name>/<image files>, "
            "one subfolder per class (torchvision's ImageFolder layout)"
        )
    return folders


def image_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    )


def open_image(path: Path, mode: str) -> Any:
    """One file -> a decoded PIL image in ``mode`` ("L" or "RGB").

    Bounded before any pixel is decoded (file bytes, source pixels); an unreadable,
    truncated or oversized file raises :class:`BadInput`.
    """
    from PIL import Image

    if path.stat().st_size > MAX_IMAGE_FILE_BYTES:
        raise BadInput(f"{path} is larger than {MAX_IMAGE_FILE_BYTES >> 20} MiB")
    try:
        with Image.open(path) as im:
            if im.size[0] * im.size[1] > MAX_SOURCE_PIXELS:
                raise BadInput(f"{path}: {im.size[0]}x{im.size[1]} pixels exceeds the cap")
            converted = im.convert(mode)
            converted.load()
            return converted
    except BadInput:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise BadInput(f"cannot read image {path}: {err}") from None


def read_image(path: Path, size: tuple[int, int], mode: str) -> np.ndarray:
    """One file -> uint8 array H x W (x 3), resized (bilinear) to ``size`` (H, W)."""
    from PIL import Image

    converted = open_image(path, mode)
    h, w = size
    if converted.size != (w, h):
        converted = converted.resize((w, h), Image.Resampling.BILINEAR)
    return np.asarray(converted, dtype=np.uint8)


def read_image_tensor(path: Path, shape: tuple[int, int, int]) -> torch.Tensor:
    """One file -> uint8 ``(C, H, W)`` of ``shape`` (C: 1 grey or 3 RGB), resized."""
    c, h, w = shape
    pixels = read_image(path, (h, w), "L" if c == 1 else "RGB").reshape(h, w, c)
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1)


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
    folders = class_folders(Path(root))
    files = [image_files(f) for f in folders]
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
            images[i] = read_image(path, size, "L" if channels == 1 else "RGB").reshape(
                h, w, channels
            )
            labels[i] = label
            i += 1
    x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    return x, torch.from_numpy(labels), tuple(f.name for f in folders)
