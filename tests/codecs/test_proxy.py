"""Training proxies: straight-through (real codec forward, identity backward) and noise."""

from __future__ import annotations

import pytest
import torch

from splitinfer import codecs
from splitinfer.errors import CodecError


@pytest.mark.parametrize("spec", ["quant:bits=4|ans", "jpeg:quality=30", "raw:dtype=fp16", "raw"])
def test_ste_forward_is_the_codec_and_backward_identity(spec: str) -> None:
    codec = codecs.create(spec)
    x = torch.randn(1, 4, 6, 6, requires_grad=True)
    y = codec.proxy(x)
    assert torch.equal(y.detach(), codec.roundtrip(x.detach()))
    (y * torch.arange(y.numel()).reshape(y.shape)).sum().backward()
    assert x.grad is not None
    assert torch.equal(x.grad, torch.arange(x.numel(), dtype=torch.float32).reshape(x.shape))


def test_noise_proxy_stays_within_half_a_step() -> None:
    codec = codecs.create("quant:bits=4")
    x = torch.linspace(-1, 1, 1000, requires_grad=True)
    y = codec.proxy(x, mode="noise")
    step = 2 / 15
    gap = float((y - x).detach().abs().max())
    assert 0 < gap <= step / 2 + 1e-6
    y.sum().backward()
    assert x.grad is not None and torch.equal(x.grad, torch.ones_like(x))


def test_noise_proxy_clips_outside_fixed_range() -> None:
    codec = codecs.create("quant:bits=8,clip=0:1")
    x = torch.tensor([-5.0, 0.5, 5.0], requires_grad=True)
    y = codec.proxy(x, mode="noise")
    y.sum().backward()
    assert x.grad is not None and x.grad.tolist() == [0.0, 1.0, 0.0]


def test_bad_proxy_mode() -> None:
    with pytest.raises(CodecError):
        codecs.create("quant").proxy(torch.zeros(2), mode="exact")  # type: ignore[arg-type]
