"""Image codecs over a tiled plane of symbols: PNG, JPEG, WebP and AVIF via Pillow."""

from __future__ import annotations

import io
from typing import Any, ClassVar

import numpy as np
import torch

from splitinfer.codecs.catalog import register
from splitinfer.codecs.guard import third_party
from splitinfer.codecs.params import IntParam, Param
from splitinfer.codecs.planes import check_bits, check_pixels, from_samples, to_samples
from splitinfer.codecs.stage import Coder, Kind, StageInfo
from splitinfer.errors import PayloadTooLarge, require


def _pil() -> Any:
    """PIL.Image, imported on first use."""
    require("PIL", "codecs")
    from PIL import Image

    return Image


class PillowCoder(Coder):
    """Base: encode a 2-D plane of symbols with a Pillow format, decode with header checks."""

    needs_symbols = True
    needs_plane = True
    format: ClassVar[str]
    max_bits: ClassVar[int] = 8
    stretch: ClassVar[bool] = True
    lossless = False

    def save_args(self) -> dict[str, object]:
        return {}

    def check_kind(self, kind: Kind) -> None:
        check_bits(self.format.lower(), kind.bits, self.max_bits)

    def encode(self, x: torch.Tensor, kind: Kind) -> bytes:
        image = _pil()
        samples = to_samples(x, kind.bits or 8, self.stretch)
        # what the decoder would refuse
        check_pixels(samples.shape[1], samples.shape[0], self.limits.max_image_pixels)
        buf = io.BytesIO()
        with third_party(f"{self.format} encode"):
            image.fromarray(samples).save(buf, self.format, **self.save_args())
        return buf.getvalue()

    def decode(self, body: bytes, kind: Kind) -> torch.Tensor:
        image = _pil()
        bits = kind.bits or 8
        with third_party(f"{self.format} decode"):
            try:
                with image.open(io.BytesIO(body), formats=[self.format]) as im:
                    width, height = im.size
                    check_pixels(width, height, self.limits.max_image_pixels)
                    im.load()
                    arr = self._samples(im, bits)
            except image.DecompressionBombError as err:
                raise PayloadTooLarge(f"{self.format} image too large: {err}") from err
        return from_samples(arr, bits, self.stretch)

    def _samples(self, im: Any, bits: int) -> np.ndarray:
        if bits > 8:
            return np.asarray(im.convert("I")).astype(np.int64)
        return np.asarray(im if im.mode == "L" else im.convert("L"))

    def error_bound(self, x: torch.Tensor, kind: Kind) -> float | None:
        return 0.0 if self.lossless else None


class PngCoder(PillowCoder):
    """PNG (ISO/IEC 15948), lossless, 8-bit (``L``) or 16-bit (``I;16``) grey.

    Lossless coding of a quantized, tiled feature plane, as in Choi & Bajic, "Deep Feature
    Compression for Collaborative Object Detection" (ICIP 2018), with PNG in place of
    their lossless HEVC.

        plane of b-bit symbols -> grey PNG, 8 or 16 bits per sample (values unscaled)
    """

    format = "PNG"
    max_bits = 16
    stretch = False
    lossless = True

    def save_args(self) -> dict[str, object]:
        return {"compress_level": self.params.int("level")}


class JpegCoder(PillowCoder):
    """Baseline JPEG (ITU-T T.81), 8-bit grey, optimized Huffman tables.

    Reproduces the JPEG-coded feature plane of Eshratifar et al., "BottleNet: A Deep
    Learning Architecture for Intelligent Mobile Cloud Computing Services" (ISLPED 2019),
    on the quantize-and-tile layout of Choi & Bajic (ICIP 2018).

        plane of <=8-bit symbols -> stretch to 0..255 -> baseline sequential JPEG
    """

    format = "JPEG"

    def save_args(self) -> dict[str, object]:
        return {"quality": self.params.int("quality"), "optimize": True, "progressive": False}


class WebpCoder(PillowCoder):
    """WebP lossy (VP8 key frame; RFC 9649 / RFC 6386), grey replicated to RGB by Pillow.

    A modern intra image codec applied to tiled features, next to the JPEG baseline.

        plane of <=8-bit symbols -> stretch to 0..255 -> WebP (lossy)
    """

    format = "WEBP"

    def save_args(self) -> dict[str, object]:
        return {"quality": self.params.int("quality"), "method": self.params.int("method")}


class AvifCoder(PillowCoder):
    """AVIF (AV1 intra frame in HEIF; AOMedia AVIF specification 1.0, 2019), 8-bit grey.

    The strongest standard intra image codec Pillow offers, applied to tiled features.

        plane of <=8-bit symbols -> stretch to 0..255 -> AVIF (lossy)
    """

    format = "AVIF"

    def save_args(self) -> dict[str, object]:
        return {"quality": self.params.int("quality"), "speed": self.params.int("speed")}


def _quality(default: str) -> Param:
    return IntParam("quality", default, "quality (higher: better, more bytes)", 1, 100)


for _info in (
    StageInfo(
        "png",
        "coder",
        PngCoder,
        (IntParam("level", "9", "zlib level", 0, 9),),
        "PNG, lossless, 8/16-bit",
    ),
    StageInfo("jpeg", "coder", JpegCoder, (_quality("75"),), "baseline JPEG, lossy"),
    StageInfo(
        "webp",
        "coder",
        WebpCoder,
        (_quality("75"), IntParam("method", "4", "effort 0..6", 0, 6)),
        "WebP, lossy",
    ),
    StageInfo(
        "avif",
        "coder",
        AvifCoder,
        (_quality("75"), IntParam("speed", "6", "encoder speed 0..10", 0, 10)),
        "AVIF, lossy",
    ),
):
    register(_info)
