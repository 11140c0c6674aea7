"""Model zoo: every torchvision classification model by name, plus small 28x28 backbones.

    >>> from splitinfer import zoo
    >>> model = zoo.create("resnet50")                      # random init
    >>> model = zoo.create("resnet50", weights="DEFAULT")   # torchvision weights (download)
    >>> model = zoo.create("fmnist_resnet")                 # 28x28x1, 10 classes
    >>> model = zoo.create("fmnist_resnet", weights="ckpt.safetensors")

The small backbones are for Fashion-MNIST-sized inputs (1x28x28) and train on two CPU
cores in minutes. Both are plain, fx-traceable ``nn.Module`` trees whose module names
make good cut-point names (``stem``, ``stage1``, ``stage2``...).
"""

from __future__ import annotations

import urllib.error
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn

from splitinfer.errors import (
    BadInput,
    UnknownModel,
    WeightsMismatch,
    WeightsUnavailable,
    require,
)
from splitinfer.registry import Registry


@dataclass(frozen=True)
class ZooEntry:
    """A splitinfer-native model builder and what its inputs look like."""

    build: Callable[[int, int], nn.Module]  # (num_classes, in_channels) -> model
    input_size: tuple[int, int, int]  # C, H, W
    num_classes: int
    description: str


ZOO: Registry[ZooEntry] = Registry("model", missing=UnknownModel)


# --- small backbones for 28x28 inputs ----------------------------------------------------


def _conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class FMnistCNN(nn.Module):
    """A VGG-style network for 28x28 images: two conv stages, then a classifier.

    stem (32@28x28) -> stage1 (32@14x14) -> stage2 (64@7x7) -> pool -> fc. ~0.1 M params.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        self.stem = _conv_bn_relu(in_channels, 32)
        self.stage1 = nn.Sequential(_conv_bn_relu(32, 32), nn.MaxPool2d(2))
        self.stage2 = nn.Sequential(_conv_bn_relu(32, 64), _conv_bn_relu(64, 64), nn.MaxPool2d(2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage2(self.stage1(self.stem(x)))
        return self.fc(self.flatten(self.pool(x)))


class BasicBlock(nn.Module):
    """ResNet basic block (two 3x3 convs and a skip, projected when the shape changes)."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class FMnistResNet(nn.Module):
    """A ResNet-8 for 28x28 images.

    stem (32@28x28) -> stage1 (32@28x28) -> stage2 (64@14x14) -> stage3 (128@7x7)
    -> pool -> fc. ~0.3 M params; residual blocks, so cut points fall between stages.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        self.stem = _conv_bn_relu(in_channels, 32)
        self.stage1 = BasicBlock(32, 32)
        self.stage2 = BasicBlock(32, 64, stride=2)
        self.stage3 = BasicBlock(64, 128, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.fc = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage3(self.stage2(self.stage1(self.stem(x))))
        return self.fc(self.flatten(self.pool(x)))


class FMnistResNet10(nn.Module):
    """A ResNet-10 for 28x28 images, shaped for splitting: cheap early, wide late.

    stem (32@28x28) -> stage1 (32@14x14, stride 2) -> stage2 (64@14x14)
    -> stage3 (128@7x7) -> stage4 (128@7x7) -> pool -> fc. ~0.6 M params.

    Downsampling in stage1 makes the cut after it cost ~10% of the FLOPs while three
    convolutions deep, so a device can run it and a butterfly unit can squeeze it; the
    FLOPs sit in the wide 14x14 and 7x7 stages the cloud runs.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        self.stem = _conv_bn_relu(in_channels, 32)
        self.stage1 = BasicBlock(32, 32, stride=2)
        self.stage2 = BasicBlock(32, 64)
        self.stage3 = BasicBlock(64, 128, stride=2)
        self.stage4 = BasicBlock(128, 128)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.fc = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage4(self.stage3(self.stage2(self.stage1(self.stem(x)))))
        return self.fc(self.flatten(self.pool(x)))


