"""Shared fixtures: one saved test bundle (random weights) and frames made by its edge half."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from splitinfer import zoo
from splitinfer.bottleneck import UnitConfig
from splitinfer.bundle import Bundle, Preprocess
from splitinfer.data import FMNIST_CLASSES, synthetic

CODEC = "quant:bits=4,clip=0:1|ans"


def build(bundle_id: str, codec: str, seed: int = 0) -> Bundle:
    """A random-weight fmnist_resnet bundle cut at stage2 with a 2-channel unit."""
    torch.manual_seed(seed)
    return Bundle.build(
        bundle_id=bundle_id,
        model_name="fmnist_resnet",
        model=zoo.create("fmnist_resnet"),
        cut="stage2",
        unit=UnitConfig(channels=2),
        codec=codec,
        classes=FMNIST_CLASSES,
        preprocess=Preprocess((0.286,), (0.353,)),
        input_shape=(1, 28, 28),
        built_by="pytest",
    )


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build("fmnist-test", CODEC).save(tmp_path_factory.mktemp("bundles") / "fmnist-test")


@pytest.fixture(scope="session")
def other_bundle() -> Bundle:
    """A second bundle (8-bit codec, other weights): another fingerprint."""
    return build("fmnist-8bit", "quant:bits=8,clip=0:1|ans", seed=1)


@pytest.fixture(scope="session")
def bundle(bundle_dir: Path) -> Bundle:
    return Bundle.load(bundle_dir)


@pytest.fixture(scope="session")
def images() -> torch.Tensor:
    return synthetic(8, seed=3)[0]


@pytest.fixture(scope="session")
def frames(bundle: Bundle, images: torch.Tensor) -> list[bytes]:
    return bundle.edge.encode(images, first_request_id=100)
