"""``jpegxl``: JPEG XL over a tiled plane, via imagecodecs (libjxl)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from splitinfer.codecs.catalog import register
from splitinfer.codecs.guard import third_party
from splitinfer.codecs.jxl_header import jxl_size
from splitinfer.codecs.params import FloatParam, IntParam, Params
from splitinfer.codecs.planes import check_bits, check_pixels, from_samples, to_samples
from splitinfer.codecs.stage import Coder, Kind, StageInfo
from splitinfer.errors import require


def _imagecodecs() -> Any:
    require("imagecodecs", "codecs")
    import imagecodecs

    return imagecodecs


class JpegXlCoder(Coder):
    """JPEG XL (ISO/IEC 18181), 8- or 16-bit grey; ``distance=0`` is lossless.

    Alakuijala et al., "JPEG XL next-generation image compression architecture and coding
    tools" (SPIE 2019), applied to tiled feature planes.

        plane of <=16-bit symbols -> stretch to 8/16-bit -> JPEG XL codestream (FF 0A)
    """

    needs_symbols = True
    needs_plane = True

    def __init__(self, params: Params) -> None:
        super().__init__(params)
        self.distance = params.float("distance")
        self.effort = params.int("effort")
        self.lossless = self.distance == 0.0

    def check_kind(self, kind: Kind) -> None:
        check_bits("jpegxl", kind.bits, 16)

    def encode(self, x: torch.Tensor, kind: Kind) -> bytes:
        codecs = _imagecodecs()
        samples = to_samples(x, kind.bits or 8, stretch=True)
        # what the decoder would refuse
        check_pixels(samples.shape[1], samples.shape[0], self.limits.max_image_pixels)
        with third_party("JPEG XL encode"):
            if self.lossless:
                data = codecs.jpegxl_encode(samples, lossless=True, effort=self.effort)
            else:
                data = codecs.jpegxl_encode(samples, distance=self.distance, effort=self.effort)
        return bytes(data)

    def decode(self, body: bytes, kind: Kind) -> torch.Tensor:
        codecs = _imagecodecs()
        check_pixels(*jxl_size(body), self.limits.max_image_pixels)
        with third_party("JPEG XL decode"):
            arr = np.asarray(codecs.jpegxl_decode(body, index=0))
        return from_samples(arr, kind.bits or 8, stretch=True)

    def error_bound(self, x: torch.Tensor, kind: Kind) -> float | None:
        return 0.0 if self.lossless else None


register(
    StageInfo(
        "jpegxl",
        "coder",
        JpegXlCoder,
        (
            FloatParam("distance", "1.0", "Butteraugli distance; 0 = lossless", 0.0, 25.0),
            IntParam("effort", "7", "encoder effort 1..9", 1, 9),
        ),
        "JPEG XL, lossy or lossless, 8/16-bit",
    )
)
