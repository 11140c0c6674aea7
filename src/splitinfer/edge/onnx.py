"""ONNX export of a bundle's two halves, and ONNX Runtime engines that stand in for them.

    edge.onnx:  uint8 images -> preprocess -> head -> reduction -> z    (then codec, frame)
    cloud.onnx: z (frame, codec decode) -> restoration -> tail -> logits

The codec stays Python: quantizers, tiling, image and entropy coders are not ONNX ops,
and the frame must be byte-identical whichever engine computed ``z``. The engines reuse
:class:`~splitinfer.bundle.EdgeHalf` / :class:`~splitinfer.bundle.CloudHalf` for framing
and decoding, so the byte layout stays in :mod:`splitinfer.wire`::

    report = export_bundle(bundle, "edge.onnx", "cloud.onnx")
    engine = OnnxEdgeEngine(bundle, "edge.onnx")
    frames = engine.encode(images_u8)                 # as bundle.edge.encode(images_u8)
    check_agreement(bundle, engine, images_u8, labels)

Exporter: the TorchScript-based one (``torch.onnx.export(..., dynamo=False)``). The
torch.export-based exporter (torch's default since 2.9) needs ``onnxscript``, which the
``onnx`` extra does not install; the TorchScript one traces the fx halves as they are,
with a dynamic batch axis from ``dynamic_axes``, and folds BatchNorm into the
convolutions. torch marks it deprecated; its warnings are silenced here.

Each file carries the bundle's id and fingerprint in its metadata, and an engine refuses a
file exported from another bundle (a stale ``edge.onnx`` would otherwise produce frames
the server decodes under the wrong weights).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch

from splitinfer.bundle import Bundle
from splitinfer.errors import BadBundle, BadInput, require
from splitinfer.onnx_export import (  # export (graphs, metadata) lives in core
    _META,
    DEFAULT_OPSET,
    export_cloud,
    export_edge,
)

# --- engines -----------------------------------------------------------------------------


def _session(path: Path, threads: int | None) -> Any:
    """An ONNX Runtime CPU session, ``threads`` intra-op threads (default: torch's count)."""
    require("onnxruntime", "onnx")
    import onnxruntime as ort

    if threads is None:
        threads = torch.get_num_threads()
    if not isinstance(threads, int) or threads < 1:
        raise BadInput(f"threads must be a positive integer, got {threads!r}")
    if not path.is_file():
        raise BadInput(f"no ONNX file at {path}; write one with `splitinfer export`")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own exception types for bad files
        raise BadBundle(f"ONNX Runtime cannot load {path}: {err}") from err


def _check_metadata(session: Any, bundle: Bundle, half: str, path: Path) -> None:
    meta = session.get_modelmeta().custom_metadata_map
    if meta.get(f"{_META}half") != half:
        raise BadBundle(f"{path} is not an exported {half} half (see `splitinfer export`)")
    fingerprint = f"{bundle.fingerprint:#010x}"
    if meta.get(f"{_META}fingerprint") != fingerprint:
        raise BadBundle(
            f"{path} was exported from bundle {meta.get(f'{_META}bundle')!r} "
            f"({meta.get(f'{_META}fingerprint')}), but this is {bundle.spec.id} ({fingerprint}); "
            f"re-export it with `splitinfer export`"
        )


_Half = TypeVar("_Half", bound="_OnnxHalf")


class _OnnxHalf:
    half = ""
    input_name = ""

    def __init__(self, bundle: Bundle, onnx_path: str | Path, *, threads: int | None = None):
        self.bundle = bundle
        self.path: Path | None = Path(onnx_path)
        self.session = _session(self.path, threads)
        _check_metadata(self.session, bundle, self.half, self.path)

    @classmethod
    def from_bundle(
        cls: type[_Half],
        bundle: Bundle,
        path: str | Path | None = None,
        *,
        threads: int | None = None,
        opset: int = DEFAULT_OPSET,
    ) -> _Half:
        """Export this half (edge or cloud) to ``path`` (a temporary file when None) and
        load it."""
        if path is not None:
            (export_edge if cls.half == "edge" else export_cloud)(bundle, path, opset)
            return cls(bundle, path, threads=threads)
        with tempfile.TemporaryDirectory(prefix="splitinfer-onnx-") as tmp:
            engine = cls.from_bundle(
                bundle, Path(tmp) / f"{cls.half}.onnx", threads=threads, opset=opset
            )
        engine.path = None  # the session holds the model; the temporary file is gone
        return engine

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        (out,) = self.session.run(None, {self.input_name: x.contiguous().numpy()})
        return torch.from_numpy(out)


class OnnxEdgeEngine(_OnnxHalf):
    """A bundle's edge half on ONNX Runtime: ``features`` from ``edge.onnx``, framing from
    ``bundle.edge``. Drop-in for :class:`~splitinfer.bundle.EdgeHalf`.

    threads: ONNX Runtime intra-op threads (default: ``torch.get_num_threads()``, so a
    side-by-side comparison with torch is like for like; 1 suits a small device).
    """

    half = "edge"
    input_name = "images"

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images (N, C, H, W) -> the reduced features (float32), as
        ``bundle.edge.features``."""
        _check_images(images, self.bundle.spec.input_shape, self.bundle.spec.id)
        return self._run(images)

    def frame(self, z: torch.Tensor, request_id: int) -> bytes:
        """One image's feature (1 x c x h x w) -> a compact frame (``bundle.edge.frame``)."""
        return self.bundle.edge.frame(z, request_id)

    def encode(self, images: torch.Tensor, first_request_id: int = 0) -> list[bytes]:
        """One compact frame per image, request ids counting up from ``first_request_id``."""
        z = self.features(images)
        return [self.frame(z[i : i + 1], first_request_id + i) for i in range(len(z))]


class OnnxCloudEngine(_OnnxHalf):
    """A bundle's cloud half on ONNX Runtime: decoding by ``bundle.cloud``, then
    restoration + tail from ``cloud.onnx``."""

    half = "cloud"
    input_name = "features"

    def run(self, z: torch.Tensor) -> torch.Tensor:
        """Decoded features (N, c, h, w) -> logits, as ``bundle.cloud.run``."""
        expected = tuple(self.bundle.feature_shape[1:])
        if not isinstance(z, torch.Tensor) or z.dim() != 4 or tuple(z.shape[1:]) != expected:
            shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise BadInput(
                f"bundle {self.bundle.spec.id} takes features N x {expected}, got {shape}"
            )
        if len(z) == 0:
            raise BadInput("run takes at least one feature")
        return self._run(z.detach().float())

    def decode_and_run(self, frame: bytes) -> torch.Tensor:
        return self.run(self.bundle.cloud.decode(frame)[1])


def _check_images(images: object, shape: tuple[int, int, int], bundle_id: str) -> None:
    if not isinstance(images, torch.Tensor):
        raise BadInput(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.dtype != torch.uint8:
        raise BadInput(f"images must be uint8 N x C x H x W, got {images.dtype}")
    if images.dim() != 4 or tuple(images.shape[1:]) != shape:
        raise BadInput(
            f"bundle {bundle_id} takes images of shape N x {shape}, got {tuple(images.shape)}"
        )
    if len(images) == 0:
        raise BadInput("features takes at least one image")


# --- agreement ---------------------------------------------------------------------------


def _symbols(codec: object, z: torch.Tensor) -> torch.Tensor:
    """What the codec's entropy coder sees for one feature: its quantized symbols.

    A codec with a ``symbols`` method (the learned prior's) gives them directly; a
    pipeline gives its transforms' output (``quant`` levels, tiled); a codec with
    neither is compared on the feature itself.
    """
    from splitinfer.codecs import Pipeline
    from splitinfer.codecs.dtypes import check_input

    symbols = getattr(codec, "symbols", None)
    if callable(symbols):
        return torch.as_tensor(symbols(z))
    if not isinstance(codec, Pipeline):
        return z
    t = check_input(z)
    for transform, kind in zip(codec.transforms, codec.kinds, strict=False):
        t, _ = transform.forward(t, kind)
    return t


@dataclass
class _Tally:
    images: int = 0
    max_abs_diff: float = 0.0
    symbols: int = 0
    symbols_differ: int = 0
    frames_equal: int = 0
    agree: int = 0
    correct_torch: int = 0
    correct_onnx: int = 0
    bytes_torch: int = 0
    bytes_onnx: int = 0
    agree_cloud: int = 0
    correct_cloud: int = 0
    max_logit_diff: float = 0.0


def check_agreement(
    bundle: Bundle,
    engine: OnnxEdgeEngine,
    images_u8: torch.Tensor,
    labels: torch.Tensor,
    *,
    cloud: OnnxCloudEngine | None = None,
    batch_size: int = 256,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Run ``images_u8`` through the torch edge half and ``engine``, one frame per image,
    and compare: feature max abs difference, quantized symbols that differ (a float
    difference can move a value across a level boundary), byte-equal frames, and the cloud
    prediction (``bundle.cloud.decode_and_run`` on each engine's frame) with each accuracy.

    With ``cloud``, the ONNX edge's frames also go through the ONNX cloud half and are
    compared with the all-torch path (``*_onnx_cloud`` keys). ``progress`` gets the
    number of images done after each batch.
    """
    if not isinstance(labels, torch.Tensor) or labels.dim() != 1 or len(labels) != len(images_u8):
        raise BadInput("labels must be a 1-D tensor with one label per image")
    if batch_size < 1:
        raise BadInput(f"batch_size must be positive, got {batch_size}")
    tally, start = _Tally(), time.perf_counter()
    for lo in range(0, len(images_u8), batch_size):
        chunk, y = images_u8[lo : lo + batch_size], labels[lo : lo + batch_size]
        _compare_batch(bundle, engine, cloud, chunk, y, lo, tally)
        if progress is not None:
            progress(tally.images)
    return _summary(bundle, tally, cloud is not None, time.perf_counter() - start)


def _compare_batch(
    bundle: Bundle,
    engine: OnnxEdgeEngine,
    cloud: OnnxCloudEngine | None,
    images: torch.Tensor,
    labels: torch.Tensor,
    first_id: int,
    t: _Tally,
) -> None:
    zt, zo = bundle.edge.features(images), engine.features(images)
    t.max_abs_diff = max(t.max_abs_diff, float((zt - zo).abs().max()))
    for i in range(len(images)):
        a, b = zt[i : i + 1], zo[i : i + 1]
        sa, sb = _symbols(bundle.codec, a), _symbols(bundle.codec, b)
        t.symbols += sa.numel()
        t.symbols_differ += int((sa != sb).sum())
        fa, fb = bundle.edge.frame(a, first_id + i), engine.frame(b, first_id + i)
        t.bytes_torch, t.bytes_onnx = t.bytes_torch + len(fa), t.bytes_onnx + len(fb)
        logits = bundle.cloud.decode_and_run(fa)
        pa = int(logits.argmax(1)[0])
        # decode_and_run is deterministic: equal frames give equal predictions.
        pb = pa if fa == fb else int(bundle.cloud.decode_and_run(fb).argmax(1)[0])
        t.frames_equal += fa == fb
        t.agree += pa == pb
        label = int(labels[i])
        t.correct_torch += pa == label
        t.correct_onnx += pb == label
        if cloud is not None:
            lc = cloud.decode_and_run(fb)
            pc = int(lc.argmax(1)[0])
            if fa == fb:
                t.max_logit_diff = max(t.max_logit_diff, float((lc - logits).abs().max()))
            t.agree_cloud += pc == pa
            t.correct_cloud += pc == label
        t.images += 1


def _summary(bundle: Bundle, t: _Tally, with_cloud: bool, seconds: float) -> dict[str, Any]:
    n = max(t.images, 1)
    out: dict[str, Any] = {
        "bundle": bundle.spec.id,
        "codec": bundle.spec.codec,
        "images": t.images,
        "feature_max_abs_diff": t.max_abs_diff,
        "symbols": t.symbols,
        "symbols_differ": t.symbols_differ,
        "symbol_diff_rate": t.symbols_differ / max(t.symbols, 1),
        "frames_equal_rate": t.frames_equal / n,
        "prediction_agreement": t.agree / n,
        "accuracy_torch": t.correct_torch / n,
        "accuracy_onnx": t.correct_onnx / n,
        "mean_frame_bytes_torch": t.bytes_torch / n,
        "mean_frame_bytes_onnx": t.bytes_onnx / n,
        "seconds": seconds,
    }
    if with_cloud:
        out.update(
            prediction_agreement_onnx_cloud=t.agree_cloud / n,
            accuracy_onnx_cloud=t.correct_cloud / n,
            logit_max_abs_diff_onnx_cloud=t.max_logit_diff,
        )
    return out
