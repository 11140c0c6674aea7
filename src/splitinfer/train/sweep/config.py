"""What a sweep measures: the families, :class:`TrainSettings`, :class:`Point`,
:class:`Group` and :class:`SweepConfig`, read from YAML / JSON (:func:`load_config`) and
overridden by command-line flags (:func:`override`)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from splitinfer.bottleneck import UnitConfig
from splitinfer.errors import BadInput
from splitinfer.train.loop import FitConfig
from splitinfer.train.recipes import Tune

SWEEP_FORMAT = "splitinfer.sweep/1"
FAMILIES = ("cloud-only", "ulhaq", "bottlenet", "ours")
FAMILY_LABELS = {
    "cloud-only": "cloud-only: input image (PNG/WebP/JPEG)",
    "ulhaq": "Ulhaq & Bajic 2020: no unit, quant8 + tile + JPEG/PNG",
    "bottlenet": "BottleNet-style: unit + JPEG (trained, STE)",
    "ours": "ours: unit + quant + ANS",
}
TRAINED_FAMILIES = ("bottlenet", "ours")
OURS = "ours"
BYTES_NOTE = (
    "bytes = mean compact frame per image (header + CRC + payload); cloud-only: the image "
    "file plus the same compact-frame overhead, as if framed like a feature (payload_bytes "
    "is the image file alone; `splitinfer run --mode cloud-only` posts it unframed)"
)


# --- configuration -----------------------------------------------------------------------


@dataclass(frozen=True)
class TrainSettings:
    """How trained points (and the control) are trained; one recipe for all of them."""

    epochs: int = 3
    batch_size: int = 128
    lr: float = 0.05
    tune: Tune = "units+tail"
    distill: float | None = 4.0
    train_limit: int | None = None
    seed: int = 0
    augment: bool = True
    optimizer: str = "sgd"

    def __post_init__(self) -> None:
        if self.tune not in ("units", "units+tail"):
            raise BadInput(f"train.tune must be 'units' or 'units+tail', got {self.tune!r}")
        if self.distill is not None and self.distill <= 0:
            raise BadInput(f"train.distill must be a positive temperature or null: {self}")
        if self.train_limit is not None and self.train_limit < 1:
            raise BadInput(f"train.train_limit must be positive or null: {self}")
        self.fit_config()  # validates epochs, batch size, lr

    def fit_config(self, threads: int | None = None) -> FitConfig:
        return FitConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                         seed=self.seed, augment=self.augment, threads=threads,
                         optimizer=self.optimizer)  # fmt: skip


@dataclass(frozen=True)
class Point:
    """One operating point: what is built, trained (maybe) and measured."""

    family: str
    codec: str  # a codec spec; cloud-only: an image codec (see IMAGE_CODECS)
    cut: str | None = None
    unit: UnitConfig | None = None
    train_kwargs: tuple[tuple[str, Any], ...] = ()

    @property
    def trained(self) -> bool:
        return self.family in TRAINED_FAMILIES

    def describe(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "cut": self.cut,
            "unit": self.unit.to_dict() if self.unit else None,
            "codec": self.codec,
            "train_kwargs": dict(self.train_kwargs),
        }


@dataclass(frozen=True)
class Group:
    """Points of one family: every cut x unit x codec x train-kwargs combination."""

    family: str
    codecs: tuple[str, ...]
    cuts: tuple[str, ...] = ()
    units: tuple[UnitConfig, ...] = ()
    train_kwargs: tuple[tuple[tuple[str, Any], ...], ...] = ((),)

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise BadInput(f"unknown family {self.family!r}; known: {', '.join(FAMILIES)}")
        if not self.codecs:
            raise BadInput(f"family {self.family}: no codecs")
        split = self.family != "cloud-only"
        if split != bool(self.cuts):
            raise BadInput(f"family {self.family}: " + ("needs cuts" if split else "takes no cuts"))
        if (self.family in TRAINED_FAMILIES) != bool(self.units):
            raise BadInput(
                f"family {self.family}: "
                + (
                    "needs units (`units:` in the config, or --units c2s2)"
                    if self.family in TRAINED_FAMILIES
                    else "takes no units"
                )
            )
        if any(self.train_kwargs) and self.family not in TRAINED_FAMILIES:
            raise BadInput(f"family {self.family}: train_kwargs apply to trained families only")

    def points(self) -> list[Point]:
        cuts: Sequence[str | None] = self.cuts or (None,)
        units: Sequence[UnitConfig | None] = self.units or (None,)
        return [
            Point(self.family, codec, cut, unit, kwargs)
            for cut in cuts
            for unit in units
            for codec in self.codecs
            for kwargs in self.train_kwargs
        ]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"family": self.family, "codecs": list(self.codecs)}
        if self.cuts:
            out["cuts"] = list(self.cuts)
        if self.units:
            out["units"] = [u.to_dict() for u in self.units]
        if any(self.train_kwargs):
            out["train_kwargs"] = [dict(k) for k in self.train_kwargs]
        return out


@dataclass(frozen=True)
class SweepConfig:
    """A whole sweep; YAML/JSON files hold :meth:`to_dict`'s shape."""

    model: str
    backbone: str
    groups: tuple[Group, ...] = ()
    data: str = "fmnist"
    test_limit: int | None = None
    channels: int | None = None  # input channels; None: the model's default
    control: bool = True
    train: TrainSettings = field(default_factory=TrainSettings)

    def points(self) -> list[Point]:
        seen: dict[Point, None] = {}
        for group in self.groups:
            for p in group.points():
                seen.setdefault(p)
        return list(seen)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "backbone": self.backbone,
            "data": self.data,
            "test_limit": self.test_limit,
            "channels": self.channels,
            "control": self.control,
            "train": asdict(self.train),
            "groups": [g.to_dict() for g in self.groups],
        }

    @classmethod
    def from_dict(cls, data: Any) -> SweepConfig:
        if not isinstance(data, dict):
            raise BadInput("a sweep config must be a mapping")
        _only(data, {"model", "backbone", "data", "test_limit", "channels", "control", "train",
                     "groups"}, "")  # fmt: skip
        train = data.get("train") or {}
        if not isinstance(train, dict):
            raise BadInput("sweep config: train must be a mapping")
        _only(train, set(TrainSettings.__dataclass_fields__), "train.")
        groups = data.get("groups") or []
        if not isinstance(groups, list):
            raise BadInput("sweep config: groups must be a list")
        for key in ("model", "backbone"):
            if not isinstance(data.get(key), str):
                raise BadInput(f"sweep config needs {key!r} (a string)")
        return cls(
            model=data["model"],
            backbone=data["backbone"],
            groups=tuple(_group(g) for g in groups),
            data=str(data.get("data") or "fmnist"),
            test_limit=_positive_or_none(data.get("test_limit"), "test_limit"),
            channels=_positive_or_none(data.get("channels"), "channels"),
            control=bool(data.get("control", True)),
            train=TrainSettings(**train),
        )


