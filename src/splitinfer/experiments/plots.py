"""Matplotlib without a display, one style for every bench figure, and a saver."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from splitinfer.errors import MissingDependency


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend, or a clear error saying what to install."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise MissingDependency(
            "splitinfer bench draws with matplotlib: pip install 'splitinfer[cli]'"
        ) from err
    plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "figure.titlesize": 11})
    return plt


def save(fig: Any, path: Path) -> str:
    """Write ``fig`` as PNG at ``path``, close it, and return the file name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    pyplot().close(fig)
    return path.name


def plain_log(ax: Any, axis: str = "y") -> None:
    """A log-scale axis labelled 1, 2, 5, 10, 20, 50 ... in plain numbers."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    getattr(ax, f"set_{axis}scale")("log")
    a = getattr(ax, f"{axis}axis")
    a.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    a.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
    a.set_minor_formatter(NullFormatter())
