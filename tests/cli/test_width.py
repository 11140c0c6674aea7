"""The live `run` table and `plan`'s table fit an 80-column terminal: no cell cut to '…'."""

from __future__ import annotations

import time

import pytest
from rich.console import Console

from splitinfer.cli.plan import plan_table
from splitinfer.cli.run import _table
from splitinfer.edge.runner import EdgeResult
from splitinfer.edge.stream import StreamSummary
from splitinfer.plan import device, link, plan, server
from splitinfer.plan.ratepoints import RatePoint
from tests.plan.toy import make_profile


def render(renderable: object, width: int) -> str:
    console = Console(width=width, record=True, force_terminal=False)
    console.print(renderable)
    return console.export_text()


def summary(fell_back: int = 0) -> StreamSummary:
    s = StreamSummary("split")
    for i in range(200):
        back = i < fell_back
        s.add(
            EdgeResult(
                i, "mobile-only" if back else "split", i % 10, "x", head_ms=121.44,
                encode_ms=0.11, network_ms=987.54, server_ms=0.55, total_ms=1345.67,
                bytes_up=0 if back else 29, attempts=3 if back else 1, fell_back=back,
                errors=["attempt 3: cannot reach http://x: ConnectError"] if back else [],
            ),
            i % 10,
        )  # fmt: skip
    s.started = time.perf_counter() - 20.0  # 10 FPS
    return s


@pytest.mark.parametrize(("width", "wide"), [(80, False), (120, False), (120, True)])
def test_the_live_table_is_never_cut(width: int, wide: bool) -> None:
    what = "split over http, engine torch"
    text = render(_table(summary(), 200, what, wide), width)  # --wide: for wide terminals
    assert "…" not in text, text
    assert "KB/frame" in text and "200/200" in text and "1345.67" in text
    assert ("srv ms" in text) == wide and ("987.54" in text) == wide
    assert max(len(line) for line in text.splitlines()) <= width


def test_the_title_says_what_actually_ran() -> None:
    text = render(_table(summary(fell_back=200), 200, "split over http"), 80)
    assert "ALL ran mobile-only (fallback)" in " ".join(text.split())
    text = render(_table(summary(fell_back=3), 200, "split over http"), 80)
    assert "3 of 200 ran mobile-only (fallback)" in " ".join(text.split())


@pytest.mark.parametrize("width", [80, 120])
def test_the_plan_table_fits(width: int) -> None:
    point = RatePoint(
        cut="middle", label="unit c=8 s=4 + learned:levels=4,tables=element", payload_bytes=14.0,
        frame_bytes=29.0, accuracy=0.9188, accuracy_loss=1.1, encode_ms=0.1, decode_ms=0.2,
        measured=True, source="test",
    )  # fmt: skip
    p = plan(
        make_profile(), link=link("3g"), device=device("phone"), server=server("host"),
        rate_points=[point],
    )  # fmt: skip
    text = render(plan_table(p, 12), width)
    assert "…" not in text, text
    assert "mobile-only" in text and "cloud-only" in text  # never folded mid-word
    assert "total ms" in text and "loss pp" in text
    assert max(len(line) for line in text.splitlines()) <= width
    wide = render(plan_table(p, 12, wide=True), 160)
    assert "radio mJ" in wide and "…" not in wide
