from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from splitinfer import zoo
from splitinfer.errors import BadInput, UnknownModel, WeightsUnavailable


@pytest.mark.parametrize("name", zoo.ZOO.names())
def test_small_backbones_classify_28x28(name: str) -> None:
    model = zoo.create(name)
    assert not model.training
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 10)
    assert sum(p.numel() for p in model.parameters()) < 1_000_000  # trains in minutes on a CPU


def test_small_backbone_overrides() -> None:
    model = zoo.create("fmnist_cnn", num_classes=4, in_channels=3)
    assert model(torch.randn(2, 3, 28, 28)).shape == (2, 4)


def test_every_torchvision_classifier_is_listed() -> None:
    names = zoo.list_models()
    for name in ["resnet50", "vit_b_16", "mobilenet_v2", "fmnist_resnet"]:
        assert name in names


def test_torchvision_model_with_overrides() -> None:
    model = zoo.create("resnet18", num_classes=7, in_channels=1)
    assert model(torch.randn(1, 1, 64, 64)).shape == (1, 7)


def test_default_input_sizes() -> None:
    assert zoo.default_input_size("fmnist_resnet") == (1, 28, 28)
    assert zoo.default_input_size("resnet50") == (3, 224, 224)
    assert zoo.default_input_size("inception_v3") == (3, 299, 299)
    assert zoo.default_input_size("vit_h_14") == (3, 224, 224)  # random init: 224
    assert zoo.default_input_size("vit_h_14", "IMAGENET1K_SWAG_E2E_V1") == (3, 518, 518)


def test_unknown_model_suggests_close_names() -> None:
    with pytest.raises(UnknownModel, match="resnet50"):
        zoo.create("resnet5O")


@pytest.mark.parametrize("value", [0, -3, 2.5])
def test_bad_overrides_are_refused(value: object) -> None:
    with pytest.raises(BadInput):
        zoo.create("fmnist_cnn", num_classes=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_weights_round_trip_through_a_file(tmp_path: Path, suffix: str) -> None:
    model = zoo.create("fmnist_resnet")
    for p in model.parameters():
        nn.init.normal_(p)
    path = tmp_path / f"w{suffix}"
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    if suffix == ".pt":
        torch.save(state, path)
    else:
        from safetensors.torch import save_file

        save_file(state, str(path))
    loaded = zoo.create("fmnist_resnet", weights=path)
    x = torch.randn(2, 1, 28, 28)
    assert torch.equal(loaded(x), model(x))


def test_pickled_code_is_never_loaded(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"model": nn.Linear(2, 2)}, path)  # a pickled module, not tensors
    with pytest.raises(WeightsUnavailable, match="weights_only"):
        zoo.create("fmnist_cnn", weights=path)


def test_mismatched_weights_say_what_differs(tmp_path: Path) -> None:
    path = tmp_path / "w.pt"
    torch.save(zoo.create("fmnist_cnn", num_classes=3).state_dict(), path)
    with pytest.raises(WeightsUnavailable, match="num_classes"):
        zoo.create("fmnist_cnn", weights=path)


def test_missing_file_and_unknown_weight_name(tmp_path: Path) -> None:
    with pytest.raises(WeightsUnavailable, match="does not exist"):
        zoo.create("resnet18", weights=tmp_path / "nope.pt")
    with pytest.raises(WeightsUnavailable, match="IMAGENET1K_V1"):
        zoo.create("resnet18", weights="NOT_A_WEIGHT")


def test_download_failure_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Offline, torchvision weights give WeightsUnavailable, not a traceback."""
    import urllib.error

    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("no network")

    import torchvision.models._api as tv_api

    monkeypatch.setattr(tv_api, "load_state_dict_from_url", offline)
    with pytest.raises(WeightsUnavailable, match="download"):
        zoo.create("resnet18", weights="DEFAULT")


def test_weights_that_do_not_fit_list_missing_and_unexpected_keys(tmp_path: Path) -> None:
    from splitinfer.errors import WeightsMismatch

    state = zoo.create("fmnist_cnn").state_dict()
    state["extra.weight"] = torch.zeros(1)
    del state["fc.bias"]
    path = tmp_path / "w.pt"
    torch.save(state, path)
    with pytest.raises(WeightsMismatch) as err:
        zoo.create("fmnist_cnn", weights=path)
    assert err.value.missing == ["fc.bias"] and err.value.unexpected == ["extra.weight"]
    assert "missing keys: fc.bias" in err.value.message


def test_a_1000_class_state_dict_fine_tunes_on_fewer_classes(tmp_path: Path) -> None:
    torch.manual_seed(0)
    source = zoo.create("resnet18")
    path = tmp_path / "r18.pt"
    torch.save(source.state_dict(), path)
    model = zoo.create("resnet18", weights=str(path), num_classes=3)
    assert model.fc.out_features == 3  # type: ignore[union-attr]
    assert torch.equal(model.conv1.weight, source.conv1.weight)  # type: ignore[union-attr]


def test_torchvision_prefix_names_torchvision_weights() -> None:
    with pytest.raises(WeightsUnavailable, match="IMAGENET1K_V1"):
        zoo.create("resnet18", weights="torchvision:NOT_A_WEIGHT")
    assert zoo.default_input_size("resnet50", "torchvision:IMAGENET1K_V2") == (3, 224, 224)
    assert zoo.input_normalization("resnet50", "torchvision:IMAGENET1K_V2") == (
        zoo.IMAGENET_MEAN,
        zoo.IMAGENET_STD,
    )
    assert zoo.input_normalization("resnet50", None) is None


def test_timm_models_by_prefix() -> None:
    pytest.importorskip("timm")
    model = zoo.create("timm:deit_tiny_patch16_224", num_classes=3)
    assert model(torch.zeros(1, 3, 224, 224)).shape == (1, 3)
    assert zoo.default_input_size("timm:deit_tiny_patch16_224") == (3, 224, 224)
    assert zoo.input_normalization("timm:deit_tiny_patch16_224") is not None
    with pytest.raises(UnknownModel, match="timm has no model"):
        zoo.create("timm:no_such_net")