ZOO.add(
    "fmnist_cnn",
    ZooEntry(FMnistCNN, (1, 28, 28), 10, "VGG-style CNN for 28x28 inputs (~0.1 M params)"),
)
ZOO.add(
    "fmnist_resnet",
    ZooEntry(FMnistResNet, (1, 28, 28), 10, "ResNet-8 for 28x28 inputs (~0.3 M params)"),
)

ZOO.add(
    "fmnist_resnet10",
    ZooEntry(
        FMnistResNet10, (1, 28, 28), 10, "ResNet-10 for 28x28, cheap early cut (~0.6 M params)"
    ),
)

DEFAULT_MODEL = "fmnist_resnet10"
#: ``timm:NAME`` names a timm model (optional extra ``timm``).
TIMM_PREFIX = "timm:"
#: ``torchvision:ENUM_NAME`` names torchvision weights (downloaded once, where online).
TORCHVISION_PREFIX = "torchvision:"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# --- names and input sizes ---------------------------------------------------------------


def torchvision_models() -> list[str]:
    """torchvision's classification models (not detection/segmentation/video)."""
    return sorted(torchvision.models.list_models(module=torchvision.models))


def list_models() -> list[str]:
    """Every name :func:`create` accepts: splitinfer's own first, then torchvision's."""
    return [*ZOO.names(), *torchvision_models()]


def default_input_size(name: str, weights: str | None = None) -> tuple[int, int, int]:
    """(C, H, W) the model is meant for.

    Zoo models: their entry. torchvision models: the crop of ``weights`` when it names
    torchvision weights, else the smallest crop among the model's weights (the size a
    randomly initialised fixed-size model such as ``vit_h_14`` is built for), else 224.
    timm models (``timm:NAME``): their pretrained config's input size.
    """
    if weights is not None and weights.startswith(TORCHVISION_PREFIX):
        weights = weights[len(TORCHVISION_PREFIX) :]
    if name.startswith(TIMM_PREFIX):
        c, h, w = _timm_cfg(name[len(TIMM_PREFIX) :]).get("input_size", (3, 224, 224))
        return (int(c), int(h), int(w))
    if name in ZOO:
        return ZOO[name].input_size
    if name not in torchvision_models():
        raise UnknownModel(_unknown_message(name))
    try:
        enum = list(torchvision.models.get_model_weights(name))
    except ValueError:
        enum = []
    if weights is not None and not _looks_like_path(weights):
        enum = [_torchvision_weights(name, weights)]
    crops = [int(getattr(w.transforms, "keywords", {}).get("crop_size", 224)) for w in enum]
    side = min(crops, default=224)
    return (3, side, side)


