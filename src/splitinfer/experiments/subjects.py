"""The models the planner experiments cost, with their rate points and where each comes from.

* the **default bundle** (``splitinfer.bundle.default_bundle_path()``): its model is
  profiled here and now (measured host ms, FLOPs); its operating point (frame bytes,
  accuracy, codec ms) is the one measured when the bundle was built (``spec.metrics``).
  The bundle's head + reduction unit and restoration unit + tail are timed and counted
  as an extra cut ``<cut>+unit``, so the unit's compute is not forgotten;
* **ResNet-50 at 224x224**: a profile measured earlier on this machine kind
  (``docs/figures/profile-resnet50.json``) and rate points *assumed from the butterfly
  paper* (``docs/figures/resnet50-paper-assumed-rates.json``), on the paper's kind of
  device (Jetson TX2) and a GPU server.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from splitinfer.errors import BadBundle, UnknownCutPoint
from splitinfer.experiments.config import SubjectsConfig
from splitinfer.experiments.result import Basis
from splitinfer.plan import DeviceProfile, RatePoint, device, estimate_ratepoints, server
from splitinfer.plan.planner import DEFAULT_HEADER_BYTES


@dataclass
class Subject:
    """A model profile, its own rate points, the device/server it runs on, and its budget."""

    key: str  # "bundle" | "resnet50"
    title: str
    profile: Any  # splitinfer.partition.profile.ModelProfile
    points: list[RatePoint]  # the subject's own operating points (unit + codec)
    points_basis: Basis  # "measured" | "assumed"
    device: DeviceProfile
    server: DeviceProfile
    budget_pp: float
    unsplit_accuracy: float | None  # top-1 of the unsplit model (fraction), None = n/m
    facts: list[str] = field(default_factory=list)  # sources and assumptions, for captions

    @property
    def unit_cuts(self) -> set[str]:
        return {p.cut for p in self.points} - {c.cut.name for c in self.base_cuts}

    @property
    def base_cuts(self) -> list[Any]:
        return [c for c in self.profile.cuts if not c.cut.name.endswith("+unit")]

    def estimates(self, label: str) -> list[RatePoint]:
        """Codec-only estimates with this label (``fp32 raw`` or ``quant8``) at every cut."""
        cuts = [c.cut for c in self.base_cuts]
        return [p for p in estimate_ratepoints(cuts, DEFAULT_HEADER_BYTES) if p.label == label]

    def plan_points(self) -> list[RatePoint]:
        """What the planner may choose: lossless fp32 at every cut + the subject's points."""
        return self.estimates("fp32 raw") + self.points

    def figure_cuts(self, which: str) -> list[str]:
        """Cut names in order for figures; ``modules`` drops cuts inside a module."""
        names = []
        for c in self.base_cuts:
            name = c.cut.name
            if which == "all" or "/" not in name:
                names.append(name)
            names += [p.cut for p in self.points if p.cut == f"{name}+unit"]
        return names

    def accuracy_of(self, kind: str, point_label: str | None) -> float | None:
        """Top-1 (fraction) of a candidate: unsplit for baselines and lossless points."""
        if kind != "split" or point_label in ("fp32 raw", None):
            return self.unsplit_accuracy
        for p in self.points:
            if p.label == point_label:
                return p.accuracy
        return None


def resolve(path: str | Path) -> Path:
    """``path`` as given: relative paths start at the working folder. The defaults name
    repository files (``docs/figures/...``, ``configs/...``), so run the bench from a
    checkout or point the config at copies (the package itself ships only the default
    bundle, see :func:`splitinfer.bundle.default_bundle_path`)."""
    return Path(path)


def bundle_subject(cfg: SubjectsConfig) -> Subject:
    """The default (or configured) bundle, its model profiled now on this host."""
    from splitinfer.bundle import default_bundle_path

    path = str(resolve(cfg.bundle) if cfg.bundle else default_bundle_path())
    timing = (cfg.profile_repeats, cfg.profile_warmup, cfg.profile_rounds)
    return _bundle_subject(path, timing, cfg.bundle_device, cfg.bundle_server,
                           cfg.bundle_budget_pp)  # fmt: skip


