"""splitinfer: split (collaborative) inference, edge -> wire -> cloud, measured.

The core imports with torch alone::

    import splitinfer as si
    cuts = si.list_cut_points(model, example)
    split = si.split(model, at="layer2", example=example)
    assert torch.equal(split.tail(split.head(x)), model(x))

Names are imported lazily (PEP 562), so ``import splitinfer.wire`` on a small edge
device does not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from splitinfer.errors import SplitInferError

__version__ = "0.1.0"

_LAZY = {
    "CutPoint": "splitinfer.partition",
    "Split": "splitinfer.partition",
    "list_cut_points": "splitinfer.partition",
    "split": "splitinfer.partition",
    "codecs": "splitinfer.codecs",
    "wire": "splitinfer.wire",
    "zoo": "splitinfer.zoo",
}

__all__ = [
    "CutPoint",
    "Split",
    "SplitInferError",
    "__version__",
    "codecs",
    "list_cut_points",
    "split",
    "wire",
    "zoo",
]

if TYPE_CHECKING:
    from splitinfer import codecs, wire, zoo
    from splitinfer.partition import CutPoint, Split, list_cut_points, split


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'splitinfer' has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name])
    value = module if _LAZY[name].endswith(f".{name}") else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
