"""Optional forward arguments are bound to their defaults; true multi-input models are refused."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from torch import nn

from splitinfer.errors import UnsupportedModel
from splitinfer.partition import list_cut_points, split


class ScaledNet(nn.Module):
    """``forward(x, mask=None, scale=2.0)``: one real input, two optional ones."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 2)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, scale: float = 2.0
    ) -> torch.Tensor:
        y = self.conv(x) * scale
        if mask is not None:
            y = y * mask
        return self.fc(y.mean((2, 3)))


class TwoInputs(nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        return x * scale + y


def test_defaults_are_bound_and_every_cut_is_exact() -> None:
    model = ScaledNet().eval()
    x = torch.randn(2, 3, 8, 8)
    cuts = list_cut_points(model, x[:1])
    assert "conv" in [c.name for c in cuts]
    with torch.no_grad():
        for cut in cuts:
            s = split(model, cut.name, x[:1])
            assert torch.equal(s.tail(s.head(x)), model(x))


def test_an_argument_without_default_is_still_an_input() -> None:
    with pytest.raises(UnsupportedModel, match="2 inputs"):
        list_cut_points(TwoInputs(), torch.zeros(1, 3))


@pytest.mark.skipif(importlib.util.find_spec("timm") is None, reason="timm not installed")
@pytest.mark.parametrize("name", ["vit_tiny_patch16_224", "deit_tiny_patch16_224"])
def test_timm_vits_split_exactly(name: str) -> None:
    import timm

    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False).eval()
    x = torch.randn(1, 3, 224, 224)
    names = [c.name for c in list_cut_points(model, x)]
    assert "blocks.5" in names
    with torch.no_grad():
        s = split(model, "blocks.5", x)
        assert torch.equal(s.tail(s.head(x)), model(x))
