"""Codec spec syntax: strings, dicts and lists, and back.

Grammar (whitespace around tokens is ignored)::

    spec   := stage ("|" stage)*
    stage  := name [":" param ("," param)*]
    param  := key "=" value          # value: any text without "|", "," or "="

``quant:bits=8,clip=p99.9|tile|jpeg:quality=20`` is three stages. The equivalent list
form is ``[{"name": "quant", "bits": 8, "clip": "p99.9"}, {"name": "tile"},
{"name": "jpeg", "quality": 20}]``; one dict is a one-stage spec. Numbers may be JSON
numbers on input; :meth:`Spec.to_list` writes every value as text so that
``Spec.from_list(spec.to_list()) == spec`` exactly.

This module is syntax only. :func:`splitinfer.codecs.canonical` validates a spec against
the registry and makes it canonical (see there).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Union, cast

from splitinfer.errors import BadCodecSpec

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_VALUE = re.compile(r"^[^|,=\s]+$")

SpecLike = Union[str, "Spec", Mapping[str, object], Sequence[Mapping[str, object]]]


@dataclass(frozen=True)
class StageSpec:
    """One stage: a registered name and its parameters as (key, text) pairs, in order."""

    name: str
    params: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        if not self.params:
            return self.name
        return self.name + ":" + ",".join(f"{k}={v}" for k, v in self.params)

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, **dict(self.params)}


@dataclass(frozen=True)
class Spec:
    """A pipeline of stages; ``str(spec)`` is its string form."""

    stages: tuple[StageSpec, ...]

    def __str__(self) -> str:
        return "|".join(str(s) for s in self.stages)

    def to_list(self) -> list[dict[str, str]]:
        return [s.to_dict() for s in self.stages]

    @staticmethod
    def from_list(items: Sequence[Mapping[str, object]]) -> Spec:
        return Spec(tuple(_stage_from_dict(item) for item in items)) if items else _empty()


def _empty() -> Spec:
    raise BadCodecSpec("empty codec spec; try 'raw' or 'quant:bits=8|ans'")


def _check_name(name: str, where: str) -> str:
    if not _NAME.match(name):
        raise BadCodecSpec(f"bad codec name {name!r} in {where!r}: use lowercase letters")
    return name


def _check_param(key: str, value: str, where: str) -> tuple[str, str]:
    if not _NAME.match(key):
        raise BadCodecSpec(f"bad parameter name {key!r} in {where!r}")
    if not _VALUE.match(value):
        raise BadCodecSpec(f"bad value {value!r} for {key!r} in {where!r}")
    return key, value


def _stage_from_text(text: str) -> StageSpec:
    name, _, rest = text.strip().partition(":")
    _check_name(name.strip(), text)
    params: list[tuple[str, str]] = []
    if rest.strip():
        for item in rest.split(","):
            key, eq, value = item.partition("=")
            if not eq:
                raise BadCodecSpec(f"parameter {item.strip()!r} in {text!r} needs key=value")
            params.append(_check_param(key.strip(), value.strip(), text))
    _no_duplicates(params, text)
    return StageSpec(name.strip(), tuple(params))


def _stage_from_dict(item: Mapping[str, object]) -> StageSpec:
    if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
        raise BadCodecSpec(f"a codec stage dict needs a string 'name', got {item!r}")
    name = _check_name(str(item["name"]), str(item))
    params = []
    for key, value in item.items():
        if key == "name":
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise BadCodecSpec(f"parameter {key!r} of {name!r} must be text or a number")
        params.append(_check_param(str(key), str(value), str(item)))
    return StageSpec(name, tuple(params))


def _no_duplicates(params: list[tuple[str, str]], where: str) -> None:
    keys = [k for k, _ in params]
    if len(set(keys)) != len(keys):
        raise BadCodecSpec(f"a parameter is given twice in {where!r}")


def parse_spec(spec: SpecLike) -> Spec:
    """Parse a spec string, dict, list of dicts (or pass a :class:`Spec` through)."""
    if isinstance(spec, Spec):
        return spec
    if isinstance(spec, str):
        if not spec.strip():
            return _empty()
        return Spec(tuple(_stage_from_text(part) for part in spec.split("|")))
    if isinstance(spec, Mapping):
        return Spec((_stage_from_dict(spec),))
    if isinstance(spec, Sequence):
        return Spec.from_list(cast(Sequence[Mapping[str, object]], spec))
    raise BadCodecSpec(f"a codec spec is a string, dict or list, got {type(spec).__name__}")


def format_spec(spec: SpecLike) -> str:
    """The string form of a spec (canonical when ``spec`` is canonical)."""
    return str(parse_spec(spec))