def _unknown_message(name: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, list_models(), n=5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return f"unknown model {name!r}.{hint} `splitinfer models` lists every name."


# --- weights -----------------------------------------------------------------------------


def _looks_like_path(weights: str | Path) -> bool:
    text = str(weights)
    return (
        isinstance(weights, Path)
        or "/" in text
        or text.endswith((".safetensors", ".pt", ".pth", ".bin"))
    )


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from safetensors or a ``torch.save`` file, never unpickling code."""
    path = Path(path)
    if not path.is_file():
        raise WeightsUnavailable(f"weights file {str(path)!r} does not exist")
    if path.suffix == ".safetensors":
        require("safetensors", "train")
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as err:  # safetensors raises its own SafetensorError
            raise WeightsUnavailable(f"cannot read {path}: {err}") from err
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling refused or corrupt file
        raise WeightsUnavailable(
            f"cannot read {path} as a state dict with weights_only=True: {err}"
        ) from err
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsUnavailable(f"{path} does not hold a state dict of tensors")
    return state


def _load_into(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load ``state`` strictly; a misfit raises :class:`WeightsMismatch` listing the keys."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or mismatched:
        raise WeightsMismatch(source, missing, unexpected, mismatched)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:  # e.g. a dtype torch cannot copy
        first = str(err).strip().splitlines()
        raise WeightsUnavailable(
            f"weights from {source} do not load: {'; '.join(x.strip() for x in first[:4])}"
        ) from err


def _torchvision_weights(name: str, weights: str) -> torchvision.models.WeightsEnum:
    try:
        if "." in weights:
            return torchvision.models.get_weight(weights)
        enum = torchvision.models.get_model_weights(name)
        return enum[weights] if weights != "DEFAULT" else enum.DEFAULT
    except (KeyError, ValueError, AttributeError) as err:
        try:
            known = ", ".join(w.name for w in torchvision.models.get_model_weights(name))
        except ValueError:
            known = "none"
        raise WeightsUnavailable(
            f"{weights!r} is neither a file nor torchvision weights for {name} "
            f"(known: DEFAULT, {known})"
        ) from err


# --- adapting inputs and outputs ---------------------------------------------------------


def _replace(model: nn.Module, path: str, new: nn.Module) -> None:
    parent_path, _, attr = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, attr, new)


def _set_in_channels(model: nn.Module, in_channels: int) -> None:
    """Replace the first convolution so the model takes ``in_channels`` input planes.

    Pretrained filters are kept by folding them over the new channel count: their mean
    over the old input channels, repeated, so a grey image gives the response the RGB
    filters would give to the same grey image in all three channels.
    """
    for path, mod in model.named_modules():
        if isinstance(mod, nn.Conv2d):
            if mod.in_channels == in_channels:
                return
            if mod.groups != 1:
                break
            new = nn.Conv2d(
                in_channels,
                mod.out_channels,
                mod.kernel_size,  # type: ignore[arg-type]
                stride=mod.stride,  # type: ignore[arg-type]
                padding=mod.padding,  # type: ignore[arg-type]
                dilation=mod.dilation,  # type: ignore[arg-type]
                bias=mod.bias is not None,
                padding_mode=mod.padding_mode,
            )
            with torch.no_grad():
                mean = mod.weight.mean(dim=1, keepdim=True)
                new.weight.copy_(mean.repeat(1, in_channels, 1, 1) * mod.in_channels / in_channels)
                if mod.bias is not None and new.bias is not None:
                    new.bias.copy_(mod.bias)
            _replace(model, path, new)
            return
    raise BadInput(f"cannot set in_channels on {type(model).__name__}: no plain first Conv2d")


def _set_num_classes(model: nn.Module, num_classes: int) -> None:
    """Replace the last Linear layer (the classifier) with one of ``num_classes`` outputs."""
    last = [(p, m) for p, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not last:
        raise BadInput(
            f"cannot set num_classes on pretrained {type(model).__name__}: no Linear "
            "classifier; create it without weights, or replace its classifier yourself"
        )
    path, lin = last[-1]
    if lin.out_features != num_classes:
        _replace(model, path, nn.Linear(lin.in_features, num_classes, bias=lin.bias is not None))


# --- the one entry point -----------------------------------------------------------------


def create(
    name: str,
    weights: str | Path | None = None,
    num_classes: int | None = None,
    in_channels: int | None = None,
) -> nn.Module:
    """Build model ``name`` in eval mode.

    weights: ``None`` (random init), a local file (``.safetensors`` or a ``torch.save``d
    state dict, read with ``weights_only=True``), or torchvision weights (``"DEFAULT"``,
    ``"IMAGENET1K_V2"`` or ``"ResNet50_Weights.IMAGENET1K_V2"``; downloaded once where the
    internet is reachable).
    """
    for label, value in (("num_classes", num_classes), ("in_channels", in_channels)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise BadInput(f"{label} must be a positive integer, got {value!r}")
    if isinstance(weights, str) and weights.startswith(TORCHVISION_PREFIX):
        weights = weights[len(TORCHVISION_PREFIX) :]
    if name.startswith(TIMM_PREFIX):
        return _create_timm(name[len(TIMM_PREFIX) :], weights, num_classes, in_channels)
    if name in ZOO:
        entry = ZOO[name]
        model = entry.build(num_classes or entry.num_classes, in_channels or entry.input_size[0])
        if weights is not None:
            _load_into(model, load_state_dict(weights), str(weights))
        return model.eval()
    if name not in torchvision_models():
        raise UnknownModel(_unknown_message(name))

    if weights is None:
        kwargs = {"num_classes": num_classes} if num_classes else {}
        model = torchvision.models.get_model(name, **kwargs)
    elif _looks_like_path(weights):
        state = load_state_dict(weights)

        def build(k: int) -> nn.Module:
            built = torchvision.models.get_model(name, num_classes=k)
            if in_channels:
                _set_in_channels(built, in_channels)
            return built

        return _load_adapting_classes(build, state, str(weights), num_classes).eval()
    else:
        enum = _torchvision_weights(name, str(weights))
        try:
            model = torchvision.models.get_model(name, weights=enum)
        except (urllib.error.URLError, OSError, RuntimeError) as err:
            raise WeightsUnavailable(
                f"could not download {enum} ({type(err).__name__}: {err}). This machine may "
                f"have no internet access: download {enum.url} elsewhere and pass the file "
                "path as weights=."
            ) from err
        if num_classes:
            _set_num_classes(model, num_classes)
    if in_channels:
        _set_in_channels(model, in_channels)
    return model.eval()


# --- timm (optional) ---------------------------------------------------------------------


def _timm() -> Any:
    require("timm", "timm")
    import timm

    return timm


def _timm_cfg(name: str) -> dict[str, Any]:
    timm = _timm()
    if not timm.is_model(name):
        import difflib

        close = difflib.get_close_matches(name, timm.list_models(), n=5)
        hint = f" Did you mean: {', '.join('timm:' + c for c in close)}?" if close else ""
        raise UnknownModel(f"timm has no model {name!r}.{hint}")
    cfg = timm.models.get_pretrained_cfg(name)
    return cfg.to_dict() if cfg is not None else {}


def _create_timm(
    name: str, weights: str | Path | None, num_classes: int | None, in_channels: int | None
) -> nn.Module:
    timm = _timm()
    _timm_cfg(name)  # a clear UnknownModel for a wrong name
    kwargs: dict[str, Any] = {}
    if in_channels:
        kwargs["in_chans"] = in_channels
    if weights is None:
        return timm.create_model(name, pretrained=False, num_classes=num_classes or 1000,
                                 **kwargs).eval()  # fmt: skip
    if not _looks_like_path(weights):
        raise WeightsUnavailable(
            f"timm:{name} takes a weights file (.safetensors or a state dict), got {weights!r}"
        )
    state = load_state_dict(weights)
    return _load_adapting_classes(
        lambda k: timm.create_model(name, pretrained=False, num_classes=k, **kwargs),
        state, str(weights), num_classes,
    ).eval()  # fmt: skip


def _load_adapting_classes(
    build: Callable[[int], nn.Module],
    state: dict[str, torch.Tensor],
    source: str,
    num_classes: int | None,
) -> nn.Module:
    """Load ``state``; when its classifier has another class count, replace it afterwards.

    Tried with ``num_classes`` first; if only that fails and the model's own class count
    fits, the weights load and the last Linear is replaced (random init): a pretrained
    backbone fine-tuned on new classes. Otherwise the first misfit is raised.
    """
    model = build(num_classes or 1000)
    try:
        _load_into(model, state, source)
        return model
    except WeightsMismatch as first:
        if not num_classes or num_classes == 1000:
            raise
        model = build(1000)
        try:
            _load_into(model, state, source)
        except WeightsMismatch:
            raise first from None
        _set_num_classes(model, num_classes)
        return model


def input_normalization(
    name: str, weights: str | None = None
) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """(mean, std) the weights' metadata gives for ``name``, or None when it gives none.

    torchvision weights: ImageNet statistics (their ``ImageClassification`` transform);
    timm: the model's pretrained config. A weights file carries no metadata: None.
    """
    if weights is not None and weights.startswith(TORCHVISION_PREFIX):
        weights = weights[len(TORCHVISION_PREFIX) :]
    if name.startswith(TIMM_PREFIX):
        cfg = _timm_cfg(name[len(TIMM_PREFIX) :])
        if "mean" in cfg and "std" in cfg:
            return tuple(float(v) for v in cfg["mean"]), tuple(float(v) for v in cfg["std"])
        return None
    if name in ZOO or weights is None or _looks_like_path(weights):
        return None
    _torchvision_weights(name, weights)  # a clear error for unknown weights
    return IMAGENET_MEAN, IMAGENET_STD
