"""Image and dataset I/O: the one place training, the edge and the codec tools read data.

- :mod:`~splitinfer.data.idx`: Fashion-MNIST from its IDX files.
- :mod:`~splitinfer.data.synthetic`: a generated, learnable image set (labelled synthetic).
- :mod:`~splitinfer.data.folder`: torchvision's ImageFolder layout, bounded image reads.
- :mod:`~splitinfer.data.datasets`: small sets held in memory, named by a spec string.
- :mod:`~splitinfer.data.transforms` and :mod:`~splitinfer.data.stream`: standard
  transforms and streaming ``DataLoader`` s for sets of any size (ImageNet-class).

Core layer: imports torch, numpy, Pillow and torchvision only; never train/, edge/, cloud/.
"""

from splitinfer.data.datasets import DATASET_SPECS, ImageDataset, load_dataset
from splitinfer.data.folder import (
    IMAGE_SUFFIXES,
    MAX_SOURCE_PIXELS,
    load_image_folder,
    read_image_tensor,
)
from splitinfer.data.idx import (
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
    "read_image_tensor",
    "synthetic",
]
