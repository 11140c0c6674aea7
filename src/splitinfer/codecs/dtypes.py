"""Input checks and the 2-bit dtype code every payload starts with."""

from __future__ import annotations

import torch

from splitinfer.codecs.limits import DEFAULT, Limits
from splitinfer.errors import CodecError, PayloadTooLarge

DTYPES: tuple[torch.dtype, ...] = (torch.float32, torch.float16, torch.bfloat16)
#: Unit roundoff of each dtype (half an ulp at 1.0).
UNIT_ROUNDOFF = {torch.float32: 2.0**-24, torch.float16: 2.0**-11, torch.bfloat16: 2.0**-8}


def dtype_code(dtype: torch.dtype) -> int:
    if dtype not in DTYPES:
        raise CodecError(f"codecs take float32, float16 or bfloat16 tensors, got {dtype}")
    return DTYPES.index(dtype)


def dtype_from_code(code: int) -> torch.dtype:
    if code >= len(DTYPES):
        raise CodecError(f"corrupt payload: unknown dtype code {code}")
    return DTYPES[code]


def check_input(x: object, limits: Limits = DEFAULT) -> torch.Tensor:
    """Validate an encoder input: a finite float tensor within ``limits``."""
    if not isinstance(x, torch.Tensor):
        raise CodecError(f"encode takes a torch.Tensor, got {type(x).__name__}")
    dtype_code(x.dtype)
    if x.dim() > limits.max_rank:
        raise CodecError(f"tensor rank {x.dim()} exceeds the cap {limits.max_rank}")
    if x.numel() == 0:
        raise CodecError(f"cannot encode an empty tensor of shape {tuple(x.shape)}")
    if x.numel() > limits.max_elements:
        raise PayloadTooLarge(f"{x.numel()} elements exceed the cap {limits.max_elements}")
    if x.is_complex() or not bool(torch.isfinite(x).all()):
        raise CodecError("cannot encode a tensor holding NaN or Inf; clean it first")
    return x.detach().to("cpu", torch.float32).contiguous()
