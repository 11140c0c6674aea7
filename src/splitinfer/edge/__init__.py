"""The device side of split inference: run a bundle's edge half against a server."""

from splitinfer.edge.runner import CloudRefused, CloudUnavailable, EdgeResult, EdgeRunner

__all__ = ["CloudRefused", "CloudUnavailable", "EdgeResult", "EdgeRunner"]
