"""Moved to :mod:`splitinfer.data`; these names stay importable from here for old callers."""

from splitinfer.data import *  # noqa: F403
from splitinfer.data import __all__ as _moved
from splitinfer.data.idx import DEBIAN_FMNIST

__all__ = [*_moved, "DEBIAN_FMNIST"]
