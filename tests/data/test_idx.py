from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from splitinfer.data import (
    fmnist_root,
    load_fashion_mnist,
    normalize_fmnist,
    read_idx,
    synthetic,
)
from splitinfer.errors import BadInput
from tests.conftest import needs_fmnist


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_idx_round_trip(tmp_path: Path) -> None:
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", arr)
    assert np.array_equal(read_idx(tmp_path / "a.gz"), arr)


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"\x01\x00\x08\x01",
        b"\x00\x00\x7f\x01\x00\x00\x00\x01",
        b"\x00\x00\x08\x01\x00\x00\x00\x05ab",
    ],
)
def test_bad_idx_files_are_refused(tmp_path: Path, blob: bytes) -> None:
    path = tmp_path / "bad"
    path.write_bytes(blob)
    with pytest.raises(BadInput):
        read_idx(path)


def test_loads_from_a_user_folder(tmp_path: Path) -> None:
    images = np.random.default_rng(0).integers(0, 255, (5, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.arange(5, dtype=np.uint8))
    x, y = load_fashion_mnist("test", root=tmp_path)
    assert x.shape == (5, 1, 28, 28) and x.dtype == torch.uint8
    assert y.tolist() == [0, 1, 2, 3, 4]
    assert torch.equal(x[:, 0], torch.from_numpy(images))


def test_missing_data_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("splitinfer.data.idx.DEBIAN_FMNIST", tmp_path / "nowhere")
    monkeypatch.delenv("SPLITINFER_FMNIST_DIR", raising=False)
    with pytest.raises(BadInput, match="dataset-fashion-mnist"):
        fmnist_root(tmp_path / "empty")
    with pytest.raises(BadInput):
        load_fashion_mnist("validation")


@needs_fmnist
def test_real_fashion_mnist_when_installed() -> None:
    x, y = load_fashion_mnist("test")
    assert x.shape == (10_000, 1, 28, 28) and y.shape == (10_000,)
    assert sorted(torch.bincount(y).tolist()) == [1000] * 10
    z = normalize_fmnist(x)
    assert abs(float(z.mean())) < 0.1 and 0.9 < float(z.std()) < 1.1


def test_synthetic_is_deterministic_and_balanced_enough() -> None:
    a, la = synthetic(200, seed=1)
    b, lb = synthetic(200, seed=1)
    assert torch.equal(a, b) and torch.equal(la, lb)
    assert a.dtype == torch.uint8 and len(torch.unique(la)) == 10