@functools.cache
def _bundle_subject(
    path: str, timing: tuple[int, int, int], device_spec: str, server_spec: str,
    budget: float | None,
) -> Subject:  # fmt: skip
    import torch

    from splitinfer.bundle import Bundle

    repeats, warmup, rounds = timing
    b = Bundle.load(path)
    spec = b.spec
    x = torch.zeros(1, *spec.input_shape)
    prof = robust_profile(b.source, x, spec.model, repeats, warmup, rounds)
    unit_cut = min(
        (_unit_cut(b, prof, repeats, warmup) for _ in range(rounds)),
        key=lambda c: (c.head_ms or 0.0) + (c.tail_ms or 0.0),
    )
    base = next(i for i, c in enumerate(prof.cuts) if c.cut.name == unit_cut.cut.name[:-5])
    prof.cuts.insert(base + 1, unit_cut)
    point = _bundle_point(spec, unit_cut.cut.name)
    unsplit = spec.metrics.get("unsplit_accuracy")
    loss = point.accuracy_loss or 0.0
    facts = [
        f"bundle {spec.id}: {spec.model}, cut {spec.cut}, unit "
        f"{f'{spec.unit.channels} ch, stride {spec.unit.stride}' if spec.unit else 'none'}, "
        f"codec {spec.codec}",
        f"operating point measured when the bundle was built "
        f"({spec.metrics.get('images', '?')} test images): {point.frame_bytes:.1f} B per "
        f"frame, top-1 {_pct(point.accuracy)} vs {_pct(unsplit)} unsplit",
        f"{spec.model} profiled now on this host (median of {repeats} runs after {warmup} "
        f"warm-up, lowest of {rounds} rounds: the machine is shared); "
        f"'{unit_cut.cut.name}' = head + reduction unit / restoration unit + tail, timed and "
        "FLOP-counted here",
    ]
    return Subject(
        key="bundle",
        title=f"default bundle {spec.id} ({spec.model} {'x'.join(map(str, spec.input_shape))})",
        profile=prof, points=[point], points_basis="measured",
        device=device(device_spec), server=server(server_spec),
        budget_pp=budget if budget is not None else max(1.0, round(loss + 0.005, 2)),
        unsplit_accuracy=unsplit, facts=facts,
    )  # fmt: skip


def robust_profile(model: Any, x: Any, name: str, repeats: int, warmup: int, rounds: int) -> Any:
    """``profile_model`` ``rounds`` times; each time the lowest median of the rounds.

    On a shared machine a load spike during one measurement inflates that median alone;
    the lowest of a few rounds keeps the profile's times consistent with one another.
    """
    from splitinfer.partition.profile import CutProfile, profile_model

    runs = [
        profile_model(model, x, name=name, repeats=repeats, warmup=warmup)
        for _ in range(max(1, rounds))
    ]
    best = runs[0]
    best.full_ms = min(r.full_ms or 0.0 for r in runs)
    best.cuts = [
        CutProfile(
            cut=c.cut,
            head_ms=min(r.cuts[i].head_ms or 0.0 for r in runs),
            tail_ms=min(r.cuts[i].tail_ms or 0.0 for r in runs),
        )
        for i, c in enumerate(best.cuts)
    ]
    best.timing = {**best.timing, "rounds": rounds, "stat": "median per round, lowest round"}
    return best


def _pct(v: float | None) -> str:
    return "n/m" if v is None else f"{100 * v:.2f}%"


def _bundle_point(spec: Any, cut: str) -> RatePoint:
    from splitinfer.plan.ratepoints import ratepoints_for

    try:
        entry = ratepoints_for(spec)["points"][0]
    except KeyError as err:
        raise BadBundle(
            f"bundle {spec.id} lacks the measured metric {err} in spec.json; rebuild it with "
            "`splitinfer train units ... --bundle DIR`"
        ) from None
    return RatePoint(**{**entry, "cut": cut, "label": f"bundle {spec.id}"})


