"""What cloud-only sends: the input image as the app would encode it (JPEG/PNG).

Callers should pass a measured size for their data. The defaults below were measured on
the profiling host with Pillow (see docs/cost-model.md for the commands):

* 1x28x28 grayscale (Fashion-MNIST): PNG, mean 507.3 bytes over the 10,000 test images,
  median encode 0.055 ms;
* 3x224x224 RGB (ImageNet-style): JPEG quality 75 of ONE natural photo (resize 256 + center
  crop 224): 15,206 bytes, encode 0.147 ms. One image, not a dataset mean;
* anything else: ASSUMED raw 8-bit size / 10 (what the 224x224 JPEG above achieves).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


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
