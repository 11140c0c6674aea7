"""Small models whose valid cut points are known by hand."""

from __future__ import annotations

import torch
from torch import nn


class Chain(nn.Module):
    """conv -> relu -> conv -> flatten -> fc: every boundary is a cut."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.act = nn.ReLU()
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv2(self.act(self.conv1(x)))
        return self.fc(torch.flatten(x, 1))


class Residual(nn.Module):
    """stem -> [conv -> relu -> conv] + skip -> relu -> fc: no cut inside the block."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.conv1 = nn.Conv2d(4, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(4 * 8 * 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        y = self.conv2(self.relu(self.conv1(x)))
        x = self.relu(x + y)  # the shared relu is called twice
        return self.fc(x.flatten(1))


class TwoBranch(nn.Module):
    """Inception-like: two branches concatenated, so no cut between the split and cat."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(1, 2, 1)
        self.b = nn.Conv2d(1, 2, 3, padding=1)
        self.b2 = nn.ReLU()
        self.fc = nn.Linear(4 * 8 * 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.cat([self.a(x), self.b2(self.b(x))], 1).flatten(1))


class UsesBatchSize(nn.Module):
    """The batch size read at the start is needed at the end (like ViT's class token)."""

    def __init__(self) -> None:
        super().__init__()
        self.token = nn.Parameter(torch.randn(1, 4))
        self.proj = nn.Linear(64, 4)
        self.act = nn.ReLU()
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        h = self.act(self.proj(x.flatten(1)))
        return self.fc(h + self.token.expand(n, -1))


class ConstantInTail(nn.Module):
    """A parameter read with get_attr after the cut: the tail must carry it."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(64, 4)
        self.act = nn.ReLU()
        self.scale = nn.Parameter(torch.full((4,), 2.0))
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.proj(x.flatten(1)))
        return self.fc(h * (self.scale + 1))


class DataDependent(nn.Module):
    """Python control flow on tensor values: torch.fx cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(64, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            x = x * 2
        return self.fc(x.flatten(1))


class TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(64, 3)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.fc((x + y).flatten(1))
