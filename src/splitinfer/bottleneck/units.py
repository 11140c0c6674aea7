"""The butterfly unit: a reduction unit on the edge and a restoration unit in the cloud.

Eshratifar, Esmaili & Pedram, "Towards Collaborative Intelligence Friendly Architectures
for Deep Learning" (ISQED 2019), and BottleNet (arXiv:1902.01000, 2019)::

    head -> [ReductionUnit: conv C->c, stride s, BN, sigmoid] -> codec -> link
         -> [RestorationUnit: upsample x s, conv c->C, BN, ReLU] -> tail

The reduction output is bounded to (0, 1) by a sigmoid, so a quantizer needs no
calibration: ``quant:bits=b,clip=0:1`` covers it exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from splitinfer.errors import BadInput

_RESTORE_ACTIVATIONS = ("relu", "none")


@dataclass(frozen=True)
class UnitConfig:
    """Shape of a butterfly unit.

    channels: feature channels after reduction (``c``; the paper's "depth").
    stride: spatial reduction factor of the reduction convolution (1 keeps H x W).
    kernel: convolution kernel size of both units (odd).
    restore_activation: ``relu`` when the original feature is non-negative (a cut after
    a ReLU), ``none`` otherwise.
    depth: convolutions per unit, 1 to 4. 1 is the paper's single convolution; each more
    adds a hidden layer of ``hidden`` channels (0: the cut's own channel count) on each
    side, which lets a cheap early cut learn a much smaller code. With depth >= 2 and
    ``stride`` 4 the first two reduction convolutions have stride 2; otherwise the first
    one takes the whole stride.
    """

    channels: int
    stride: int = 1
    kernel: int = 3
    restore_activation: str = "relu"
    depth: int = 1
    hidden: int = 0

    def __post_init__(self) -> None:
        for name in ("channels", "stride", "kernel", "depth", "hidden"):
            value = getattr(self, name)
            low = 0 if name == "hidden" else 1
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise BadInput(f"UnitConfig.{name} must be an integer >= {low}, got {value!r}")
        for name, cap in _CAPS.items():
            if getattr(self, name) > cap:
                raise BadInput(
                    f"UnitConfig.{name} must be <= {cap}, got {getattr(self, name)} (a bundle "
                    "spec declares the unit before its weights are read, so sizes are capped)"
                )
        if self.depth > MAX_DEPTH:
            raise BadInput(f"UnitConfig.depth must be 1 to {MAX_DEPTH}, got {self.depth}")
        if self.kernel % 2 == 0:
            raise BadInput(f"UnitConfig.kernel must be odd, got {self.kernel}")
        if self.restore_activation not in _RESTORE_ACTIVATIONS:
            raise BadInput(
                f"UnitConfig.restore_activation must be one of {_RESTORE_ACTIVATIONS}, "
                f"got {self.restore_activation!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """As a dict; ``depth``/``hidden`` only when not the defaults, so bundles made
        before they existed keep their canonical spec (and fingerprint)."""
        data = asdict(self)
        if self.depth == 1 and self.hidden == 0:
            del data["depth"], data["hidden"]
        return data

    def strides(self) -> list[int]:
        """The stride of each reduction convolution."""
        if self.depth >= 2 and self.stride == 4:
            return [2, 2] + [1] * (self.depth - 2)
        return [self.stride] + [1] * (self.depth - 1)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UnitConfig:
        if not isinstance(data, dict):
            raise BadInput(f"a unit config must be a mapping, got {type(data).__name__}")
        unknown = set(data) - {
            "channels",
            "stride",
            "kernel",
            "restore_activation",
            "depth",
            "hidden",
        }
        if unknown:
            raise BadInput(f"unknown unit config keys: {sorted(unknown)}")
        return cls(**data)


#: Most convolutions per unit (each side).
MAX_DEPTH = 4

# Upper bounds, far above any useful unit (a reduction unit *reduces*), that keep a bundle
# spec from making ``Bundle.load`` allocate gigabytes before it reads the weights.
_CAPS = {"channels": 4096, "hidden": 4096, "stride": 32, "kernel": 15}


def _feature_shape(shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(shape) != 4:
        raise BadInput(
            f"butterfly units work on N x C x H x W features; this cut carries {shape}. "
            "Choose a convolutional cut point (see `splitinfer profile`)."
        )
    return shape[1], shape[2], shape[3]


def _conv_bn(cin: int, cout: int, k: int, stride: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False),
        nn.BatchNorm2d(cout),
    ]


class ReductionUnit(nn.Module):
    """C x H x W -> c x ceil(H/s) x ceil(W/s), values in (0, 1)."""

    def __init__(self, in_channels: int, config: UnitConfig) -> None:
        super().__init__()
        k, strides = config.kernel, config.strides()
        layers: list[nn.Module] = []
        cin = in_channels
        hidden = config.hidden or in_channels
        for stride in strides[:-1]:  # depth - 1 hidden layers
            layers += [*_conv_bn(cin, hidden, k, stride), nn.ReLU(inplace=True)]
            cin = hidden
        layers += _conv_bn(cin, config.channels, k, strides[-1])
        if config.depth == 1:
            self.conv, self.norm = layers  # the paper's unit; names kept for old bundles
        else:
            self.body = nn.Sequential(*layers)
        self.act = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self, "body"):
            return self.act(self.body(x))
        return self.act(self.norm(self.conv(x)))


class RestorationUnit(nn.Module):
    """c x h x w -> C x H x W: nearest upsampling to the original size, then a convolution.

    With depth d, d - 1 convolutions to ``hidden`` channels run first, at the small size.
    """

    def __init__(self, out_channels: int, out_size: tuple[int, int], config: UnitConfig) -> None:
        super().__init__()
        k = config.kernel
        cin = config.channels
        self.pre: nn.Module = nn.Identity()
        if config.depth >= 2:
            hidden = config.hidden or out_channels
            pre: list[nn.Module] = []
            for _ in range(config.depth - 1):
                pre += [*_conv_bn(cin, hidden, k), nn.ReLU(inplace=True)]
                cin = hidden
            self.pre = nn.Sequential(*pre)
        self.upsample: nn.Module = (
            nn.Upsample(size=out_size, mode="nearest") if config.stride > 1 else nn.Identity()
        )
        self.conv = nn.Conv2d(cin, out_channels, k, padding=k // 2, bias=False)
        self.norm = nn.BatchNorm2d(out_channels)
        self.act: nn.Module = nn.ReLU() if config.restore_activation == "relu" else nn.Identity()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(self.upsample(self.pre(z)))))


def make_units(
    feature_shape: tuple[int, ...], config: UnitConfig
) -> tuple[ReductionUnit, RestorationUnit]:
    """The two units for a cut whose feature has ``feature_shape`` (N, C, H, W)."""
    c, h, w = _feature_shape(tuple(feature_shape))
    if config.stride > min(h, w):
        raise BadInput(f"stride {config.stride} is larger than the feature map {h}x{w}")
    return ReductionUnit(c, config), RestorationUnit(c, (h, w), config)
