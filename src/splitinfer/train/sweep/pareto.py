"""Pareto fronts over (bytes, accuracy) and the comparison of the families at one accuracy
level (the "1-point" comparison)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from splitinfer.train.sweep.config import FAMILIES, OURS_FAMILIES


def pareto_front(points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """The ``(bytes, accuracy)`` points that no cheaper-or-equal point matches in accuracy.

    Sorted by bytes; accuracy strictly increases along the front. Non-finite points are
    dropped.
    """
    front: list[tuple[float, float]] = []
    finite = [(b, a) for b, a in points if math.isfinite(b) and math.isfinite(a) and b > 0]
    for b, a in sorted(finite, key=lambda p: (p[0], -p[1])):
        if not front or a > front[-1][1]:
            front.append((b, a))
    return front


def bytes_at_level(front: Sequence[tuple[float, float]], level: float) -> float | None:
    """Fewest bytes at which ``front`` reaches ``level`` accuracy, or None if it never does.

    Between two front points, accuracy is interpolated linearly in log(bytes); below the
    cheapest front point nothing is extrapolated (its bytes are the answer).
    """
    for i, (b, a) in enumerate(front):
        if a >= level:
            if i == 0:
                return b
            b0, a0 = front[i - 1]
            t = (level - a0) / (a - a0)
            return float(10 ** (math.log10(b0) + t * (math.log10(b) - math.log10(b0))))
    return None


@dataclass(frozen=True)
class LevelComparison:
    """Bytes each family needs to reach one accuracy level, and ours vs the baselines.

    ``ours``: the cheapest of our families (:data:`OURS_FAMILIES`) at the level;
    ``ratios``: each baseline's bytes / ours (None where either never reaches the level);
    ``ratio``: the best (cheapest) baseline's.
    """

    name: str
    accuracy: float
    bytes: dict[str, float | None]
    best_accuracy: dict[str, float]
    best_baseline: str | None
    ratio: float | None  # best baseline bytes / ours bytes
    text: str
    ours: str | None = None  # which of our families is cheapest at the level
    ratios: dict[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare_at_level(
    fronts: Mapping[str, Sequence[tuple[float, float]]], level: float, name: str
) -> LevelComparison:
    """Where each family's front reaches ``level``, and each baseline's bytes / ours."""
    at = {f: bytes_at_level(front, level) for f, front in fronts.items()}
    best_acc = {f: max((a for _, a in front), default=math.nan) for f, front in fronts.items()}
    reached = {f: b for f, b in at.items() if f not in OURS_FAMILIES and b is not None}
    best = min(reached, key=lambda f: reached[f]) if reached else None
    mine = {f: b for f, b in at.items() if f in OURS_FAMILIES and b is not None}
    ours_family = min(mine, key=lambda f: mine[f]) if mine else None
    ours = mine.get(ours_family) if ours_family else None
    parts = []
    for f in (f for f in fronts if f in OURS_FAMILIES):
        b = at[f]
        parts.append(f"{f} {b:.1f} B" if b is not None else
                     f"{f} never reaches it (best {100 * best_acc[f]:.2f}%)")  # fmt: skip
    if not any(f in OURS_FAMILIES for f in fronts):
        parts.append("no points of ours")
    for f in fronts:
        if f not in OURS_FAMILIES:
            b = at[f]
            parts.append(f"{f} {b:.1f} B" if b is not None else
                         f"{f} never reaches it (best {100 * best_acc[f]:.2f}%)")  # fmt: skip
    ratios = {f: (b / ours if ours is not None else None) for f, b in reached.items()}
    ratio = None
    if best is None:
        parts.append("no baseline reaches it")
    elif ours is not None:
        ratio = reached[best] / ours
        parts.append(f"best baseline ({best}) / ours ({ours_family}) = {ratio:.2f}x fewer bytes")
    text = f"at {100 * level:.2f}% ({name}): " + "; ".join(parts)
    return LevelComparison(name, level, at, best_acc, best, ratio, text, ours_family, ratios)


def family_fronts(points: Sequence[Mapping[str, Any]]) -> dict[str, list[tuple[float, float]]]:
    """Each family's Pareto front over its measured points (bytes, accuracy)."""
    out: dict[str, list[tuple[float, float]]] = {}
    for family in FAMILIES:
        mine = [(float(p["bytes"]), float(p["accuracy"])) for p in points if p["family"] == family]
        if mine:
            out[family] = pareto_front(mine)
    return out
