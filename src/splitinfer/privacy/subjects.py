"""The family members the study compares, each built only when its turn comes."""

from __future__ import annotations

from pathlib import Path

from splitinfer.privacy.observe import BundleObserver, ImageObserver, feature_bundle
from splitinfer.privacy.study import Subject


def family_of(codec: str, default: bool) -> str:
    """The comparison family of a bundle, from its codec."""
    if default:
        return "default bundle"
    if codec.startswith("learned"):
        return "learned prior"
    if "jpeg" in codec:
        return "butterfly+jpeg"
    return "butterfly"


def cloud_only(codec: str = "png") -> Subject:
    return Subject("cloud-only", f"cloud-only {codec}", lambda: ImageObserver(codec))


def ulhaq(model: str, backbone: str, cut: str, codec: str) -> Subject:
    """Ulhaq & Bajic 2020: the backbone's feature at ``cut``, clipped, 8-bit, tiled, coded."""
    return Subject(
        "ulhaq", f"ulhaq {cut}",
        lambda: BundleObserver(feature_bundle(model, backbone, cut, codec), family="ulhaq"),
    )  # fmt: skip


def bundle(path: str | Path, default: bool = False) -> Subject:
    """A trained bundle; its family and name come from its spec (read now, loaded later)."""
    import json

    from splitinfer.bundle import SPEC_FILE, Bundle, BundleSpec

    spec = BundleSpec.from_json(json.loads((Path(path) / SPEC_FILE).read_text()))
    family = family_of(spec.codec, default)
    lam = spec.metrics.get("rate_lambda")
    name = spec.id if default else (
        f"learned lambda={lam:g}" if family == "learned prior" and lam is not None
        else f"{family} {spec.codec}"
    )  # fmt: skip
    return Subject(family, name, lambda: BundleObserver(Bundle.load(path), name, family))


def noisy_default(path: str | Path, noise: float) -> Subject:
    """The default bundle with Gaussian noise on the edge's unit output (a privacy knob)."""
    from splitinfer.bundle import Bundle

    name = f"default + edge noise {noise:g}"
    family = "default bundle + noise"
    return Subject(family, name, lambda: BundleObserver(Bundle.load(path), name, family, noise))
