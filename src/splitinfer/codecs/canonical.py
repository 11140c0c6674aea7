"""Validate a spec against the registry and make it canonical.

Canonical form (what ``str(create(s).spec)`` prints):

- every parameter explicit, defaults included, in the order the stage declares them, each
  value in one normal text form (``bits=8``, ``clip=-1.5:4.0``, ``distance=1.0``) — so a
  spec stored next to payloads keeps decoding the same even if a default changes later;
- the pipeline completed to ``transform* coder compressor*``: a missing coder becomes
  ``raw``; a coder that needs integer symbols gets ``quant`` (8-bit, min/max) in front;
  one that needs a 2-D plane (the image codecs) gets ``tile`` just before it. So
  ``jpeg`` means ``quant:bits=8,clip=minmax|tile:align=1|jpeg:quality=75`` and
  ``zstd`` means ``raw:dtype=fp32|zstd:level=3``.

``canonical(canonical(s)) == canonical(s)`` and ``parse_spec(str(c)) == c``.
"""

from __future__ import annotations

from splitinfer.codecs.catalog import CODECS
from splitinfer.codecs.limits import DEFAULT, Limits
from splitinfer.codecs.params import Params
from splitinfer.codecs.spec import Spec, SpecLike, StageSpec, parse_spec
from splitinfer.codecs.stage import Coder, Kind, Stage, StageInfo, Transform
from splitinfer.errors import BadCodecSpec

_ROLE_ORDER = {"transform": 0, "coder": 1, "compressor": 2}


def canonical_stage(stage: StageSpec) -> StageSpec:
    """Check the stage's name and parameters; return it with every parameter explicit."""
    info = CODECS[stage.name]
    given = dict(stage.params)
    known = {p.name for p in info.params}
    unknown = sorted(set(given) - known)
    if unknown:
        valid = ", ".join(sorted(known)) or "(none)"
        raise BadCodecSpec(f"{stage.name!r} has no parameter {unknown[0]!r}; valid: {valid}")
    values = tuple((p.name, p.parse(given.get(p.name, p.default))) for p in info.params)
    return StageSpec(stage.name, values)


def build_stage(stage: StageSpec, limits: Limits = DEFAULT) -> Stage:
    """Instantiate a canonical stage that enforces ``limits`` when it decodes."""
    built = CODECS[stage.name].build(Params(dict(stage.params)))
    built.limits = limits
    return built


def _default(name: str) -> StageSpec:
    return canonical_stage(StageSpec(name))


def _roles(stages: list[StageSpec]) -> list[StageInfo]:
    infos = [CODECS[s.name] for s in stages]
    ranks = [_ROLE_ORDER[i.role] for i in infos]
    if ranks != sorted(ranks) or ranks.count(1) > 1:
        order = " | ".join(f"{i.name} ({i.role})" for i in infos)
        raise BadCodecSpec(
            f"stages must run transforms, then one coder, then compressors; got {order}"
        )
    return infos


def _kind_before(stages: list[StageSpec], index: int) -> Kind:
    kind = Kind()
    for stage in stages[:index]:
        built = build_stage(stage)
        if isinstance(built, Transform):
            kind = built.out_kind(kind)
    return kind


def _complete(stages: list[StageSpec]) -> list[StageSpec]:
    infos = _roles(stages)
    roles = [i.role for i in infos]
    if "coder" not in roles:
        at = roles.index("compressor") if "compressor" in roles else len(stages)
        stages.insert(at, _default("raw"))
        roles.insert(at, "coder")
    at = roles.index("coder")
    coder = build_stage(stages[at])
    if not isinstance(coder, Coder):
        raise BadCodecSpec(f"{stages[at].name!r} is registered as a coder but is not one")
    if coder.needs_symbols and _kind_before(stages, at).bits is None:
        stages.insert(0, _default("quant"))
        at += 1
    if coder.needs_plane and not _kind_before(stages, at).plane:
        stages.insert(at, _default("tile"))
        at += 1
    coder.check_kind(_kind_before(stages, at))
    return stages


def canonical(spec: SpecLike) -> Spec:
    """The validated, completed, canonical form of ``spec`` (see the module docstring)."""
    parsed = parse_spec(spec)
    stages = [canonical_stage(s) for s in parsed.stages]
    return Spec(tuple(_complete(stages)))
