"""What the server holds after decoding each frame: the views an attacker inverts.

Every image goes through the real deployed path, one frame per image, exactly as a
device sends it:

    bundle:     image -> edge.features -> edge.frame -> cloud.decode -> latent
                                                         latent -> restoration unit -> restored
    cloud-only: image -> PNG (or another image codec) -> frame -> decode -> image

A bundle without a butterfly unit (Ulhaq & Bajic's features: a backbone cut, then a
feature codec) has one view, ``feature``: its latent is its restored feature.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from splitinfer import wire
from splitinfer.bundle import Bundle
from splitinfer.errors import BadBundle

StepFn = Callable[[int, int], None]  # (images done, total)


@dataclass
class Observation:
    """Each view's tensors (N x ...), float16 to halve memory, and the mean bytes sent."""

    views: dict[str, torch.Tensor]
    frame_bytes: float
    payload_bytes: float
    predictions: torch.Tensor | None = None  # the cloud's top-1 class per image, if measured


class Observer(Protocol):
    """A family member the attack is run against."""

    name: str
    family: str
    input_shape: tuple[int, int, int]

    def view_names(self) -> list[str]: ...

    def observe(self, images: torch.Tensor, progress: StepFn | None = None) -> Observation: ...

    def describe(self) -> dict[str, Any]: ...


def check_image_input(bundle: Bundle) -> None:
    """A model-inversion attack rebuilds images: refuse a bundle whose input is not one."""
    c, h, w = bundle.spec.input_shape
    if c not in (1, 3) or h < 4 or w < 4:
        raise BadBundle(
            f"bundle {bundle.spec.id} takes input of shape {(c, h, w)}, not an image "
            "(1 or 3 channels, at least 4 x 4 pixels): the inversion attack rebuilds images"
        )


class BundleObserver:
    """A bundle's latent (what ``cloud.decode`` returns) and restored feature, per frame.

    ``noise`` > 0 is a privacy knob on the edge: Gaussian noise of that standard deviation
    is added to the unit's output (values in [0, 1]) before it is coded, and the cloud's
    predictions are kept so the knob's accuracy cost is measured beside its leakage.
    """

    def __init__(
        self, bundle: Bundle, name: str | None = None, family: str = "bundle",
        noise: float = 0.0, seed: int = 0,
    ) -> None:  # fmt: skip
        check_image_input(bundle)
        self.bundle = bundle
        self.name = name or bundle.spec.id
        self.family = family
        self.input_shape = bundle.spec.input_shape
        self.has_unit = bundle.spec.unit is not None
        if noise < 0 or (noise > 0 and not self.has_unit):
            raise BadBundle(f"edge noise needs a bundle with a unit and noise >= 0, got {noise}")
        self.noise = noise
        self.seed = seed

    def view_names(self) -> list[str]:
        return ["latent", "restored"] if self.has_unit else ["feature"]

    @torch.no_grad()
    def observe(self, images: torch.Tensor, progress: StepFn | None = None) -> Observation:
        b = self.bundle
        latents: list[torch.Tensor] = []
        restored: list[torch.Tensor] = []
        frame_bytes = payload_bytes = 0
        predictions: list[torch.Tensor] = []
        g = torch.Generator().manual_seed(self.seed)
        for start in range(0, len(images), 500):
            z = b.edge.features(images[start : start + 500])
            if self.noise:
                z = (z + self.noise * torch.randn(z.shape, generator=g)).clamp(0, 1)
            decoded = []
            for i in range(len(z)):
                frame = b.edge.frame(z[i : i + 1], start + i)
                decoded.append(b.cloud.decode(frame)[1])
                frame_bytes += len(frame)
                payload_bytes += len(wire.decode_frame(frame)[1])
            zhat = torch.cat(decoded)
            latents.append(zhat.half())
            if self.has_unit:
                restored.append(b.model.restoration(zhat).half())
            if self.noise:
                predictions.append(b.cloud.run(zhat).argmax(1))
            if progress:
                progress(start + len(z), len(images))
        n = max(len(images), 1)
        views = {"latent": torch.cat(latents), "restored": torch.cat(restored)} if (
            self.has_unit
        ) else {"feature": torch.cat(latents)}  # fmt: skip
        preds = torch.cat(predictions) if predictions else None
        return Observation(views, frame_bytes / n, payload_bytes / n, preds)

    def describe(self) -> dict[str, Any]:
        s = self.bundle.spec
        return {"bundle": s.id, "model": s.model, "cut": s.cut,
                "unit": s.unit.to_dict() if s.unit else None, "codec": s.codec,
                "accuracy": s.metrics.get("accuracy"), "edge_noise": self.noise}  # fmt: skip


class ImageObserver:
    """Cloud-only: the server decodes the image itself (the ceiling of any attack)."""

    family = "cloud-only"

    def __init__(self, codec: str = "png", input_shape: tuple[int, int, int] = (1, 28, 28)):
        from splitinfer.train.sweep.cloud_only import image_codec

        self.codec = codec
        self.fmt, self.args = image_codec(codec)
        self.name = f"cloud-only {codec}"
        self.input_shape = input_shape

    def view_names(self) -> list[str]:
        return ["image"]

    def observe(self, images: torch.Tensor, progress: StepFn | None = None) -> Observation:
        from splitinfer.train.sweep.cloud_only import decode_image, encode_image

        out = []
        frame_bytes = payload_bytes = 0
        for i in range(len(images)):
            data = encode_image(images[i], self.fmt, self.args)
            frame = wire.encode_frame(wire.FrameHeader(request_id=i, bundle=0), data)
            out.append(decode_image(wire.decode_frame(frame)[1], self.fmt, images.shape[1]))
            frame_bytes += len(frame)
            payload_bytes += len(data)
            if progress and (i + 1) % 500 == 0:
                progress(i + 1, len(images))
        n = max(len(images), 1)
        pixels = torch.stack(out).float().div(255.0).half()
        return Observation({"image": pixels}, frame_bytes / n, payload_bytes / n)

    def describe(self) -> dict[str, Any]:
        return {"codec": self.codec, "view": "the decoded input image"}


def feature_bundle(model_name: str, backbone: str, cut: str, codec: str) -> Bundle:
    """Ulhaq & Bajic-style features: the backbone cut at ``cut``, no unit, ``codec``.

    Built in memory with :meth:`Bundle.build` so the path (edge -> frame -> decode) is the
    deployed one; its ``spec.metrics`` are empty (its accuracy is the sweep's business).
    """
    from splitinfer import zoo
    from splitinfer.bundle import Preprocess
    from splitinfer.data import FMNIST_CLASSES, FMNIST_MEAN, FMNIST_STD

    model = zoo.create(model_name, weights=backbone)
    name = f"ulhaq-{cut}".lower().replace("/", "-")
    return Bundle.build(
        bundle_id=name, model_name=model_name, model=model, cut=cut, unit=None, codec=codec,
        classes=FMNIST_CLASSES, preprocess=Preprocess((FMNIST_MEAN,), (FMNIST_STD,)),
        input_shape=zoo.default_input_size(model_name),
    )  # fmt: skip
