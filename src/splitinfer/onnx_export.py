"""ONNX export of a bundle's halves: the edge graph (uint8 image -> latent symbols), the
cloud graph (symbols -> logits) and the full network, each with a dynamic batch axis and the
bundle's identity in the file's metadata.

Core layer: the edge runner (``edge.onnx``, ONNX Runtime engines) and the server (which
offers ``edge.onnx`` to the browser edge page) both export through this module, so neither
imports the other.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from splitinfer.bundle import Bundle
from splitinfer.errors import BadInput, require

DEFAULT_OPSET = 17
MIN_OPSET, MAX_OPSET = 11, 20  # what the TorchScript exporter in torch 2.x can write
EXPORTER = "torchscript"
_META = "splitinfer."


# --- the graphs --------------------------------------------------------------------------


class EdgeGraph(nn.Module):
    """uint8 N x C x H x W -> the reduced feature: what ``bundle.edge.features`` computes."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, bundle: Bundle) -> None:
        super().__init__()
        self.model = bundle.model
        pre = bundle.spec.preprocess
        self.register_buffer("mean", torch.tensor(pre.mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(pre.std).view(1, -1, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (images.float() / 255.0 - self.mean) / self.std  # as Preprocess, op for op
        return self.model.edge(x)


class CloudGraph(nn.Module):
    """A decoded feature -> logits: what ``bundle.cloud.run`` computes."""

    def __init__(self, bundle: Bundle) -> None:
        super().__init__()
        self.model = bundle.model

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model.cloud(z)


class FullGraph(nn.Module):
    """uint8 images -> logits on one device (mobile-only in a browser): what
    :meth:`Bundle.unsplit` computes. The bundle's unsplit baseline when it carries one;
    else its split network with the quantization in between (:meth:`Bundle.full`), which
    only a learned-prior bundle can express in ONNX ops."""

    def __init__(self, bundle: Bundle) -> None:
        super().__init__()
        self.baseline = bundle.baseline
        self.step = 0.0
        if self.baseline is None:
            prior = bundle.model.prior
            if prior is None:
                raise BadInput(
                    f"bundle {bundle.spec.id}: only learned-prior bundles or bundles with a "
                    f"baseline export the whole network (its codec {bundle.spec.codec!r} "
                    "is not an ONNX op)"
                )
            self.step = float(prior.levels - 1)
        self.edge = EdgeGraph(bundle)
        self.model = bundle.model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.baseline is not None:
            x = (images.float() / 255.0 - self.edge.mean) / self.edge.std  # as Preprocess
            return self.baseline(x)
        z = self.edge(images)
        q = torch.round(z.clamp(0, 1) * self.step) / self.step  # as quantize_ste, forward
        return self.model.cloud(q)


# --- export ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_bundle` wrote."""

    bundle: str
    fingerprint: str
    opset: int
    exporter: str
    edge_path: str
    edge_bytes: int
    feature_shape: tuple[int, ...]  # per image, batch axis included as 1
    cloud_path: str | None = None
    cloud_bytes: int | None = None
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _metadata(bundle: Bundle, half: str, opset: int) -> dict[str, str]:
    return {
        f"{_META}half": half,
        f"{_META}bundle": bundle.spec.id,
        f"{_META}fingerprint": f"{bundle.fingerprint:#010x}",
        f"{_META}codec": bundle.spec.codec,
        f"{_META}input_shape": ",".join(map(str, bundle.spec.input_shape)),
        f"{_META}feature_shape": ",".join(map(str, bundle.feature_shape[1:])),
        f"{_META}exporter": f"{EXPORTER} torch {torch.__version__} opset {opset}",
    }


def _export(
    graph: nn.Module,
    example: torch.Tensor,
    path: Path,
    names: tuple[str, str],
    meta: dict[str, str],
    opset: int,
) -> int:
    """Trace ``graph`` on ``example`` into ``path`` with a dynamic batch axis; its size."""
    import onnx

    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            graph.eval(), (example,), str(path), dynamo=False, opset_version=opset,
            input_names=[names[0]], output_names=[names[1]],
            dynamic_axes={names[0]: {0: "batch"}, names[1]: {0: "batch"}},
        )  # fmt: skip
    proto = onnx.load(str(path))
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return path.stat().st_size


def _check_opset(opset: int) -> None:
    require("onnx", "onnx")
    if not isinstance(opset, int) or isinstance(opset, bool) or not MIN_OPSET <= opset <= MAX_OPSET:
        raise BadInput(f"opset must be an integer in {MIN_OPSET}..{MAX_OPSET}, got {opset!r}")


def export_edge(bundle: Bundle, path: str | Path, opset: int = DEFAULT_OPSET) -> int:
    """Write the edge half: ``images`` (uint8, batch x C x H x W) -> ``features`` (float32).

    Returns the file's size in bytes.
    """
    _check_opset(opset)
    images = torch.zeros(2, *bundle.spec.input_shape, dtype=torch.uint8)
    meta = _metadata(bundle, "edge", opset)
    return _export(EdgeGraph(bundle), images, Path(path), ("images", "features"), meta, opset)


def export_cloud(bundle: Bundle, path: str | Path, opset: int = DEFAULT_OPSET) -> int:
    """Write the cloud half: ``features`` (float32, batch x c x h x w) -> ``logits``.

    Returns the file's size in bytes.
    """
    _check_opset(opset)
    z = torch.zeros(2, *bundle.feature_shape[1:])
    meta = _metadata(bundle, "cloud", opset)
    return _export(CloudGraph(bundle), z, Path(path), ("features", "logits"), meta, opset)


def export_full(bundle: Bundle, path: str | Path, opset: int = DEFAULT_OPSET) -> int:
    """Write the whole network: ``images`` (uint8) -> ``logits`` (see :class:`FullGraph`)."""
    _check_opset(opset)
    images = torch.zeros(2, *bundle.spec.input_shape, dtype=torch.uint8)
    meta = _metadata(bundle, "full", opset)
    return _export(FullGraph(bundle), images, Path(path), ("images", "logits"), meta, opset)


def export_bundle(
    bundle: Bundle,
    edge_path: str | Path,
    cloud_path: str | Path | None = None,
    opset: int = DEFAULT_OPSET,
) -> ExportReport:
    """Write the edge half (and, given ``cloud_path``, the cloud half) as ONNX files with a
    dynamic batch axis; see :func:`export_edge` and :func:`export_cloud`."""
    start = time.perf_counter()
    edge_bytes = export_edge(bundle, edge_path, opset)
    cloud_bytes = None if cloud_path is None else export_cloud(bundle, cloud_path, opset)
    return ExportReport(
        bundle=bundle.spec.id, fingerprint=f"{bundle.fingerprint:#010x}", opset=opset,
        exporter=EXPORTER, edge_path=str(edge_path), edge_bytes=edge_bytes,
        feature_shape=tuple(bundle.feature_shape),
        cloud_path=None if cloud_path is None else str(cloud_path), cloud_bytes=cloud_bytes,
        seconds=time.perf_counter() - start,
    )  # fmt: skip
