from __future__ import annotations

import pytest
import torch

import splitinfer as si
from splitinfer import zoo
from splitinfer.bottleneck import UnitConfig, insert_bottleneck, make_units
from splitinfer.errors import BadInput


@pytest.mark.parametrize(
    ("shape", "config", "reduced"),
    [
        ((2, 64, 14, 14), UnitConfig(channels=8), (2, 8, 14, 14)),
        ((2, 64, 14, 14), UnitConfig(channels=4, stride=2), (2, 4, 7, 7)),
        ((2, 32, 7, 7), UnitConfig(channels=2, stride=2, kernel=1), (2, 2, 4, 4)),
        ((1, 512, 28, 28), UnitConfig(channels=16, stride=4, kernel=5), (1, 16, 7, 7)),
        ((2, 64, 7, 7), UnitConfig(channels=4, stride=4, depth=3, hidden=32), (2, 4, 2, 2)),
        ((2, 64, 14, 14), UnitConfig(channels=4, stride=2, depth=4), (2, 4, 7, 7)),
    ],
)
def test_units_reduce_and_restore_shapes(
    shape: tuple[int, ...], config: UnitConfig, reduced: tuple[int, ...]
) -> None:
    reduction, restoration = make_units(shape, config)
    with torch.no_grad():
        z = reduction(torch.randn(shape))
    assert z.shape == reduced
    assert float(z.min()) > 0.0 and float(z.max()) < 1.0  # bounded: clip=0:1 is exact
    assert restoration(z).shape == shape


@pytest.mark.parametrize(
    "kwargs",
    [{"channels": 0}, {"channels": 4, "kernel": 2}, {"channels": 4, "stride": -1},
     {"channels": 4, "restore_activation": "tanh"}, {"channels": 4097},
     {"channels": 4, "depth": 2, "hidden": 10_000_000}, {"channels": 4, "kernel": 17},
     {"channels": 4, "stride": 64}, {"channels": 4, "depth": 5}],
)  # fmt: skip
def test_bad_unit_configs_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(BadInput):
        UnitConfig(**kwargs)  # type: ignore[arg-type]


def test_deeper_units_keep_the_shallower_units_parameter_names() -> None:
    """Depth 1 and 2 bundles load as before; depth 3 adds a hidden layer on each side."""
    shape = (1, 64, 7, 7)
    names = {
        d: [set(u.state_dict()) for u in make_units(shape, UnitConfig(4, 4, depth=d, hidden=8))]
        for d in (1, 2, 3)
    }
    assert names[1][0] == {f"{m}.{p}" for m in ("conv", "norm") for p in ("weight",)} | {
        f"norm.{p}" for p in ("bias", "running_mean", "running_var", "num_batches_tracked")
    }
    assert names[2][0] < names[3][0] and names[2][1] < names[3][1]
    assert "body.6.weight" in names[3][0] and "pre.3.weight" in names[3][1]
    assert UnitConfig(4, 4, depth=3).strides() == [2, 2, 1]


def test_unit_config_round_trips_and_rejects_unknown_keys() -> None:
    cfg = UnitConfig(channels=4, stride=2)
    assert UnitConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(BadInput, match="unknown"):
        UnitConfig.from_dict({"channels": 4, "width": 3})


def test_flat_cut_is_refused_with_advice() -> None:
    with pytest.raises(BadInput, match="convolutional cut"):
        make_units((1, 128), UnitConfig(channels=4))


def _model_at(cut: str, unit: UnitConfig, codec: str | None) -> si.bottleneck.BottleneckModel:
    model = zoo.create("fmnist_resnet")
    x = torch.randn(1, 1, 28, 28)
    return insert_bottleneck(si.split(model, cut, x), unit, codec)


def test_straight_through_gradient_reaches_the_head() -> None:
    bm = _model_at("stage2", UnitConfig(channels=4), "quant:bits=2,clip=0:1").train()
    x = torch.randn(4, 1, 28, 28)
    bm(x).sum().backward()
    head_grads = [p.grad for p in bm.head.parameters()]
    assert head_grads and all(g is not None and g.abs().sum() > 0 for g in head_grads)


def test_ste_forward_equals_the_real_codec_round_trip() -> None:
    bm = _model_at("stage2", UnitConfig(channels=4), "quant:bits=3,clip=0:1").eval()
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        z = bm.edge(x)
        codec = bm.codec
        assert codec is not None
        decoded = codec.decode(codec.encode(z))
        assert torch.equal(bm(x), bm.cloud(decoded))
        assert len(torch.unique(decoded)) <= 8  # 3 bits


def test_without_codec_the_model_is_head_units_tail() -> None:
    bm = _model_at("stage1", UnitConfig(channels=8, stride=2), None).eval()
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(bm(x), bm.tail(bm.restoration(bm.reduction(bm.head(x)))))