def _flops(module: Any, x: Any) -> int:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        module(x)
    return int(counter.get_total_flops())


def _unit_cut(b: Any, prof: Any, repeats: int, warmup: int) -> Any:
    """The bundle's cut with its units: head+reduction on the edge, restoration+tail after."""
    import torch

    from splitinfer.partition.profile import CutProfile
    from splitinfer.timing import median_ms

    base = next((c for c in prof.cuts if b.spec.cut in (c.cut.name, *c.cut.aliases)), None)
    if base is None:
        raise UnknownCutPoint(b.spec.cut, [c.cut.name for c in prof.cuts], b.spec.model)
    m = b.model
    x = torch.zeros(1, *b.spec.input_shape)
    with torch.inference_mode():
        feature = m.head(x)
        z = m.edge(x)
    params = [sum(p.numel() for p in part.parameters()) for part in (m.reduction, m.restoration)]
    point = dataclasses.replace(
        base.cut, name=f"{base.cut.name}+unit", aliases=(), shape=tuple(z.shape),
        numel=z.numel(), bytes_fp32=4 * z.numel(),
        flops_head=base.cut.flops_head + _flops(m.reduction, feature),
        flops_tail=base.cut.flops_tail + _flops(m.restoration, z),
        params_head=base.cut.params_head + params[0],
        params_tail=base.cut.params_tail + params[1],
    )  # fmt: skip
    edge_ms = median_ms(m.edge, x.clone, repeats, warmup)
    cloud_ms = median_ms(m.cloud, z.clone, repeats, warmup)
    return CutProfile(cut=point, head_ms=edge_ms, tail_ms=cloud_ms)


PAPER_LABEL = "paper-assumed unit"


def resnet50_subject(cfg: SubjectsConfig) -> Subject:
    """ResNet-50 at 224x224 with the paper-assumed rates (nothing measured about the rate)."""
    from splitinfer.plan.load import load_model_profile
    from splitinfer.plan.ratepoints import load_ratepoints

    prof = load_model_profile(resolve(cfg.resnet50_profile))
    points = load_ratepoints(resolve(cfg.resnet50_rates))
    renamed = [dataclasses.replace(p, cut=f"{p.cut}+unit", label=PAPER_LABEL) for p in points]
    for p in points:  # the paper's unit as its own cut; its compute is not modeled
        cut = next(c for c in prof.cuts if c.cut.name == p.cut)
        i = prof.cuts.index(cut)
        prof.cuts.insert(i + 1, dataclasses.replace(
            cut, cut=dataclasses.replace(cut.cut, name=f"{p.cut}+unit", aliases=())
        ))  # fmt: skip
    machine = prof.machine or {}
    facts = [
        f"profile {cfg.resnet50_profile}: measured earlier on {machine.get('cpu', '?')} "
        f"({machine.get('cores', '?')} cores, {machine.get('torch_threads', '?')} torch "
        f"threads); device/server times from its FLOPs / speed",
        "rate points ASSUMED from the butterfly paper (reduction unit to 1 channel, 8 bits; "
        f"accuracy loss {points[0].accuracy_loss} pp = the paper's '< 2%' bound): "
        f"{cfg.resnet50_rates}; the unit's own compute is not modeled",
        "top-1 not measured here (no ImageNet on this machine)",
    ]
    return Subject(
        key="resnet50", title="ResNet-50 224x224 (paper-assumed rates)", profile=prof,
        points=renamed, points_basis="assumed", device=device(cfg.resnet50_device),
        server=server(cfg.resnet50_server), budget_pp=cfg.resnet50_budget_pp,
        unsplit_accuracy=None, facts=facts,
    )  # fmt: skip


def subjects(cfg: SubjectsConfig) -> list[Subject]:
    out = [bundle_subject(cfg)]
    if cfg.resnet50:
        out.append(resnet50_subject(cfg))
    return out
