"""Bundle: the deployable artifact of one trained split, and its two halves.

A bundle is a directory::

    spec.json            what it is: model, cut, unit, codec, input preprocessing,
                         classes, metrics measured when built, the command that built it
    weights.safetensors  the model's and the units' weights (no pickle, ever)

``Bundle.load`` validates the spec field by field, checks the weights' SHA-256 against
the spec, rebuilds the model from the zoo, cuts it, and attaches the units. The bundle's
*fingerprint* (what compact frames carry) hashes the canonical spec, which includes the
weights digest, so a retrained bundle never decodes frames meant for its predecessor.

    bundle = Bundle.load("bundles/fmnist")
    frames = bundle.edge.encode(images)            # one compact frame per image
    logits = bundle.cloud.decode_and_run(frames[0])

A *multi-rate* bundle holds several rate points that share the head and the tail: point 0
is the spec's own ``unit``/``codec`` (tensors ``reduction.*``, ``restoration.*``,
``prior.*``), point ``k >= 1`` is ``rates[k-1]`` in the spec (tensors ``rate<k>.*``), each
with the accuracy and bytes measured when it was built. Its frames carry the rate index
(``wire.FLAG_HAS_RATE``); the edge switches point per call, the cloud decodes every one::

    frames = bundle.edge.encode(images, rate=2)    # point 2's unit and codec
    logits = bundle.cloud.decode_and_run(frames[0])  # the frame says which point
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from splitinfer import codecs, wire
from splitinfer.bottleneck import BottleneckModel, UnitConfig, insert_bottleneck
from splitinfer.errors import (
    BadBundle,
    BadFrame,
    BadInput,
    CodecError,
    SplitInferError,
    UnknownBundle,
    UnknownRate,
)
from splitinfer.partition import split

BUNDLE_FORMAT = "splitinfer.bundle/1"
SPEC_FILE = "spec.json"
WEIGHTS_FILE = "weights.safetensors"
#: the unsplit baseline's weights, beside the bundle's, referenced by digest from the spec
BASELINE_FILE = "baseline.safetensors"
MAX_SPEC_BYTES = 1 << 20
# The spec is read before the weights and the model is built from it: these bound what a
# spec alone can make `Bundle.load` allocate (ImageNet-21k has 21,843 classes).
MAX_CLASSES = 32_768
MAX_WEIGHTS_BYTES = 2 << 30
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_RATE_PREFIX_RE = re.compile(r"^rate([1-9][0-9]{0,2})$")
#: Most rate points one bundle holds (the frame's rate index is one byte).
MAX_RATES = wire.MAX_RATE + 1

#: The bundle shipped in the repository (``make demo`` and the docs use it).
DEFAULT_BUNDLE_ID = "fmnist-r10-stage3-l005"
#: The default before the full-budget sweep (cut at stage1), still shipped: the coders'
#: golden vectors and fingerprints, and the figures measured before the switch, use it.
STAGE1_BUNDLE_ID = "fmnist-r10-stage1-l0012"


def shipped_bundle_path(bundle_id: str = DEFAULT_BUNDLE_ID) -> Path:
    """The folder of a bundle shipped inside the package (``splitinfer/bundles/<id>``; in a
    checkout, also reachable as ``bundles/<id>``, a link to it)."""
    from importlib.resources import files

    shipped = files("splitinfer").joinpath("bundles", bundle_id)
    if not isinstance(shipped, Path):  # e.g. imported from a zip archive
        raise BadBundle(
            f"the bundle {bundle_id} ships inside the package ({shipped}), which is not on a "
            "file system here; pass --bundle or set SPLITINFER_DEFAULT_BUNDLE"
        )
    return shipped


def default_bundle_path() -> Path:
    """Where the shipped default bundle lives: ``$SPLITINFER_DEFAULT_BUNDLE``, else
    :func:`shipped_bundle_path` of :data:`DEFAULT_BUNDLE_ID`."""
    import os

    env = os.environ.get("SPLITINFER_DEFAULT_BUNDLE")
    return Path(env) if env else shipped_bundle_path(DEFAULT_BUNDLE_ID)


@dataclass(frozen=True)
class Preprocess:
    """uint8 image -> float model input: ``(x / 255 - mean) / std`` per channel."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype != torch.uint8:
            raise BadInput(f"images must be uint8 N x C x H x W, got {images.dtype}")
        mean = torch.tensor(self.mean).view(1, -1, 1, 1)
        std = torch.tensor(self.std).view(1, -1, 1, 1)
        return (images.float() / 255.0 - mean) / std


