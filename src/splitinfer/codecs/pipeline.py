"""A pipeline of stages is the one :class:`Codec` implementation.

Payload layout (nothing else is needed to decode it but the spec)::

    [dtype code: 1 byte] [side info of each transform, in order] [coder body, compressed]

The coder body runs to the end of the payload, so no length prefix is spent on it.
"""

from __future__ import annotations

from typing import Literal

import torch

from splitinfer.codecs.bytesio import Reader
from splitinfer.codecs.canonical import build_stage, canonical
from splitinfer.codecs.dtypes import UNIT_ROUNDOFF, check_input, dtype_code, dtype_from_code
from splitinfer.codecs.limits import DEFAULT, Limits
from splitinfer.codecs.proxy import straight_through
from splitinfer.codecs.spec import Spec, SpecLike
from splitinfer.codecs.stage import Coder, Compressor, Inverse, Kind, Transform
from splitinfer.errors import CodecError, PayloadTooLarge

Tolerance = Literal["lossless", "bounded", "unbounded"]


class Pipeline:
    """``transform* coder compressor*`` built from a canonical spec; see :func:`create`.

    Every stage enforces ``limits`` (see :mod:`splitinfer.codecs.limits`) when it decodes.
    """

    def __init__(self, spec: SpecLike, limits: Limits = DEFAULT) -> None:
        self.spec: Spec = canonical(spec)
        self.limits = limits
        stages = [build_stage(s, limits) for s in self.spec.stages]
        self.transforms = [s for s in stages if isinstance(s, Transform)]
        self.coder = next(s for s in stages if isinstance(s, Coder))
        self.compressors = [s for s in stages if isinstance(s, Compressor)]
        self.kinds = self._kinds()
        self.lossless = all(s.lossless for s in stages)

    def _kinds(self) -> list[Kind]:
        kinds = [Kind()]
        for t in self.transforms:
            kinds.append(t.out_kind(kinds[-1]))
        return kinds

    def __repr__(self) -> str:
        return f"Codec({str(self.spec)!r})"

    @property
    def tolerance(self) -> Tolerance:
        """``lossless``; ``bounded`` (see :meth:`error_bound`); or ``unbounded`` (lossy)."""
        if self.lossless:
            return "lossless"
        bounded = self.coder.error_bound(torch.zeros(1), self.kinds[-1]) is not None
        return "bounded" if bounded else "unbounded"

    def error_bound(self, x: torch.Tensor) -> float | None:
        """Largest abs error ``decode(encode(x))`` may have on ``x``; None if no bound."""
        xf = check_input(x, self.limits)
        coder_bound = self.coder.error_bound(xf, self.kinds[-1])
        if coder_bound is None:
            return None
        bound = coder_bound + sum(t.error_bound(xf) for t in self.transforms)
        if x.dtype != torch.float32 and not self.lossless:
            bound += float(xf.abs().max()) * 2 * UNIT_ROUNDOFF[x.dtype]
        return bound

    # --- encode / decode ------------------------------------------------------------------

    def encode(self, x: torch.Tensor) -> bytes:
        """Encode a finite float tensor (fp32/fp16/bf16, any shape) into a payload."""
        t = check_input(x, self.limits)
        out = bytearray([dtype_code(x.dtype)])
        for transform, kind in zip(self.transforms, self.kinds, strict=False):
            t, side = transform.forward(t, kind)
            out += side
        body = self.coder.encode(t, self.kinds[-1])
        for comp in self.compressors:
            body = comp.compress(body)
        return bytes(out + body)

    def decode(self, payload: bytes) -> torch.Tensor:
        """Decode a payload made by :meth:`encode` with the same spec."""
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            raise CodecError(f"decode takes bytes, got {type(payload).__name__}")
        if len(payload) > self.limits.max_payload_bytes:
            raise PayloadTooLarge(f"payload of {len(payload)} bytes exceeds the cap")
        reader = Reader(bytes(payload), limits=self.limits)
        dtype = dtype_from_code(reader.u8())
        inverses: list[Inverse] = [
            t.read_side(reader, kind) for t, kind in zip(self.transforms, self.kinds, strict=False)
        ]
        body = reader.rest()
        for comp in reversed(self.compressors):
            body = comp.decompress(body, self.limits.max_decoded_bytes)
        t = self.coder.decode(body, self.kinds[-1])
        for inverse in reversed(inverses):
            t = inverse(t)
        return t.to(dtype)

    def roundtrip(self, x: torch.Tensor) -> torch.Tensor:
        """``decode(encode(x))``."""
        return self.decode(self.encode(x))

    def proxy(self, x: torch.Tensor, mode: Literal["ste", "noise"] = "ste") -> torch.Tensor:
        """Differentiable stand-in for training.

        ``ste`` (default): forward runs the real encode/decode, backward is the identity.
        ``noise``: each transform with a noise model (``quant``: additive uniform noise
        of one quantization step) replaces its rounding; other stages are skipped, so this
        models the quantizer only.
        """
        if mode == "ste" or not self.transforms:
            return straight_through(x, self.roundtrip)
        if mode != "noise":
            raise CodecError(f"proxy mode must be 'ste' or 'noise', got {mode!r}")
        y = x
        for t in self.transforms:
            noisy = t.noise_proxy(y)
            y = y if noisy is None else noisy
        return y
