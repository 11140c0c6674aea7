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
FAMILIES = ("cloud-only", "ulhaq", "bottlenet", "ours", "learned")
FAMILY_LABELS = {
    "cloud-only": "cloud-only: input image (PNG/WebP/JPEG)",
    "ulhaq": "Ulhaq & Bajic 2020: no unit, quant8 + tile + JPEG/PNG",
    "bottlenet": "BottleNet-style: unit + JPEG (trained, STE)",
    "ours": "ours: unit + quant + ANS",
    "learned": "ours: unit + learned prior (rate-aware)",
}
TRAINED_FAMILIES = ("bottlenet", "ours", "learned")
OURS = "ours"
#: The families that are ours; the level comparison puts the best of them against each
#: baseline.
OURS_FAMILIES = ("ours", "learned")
BYTES_NOTE = (
    "bytes = mean bytes up per inference on a stream session: the payload plus its "
    "WebSocket message framing (2-byte header + 4-byte mask for payloads under 126 B; "
    "splitinfer.wire.session_message_bytes); the session's one-off setup (upgrade, hello, "
    "close: about 300 B) is not spread in. frame_bytes = the compact frame v1 (header + "
    "CRC + payload) per image; cloud-only: the image file as the payload "
    "(a session with send=image)"
)

#: The named training budgets; a config's ``budgets:`` may override or add to them.
#: quick: the CI-sized budget (1 epoch on 20,000 images, the head frozen).
#: full: the shipped default bundle's recipe (11 epochs on all 60,000 images, the whole
#: network tuned, distillation at T=4, Adam at 1e-3).
BUDGETS: dict[str, dict[str, Any]] = {
    "quick": {"epochs": 1, "batch_size": 128, "lr": 0.001, "optimizer": "adam",
              "tune": "units+tail", "distill": 4.0, "train_limit": 20000, "seed": 0,
              "augment": True},
    "full": {"epochs": 11, "batch_size": 128, "lr": 0.001, "optimizer": "adam",
             "tune": "all", "distill": 4.0, "train_limit": None, "seed": 0,
             "augment": True},
}  # fmt: skip
DEFAULT_BUDGET = "quick"


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
        if self.tune not in ("units", "units+tail", "all"):
            raise BadInput(f"train.tune must be 'units', 'units+tail' or 'all', got {self.tune!r}")
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
    """Points of one family: every cut x unit x codec x train-kwargs combination.

    ``cut_units`` gives some cuts their own units (a config's ``units: {stage1: [...],
    stage3: [...]}``); the other cuts take ``units``.
    """

    family: str
    codecs: tuple[str, ...]
    cuts: tuple[str, ...] = ()
    units: tuple[UnitConfig, ...] = ()
    train_kwargs: tuple[tuple[tuple[str, Any], ...], ...] = ((),)
    cut_units: tuple[tuple[str, tuple[UnitConfig, ...]], ...] = ()

    def units_for(self, cut: str | None) -> tuple[UnitConfig, ...]:
        return dict(self.cut_units).get(str(cut), self.units)

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise BadInput(f"unknown family {self.family!r}; known: {', '.join(FAMILIES)}")
        if not self.codecs:
            raise BadInput(f"family {self.family}: no codecs")
        split = self.family != "cloud-only"
        if split != bool(self.cuts):
            raise BadInput(f"family {self.family}: " + ("needs cuts" if split else "takes no cuts"))
        unknown = sorted({c for c, _ in self.cut_units} - set(self.cuts))
        if unknown:
            raise BadInput(f"family {self.family}: units given for cuts not swept: {unknown}")
        has_units = all(self.units_for(c) for c in self.cuts) if self.cuts else bool(self.units)
        if (self.family in TRAINED_FAMILIES) != has_units:
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
        none: tuple[UnitConfig | None, ...] = (None,)
        return [
            Point(self.family, codec, cut, unit, kwargs)
            for cut in cuts
            for unit in (self.units_for(cut) or none)
            for codec in self.codecs
            for kwargs in self.train_kwargs
        ]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"family": self.family, "codecs": list(self.codecs)}
        if self.cuts:
            out["cuts"] = list(self.cuts)
        if self.cut_units:
            out["units"] = {c: [u.to_dict() for u in self.units_for(c)] for c in self.cuts}
        elif self.units:
            out["units"] = [u.to_dict() for u in self.units]
        if any(self.train_kwargs):
            out["train_kwargs"] = [dict(k) for k in self.train_kwargs]
        return out


def budget_settings(
    name: str, budgets: Mapping[str, Mapping[str, Any]] | None = None
) -> TrainSettings:
    """The :class:`TrainSettings` of the budget ``name``: the built-in :data:`BUDGETS`
    overridden field by field by ``budgets`` (a config's ``budgets:``)."""
    known = {**BUDGETS, **(budgets or {})}
    if name not in known:
        raise BadInput(f"unknown budget {name!r}; known: {', '.join(sorted(known))}")
    fields = {**BUDGETS.get(name, {}), **(budgets or {}).get(name, {})}
    _only(fields, set(TrainSettings.__dataclass_fields__), f"budgets.{name}.")
    return TrainSettings(**fields)


