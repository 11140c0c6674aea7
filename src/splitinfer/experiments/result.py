"""What an experiment hands back: tables, figures and notes, as plain JSON-able dicts.

Every number an experiment reports sits in a table column with a ``basis``: ``modeled``
(the cost model, splitinfer.plan), ``measured`` (timed or counted on this machine, or
measured when a bundle was built), ``assumed`` (an input we could not measure) or ``""``
for labels. The HTML report and the README generator print the basis beside every
column, so modeled and measured numbers are never mixed without a label.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from splitinfer.results import dumps, json_safe

__all__ = ["Column", "Result", "dumps", "figure", "json_safe", "ratio", "table"]

Basis = Literal["modeled", "measured", "assumed", ""]
Status = Literal["ok", "skipped", "failed"]


@dataclass(frozen=True)
class Column:
    """One table column: the row key it reads, its header, unit and basis."""

    key: str
    label: str
    basis: Basis = ""
    unit: str = ""

    def to_json(self) -> dict[str, str]:
        return {"key": self.key, "label": self.label, "basis": self.basis, "unit": self.unit}


def table(
    table_id: str,
    title: str,
    columns: Sequence[Column],
    rows: Sequence[dict[str, Any]],
    caption: str = "",
    readme: bool = False,
) -> dict[str, Any]:
    """A table as a dict; ``readme`` marks the ones the README's Results section quotes."""
    keys = {c.key for c in columns}
    for row in rows:
        missing = keys - set(row)
        if missing:
            raise ValueError(f"table {table_id}: row lacks {sorted(missing)}")
    return {
        "id": table_id,
        "title": title,
        "caption": caption,
        "columns": [c.to_json() for c in columns],
        "rows": [dict(r) for r in rows],
        "readme": readme,
    }


def figure(file: str, title: str, caption: str, basis: Basis) -> dict[str, str]:
    """A figure written by the experiment (``file`` relative to its folder)."""
    return {"file": file, "title": title, "caption": caption, "basis": basis}


@dataclass
class Result:
    """An experiment's result, built up as it runs and returned as a dict."""

    name: str
    title: str
    summary: str = ""
    status: Status = "ok"
    tables: list[dict[str, Any]] = field(default_factory=list)
    figures: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)

    def skip(self, why: str) -> dict[str, Any]:
        """The result of an experiment that could not run here (not a failure)."""
        self.status = "skipped"
        self.notes.insert(0, why)
        return self.to_json()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "status": self.status,
            "summary": self.summary,
            "tables": self.tables,
            "figures": self.figures,
            "notes": self.notes,
            "config": self.config,
            "data": self.data,
        }

    def save(self, out_dir: Path) -> dict[str, Any]:
        """Write ``<out_dir>/<name>.json`` and return the dict."""
        data = self.to_json()
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"{self.name}.json").write_text(dumps(data))
        return data


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``; inf when the denominator is 0 (never a crash)."""
    return numerator / denominator if denominator > 0 else math.inf


def format_cell(value: Any, unit: str = "") -> str:
    """A table cell as text: thousands separators, 2-3 significant decimals, ``x`` ratios."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if unit == "x":
            return f"{value:,.2f}x"
        if unit == "%":
            return f"{value:.2f}"
        a = abs(value)
        if a >= 1000:
            return f"{value:,.0f}"
        if a >= 100:
            return f"{value:.1f}"
        if a >= 1:
            return f"{value:.2f}"
        return f"{value:.3g}"
    return str(value)
