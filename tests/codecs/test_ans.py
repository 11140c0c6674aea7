"""ANS: exact on symbols, model choice, and bits within 2% of the empirical entropy."""

from __future__ import annotations

import pytest
import torch

from splitinfer import codecs
from splitinfer.errors import BadCodecSpec
from splitinfer.experiments.codecbench.entropy import (
    channel_entropy_bits,
    entropy_bits,
    entropy_report,
)
from splitinfer.experiments.codecbench.features import model_features
from tests.conftest import fmnist_installed


@pytest.fixture(scope="module")
def real() -> torch.Tensor:
    if not fmnist_installed():
        pytest.skip("Fashion-MNIST is not installed (make data)")
    return model_features("fmnist_resnet", n_images=1).tensor


@pytest.mark.parametrize("model", ["hist", "channel", "laplace", "auto"])
def test_symbols_exact(model: str) -> None:
    codec = codecs.create(f"quant:bits=8|ans:model={model}")
    x = torch.randn(2, 6, 5, 5).relu()
    q = codecs.create("quant:bits=8|raw").roundtrip(x)
    assert torch.equal(codec.roundtrip(x), q)


@pytest.mark.parametrize(
    "spec", ["quant:bits=8|ans:model=hist", "quant:bits=8,clip=channel|ans:model=channel"]
)
def test_body_within_two_percent_of_entropy(real: torch.Tensor, spec: str) -> None:
    report = entropy_report(real, spec)
    assert report.symbols == real.numel()
    assert abs(report.body_over_entropy - 1.0) < 0.02, report
    assert report.payload_bits == report.header_bits + report.side_bits + report.body_bits


def test_auto_picks_the_shortest(real: torch.Tensor) -> None:
    sizes = {
        m: len(codecs.create(f"quant:bits=8|ans:model={m}").encode(real))
        for m in ("hist", "channel", "laplace")
    }
    assert len(codecs.create("quant:bits=8|ans").encode(real)) == min(sizes.values())


def test_beats_raw_eight_bit(real: torch.Tensor) -> None:
    assert len(codecs.create("quant:bits=8|ans").encode(real)) < real.numel()


def test_entropy_helpers() -> None:
    import numpy as np

    sym = np.array([0, 0, 1, 1])
    assert entropy_bits(sym) == pytest.approx(4.0)
    two_channels = np.array([[[0, 0], [1, 2]]])  # channel 0 constant, channel 1 two symbols
    assert channel_entropy_bits(two_channels.reshape(1, 2, 1, 2)) == pytest.approx(2.0)


def test_report_needs_ans() -> None:
    with pytest.raises(BadCodecSpec):
        entropy_report(torch.zeros(3), "quant|raw")
