"""Decode an uploaded PNG/JPEG into the uint8 tensor a bundle's model takes.

Used by the cloud-only baseline (the edge sends the image itself). The pixel count is read
from the image header and checked against a cap *before* any pixel is decoded, so a small
file that claims a huge canvas (a decompression bomb) costs nothing.
"""

from __future__ import annotations

import io

import torch

from splitinfer.errors import BadInput, PayloadTooLarge, require

MAX_IMAGE_PIXELS = 4096 * 4096
"""Default cap on width x height of an uploaded image."""

FORMATS = ("PNG", "JPEG")
"""The only decoders Pillow may use for uploads."""


def decode_image(
    data: bytes, shape: tuple[int, int, int], max_pixels: int = MAX_IMAGE_PIXELS
) -> torch.Tensor:
    """PNG/JPEG bytes -> uint8 tensor (1, C, H, W) of ``shape`` (C in {1, 3}).

    Converts to grayscale or RGB as C says and resizes (bilinear) to H x W if needed.
    Raises :class:`PayloadTooLarge` over ``max_pixels`` and :class:`BadInput` for
    anything Pillow cannot read.
    """
    require("PIL", "codecs")
    from PIL import Image

    c, h, w = shape
    if c not in (1, 3):
        raise BadInput(f"image input needs 1 or 3 channels, this bundle takes {c}")
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as im:
            width, height = im.size
            if width * height > max_pixels:
                raise PayloadTooLarge(
                    f"image too large: {width}x{height} pixels, cap is {max_pixels}; "
                    f"send it at the model's input size {w}x{h}"
                )
            rgb = im.convert("L" if c == 1 else "RGB")
            if rgb.size != (w, h):
                rgb = rgb.resize((w, h), Image.Resampling.BILINEAR)
            raw = rgb.tobytes()
    except Image.DecompressionBombError as err:  # Pillow's own cap, checked at open
        raise PayloadTooLarge(f"image too large: {err}; cap is {max_pixels} pixels") from None
    except (OSError, ValueError, SyntaxError) as err:
        raise BadInput(f"cannot decode the image ({', '.join(FORMATS)} only): {err}") from None
    pixels = torch.frombuffer(bytearray(raw), dtype=torch.uint8)
    return pixels.view(h, w, c).permute(2, 0, 1).unsqueeze(0).contiguous()
