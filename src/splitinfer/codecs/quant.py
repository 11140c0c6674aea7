"""``quant``: uniform n-bit quantization of a float tensor into integer symbols."""

from __future__ import annotations

import torch

from splitinfer.codecs.bytesio import Reader, pack_floats, varint
from splitinfer.codecs.catalog import register
from splitinfer.codecs.clip import (
    ClipParam,
    Ranges,
    channel_view,
    check_spec_range,
    data_range,
    fixed_range,
    round_outward,
)
from splitinfer.codecs.params import IntParam, Params
from splitinfer.codecs.stage import Inverse, Kind, StageInfo, Transform
from splitinfer.errors import BadCodecSpec, CodecError

_FP16 = 1  # flag bit: ranges stored as fp16 (else fp32)
_CONSTANT = 2  # flag bit: lo == hi everywhere, only lo is stored


class UniformQuantizer(Transform):
    """Uniform ``bits``-bit quantizer with calibrated clipping.

    Reproduces the 8-bit uniform feature quantizer of Ulhaq & Bajic, "Shared Mobile-Cloud
    Inference for Collaborative Intelligence" (arXiv:2002.00157, 2020), with their
    min/max clipping plus fixed, percentile and per-channel ranges.

        x -> clamp(x, lo, hi) -> round((x - lo) / step), step = (hi - lo) / (2**bits - 1)

    Side info: nothing for a fixed ``clip=lo:hi`` (it is in the spec); otherwise one
    flag byte (fp16 or fp32; constant), the channel count (``clip=channel``), then the
    lo values and, unless every range is empty (constant input), the hi values.
    A constant channel has ``step == 0``: every symbol is 0 and decodes to ``lo`` exactly.
    """

    lossless = False

    def __init__(self, params: Params) -> None:
        super().__init__(params)
        self.bits = params.int("bits")
        self.clip = params.text("clip")
        self.levels = (1 << self.bits) - 1
        self.fixed = fixed_range(self.clip)
        check_spec_range(self.clip)

    def out_kind(self, kind: Kind) -> Kind:
        if kind.bits is not None:
            raise BadCodecSpec("quant takes floats; it cannot follow another quant")
        return Kind(self.bits, kind.plane)

    def _view(self, x: torch.Tensor) -> torch.Tensor:
        return channel_view(x) if self.clip == "channel" else x.reshape(1, 1, -1)

    def _ranges(self, x: torch.Tensor) -> tuple[Ranges, bool]:
        raw = data_range(x, self.clip)
        return (raw, False) if self.fixed is not None else round_outward(raw)

    def _steps(self, r: Ranges) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        lo = r.lo.double().view(1, -1, 1)
        hi = r.hi.double().view(1, -1, 1)
        return lo, hi, (hi - lo) / self.levels

    def forward(self, x: torch.Tensor, kind: Kind) -> tuple[torch.Tensor, bytes]:
        r, fp16 = self._ranges(x)
        lo, hi, step = self._steps(r)
        v = self._view(x).double()
        q = torch.round((torch.minimum(torch.maximum(v, lo), hi) - lo) / step.clamp_min(1e-300))
        q = torch.where(step > 0, q, torch.zeros_like(q)).clamp(0, self.levels)
        return q.to(torch.int32).reshape(x.shape), self._side(r, fp16)

    def _side(self, r: Ranges, fp16: bool) -> bytes:
        if self.fixed is not None:
            return b""
        count = varint(r.lo.numel()) if self.clip == "channel" else b""
        constant = bool(torch.equal(r.lo, r.hi))
        values = [float(v) for v in r.lo] + ([] if constant else [float(v) for v in r.hi])
        return bytes([int(fp16) | _CONSTANT * constant]) + count + pack_floats(values, fp16)

    def read_side(self, reader: Reader, kind: Kind) -> Inverse:
        if self.fixed is not None:
            r = Ranges(torch.tensor([self.fixed[0]]), torch.tensor([self.fixed[1]]))
            return lambda q: self._dequantize(q, r)
        flag = reader.u8()
        if flag > (_FP16 | _CONSTANT):
            raise CodecError(f"corrupt payload: bad quant flags {flag}")
        count = reader.varint(self.limits.max_elements) if self.clip == "channel" else 1
        if count == 0:
            raise CodecError("corrupt payload: zero channels")
        stored = count if flag & _CONSTANT else 2 * count
        values = torch.tensor(reader.floats(stored, fp16=bool(flag & _FP16)), dtype=torch.float32)
        lo, hi = values[:count], values[stored - count :]
        if not bool(torch.isfinite(values).all()) or bool((lo > hi).any()):
            raise CodecError("corrupt payload: quant range is not finite or lo > hi")
        r = Ranges(lo, hi)
        return lambda q: self._dequantize(q, r)

    def _dequantize(self, q: torch.Tensor, r: Ranges) -> torch.Tensor:
        if q.is_floating_point():
            raise CodecError("corrupt payload: quant expected integer symbols")
        v = self._view(q)
        if v.shape[1] != r.lo.numel():
            raise CodecError(
                f"corrupt payload: {r.lo.numel()} quant ranges for {v.shape[1]} channels"
            )
        lo, _, step = self._steps(r)
        out = lo + v.double().clamp(0, self.levels) * step
        return out.float().reshape(q.shape)

    def error_bound(self, x: torch.Tensor) -> float:
        r, _ = self._ranges(x)
        lo, hi, step = self._steps(r)
        v = self._view(x).double()
        outside = torch.maximum((lo - v).clamp_min(0), (v - hi).clamp_min(0))
        bound = float((outside + step / 2).max())
        scale = max(float(v.abs().max()), float(lo.abs().max()), float(hi.abs().max()))
        return bound + 4 * scale * 2.0**-24

    def noise_proxy(self, x: torch.Tensor) -> torch.Tensor:
        """Clamp to the range, then add U(-step/2, step/2) noise (Ballé et al., ICLR 2017)."""
        with torch.no_grad():
            r, _ = self._ranges(x.detach().float())
            lo, hi, step = self._steps(r)
        v = self._view(x)
        lo_x, hi_x = lo.to(x.dtype), hi.to(x.dtype)
        inside = (v >= lo_x) & (v <= hi_x)  # gradient 1 inside the range (ends included), else 0
        clamped = torch.where(inside, v, torch.clamp(v.detach(), lo_x, hi_x))
        noise = (torch.rand_like(clamped) - 0.5) * step.to(x.dtype)
        return (clamped + noise).reshape(x.shape)


register(
    StageInfo(
        "quant",
        "transform",
        UniformQuantizer,
        (
            IntParam("bits", "8", "bits per symbol", 1, 16),
            ClipParam("clip", "minmax", "minmax | channel | pX (percentile) | lo:hi (fixed)"),
        ),
        "uniform n-bit quantizer with calibrated clipping",
    )
)
