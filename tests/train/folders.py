"""A generated ImageFolder for the end-to-end tests: stripes, mixed sizes, one corrupt file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("cat", "dog", "owl")
SIZES = ((40, 56), (64, 64), (96, 72), (80, 120))


def make_image_folder(
    root: Path, per_class: int = 8, test_per_class: int = 4, corrupt: bool = True
) -> Path:
    """``root/train/<class>/*`` and ``root/test/<class>/*``.

    Class k: stripes at angle k, tinted towards colour channel k (a cue that survives
    random crops and flips, so a few steps learn it).
    """
    rng = np.random.default_rng(0)
    for split, count in (("train", per_class), ("test", test_per_class)):
        for k, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                h, w = SIZES[(i + k) % len(SIZES)]
                yy, xx = np.mgrid[0:h, 0:w]
                angle = k * np.pi / len(CLASSES)
                wave = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 0.5 + rng.uniform(0, 6))
                grey = (127 + 100 * wave + rng.normal(0, 10, (h, w))).clip(0, 255)
                tint = np.full(3, 0.35)
                tint[k % 3] = 1.0
                rgb = grey[:, :, None] * tint[None, None, :]
                suffix = ".png" if i % 2 else ".jpg"
                Image.fromarray(rgb.astype(np.uint8)).save(folder / f"{i:03d}{suffix}")
    if corrupt:
        (root / "train" / CLASSES[0] / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    return root