@dataclass(frozen=True)
class RatePoint:
    """One extra rate point of a multi-rate bundle: its unit, its codec, its measurements."""

    unit: UnitConfig
    codec: str
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"unit": self.unit.to_dict(), "codec": self.codec, "metrics": self.metrics}


@dataclass(frozen=True)
class BundleSpec:
    """Everything ``spec.json`` holds, validated."""

    id: str
    model: str
    num_classes: int
    in_channels: int
    input_shape: tuple[int, int, int]  # C, H, W
    cut: str
    unit: UnitConfig | None
    codec: str
    classes: tuple[str, ...]
    preprocess: Preprocess
    weights_sha256: str
    metrics: dict[str, Any] = field(default_factory=dict)
    built_by: str = ""
    created: str = ""
    #: the unsplit model the baselines run: {"weights", "sha256", "accuracy", "built_by"}
    baseline: dict[str, Any] | None = None
    #: a multi-rate bundle's points 1.. (point 0 is ``unit``/``codec``/``metrics``)
    rates: tuple[RatePoint, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = self._json()
        if self.baseline is not None:  # absent, not null: older specs stay byte-identical
            data["baseline"] = self.baseline
        return data

    def _json(self) -> dict[str, Any]:
        return {
            "format": BUNDLE_FORMAT,
            "id": self.id,
            "model": {
                "name": self.model,
                "num_classes": self.num_classes,
                "in_channels": self.in_channels,
            },
            "input": {
                "shape": list(self.input_shape),
                "dtype": "uint8",
                "mean": list(self.preprocess.mean),
                "std": list(self.preprocess.std),
            },
            "cut": self.cut,
            "unit": self.unit.to_dict() if self.unit else None,
            "codec": self.codec,
            "classes": list(self.classes),
            "weights_sha256": self.weights_sha256,
            "metrics": self.metrics,
            "built_by": self.built_by,
            "created": self.created,
            # absent, not empty, on a single-rate bundle: its canonical spec (so its
            # fingerprint and frames) stays byte-identical
            **({"rates": [r.to_json() for r in self.rates]} if self.rates else {}),
        }

    def canonical(self) -> bytes:
        """The bytes the fingerprint hashes: sorted-key JSON, without metrics or dates.

        The baseline is left out too: it does not touch the split path, so adding one keeps
        the fingerprint, and so the frames, byte-identical.
        """
        data = self._json()
        for volatile in ("metrics", "built_by", "created"):
            data.pop(volatile)
        for point in data.get("rates", []):
            point.pop("metrics")
        return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: Any) -> BundleSpec:
        try:
            return _parse_spec(data)
        except BadBundle:
            raise
        except (KeyError, TypeError, ValueError, SplitInferError) as err:
            raise BadBundle(f"invalid bundle spec: {type(err).__name__}: {err}") from err


