"""Cut-point discovery on models whose answer is known by hand."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import splitinfer as si
from splitinfer.errors import SplitInferError, UnknownCutPoint, UnsupportedModel, UntraceableModel
from tests.partition import toy_models as toy

X = torch.randn(2, 1, 8, 8)

EXPECTED = [
    (toy.Chain, ["conv1", "act", "conv2", "flatten"]),
    (toy.Residual, ["stem", "add", "relu", "flatten"]),
    (toy.TwoBranch, ["cat", "flatten"]),
    (toy.UsesBatchSize, ["add"]),
    (toy.ConstantInTail, ["flatten", "proj", "act", "mul"]),
]


@pytest.mark.parametrize(("cls", "names"), EXPECTED, ids=[c.__name__ for c, _ in EXPECTED])
def test_cut_points_match_hand_analysis(cls: type[nn.Module], names: list[str]) -> None:
    model = cls().eval()
    cuts = si.list_cut_points(model, X)
    assert [c.name for c in cuts] == names
    assert [c.index for c in cuts] == list(range(len(names)))
    with torch.no_grad():
        ref = model(X)
        for c in cuts:
            s = si.split(model, c.name, X)
            assert torch.equal(s.tail(s.head(X)), ref), c.name


def test_residual_block_interior_is_never_a_cut() -> None:
    names = [c.name for c in si.list_cut_points(toy.Residual(), X)]
    assert not {"conv1", "conv2"} & set(names)


def test_cut_point_figures_are_consistent() -> None:
    model = toy.Chain().eval()
    total_params = sum(p.numel() for p in model.parameters())
    with FlopCounterMode(display=False) as fc:
        model(X)
    total_flops = fc.get_total_flops()
    for c in si.list_cut_points(model, X):
        s = si.split(model, c.name, X)
        feature = s.head(X)
        assert c.shape == tuple(feature.shape)
        assert c.numel == feature.numel() and c.bytes_fp32 == 4 * feature.numel()
        assert c.bytes_8bit == feature.numel() and c.dtype == "float32"
        assert c.params_head + c.params_tail == total_params
        assert c.params_head == sum(p.numel() for p in s.head.parameters())
        assert c.params_tail == sum(p.numel() for p in s.tail.parameters())
        assert c.flops_head + c.flops_tail == total_flops
        with FlopCounterMode(display=False) as head_fc:
            s.head(X)
        assert c.flops_head == head_fc.get_total_flops()


def test_constant_after_the_cut_lives_in_the_tail() -> None:
    model = toy.ConstantInTail().eval()
    s = si.split(model, "act", X)
    assert any(p is model.scale for p in s.tail.parameters())
    assert all(p is not model.scale for p in s.head.parameters())


def test_split_shares_parameters_with_the_model() -> None:
    model = toy.Chain().eval()
    s = si.split(model, "act", X)
    assert s.head.get_submodule("conv1").weight is model.conv1.weight
    head, tail = s  # a Split unpacks as (head, tail)
    assert head is s.head and tail is s.tail


def test_split_by_position_and_negative_position() -> None:
    model = toy.Chain().eval()
    assert si.split(model, 0, X).cut.name == "conv1"
    assert si.split(model, -1, X).cut.name == "flatten"


def test_unknown_cut_lists_valid_names() -> None:
    with pytest.raises(UnknownCutPoint) as info:
        si.split(toy.Residual(), "conv1", X)
    err = info.value
    assert err.valid == ["stem", "add", "relu", "flatten"]
    assert "stem, add, relu, flatten" in str(err) and err.code == "unknown_cut_point"
    with pytest.raises(UnknownCutPoint):
        si.split(toy.Residual(), 4, X)


def test_untraceable_model_gets_a_typed_error_with_advice() -> None:
    with pytest.raises(UntraceableModel) as info:
        si.list_cut_points(toy.DataDependent(), X)
    assert "leaf_modules" in str(info.value) and "control flow" in str(info.value)


def test_leaf_modules_make_untraceable_parts_opaque() -> None:
    class Wrapper(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pre = nn.ReLU()
            self.body = toy.DataDependent()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.body(self.pre(x))

    model = Wrapper().eval()
    cuts = si.list_cut_points(model, X, leaf_modules=[toy.DataDependent])
    assert [c.name for c in cuts] == ["pre"]
    s = si.split(model, "pre", X, leaf_modules=[toy.DataDependent])
    assert torch.equal(s.tail(s.head(X)), model(X))


def test_two_inputs_is_unsupported() -> None:
    with pytest.raises(UnsupportedModel):
        si.list_cut_points(toy.TwoInputs(), X)


@pytest.mark.parametrize(
    ("model", "example"),
    [("not a model", X), (toy.Chain(), "not a tensor"), (toy.Chain(), torch.randn(1, 3, 5, 5))],
)
def test_bad_arguments_raise_typed_errors(model: object, example: object) -> None:
    with pytest.raises(SplitInferError):
        si.list_cut_points(model, example)  # type: ignore[arg-type]


def test_tracing_restores_training_mode() -> None:
    model = toy.Chain().train()
    si.list_cut_points(model, X)
    assert model.training


def test_reused_module_gets_distinct_names() -> None:
    class Shared(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(1, 2, 1)
            self.conv2 = nn.Conv2d(2, 2, 1)
            self.act = nn.ReLU()
            self.fc = nn.Linear(128, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.act(self.conv1(x))
            x = self.act(self.conv2(x))
            return self.fc(x.flatten(1))

    names = [c.name for c in si.list_cut_points(Shared(), X)]
    assert names == ["conv1", "act", "conv2", "act:1", "flatten"]
