"""tail(head(x)) == model(x), bitwise, at EVERY cut point of real architectures."""

from __future__ import annotations

import pytest
import torch
import torchvision

from splitinfer import zoo
from splitinfer.partition.graph import analyze
from splitinfer.partition.split import split_analysis

# The architectures the foundation issue names, at their native input size.
NAMED = ["resnet18", "resnet50", "mobilenet_v2", "vgg11_bn", "efficientnet_b0", "vit_b_16"]
# Others with different structure (inception branches, dense concatenation, channel
# shuffle, squeeze-excitation, stochastic depth, windowed attention), at a small input.
OTHERS = [
    "googlenet", "inception_v3", "densenet121", "squeezenet1_0", "shufflenet_v2_x0_5",
    "mnasnet0_5", "mobilenet_v3_small", "regnet_x_400mf", "resnext50_32x4d", "convnext_tiny",
    "alexnet", "efficientnet_v2_s", "swin_t",
]  # fmt: skip
SMALL_INPUT = {"inception_v3": 75, "swin_t": 64}


def assert_exact_at_every_cut(model: torch.nn.Module, x: torch.Tensor) -> int:
    a = analyze(model, x)
    assert a.cuts, "no cut points found"
    with torch.no_grad():
        ref = model(x)
        for idx in a.cuts:
            name = a.names[idx][0]
            s = split_analysis(a, name)
            out = s.tail(s.head(x))
            assert out.dtype == ref.dtype and torch.equal(out, ref), f"cut {name} is not exact"
    return len(a.cuts)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMED)
def test_named_models_exact_at_every_cut(name: str) -> None:
    model = torchvision.models.get_model(name).eval()
    c, h, w = zoo.default_input_size(name)
    assert assert_exact_at_every_cut(model, torch.randn(1, c, h, w)) >= 5


@pytest.mark.slow
@pytest.mark.parametrize("name", OTHERS)
def test_other_torchvision_models_exact_at_every_cut(name: str) -> None:
    model = torchvision.models.get_model(name).eval()
    side = SMALL_INPUT.get(name, 64)
    assert assert_exact_at_every_cut(model, torch.randn(1, 3, side, side)) >= 3


@pytest.mark.parametrize("name", zoo.ZOO.names())
def test_small_backbones_exact_at_every_cut_with_batches(name: str) -> None:
    model = zoo.create(name)
    assert assert_exact_at_every_cut(model, torch.randn(8, 1, 28, 28)) >= 5


@pytest.mark.exhaustive
@pytest.mark.parametrize("name", zoo.torchvision_models())
def test_every_torchvision_model_exact_at_every_cut(name: str) -> None:
    """The full sweep (also `python benchmarks/check_all_models.py`)."""
    model = torchvision.models.get_model(name).eval()
    c, h, w = zoo.default_input_size(name)
    if not name.startswith(("vit", "swin", "maxvit")):
        h = w = 75 if name == "inception_v3" else 64
    assert_exact_at_every_cut(model, torch.randn(1, c, h, w))


def test_resnet_names_and_aliases() -> None:
    model = torchvision.models.resnet50().eval()
    x = torch.randn(1, 3, 64, 64)
    a = analyze(model, x)
    names = [a.names[i][0] for i in a.cuts]
    for expected in ["conv1", "maxpool", "layer1", "layer2", "layer3.1", "layer3", "layer4"]:
        assert expected in names
    by_alias = split_analysis(a, "layer2.3")  # the last block of layer2 ends with it
    assert by_alias.cut.name == "layer2" and "layer2.3" in by_alias.cut.aliases


@pytest.mark.slow
def test_stem_to_layer2_is_about_44_percent_of_resnet50_flops() -> None:
    model = torchvision.models.resnet50().eval()
    a = analyze(model, torch.randn(1, 3, 224, 224))
    cut = split_analysis(a, "layer2").cut
    share = cut.flops_head / (cut.flops_head + cut.flops_tail)
    assert 0.40 <= share <= 0.45
    assert cut.shape == (1, 512, 28, 28)


@pytest.mark.slow
def test_split_halves_are_scriptable_and_exportable() -> None:
    model = torchvision.models.resnet18().eval()
    x = torch.randn(1, 3, 64, 64)
    s = split_analysis(analyze(model, x), "layer2")
    scripted_head, scripted_tail = torch.jit.script(s.head), torch.jit.script(s.tail)
    assert torch.equal(scripted_tail(scripted_head(x)), model(x))
    head_ep = torch.export.export(s.head, (x,))
    tail_ep = torch.export.export(s.tail, (s.head(x),))
    assert torch.equal(tail_ep.module()(head_ep.module()(x)), model(x))


def test_efficientnet_stochastic_depth_stays_a_module_that_honours_train_mode() -> None:
    model = torchvision.models.efficientnet_b0().eval()
    x = torch.randn(1, 3, 64, 64)
    s = split_analysis(analyze(model, x), "features.3")
    kinds = {type(m).__name__ for m in s.tail.modules()}
    assert "StochasticDepth" in kinds
