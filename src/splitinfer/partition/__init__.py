"""Exact model partitioning: find cut points on the torch.fx graph, split, profile."""

from splitinfer.partition.graph import analyze, trace
from splitinfer.partition.profile import CutProfile, ModelProfile, profile_model
from splitinfer.partition.split import CutPoint, Split, list_cut_points, split, verify

__all__ = [
    "CutPoint",
    "CutProfile",
    "ModelProfile",
    "Split",
    "analyze",
    "list_cut_points",
    "profile_model",
    "split",
    "trace",
    "verify",
]
