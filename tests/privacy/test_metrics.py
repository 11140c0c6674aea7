"""The leakage metrics on pairs whose answer is known."""

from __future__ import annotations

import math

import torch

from splitinfer.data import synthetic
from splitinfer.privacy.metrics import (
    mean_psnr,
    psnr_per_image,
    reidentification_rate,
    ssim_per_image,
)


def _images(n: int = 6) -> torch.Tensor:
    return synthetic(n, seed=3)[0].float() / 255.0


def test_identical_images_give_infinite_psnr_and_ssim_one() -> None:
    x = _images()
    psnr = psnr_per_image(x, x)
    assert psnr.shape == (6,) and all(math.isinf(v) and v > 0 for v in psnr.tolist())
    assert math.isinf(mean_psnr(psnr))
    assert torch.allclose(ssim_per_image(x, x), torch.ones(6), atol=1e-5)


def test_psnr_of_a_known_error() -> None:
    x = torch.full((2, 1, 16, 16), 0.5)
    y = x + 0.1  # MSE 0.01 on a [0, 1] range: 10 log10(1 / 0.01) = 20 dB
    assert torch.allclose(psnr_per_image(y, x), torch.tensor([20.0, 20.0]), atol=1e-3)


def test_noise_lowers_ssim_and_psnr_monotonically() -> None:
    x = _images()
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(x.shape, generator=g)
    a, b = (x + 0.05 * noise).clamp(0, 1), (x + 0.3 * noise).clamp(0, 1)
    assert float(psnr_per_image(a, x).mean()) > float(psnr_per_image(b, x).mean())
    assert float(ssim_per_image(a, x).mean()) > float(ssim_per_image(b, x).mean())
    assert float(ssim_per_image(b, x).mean()) < 1.0


def test_reidentification_on_known_pairs() -> None:
    x = _images(20)
    assert reidentification_rate(x, x) == 1.0
    assert reidentification_rate(x + 0.01, x) == 1.0
    shifted = torch.roll(x, 1, dims=0)  # each reconstruction is another image exactly
    assert reidentification_rate(shifted, x) == 0.0
    half = torch.cat([x[:10], shifted[10:]])
    assert reidentification_rate(half, x, chunk=7) == 0.5