def _only(data: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(data) - allowed
    if unknown:
        raise BadInput(
            f"sweep config: unknown key(s) {', '.join(where + k for k in sorted(unknown))}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )


def _positive_or_none(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise BadInput(f"{what} must be a positive integer or null, got {value!r}")
    return value


def _group(data: Any) -> Group:
    if not isinstance(data, dict):
        raise BadInput(f"a sweep group must be a mapping, got {data!r}")
    _only(data, {"family", "codecs", "cuts", "units", "train_kwargs"}, "groups[].")
    kwargs = data.get("train_kwargs") or [{}]
    if not isinstance(kwargs, list) or not all(isinstance(k, dict) for k in kwargs):
        raise BadInput("train_kwargs must be a list of mappings (one training run each)")
    return Group(
        family=str(data.get("family")),
        codecs=tuple(str(c) for c in data.get("codecs") or ()),
        cuts=tuple(str(c) for c in data.get("cuts") or ()),
        units=tuple(parse_unit(u) for u in data.get("units") or ()),
        train_kwargs=tuple(tuple(sorted(k.items())) for k in kwargs),
    )


_UNIT_RE = re.compile(r"^c(\d+)s(\d+)(?:k(\d+))?(?:d(\d+))?(?:h(\d+))?$")


def parse_unit(value: Any) -> UnitConfig:
    """A unit from a mapping (``{channels: 2, stride: 2}``) or text ``cCsS[kK][dD][hH]``:
    channels, stride, and optionally kernel, depth and hidden channels (``c2s4d2h32``)."""
    if isinstance(value, dict):
        return UnitConfig.from_dict(value)
    match = _UNIT_RE.match(str(value))
    if not match:
        raise BadInput(f"a unit is cCsS[kK][dD][hH] (e.g. c2s2) or a mapping, got {value!r}")
    c, s, k, d, h = match.groups()
    return UnitConfig(channels=int(c), stride=int(s), kernel=int(k or 3), depth=int(d or 1),
                      hidden=int(h or 0))  # fmt: skip


def unit_label(unit: UnitConfig | None) -> str:
    if unit is None:
        return "-"
    text = f"c{unit.channels}s{unit.stride}" + (f"k{unit.kernel}" if unit.kernel != 3 else "")
    text += f"d{unit.depth}" if unit.depth != 1 else ""
    return text + (f"h{unit.hidden}" if unit.hidden else "")


def load_config(path: str | Path) -> SweepConfig:
    """A sweep config from YAML (``yaml.safe_load``) or JSON, validated."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise BadInput(f"cannot read sweep config {path}: {err}") from None
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise BadInput(f"{path} is not valid JSON: {err}") from None
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise BadInput(f"{path} is not valid YAML: {err}") from None
    return SweepConfig.from_dict(data)


def override(
    config: SweepConfig,
    *,
    cuts: Sequence[str] = (),
    units: Sequence[UnitConfig] = (),
    family_codecs: Mapping[str, Sequence[str]] | None = None,
    ours_kwargs: Sequence[Mapping[str, Any]] = (),
    **fields: Any,
) -> SweepConfig:
    """``config`` with command-line flags applied (flags win over the file).

    ``fields``: top-level fields (model, backbone, data, test_limit, control) and
    :class:`TrainSettings` fields; None means "not given". ``cuts`` / ``units`` replace
    those of every group that has them; ``family_codecs`` replaces a family's codecs (or
    adds a group for it, taking ``cuts`` / ``units``); ``ours_kwargs`` replaces the
    "ours" groups' training kwargs.
    """
    top_fields = set(SweepConfig.__dataclass_fields__) - {"groups", "train"}
    train_fields = set(TrainSettings.__dataclass_fields__)
    unknown = set(fields) - top_fields - train_fields
    if unknown:
        raise BadInput(f"unknown override(s): {sorted(unknown)}")
    top = {k: v for k, v in fields.items() if v is not None and k in top_fields}
    train = {k: v for k, v in fields.items() if v is not None and k in train_fields}
    groups = []
    for g in config.groups:
        g = replace(g, cuts=tuple(cuts) if cuts and g.cuts else g.cuts,
                    units=tuple(units) if units and g.units else g.units)  # fmt: skip
        if g.family == OURS and ours_kwargs:
            g = replace(g, train_kwargs=tuple(tuple(sorted(k.items())) for k in ours_kwargs))
        groups.append(g)
    for family, codecs in (family_codecs or {}).items():
        if not codecs:
            continue
        mine = [g for g in groups if g.family == family]
        if mine:
            groups = [replace(g, codecs=tuple(codecs)) if g.family == family else g for g in groups]
        else:
            kwargs = tuple(tuple(sorted(k.items())) for k in ours_kwargs) if family == OURS else ()
            groups.append(Group(
                family, tuple(codecs), tuple(cuts) if family != "cloud-only" else (),
                tuple(units) if family in TRAINED_FAMILIES else (), kwargs or ((),),
            ))  # fmt: skip
    return replace(config, **top, groups=tuple(groups), train=replace(config.train, **train))
