"""Helpers several commands share: progress (bar or plain lines), warnings, the command line."""

from __future__ import annotations

import shlex
import sys
import time
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class LineProgress:
    """What a rich ``Progress`` does, as plain lines, for output that is not a terminal.

    A task prints a line when it starts, at most every ``interval`` seconds while it runs,
    and when it completes: no carriage returns, nothing held back until the end.
    """

    def __init__(self, console: Console, interval: float = 10.0) -> None:
        self.console = console
        self.interval = interval
        self._tasks: dict[TaskID, dict[str, Any]] = {}

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def add_task(self, description: str, total: float | None = None, **fields: Any) -> TaskID:
        visible = fields.pop("visible", True)
        task = {"description": description, "total": total, "completed": 0.0,
                "fields": fields, "start": time.monotonic(), "last": None, "visible": visible,
                "done": False}  # fmt: skip
        task_id = TaskID(len(self._tasks))
        self._tasks[task_id] = task
        return task_id

    def reset(self, task_id: TaskID, **kwargs: Any) -> None:
        self._tasks[task_id].update(completed=0.0, start=time.monotonic(), last=None, done=False)
        self.update(task_id, **kwargs)

    def update(
        self,
        task_id: TaskID,
        *,
        completed: float | None = None,
        total: float | None = None,
        advance: float | None = None,
        description: str | None = None,
        visible: bool | None = None,
        **fields: Any,
    ) -> None:
        task = self._tasks[task_id]
        if total is not None:
            task["total"] = total
        if completed is not None:
            task["completed"] = completed
        if advance is not None:
            task["completed"] += advance
        if description is not None:
            task["description"] = description
        if visible is not None:
            task["visible"] = visible
        task["fields"].update(fields)
        self._maybe_print(task)

    def _maybe_print(self, task: dict[str, Any]) -> None:
        now = time.monotonic()
        total = task["total"]
        finished = bool(total) and task["completed"] >= total
        due = task["last"] is None or now - task["last"] >= self.interval
        if not task["visible"] or task["done"] or not (due or finished):
            return
        task["last"] = now
        task["done"] = finished
        count = f"{task['completed']:g}/{total:g}" if total else f"{task['completed']:g}"
        extra = " ".join(str(v) for v in task["fields"].values() if v not in (None, ""))
        line = f"{task['description']} {count} {extra} ({now - task['start']:.0f} s)"
        self.console.print(" ".join(line.split()), markup=False, highlight=False, soft_wrap=True)


def step_bar(console: Console, disable: bool = False) -> Progress | LineProgress:
    """A bar with a ``stats`` field: training epochs, sweep points and their steps.

    Plain lines (:class:`LineProgress`) when the console is not a terminal; ``disable``:
    draw nothing (ranks other than 0 of a distributed run).
    """
    if not console.is_terminal and not disable:
        return LineProgress(console)
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[stats]}"),
        console=console, disable=disable,
    )  # fmt: skip


def command_line() -> str:
    """This process's command line, as ``splitinfer ...`` quoted for a shell (for records)."""
    return "splitinfer " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def warn(line: str | None) -> None:
    """Print one warning line to stderr, never wrapped (a log keeps it on one line)."""
    if line:
        err = Console(stderr=True, soft_wrap=True, highlight=False)
        err.print(line, style="bold yellow", markup=False)