def _get(data: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in data:
        raise BadBundle(f"bundle spec lacks {key!r}")
    value = data[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise BadBundle(f"bundle spec field {key!r} has the wrong type ({type(value).__name__})")
    return value


def check_bundle_id(bundle_id: str) -> str:
    """``bundle_id`` if it is a valid bundle id, else :class:`BadBundle` saying why.

    Trainers call this before they start, so a bad ``--bundle-id`` fails in a second,
    not after the training it was meant to name.
    """
    if not _ID_RE.match(bundle_id):
        raise BadBundle(
            f"bundle id {bundle_id!r} must be 1-64 of a-z 0-9 . _ - and start with a letter "
            "or digit (no paths)"
        )
    return bundle_id


def _parse_spec(data: Any) -> BundleSpec:
    if not isinstance(data, dict):
        raise BadBundle("spec.json must hold a JSON object")
    if data.get("format") != BUNDLE_FORMAT:
        raise BadBundle(f"unknown bundle format {data.get('format')!r}; expected {BUNDLE_FORMAT}")
    bundle_id = check_bundle_id(_get(data, "id", str))
    model = _get(data, "model", dict)
    inp = _get(data, "input", dict)
    shape = tuple(int(v) for v in _get(inp, "shape", list))
    if len(shape) != 3 or min(shape) < 1 or max(shape) > 4096:
        raise BadBundle(f"input shape must be C,H,W with sides in 1..4096, got {shape}")
    mean = tuple(float(v) for v in _get(inp, "mean", list))
    std = tuple(float(v) for v in _get(inp, "std", list))
    if len(mean) != shape[0] or len(std) != shape[0] or min(std) <= 0:
        raise BadBundle("input mean/std need one value per channel and std > 0")
    unit = data.get("unit")
    classes = tuple(str(c) for c in _get(data, "classes", list))
    num_classes = _get(model, "num_classes", int)
    if not 1 <= num_classes <= MAX_CLASSES:
        raise BadBundle(f"num_classes must be in 1..{MAX_CLASSES}, got {num_classes}")
    if len(classes) != num_classes:
        raise BadBundle(f"{len(classes)} class names for {num_classes} classes")
    sha = _get(data, "weights_sha256", str)
    if not re.fullmatch(r"[0-9a-f]{64}", sha):
        raise BadBundle("weights_sha256 must be 64 lowercase hex digits")
    codec = _get(data, "codec", str)
    codecs.canonical_text(codec)  # raises BadCodecSpec on a bad spec
    if codecs.needs_state(codec) and unit is None:
        raise BadBundle(f"codec {codec} codes a butterfly unit's output: the spec has no unit")
    return BundleSpec(
        id=bundle_id,
        model=_get(model, "name", str),
        num_classes=num_classes,
        in_channels=_get(model, "in_channels", int),
        input_shape=(shape[0], shape[1], shape[2]),
        cut=_get(data, "cut", str),
        unit=UnitConfig.from_dict(unit) if unit is not None else None,
        codec=codec,
        classes=classes,
        preprocess=Preprocess(mean, std),
        weights_sha256=sha,
        metrics=dict(data.get("metrics") or {}),
        built_by=str(data.get("built_by", "")),
        created=str(data.get("created", "")),
        baseline=_parse_baseline(data.get("baseline")),
        rates=_parse_rates(data.get("rates"), unit is not None),
    )


def _parse_rates(data: Any, has_unit: bool) -> tuple[RatePoint, ...]:
    """A multi-rate spec's extra points (absent: a single-rate bundle)."""
    if data is None:
        return ()
    if not isinstance(data, list) or not data:
        raise BadBundle("bundle spec field 'rates' must be a non-empty list when present")
    if len(data) + 1 > MAX_RATES:
        raise BadBundle(f"a bundle holds at most {MAX_RATES} rate points, not {len(data) + 1}")
    if not has_unit:
        raise BadBundle("a multi-rate bundle's points are butterfly units: the spec has no unit")
    points = []
    for i, point in enumerate(data, start=1):
        if not isinstance(point, dict) or set(point) - {"unit", "codec", "metrics"}:
            raise BadBundle(f"rate point {i} must be an object with unit, codec and metrics")
        codec = _get(point, "codec", str)
        codecs.canonical_text(codec)  # raises BadCodecSpec on a bad spec
        unit = UnitConfig.from_dict(_get(point, "unit", dict))
        points.append(RatePoint(unit, codec, dict(point.get("metrics") or {})))
    return tuple(points)


def _parse_baseline(data: Any) -> dict[str, Any] | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise BadBundle("bundle spec field 'baseline' must be an object")
    if _get(data, "weights", str) != BASELINE_FILE:
        raise BadBundle(f"the baseline's weights must be {BASELINE_FILE}, beside spec.json")
    if not re.fullmatch(r"[0-9a-f]{64}", _get(data, "sha256", str)):
        raise BadBundle("baseline sha256 must be 64 lowercase hex digits")
    accuracy = data.get("accuracy")
    if accuracy is not None and not (isinstance(accuracy, float) and 0.0 <= accuracy <= 1.0):
        raise BadBundle("baseline accuracy must be a fraction in 0..1 or absent")
    return {
        "weights": BASELINE_FILE, "sha256": data["sha256"], "accuracy": accuracy,
        "built_by": str(data.get("built_by", "")),
    }  # fmt: skip


class EdgeHalf:
    """What runs on the device: preprocess -> head -> reduction -> encode -> frame."""

    def __init__(self, bundle: Bundle) -> None:
        self._b = bundle

    @torch.no_grad()
    def features(self, images: torch.Tensor, rate: int = 0) -> torch.Tensor:
        """uint8 images (N, C, H, W) -> the reduced features the codec encodes.

        ``rate``: a multi-rate bundle's point (0, the spec's own unit, by default).
        """
        b = self._b
        if tuple(images.shape[1:]) != b.spec.input_shape:
            raise BadInput(
                f"bundle {b.spec.id} takes images of shape {b.spec.input_shape}, "
                f"got {tuple(images.shape[1:])}"
            )
        return b.rate_model(rate).edge(b.spec.preprocess(images))

    def frame(self, z: torch.Tensor, request_id: int, rate: int = 0) -> bytes:
        """Encode one image's reduced feature (1 x c x h x w) into a compact frame.

        A multi-rate bundle's frames always carry the rate index; a single-rate bundle's
        never do (so they stay byte-identical to the frames before rates existed).
        """
        b = self._b
        codec = b.rate_codec(rate)
        header = wire.FrameHeader(
            request_id=request_id, bundle=b.fingerprint, rate=rate if b.multirate else None
        )
        return wire.encode_frame(header, codec.encode(z))

    def encode(self, images: torch.Tensor, first_request_id: int = 0, rate: int = 0) -> list[bytes]:
        """One compact frame per image, request ids counting up from ``first_request_id``.

        ``rate`` picks a multi-rate bundle's point per call: switching needs no reload.
        """
        z = self.features(images, rate)
        return [self.frame(z[i : i + 1], first_request_id + i, rate) for i in range(len(z))]


class CloudHalf:
    """What runs on the server: frame -> decode -> restoration -> tail -> logits.

    :meth:`decode` is THE cloud decode path: the server (``DataPlane``), the evaluation,
    the demo and the ONNX check all run it, so each refuses what the others refuse::

        frame -> wire.decode_frame -> check_header (fingerprint; a described frame must
              describe this bundle's codec and shape) -> codec.decode (the codec's caps)
              -> check_feature (shape, float32, finite) -> feature

    The server splits it in two (:meth:`check_header` on the event loop, :meth:`decode_payload`
    on the batch worker); both halves are the ones :meth:`decode` calls.
    """

    def __init__(self, bundle: Bundle) -> None:
        self._b = bundle

    def decode(self, frame: bytes) -> tuple[wire.FrameHeader, torch.Tensor]:
        """One frame -> its header and the checked feature, or a typed error.

        The feature is the one of the frame's rate point (``header.rate``, else 0): run it
        with ``run(z, header.rate or 0)``.
        """
        header, payload = wire.decode_frame(frame)
        self.check_header(header)
        return header, self.decode_payload(payload, header.rate or 0)

    def check_header(self, header: wire.FrameHeader) -> None:
        """Refuse a frame this bundle must not decode: another bundle's (UnknownBundle), a
        rate point it does not hold (UnknownRate, a 400), or a described frame claiming
        another codec or shape (BadFrame), so the bundle's codec never decodes a payload
        with parameters it does not claim."""
        b = self._b
        if header.bundle != b.fingerprint:
            raise UnknownBundle(
                f"frame is for bundle {header.bundle:#010x} but this is {b.spec.id} "
                f"({b.fingerprint:#010x}); the edge may hold a stale bundle"
                if header.bundle is not None
                else "frame names no bundle"
            )
        if header.rate is not None:
            b.check_rate(header.rate)
        if header.codec_spec is None:
            return
        from splitinfer import codecs

        spec = header.codec_spec
        if spec != b.spec.codec:  # maybe the same codec, written another way
            spec = codecs.canonical_text(spec)  # BadCodecSpec (400) if it does not parse
        if spec != b.spec.codec or header.shape != b.feature_shape:
            raise BadFrame(
                f"described frame holds {header.shape} coded as {spec!r}, but bundle {b.spec.id} "
                f"decodes {b.feature_shape} coded as {b.spec.codec!r}; send a compact frame"
            )

    def decode_payload(self, payload: bytes, rate: int = 0) -> torch.Tensor:
        """The codec of rate point ``rate`` on a frame's payload, then :meth:`check_feature`."""
        return self.check_feature(self._b.rate_codec(rate).decode(payload), rate)

    def check_feature(self, z: torch.Tensor, rate: int = 0) -> torch.Tensor:
        """``z`` if it is what the tail takes: the feature shape, float32, all finite."""
        b = self._b
        shape = b.rate_feature_shape(rate)
        if tuple(z.shape) != shape:
            raise BadFrame(f"decoded feature {tuple(z.shape)} != {shape}")
        if z.dtype != torch.float32:  # the edge half always encodes float32 features
            raise BadFrame(f"decoded feature is {z.dtype}, bundle {b.spec.id} takes float32")
        if not bool(torch.isfinite(z).all()):
            raise BadFrame("decoded feature holds NaN or Inf; the payload is corrupt")
        return z

    @torch.no_grad()
    def run(self, z: torch.Tensor, rate: int = 0) -> torch.Tensor:
        """Decoded features of rate point ``rate`` -> logits (restoration, then the tail)."""
        return self._b.rate_model(rate).cloud(z)

    def decode_and_run(self, frame: bytes) -> torch.Tensor:
        header, z = self.decode(frame)
        return self.run(z, header.rate or 0)


class Bundle:
    """A loaded bundle: spec, model (eval mode), codec, and its edge and cloud halves."""

    def __init__(
        self,
        spec: BundleSpec,
        source: nn.Module,
        model: BottleneckModel,
        baseline: nn.Module | None = None,
        rates: Sequence[BottleneckModel] = (),
    ) -> None:
        if len(rates) != len(spec.rates):
            raise BadBundle(f"the spec lists {len(spec.rates)} extra rate points, got {len(rates)}")
        self.spec = spec
        #: the unsplit model cloud-only and mobile-only run, when the bundle carries one
        self.baseline = baseline.eval() if baseline is not None else None
        self.source = source.eval()  # the unsplit backbone the halves share weights with
        self.model = model.eval()
        self.fingerprint = wire.bundle_fingerprint(spec.canonical())
        self.feature_shape, self.codec = self._point(model, spec.codec)
        #: every rate point as (model, feature shape, codec); point 0 is model/codec above
        self.points: tuple[tuple[BottleneckModel, tuple[int, ...], codecs.Codec], ...] = (
            (self.model, self.feature_shape, self.codec),
            *((m.eval(), *self._point(m, p.codec)) for m, p in zip(rates, spec.rates, strict=True)),
        )
        self.edge = EdgeHalf(self)
        self.cloud = CloudHalf(self)

    def _point(self, model: BottleneckModel, codec: str) -> tuple[tuple[int, ...], codecs.Codec]:
        c, h, w = self.spec.input_shape
        with torch.no_grad():
            shape = tuple(model.edge(torch.zeros(1, c, h, w)).shape)
        # The codec decodes this bundle's features and nothing bigger: its caps say so, so
        # a tiny frame declaring a huge tensor is refused before anything is allocated.
        # A stateful codec (a learned prior's) is built with the tables the weights hold.
        state = model.prior.state() if model.prior is not None else None
        limits = codecs.Limits.for_elements(math.prod(shape))
        return shape, codecs.create(codec, state=state, limits=limits)

    # --- rate points -------------------------------------------------------------------

    @property
    def rate_count(self) -> int:
        """How many rate points this bundle holds (1 for a single-rate bundle)."""
        return len(self.points)

    @property
    def multirate(self) -> bool:
        """True when the bundle holds several rate points (its frames carry a rate index)."""
        return len(self.points) > 1

    def check_rate(self, rate: int) -> int:
        """``rate`` if this bundle holds that point, else :class:`UnknownRate` (a 400)."""
        if isinstance(rate, bool) or not isinstance(rate, int) or not 0 <= rate < len(self.points):
            raise UnknownRate(
                f"bundle {self.spec.id} holds rate points 0..{len(self.points) - 1}; "
                f"got rate index {rate!r}"
            )
        return rate

    def rate_model(self, rate: int) -> BottleneckModel:
        return self.points[self.check_rate(rate)][0]

    def rate_feature_shape(self, rate: int) -> tuple[int, ...]:
        return self.points[self.check_rate(rate)][1]

    def rate_codec(self, rate: int) -> codecs.Codec:
        return self.points[self.check_rate(rate)][2]

    def rate_points(self) -> list[dict[str, Any]]:
        """Each point's index, unit, codec and the accuracy and bytes measured at build."""
        specs = [(self.spec.unit, self.spec.codec, self.spec.metrics)]
        specs += [(p.unit, p.codec, p.metrics) for p in self.spec.rates]
        return [
            {
                "rate": i,
                "unit": unit.to_dict() if unit is not None else None,
                "codec": codec,
                "accuracy": metrics.get("accuracy"),
                "mean_frame_bytes": metrics.get("mean_frame_bytes"),
                "mean_payload_bytes": metrics.get("mean_payload_bytes"),
                "rate_lambda": metrics.get("rate_lambda"),
            }
            for i, (unit, codec, metrics) in enumerate(specs)
        ]

    @torch.no_grad()
    def full(self, x: torch.Tensor) -> torch.Tensor:
        """The bundle's whole network on one device: the cloud-only / mobile-only baselines.

        head -> reduction -> codec round trip -> restoration -> tail, in one process. The
        units were trained with the codec in the loop, so its quantization is part of the
        network; with a lossless coder over an element-wise quantizer this gives exactly
        the split path's predictions without sending anything. It is *not* ``source``:
        after ``units+tail`` fine-tuning the tail expects restored features.
        """
        return self.model(x)

    @torch.no_grad()
    def unsplit(self, x: torch.Tensor) -> torch.Tensor:
        """What the cloud-only and mobile-only baselines run on preprocessed ``x``.

        The bundle's unsplit baseline (the model a user would deploy without splitting)
        when it carries one; else :meth:`full`, the split network in one process, which
        gives the split's own accuracy (see :attr:`baseline_label`).
        """
        return self.baseline(x) if self.baseline is not None else self.model(x)

    @property
    def baseline_label(self) -> str:
        """What :meth:`unsplit` runs, in words (reports print it next to the baselines)."""
        if self.baseline is not None:
            return f"the unsplit {self.spec.model} shipped with the bundle ({BASELINE_FILE})"
        return "the bundle's own split network in one process (the bundle has no baseline)"

    def attach_baseline(
        self, folder: str | Path, model: nn.Module, accuracy: float | None, built_by: str
    ) -> Bundle:
        """Write ``model`` as the unsplit baseline of the bundle saved at ``folder``.

        Only ``baseline.safetensors`` and the spec's ``baseline`` entry are written:
        weights.safetensors, the fingerprint and so the frames stay byte-identical.
        """
        require_safetensors()
        from safetensors.torch import save_file

        folder = Path(folder)
        state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(folder / BASELINE_FILE))
        baseline = {"weights": BASELINE_FILE, "sha256": _digest(state), "accuracy": accuracy,
                    "built_by": built_by}  # fmt: skip
        spec = replace(self.spec, baseline=baseline)
        (folder / SPEC_FILE).write_text(json.dumps(spec.to_json(), indent=1) + "\n")
        return Bundle.load(folder)

    # --- building and saving ---------------------------------------------------------

    @classmethod
    def build(
        cls,
        *,
        bundle_id: str,
        model_name: str,
        model: nn.Module,
        cut: str,
        unit: UnitConfig | None,
        codec: str,
        classes: Sequence[str],
        preprocess: Preprocess,
        input_shape: tuple[int, int, int],
        units: BottleneckModel | None = None,
        metrics: dict[str, Any] | None = None,
        built_by: str = "",
    ) -> Bundle:
        """Assemble a bundle from a (trained) model, optionally with trained units."""
        bm = units or compose(model, cut, unit, codec, input_shape)
        state = _state_of(model, bm)
        spec = BundleSpec(
            id=bundle_id,
            model=model_name,
            num_classes=len(classes),
            in_channels=input_shape[0],
            input_shape=input_shape,
            cut=cut,
            unit=unit,
            codec=str(bm.codec.spec) if bm.codec is not None else codec,
            classes=tuple(classes),
            preprocess=preprocess,
            weights_sha256=_digest(state),
            metrics=dict(metrics or {}),
            built_by=built_by,
            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )
        BundleSpec.from_json(spec.to_json())  # the same checks a loader applies
        return cls(spec, model, bm)

    def save(self, path: str | Path) -> Path:
        require_safetensors()
        from safetensors.torch import save_file

        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        save_file(
            _state_of(self.source, self.model, self._extra_rates()), str(folder / WEIGHTS_FILE)
        )
        if self.baseline is not None:
            state = {k: v.detach().contiguous() for k, v in self.baseline.state_dict().items()}
            save_file(state, str(folder / BASELINE_FILE))
        (folder / SPEC_FILE).write_text(json.dumps(self.spec.to_json(), indent=1) + "\n")
        return folder

    def _extra_rates(self) -> list[BottleneckModel]:
        return [model for model, _shape, _codec in self.points[1:]]

    def with_rates(
        self,
        points: Sequence[tuple[UnitConfig, str, BottleneckModel, dict[str, Any]]],
        *,
        bundle_id: str,
        built_by: str,
    ) -> Bundle:
        """A multi-rate bundle: this bundle's point 0 plus ``points`` (unit, codec spec,
        trained model sharing this bundle's head and tail, measured metrics)."""
        if not points:
            raise BadInput("a multi-rate bundle needs at least one extra rate point")
        for _unit, _codec, bm, _m in points:
            if bm.head is not self.model.head or bm.tail is not self.model.tail:
                raise BadInput("every rate point must share the bundle's head and tail")
        rates = [bm for _u, _c, bm, _m in points]
        state = _state_of(self.source, self.model, rates)
        spec = replace(
            self.spec,
            id=check_bundle_id(bundle_id),
            weights_sha256=_digest(state),
            rates=tuple(RatePoint(u, c, dict(m)) for u, c, _bm, m in points),
            built_by=built_by,
            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )
        BundleSpec.from_json(spec.to_json())  # the same checks a loader applies
        return Bundle(spec, self.source, self.model, self.baseline, rates)

    def rebuilt(
        self,
        *,
        bundle_id: str,
        built_by: str,
        metrics: dict[str, Any] | None = None,
        rate_metrics: Sequence[dict[str, Any]] | None = None,
    ) -> Bundle:
        """This bundle made again from its modules as they are now (a learned prior's
        tables refit in place, say): a new id, weights digest, fingerprint and codecs;
        ``metrics`` / ``rate_metrics`` replace point 0's and the extra points' (else kept).
        """
        rates = self._extra_rates()
        if rate_metrics is not None and len(rate_metrics) != len(rates):
            raise BadInput(f"rate_metrics: {len(rates)} extra rate points, got {len(rate_metrics)}")
        state = _state_of(self.source, self.model, rates)
        kept = [p.metrics for p in self.spec.rates]
        points = zip(self.spec.rates, kept if rate_metrics is None else rate_metrics, strict=True)
        spec = replace(
            self.spec,
            id=check_bundle_id(bundle_id),
            weights_sha256=_digest(state),
            metrics=dict(self.spec.metrics if metrics is None else metrics),
            rates=tuple(replace(p, metrics=dict(m)) for p, m in points),
            built_by=built_by,
            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )
        BundleSpec.from_json(spec.to_json())  # the same checks a loader applies
        return Bundle(spec, self.source, self.model, self.baseline, rates)

    # --- loading -----------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path) -> Bundle:
        folder = Path(path)
        spec_path, weights_path = folder / SPEC_FILE, folder / WEIGHTS_FILE
        for p in (spec_path, weights_path):
            if p.is_symlink():
                raise BadBundle(f"{p} is a symbolic link; a bundle holds its own files")
            if not p.is_file():
                raise BadBundle(f"{folder} is not a bundle: {p.name} is missing")
        if spec_path.stat().st_size > MAX_SPEC_BYTES:
            raise BadBundle(f"{spec_path} is larger than {MAX_SPEC_BYTES} bytes")
        if weights_path.stat().st_size > MAX_WEIGHTS_BYTES:
            raise BadBundle(f"{weights_path} is larger than {MAX_WEIGHTS_BYTES} bytes")
        try:
            data = json.loads(spec_path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise BadBundle(f"{spec_path} is not valid JSON: {err}") from err
        spec = BundleSpec.from_json(data)
        state = _read_weights(weights_path)
        if _digest(state) != spec.weights_sha256:
            raise BadBundle(f"{weights_path} does not match the spec's weights_sha256 (tampered?)")
        source, model, rates = _assemble(spec, state)
        return cls(spec, source, model, _load_baseline(folder, spec), rates)


def _load_baseline(folder: Path, spec: BundleSpec) -> nn.Module | None:
    """The unsplit baseline the spec references by digest, checked; None without one."""
    if spec.baseline is None:
        return None
    from splitinfer import zoo

    path = folder / BASELINE_FILE
    if path.is_symlink() or not path.is_file():
        raise BadBundle(f"{folder}: the spec names a baseline but {BASELINE_FILE} is missing")
    if path.stat().st_size > MAX_WEIGHTS_BYTES:
        raise BadBundle(f"{path} is larger than {MAX_WEIGHTS_BYTES} bytes")
    state = _read_weights(path)
    if _digest(state) != spec.baseline["sha256"]:
        raise BadBundle(f"{path} does not match the spec's baseline sha256 (tampered?)")
    model = zoo.create(spec.model, num_classes=spec.num_classes, in_channels=spec.in_channels)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        detail = str(err).splitlines()[0]
        raise BadBundle(f"baseline weights do not fit {spec.model}: {detail}") from None
    return model.eval()


def require_safetensors() -> None:
    from splitinfer.errors import require

    require("safetensors", "train")


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    require_safetensors()
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as err:  # safetensors raises its own error types for corrupt files
        raise BadBundle(f"cannot read {path}: {err}") from err


def _state_of(
    model: nn.Module, bm: BottleneckModel, rates: Sequence[BottleneckModel] = ()
) -> dict[str, torch.Tensor]:
    """Every tensor a bundle saves: ``model.*``, point 0's units, then ``rate<k>.*``."""
    state = {f"model.{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    for prefix, point in [("", bm), *((f"rate{k}.", m) for k, m in enumerate(rates, start=1))]:
        parts = ("reduction", "restoration") + (("prior",) if point.prior is not None else ())
        for part in parts:
            for k, v in getattr(point, part).state_dict().items():
                state[f"{prefix}{part}.{k}"] = v.detach().contiguous()
    return state


def _digest(state: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for key in sorted(state):
        t = state[key]
        h.update(key.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def compose(
    model: nn.Module,
    cut: str,
    unit: UnitConfig | None,
    codec: str,
    input_shape: tuple[int, int, int],
) -> BottleneckModel:
    """Cut ``model`` and put a butterfly unit (or none: identity units) and codec there."""
    if unit is None and codecs.needs_state(codec):
        raise BadBundle(f"codec {codec} codes a butterfly unit's output: there is no unit")
    s = split(model, cut, torch.zeros(1, *input_shape))
    if unit is None:
        return BottleneckModel(s.head, nn.Identity(), nn.Identity(), s.tail, codec)
    return insert_bottleneck(s, unit, codec)


def _empty_parts() -> dict[str, dict[str, torch.Tensor]]:
    return {"reduction": {}, "restoration": {}, "prior": {}}


def _load_units(
    bm: BottleneckModel, parts: dict[str, dict[str, torch.Tensor]], prefix: str
) -> None:
    bm.reduction.load_state_dict(parts["reduction"], strict=True)
    bm.restoration.load_state_dict(parts["restoration"], strict=True)
    if bm.prior is not None:
        bm.prior.load_state_dict(parts["prior"], strict=True)
    elif parts["prior"]:
        raise BadBundle(
            f"unexpected tensor '{prefix}prior.{next(iter(parts['prior']))}' in the weights"
        )
    bm.build_codec()  # a stateful codec checks its tables


def _assemble(
    spec: BundleSpec, state: dict[str, torch.Tensor]
) -> tuple[nn.Module, BottleneckModel, list[BottleneckModel]]:
    from splitinfer import zoo

    model = zoo.create(spec.model, num_classes=spec.num_classes, in_channels=spec.in_channels)
    parts: dict[str, dict[str, torch.Tensor]] = {"model": {}, **_empty_parts()}
    rate_parts = [_empty_parts() for _ in spec.rates]
    for key, value in state.items():
        prefix, _, rest = key.partition(".")
        m = _RATE_PREFIX_RE.match(prefix)
        if m and int(m.group(1)) <= len(rate_parts):
            part, _, rest = rest.partition(".")
            target = rate_parts[int(m.group(1)) - 1]
            if part not in target:
                raise BadBundle(f"unexpected tensor {key!r} in the weights")
            target[part][rest] = value
            continue
        if prefix not in parts:
            raise BadBundle(f"unexpected tensor {key!r} in the weights")
        parts[prefix][rest] = value
    rates = []
    try:
        model.load_state_dict(parts["model"], strict=True)
        bm = compose(model, spec.cut, spec.unit, spec.codec, spec.input_shape)
        _load_units(bm, parts, "")
        for k, (point, tensors) in enumerate(zip(spec.rates, rate_parts, strict=True), start=1):
            extra = _point_model(bm, spec, point.unit, point.codec)
            _load_units(extra, tensors, f"rate{k}.")
            rates.append(extra)
    except (RuntimeError, CodecError) as err:
        raise BadBundle(f"weights do not fit the spec: {str(err).splitlines()[0]}") from err
    return model, bm, rates


def _point_model(
    bm: BottleneckModel, spec: BundleSpec, unit: UnitConfig, codec: str
) -> BottleneckModel:
    """A rate point's units and codec between ``bm``'s head and tail (shared modules)."""
    from splitinfer.bottleneck import make_units

    with torch.no_grad():
        cut_shape = tuple(bm.head.eval()(torch.zeros(1, *spec.input_shape)).shape)
    reduction, restoration = make_units(cut_shape, unit)
    with torch.no_grad():
        c, h, w = reduction.eval()(torch.zeros(1, *cut_shape[1:])).shape[1:]
    return BottleneckModel(bm.head, reduction, restoration, bm.tail, codec, feature_shape=(c, h, w))