@dataclass(frozen=True)
class SweepConfig:
    """A whole sweep; YAML/JSON files hold :meth:`to_dict`'s shape.

    ``train`` is the budget in force: ``budgets[budget]`` (the built-in :data:`BUDGETS`
    overridden by the file's ``budgets:``), then the file's ``train:`` fields over it.
    """

    model: str
    backbone: str
    groups: tuple[Group, ...] = ()
    data: str = "fmnist"
    test_limit: int | None = None
    channels: int | None = None  # input channels; None: the model's default
    control: bool = True
    train: TrainSettings = field(default_factory=lambda: budget_settings(DEFAULT_BUDGET))
    budget: str = DEFAULT_BUDGET
    budgets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    shipped: tuple[str, ...] = ()  # bundle folders measured beside the families

    def __post_init__(self) -> None:
        families = [g.family for g in self.groups]
        twice = sorted({f for f in families if families.count(f) > 1})
        if twice:
            raise BadInput(
                f"sweep config names family {', '.join(twice)} twice: give each family one "
                "group (list its codecs, cuts, units and train_kwargs there)"
            )

    def points(self) -> list[Point]:
        seen: dict[Point, None] = {}
        for group in self.groups:
            for p in group.points():
                seen.setdefault(p)
        return list(seen)

    def with_budget(self, name: str) -> SweepConfig:
        """This sweep under the budget ``name`` (``train:`` overrides are dropped)."""
        return replace(self, budget=name, train=budget_settings(name, self.budgets))

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "backbone": self.backbone,
            "data": self.data,
            "test_limit": self.test_limit,
            "channels": self.channels,
            "control": self.control,
            "budget": self.budget,
            "budgets": {k: dict(v) for k, v in self.budgets.items()},
            "train": asdict(self.train),
            "shipped": list(self.shipped),
            "groups": [g.to_dict() for g in self.groups],
        }

    @classmethod
    def from_dict(cls, data: Any) -> SweepConfig:
        if not isinstance(data, dict):
            raise BadInput("a sweep config must be a mapping")
        _only(data, {"model", "backbone", "data", "test_limit", "channels", "control", "train",
                     "budget", "budgets", "shipped", "groups"}, "")  # fmt: skip
        train = data.get("train") or {}
        if not isinstance(train, dict):
            raise BadInput("sweep config: train must be a mapping")
        _only(train, set(TrainSettings.__dataclass_fields__), "train.")
        budgets = data.get("budgets") or {}
        if not isinstance(budgets, dict) or not all(isinstance(v, dict) for v in budgets.values()):
            raise BadInput("sweep config: budgets must map a name to training settings")
        budget = str(data.get("budget") or DEFAULT_BUDGET)
        base = budget_settings(budget, budgets)
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
            train=replace(base, **train),
            budget=budget,
            budgets={str(k): dict(v) for k, v in budgets.items()},
            shipped=tuple(str(b) for b in data.get("shipped") or ()),
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
    units = data.get("units") or ()
    cut_units: tuple[tuple[str, tuple[UnitConfig, ...]], ...] = ()
    cuts = tuple(str(c) for c in data.get("cuts") or ())
    if isinstance(units, dict):  # {cut: [unit, ...]}: each cut its own units
        if not all(isinstance(v, list) for v in units.values()):
            raise BadInput("units: {cut: [unit, ...]} takes a list of units per cut")
        cut_units = tuple((str(c), tuple(parse_unit(u) for u in us)) for c, us in units.items())
        cuts = cuts or tuple(c for c, _ in cut_units)
        units = ()
    return Group(
        family=str(data.get("family")),
        codecs=tuple(str(c) for c in data.get("codecs") or ()),
        cuts=cuts,
        units=tuple(parse_unit(u) for u in units),
        train_kwargs=tuple(tuple(sorted(k.items())) for k in kwargs),
        cut_units=cut_units,
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

    ``fields``: ``budget`` (a budget name: its settings replace ``train``, before the
    other fields apply), top-level fields (model, backbone, data, test_limit, control) and
    :class:`TrainSettings` fields; None means "not given". ``cuts`` / ``units`` replace
    those of every group that has them; ``family_codecs`` replaces a family's codecs (or
    adds a group for it, taking ``cuts`` / ``units``); ``ours_kwargs`` replaces the
    "ours" and "learned" groups' training kwargs.
    """
    budget = fields.pop("budget", None)
    if budget is not None:
        config = config.with_budget(budget)
    top_fields = set(SweepConfig.__dataclass_fields__) - {"groups", "train", "budget",
                                                            "budgets", "shipped"}  # fmt: skip
    train_fields = set(TrainSettings.__dataclass_fields__)
    unknown = set(fields) - top_fields - train_fields
    if unknown:
        raise BadInput(f"unknown override(s): {sorted(unknown)}")
    top = {k: v for k, v in fields.items() if v is not None and k in top_fields}
    train = {k: v for k, v in fields.items() if v is not None and k in train_fields}
    groups = []
    for g in config.groups:
        has_units = bool(g.units or g.cut_units)
        new_cuts = tuple(cuts) if cuts and g.cuts else g.cuts
        per_cut = () if units and has_units else tuple(
            (c, us) for c, us in g.cut_units if c in new_cuts
        )  # fmt: skip
        g = replace(g, cuts=new_cuts, units=tuple(units) if units and has_units else g.units,
                    cut_units=per_cut)  # fmt: skip
        if g.family in OURS_FAMILIES and ours_kwargs:
            g = replace(g, train_kwargs=tuple(tuple(sorted(k.items())) for k in ours_kwargs))
        groups.append(g)
    for family, codecs in (family_codecs or {}).items():
        if not codecs:
            continue
        mine = [g for g in groups if g.family == family]
        if mine:
            groups = [replace(g, codecs=tuple(codecs)) if g.family == family else g for g in groups]
        else:
            ours = family in OURS_FAMILIES
            kwargs = tuple(tuple(sorted(k.items())) for k in ours_kwargs) if ours else ()
            groups.append(Group(
                family, tuple(codecs), tuple(cuts) if family != "cloud-only" else (),
                tuple(units) if family in TRAINED_FAMILIES else (), kwargs or ((),),
            ))  # fmt: skip
    return replace(config, **top, groups=tuple(groups), train=replace(config.train, **train))
