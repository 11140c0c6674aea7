"""Streaming datasets: spec parsing, lazy reads, corrupt files skipped and counted, transforms."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from splitinfer.data.stream import (
    SYNTHETIC_LABEL,
    FolderImages,
    collate,
    first_test_images,
    make_loader,
    open_streams,
    parse_data_spec,
)
from splitinfer.data.transforms import eval_transform, normalizer, train_transform
from splitinfer.errors import BadInput
from tests.train.folders import CLASSES, make_image_folder


def test_data_specs_parse() -> None:
    assert parse_data_spec("fmnist").kind == "fmnist"
    assert parse_data_spec("fmnist:/x").path == Path("/x")
    assert parse_data_spec("imagefolder:/photos").path == Path("/photos")
    syn = parse_data_spec("synthetic:5,100")
    assert (syn.kind, syn.classes, syn.size) == ("synthetic", 5, 100)
    assert SYNTHETIC_LABEL in syn.label  # labelled as synthetic wherever it is shown
    for bad in ("imagefolder:", "synthetic:1,100", "synthetic:5", "mnist"):
        with pytest.raises(BadInput):
            parse_data_spec(bad)


def test_a_plain_folder_is_read_as_fashion_mnist(tmp_path: Path) -> None:
    assert parse_data_spec(str(tmp_path)) == parse_data_spec(f"fmnist:{tmp_path}")


def test_folder_images_hold_paths_and_skip_unreadable_files(tmp_path: Path) -> None:
    root = make_image_folder(tmp_path)
    ds = FolderImages(root / "train", "RGB", eval_transform(32))
    assert ds.classes == CLASSES and len(ds) == 25
    assert all(isinstance(path, str) for path, _label in ds.samples)  # no pixels held
    samples = [ds[i] for i in range(len(ds))]
    bad = [s for s in samples if s.label < 0]
    assert len(bad) == 1  # broken.jpg
    assert all(s.image.shape == (3, 32, 32) and s.image.dtype == torch.uint8
               for s in samples if s.label >= 0)  # fmt: skip
    batch = collate(samples)
    assert batch.images.shape == (24, 3, 32, 32) and batch.skipped == 1
    empty = collate(bad)
    assert len(empty.labels) == 0 and empty.skipped == 1


def test_loader_with_a_worker_counts_skips(tmp_path: Path) -> None:
    root = make_image_folder(tmp_path)
    streams = open_streams(parse_data_spec(f"imagefolder:{root}"), (3, 24, 24))
    loader = make_loader(streams.train, 8, shuffle=True, workers=1, seed=3)
    batches = list(loader)
    assert sum(b.skipped for b in batches) == 1
    assert sum(len(b.labels) for b in batches) == 24
    assert {int(v) for b in batches for v in b.labels} == {0, 1, 2}


def test_transforms_give_uint8_squares_of_the_size() -> None:
    image = Image.new("RGB", (90, 50), (10, 20, 30))
    assert train_transform(40)(image).shape == (3, 40, 40)
    out = eval_transform(40)(image)
    assert out.shape == (3, 40, 40) and out.dtype == torch.uint8
    assert out[:, 20, 20].tolist() == [10, 20, 30]
    grey = eval_transform(16)(Image.new("L", (20, 20), 7))
    assert grey.shape == (1, 16, 16)
    x = normalizer((0.5,), (0.25,))(torch.full((1, 1, 2, 2), 255, dtype=torch.uint8))
    assert torch.allclose(x, torch.full((1, 1, 2, 2), 2.0))
    with pytest.raises(BadInput):
        train_transform(4)


def test_synthetic_streams_are_repeatable_and_sized() -> None:
    streams = open_streams(parse_data_spec("synthetic:3,16"), (3, 20, 20))
    assert len(streams.train) == 16 and len(streams.test) == 4  # type: ignore[arg-type]
    a, b = streams.train[5], streams.train[5]
    assert torch.equal(a.image, b.image) and a.label == b.label and a.image.shape == (3, 20, 20)
    assert streams.classes == ("class0", "class1", "class2")
    assert SYNTHETIC_LABEL in streams.name  # recorded in results and bundles as such


def test_test_images_for_checks(tmp_path: Path) -> None:
    root = make_image_folder(tmp_path)
    x, y, classes = first_test_images(f"imagefolder:{root}", (3, 32, 32), 5)
    assert x.shape == (5, 3, 32, 32) and len(y) == 5 and classes == CLASSES
