"""What cloud-only sends: the input image as the app would encode it (JPEG/PNG).

Callers should pass a measured size for their data. The defaults below were measured on
the profiling host with Pillow (see docs/cost-model.md for the commands):

* 1x28x28 grayscale (Fashion-MNIST): PNG, mean 507.3 bytes over the 10,000 test images,
  median encode 0.055 ms;
* 3x224x224 RGB (ImageNet-style): JPEG quality 75 of ONE natural photo (resize 256 + center
  crop 224): 15,206 bytes, encode 0.147 ms. One image, not a dataset mean;
* anything else: ASSUMED raw 8-bit size / 10 (what the 224x224 JPEG above achieves).

:func:`measured_input_encoding` measures RGB inputs now instead, on sample photos, and
labels the figure with them (`splitinfer plan` uses it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class InputEncoding:
    """The encoded input of one inference: bytes, host encode/decode ms, and where from."""

    bytes: float
    encode_ms: float
    decode_ms: float
    source: str


_MEASURED: dict[tuple[int, ...], InputEncoding] = {
    (1, 28, 28): InputEncoding(
        507.3, 0.055, 0.055, "PNG, mean of the Fashion-MNIST test set (measured, Pillow)"
    ),
    (3, 224, 224): InputEncoding(
        15206.0, 0.147, 0.147, "JPEG q75 of one 224x224 natural photo (measured, Pillow)"
    ),
}

ASSUMED_IMAGE_COMPRESSION = 10.0


def default_input_encoding(input_shape: Sequence[int]) -> InputEncoding:
    """The default cloud-only payload for a model input shape (batch dimension first)."""
    shape = tuple(input_shape)
    batch, per_item = shape[0] if len(shape) == 4 else 1, shape[-3:]
    base = _MEASURED.get(per_item)
    if base is None:
        raw = math.prod(per_item)
        base = InputEncoding(
            raw / ASSUMED_IMAGE_COMPRESSION, 0.0, 0.0,
            f"ASSUMED: raw 8-bit input / {ASSUMED_IMAGE_COMPRESSION:g} (no measured codec size)",
        )  # fmt: skip
    if batch == 1:
        return base
    return InputEncoding(
        base.bytes * batch, base.encode_ms * batch, base.decode_ms * batch,
        f"{base.source}, x{batch} (batch)",
    )  # fmt: skip


#: photos shipped inside matplotlib's wheel (its ``mpl-data/sample_data``): the bundled
#: sample photos cloud-only's RGB input size is measured on when there is no dataset
SAMPLE_PHOTOS = ("grace_hopper.jpg", "Minduka_Present_Blue_Pack.png")


def measured_input_encoding(input_shape: Sequence[int], quality: int = 75) -> InputEncoding:
    """What cloud-only sends, measured now where it can be.

    RGB inputs (3 x H x W): JPEG at ``quality`` of the sample photos (resize the short side
    to 256/224 of H, centre crop H x W, as ImageNet evaluation does), mean bytes and median
    encode / decode ms, labelled with what it was measured on. Other shapes, or without
    Pillow and the photos: :func:`default_input_encoding` (its label says where it is from).
    """
    shape = tuple(input_shape)
    batch, per_item = shape[0] if len(shape) == 4 else 1, shape[-3:]
    photos = _sample_photos() if per_item[0] == 3 else []
    if not photos:
        return default_input_encoding(input_shape)
    import statistics
    from functools import partial

    from PIL import Image

    from splitinfer.timing import time_rounds

    _, h, w = per_item
    sizes, enc, dec = [], [], []
    for photo in photos:
        with Image.open(photo) as im:
            rgb = im.convert("RGB")
        scale = (256 / 224) * max(h, w) / min(rgb.size)
        rgb = rgb.resize((max(w, round(rgb.size[0] * scale)), max(h, round(rgb.size[1] * scale))))
        left, top = (rgb.size[0] - w) // 2, (rgb.size[1] - h) // 2
        crop = rgb.crop((left, top, left + w, top + h))
        data = _jpeg(crop, quality)
        enc.append(time_rounds(partial(_encode, crop, quality), repeats=5).median_ms)
        dec.append(time_rounds(partial(_decode, data), repeats=5).median_ms)
        sizes.append(len(data))
    names = ", ".join(p.name for p in photos)
    return InputEncoding(
        batch * statistics.fmean(sizes), batch * statistics.median(enc),
        batch * statistics.median(dec),
        f"JPEG q{quality}, mean of {len(photos)} sample photos at {h}x{w} ({names}, shipped "
        f"with matplotlib), measured now (Pillow)" + (f", x{batch} (batch)" if batch > 1 else ""),
    )  # fmt: skip


def _encode(image: Any, quality: int, _: int) -> bytes:
    return _jpeg(image, quality)


def _decode(data: bytes, _: int) -> None:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        im.load()


def _jpeg(image: Any, quality: int) -> bytes:
    import io

    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _sample_photos() -> list[Any]:
    """The sample photos that are installed (none without matplotlib or Pillow)."""
    try:
        import matplotlib
        import PIL  # noqa: F401
    except ImportError:
        return []
    from pathlib import Path

    folder = Path(matplotlib.get_data_path()) / "sample_data"
    return [folder / name for name in SAMPLE_PHOTOS if (folder / name).is_file()]
