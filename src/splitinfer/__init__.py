"""splitinfer: split (collaborative) inference, edge -> wire -> cloud, measured.

The core imports with torch alone::

    import splitinfer as si
    cuts = si.list_cut_points(model, example)
    split = si.split(model, at="layer2", example=example)
    assert torch.equal(split.tail(split.head(x)), model(x))
"""

from splitinfer.errors import SplitInferError
from splitinfer.partition import CutPoint, Split, list_cut_points, split

__version__ = "0.1.0"

__all__ = ["CutPoint", "Split", "SplitInferError", "__version__", "list_cut_points", "split"]
