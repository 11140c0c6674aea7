"""Moved to :mod:`splitinfer.data`; these names stay importable from here for old callers."""

from splitinfer.data.datasets import DATASET_SPECS, ImageDataset, load_dataset
from splitinfer.data.folder import IMAGE_SUFFIXES, MAX_SOURCE_PIXELS, load_image_folder
from splitinfer.data.idx import (
    DEBIAN_FMNIST,
    FMNIST_CLASSES,
    FMNIST_MEAN,
    FMNIST_STD,
    fmnist_root,
    load_fashion_mnist,
    normalize_fmnist,
    read_idx,
)
from splitinfer.data.synthetic import synthetic

__all__ = [
    "DATASET_SPECS",
    "DEBIAN_FMNIST",
    "FMNIST_CLASSES",
    "FMNIST_MEAN",
    "FMNIST_STD",
    "IMAGE_SUFFIXES",
    "MAX_SOURCE_PIXELS",
    "ImageDataset",
    "fmnist_root",
    "load_dataset",
    "load_fashion_mnist",
    "load_image_folder",
    "normalize_fmnist",
    "read_idx",
    "synthetic",
]
