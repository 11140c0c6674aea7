from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from splitinfer.data import folder as data_module
from splitinfer.data import load_dataset, load_image_folder
from splitinfer.errors import BadInput


def write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def make_folder(root: Path, classes: dict[str, int], size: tuple[int, int] = (28, 28)) -> None:
    """``classes``: name -> image count; image j of class k is filled with 10 * k + j."""
    for k, (name, count) in enumerate(sorted(classes.items())):
        for j in range(count):
            write_png(root / name / f"{j:03d}.png", np.full(size, 10 * k + j, dtype=np.uint8))


def test_reads_classes_in_sorted_order_with_exact_pixels(tmp_path: Path) -> None:
    make_folder(tmp_path, {"cat": 2, "ant": 3})
    (tmp_path / "ant" / "README.txt").write_text("not an image")  # ignored: not an image
    write_png(tmp_path / ".hidden" / "x.png", np.zeros((28, 28), np.uint8))  # ignored: hidden
    x, y, classes = load_image_folder(tmp_path)
    assert classes == ("ant", "cat")
    assert x.shape == (5, 1, 28, 28) and x.dtype == torch.uint8
    assert y.tolist() == [0, 0, 0, 1, 1]
    assert [int(v) for v in x[:, 0, 0, 0]] == [0, 1, 2, 10, 11]


def test_converts_to_rgb_and_resizes(tmp_path: Path) -> None:
    rgb = np.zeros((30, 40, 3), np.uint8)
    rgb[..., 0] = 200
    write_png(tmp_path / "red" / "a.png", rgb)
    write_png(tmp_path / "grey" / "b.png", np.full((10, 12), 50, np.uint8))
    x, y, classes = load_image_folder(tmp_path, size=(16, 16), channels=3)
    assert y.tolist() == [0, 1]
    assert x.shape == (2, 3, 16, 16) and classes == ("grey", "red")
    assert x[1, 0].float().mean() == pytest.approx(200, abs=1) and int(x[1, 1].max()) == 0
    assert int(x[0].min()) == int(x[0].max()) == 50


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda root: None, "does not exist"),
        (lambda root: root.mkdir(), "no class folders"),
        (lambda root: (root / "a").mkdir(parents=True), "without images: a"),
        (lambda root: write_png_bytes(root / "a" / "x.png", b"not a png"), "cannot read image"),
    ],
)
def test_bad_folders_raise_clear_errors(tmp_path: Path, setup: object, message: str) -> None:
    root = tmp_path / "root"
    setup(root)  # type: ignore[operator]
    with pytest.raises(BadInput, match=message):
        load_image_folder(root)


def write_png_bytes(path: Path, blob: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(blob)


def test_sizes_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_folder(tmp_path, {"a": 1}, size=(64, 64))
    with pytest.raises(BadInput, match="channels"):
        load_image_folder(tmp_path, channels=2)
    with pytest.raises(BadInput, match="image size"):
        load_image_folder(tmp_path, size=(0, 28))
    monkeypatch.setattr(data_module, "MAX_SOURCE_PIXELS", 32 * 32)
    with pytest.raises(BadInput, match="exceeds the cap"):
        load_image_folder(tmp_path)
    monkeypatch.setattr(data_module, "MAX_FOLDER_BYTES", 100)
    with pytest.raises(BadInput, match="GiB"):
        load_image_folder(tmp_path)


def test_dataset_spec_reads_train_and_test(tmp_path: Path) -> None:
    make_folder(tmp_path / "train", {"a": 4, "b": 4})
    make_folder(tmp_path / "test", {"a": 2, "b": 1})
    ds = load_dataset(f"imagefolder:{tmp_path}")
    assert ds.classes == ("a", "b") and len(ds.train[0]) == 8 and len(ds.test[0]) == 3
    # shuffled, but every label still matches its image (class k is filled near 10 * k)
    assert torch.equal(ds.train[0][:, 0, 0, 0].long() // 10, ds.train[1])
    assert 0 < ds.mean[0] < 1 and ds.std[0] > 0
    z = ds.normalize(ds.train[0])
    assert abs(float(z.mean())) < 1e-4


def test_dataset_spec_errors(tmp_path: Path) -> None:
    make_folder(tmp_path / "train", {"a": 1, "b": 1})
    with pytest.raises(BadInput, match="missing: test"):
        load_dataset(f"imagefolder:{tmp_path}")
    make_folder(tmp_path / "test", {"a": 1, "c": 1})
    with pytest.raises(BadInput, match="differ"):
        load_dataset(f"imagefolder:{tmp_path}")
    with pytest.raises(BadInput, match="unknown dataset"):
        load_dataset("cifar10")
    with pytest.raises(BadInput, match="1x28x28"):
        load_dataset("fmnist", size=(32, 32))
    assert load_dataset("synthetic:8,4", channels=3).train[0].shape == (8, 3, 28, 28)
