"""Typed codec parameters: each parses text, validates it and formats it canonically."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from splitinfer.errors import BadCodecSpec


@dataclass(frozen=True)
class Param:
    """A named parameter with a default; :meth:`parse` returns its canonical text."""

    name: str
    default: str
    help: str

    def parse(self, text: str) -> str:
        raise NotImplementedError

    def _bad(self, text: str, expected: str) -> BadCodecSpec:
        return BadCodecSpec(f"{self.name}={text!r}: expected {expected}")


@dataclass(frozen=True)
class IntParam(Param):
    lo: int = 0
    hi: int = 0

    def parse(self, text: str) -> str:
        try:
            value = int(text)
        except ValueError:
            raise self._bad(text, f"an integer in {self.lo}..{self.hi}") from None
        if not self.lo <= value <= self.hi:
            raise self._bad(text, f"an integer in {self.lo}..{self.hi}")
        return str(value)


@dataclass(frozen=True)
class FloatParam(Param):
    lo: float = 0.0
    hi: float = 0.0

    def parse(self, text: str) -> str:
        value = parse_float(text)
        if value is None or not self.lo <= value <= self.hi:
            raise self._bad(text, f"a number in {self.lo}..{self.hi}")
        return repr(value)


@dataclass(frozen=True)
class ChoiceParam(Param):
    choices: tuple[str, ...] = ()

    def parse(self, text: str) -> str:
        if text not in self.choices:
            raise self._bad(text, "one of " + ", ".join(self.choices))
        return text


def parse_float(text: str) -> float | None:
    """A finite float from text, or None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class Params:
    """The validated, canonical parameters of one stage (text values, schema order)."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)

    def text(self, name: str) -> str:
        return self._values[name]

    def int(self, name: str) -> int:
        return int(self._values[name])

    def float(self, name: str) -> float:
        return float(self._values[name])

    def items(self) -> tuple[tuple[str, str], ...]:
        return tuple(self._values.items())
