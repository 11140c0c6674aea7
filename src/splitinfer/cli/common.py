"""Helpers several commands share: the step progress bar and the command line as typed."""

from __future__ import annotations

import shlex
import sys

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def step_bar(console: Console, disable: bool = False) -> Progress:
    """A bar with a ``stats`` field: training epochs, sweep points and their steps.

    ``disable``: draw nothing (ranks other than 0 of a distributed run).
    """
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[stats]}"),
        console=console, disable=disable,
    )  # fmt: skip


def command_line() -> str:
    """This process's command line, as ``splitinfer ...`` quoted for a shell (for records)."""
    return "splitinfer " + " ".join(shlex.quote(a) for a in sys.argv[1:])
