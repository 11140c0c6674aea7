"""``raw``: the tensor's bytes as they are, for floats or bit-packed symbols."""

from __future__ import annotations

import numpy as np
import torch

from splitinfer.codecs.bitpack import pack_bits, unpack_bits
from splitinfer.codecs.bytesio import Reader, shape_bytes
from splitinfer.codecs.catalog import register
from splitinfer.codecs.dtypes import UNIT_ROUNDOFF
from splitinfer.codecs.params import ChoiceParam, Params
from splitinfer.codecs.stage import Coder, Kind, StageInfo
from splitinfer.errors import CodecError

_STORE = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
_FP16_MAX = 65504.0
_TINY = {"fp32": 0.0, "fp16": 2.0**-24, "bf16": 2.0**-133}


class RawCoder(Coder):
    """Uncompressed storage: floats as fp32/fp16/bf16, ``b``-bit symbols bit-packed.

    The baseline of every split-computing paper: send the tensor as is (e.g. Kang et al.,
    "Neurosurgeon", ASPLOS 2017, which ships fp32 activations).

        tensor -> [rank, dims as varints] + (floats in ``dtype`` | symbols packed b bits each)

    Symbols ignore ``dtype``. ``fp32`` is exact for fp32/fp16/bf16 inputs; fp16 and bf16
    round to nearest (fp16 refuses values beyond +-65504).
    """

    def __init__(self, params: Params) -> None:
        super().__init__(params)
        self.dtype = params.text("dtype")
        self.lossless = self.dtype == "fp32"

    def check_kind(self, kind: Kind) -> None:
        return None

    def encode(self, x: torch.Tensor, kind: Kind) -> bytes:
        head = shape_bytes(tuple(x.shape))
        if kind.bits is not None:
            return head + pack_bits(x.reshape(-1).numpy().astype(np.uint32), kind.bits)
        if self.dtype == "fp16" and float(x.abs().max()) > _FP16_MAX:
            raise CodecError("values beyond +-65504 do not fit raw:dtype=fp16; use fp32 or bf16")
        stored = x.to(_STORE[self.dtype]).contiguous()
        if self.dtype == "bf16":
            return head + stored.view(torch.int16).numpy().tobytes()
        return head + stored.numpy().tobytes()

    def decode(self, body: bytes, kind: Kind) -> torch.Tensor:
        reader = Reader(body, limits=self.limits)
        shape = reader.shape()
        numel = int(np.prod(shape, dtype=np.int64))
        data = reader.rest()
        if kind.bits is not None:
            values = unpack_bits(data, numel, kind.bits)
            return torch.from_numpy(values.astype(np.int32)).reshape(shape)
        itemsize = 4 if self.dtype == "fp32" else 2
        if len(data) != numel * itemsize:
            raise CodecError(f"corrupt payload: {len(data)} data bytes for shape {shape}")
        if self.dtype == "fp32":
            arr = np.frombuffer(data, dtype="<f4").copy()
            out = torch.from_numpy(arr)
        elif self.dtype == "fp16":
            out = torch.from_numpy(np.frombuffer(data, dtype="<f2").copy()).float()
        else:
            ints = torch.from_numpy(np.frombuffer(data, dtype="<i2").copy())
            out = ints.view(torch.bfloat16).float()
        if not bool(torch.isfinite(out).all()):
            raise CodecError("corrupt payload: decoded NaN or Inf")
        return out.reshape(shape)

    def error_bound(self, x: torch.Tensor, kind: Kind) -> float | None:
        if kind.bits is not None or self.dtype == "fp32":
            return 0.0
        store = _STORE[self.dtype]
        return float(x.abs().max()) * UNIT_ROUNDOFF[store] + _TINY[self.dtype]


register(
    StageInfo(
        "raw",
        "coder",
        RawCoder,
        (ChoiceParam("dtype", "fp32", "storage type of floats", ("fp32", "fp16", "bf16")),),
        "uncompressed tensor (floats, or bit-packed symbols)",
    )
)
