"""Link traces on their own: both formats parse, bad files name the line, the capacity
curves and the trace bucket deliver exactly what the trace allows, the loss model."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from splitinfer.errors import BadInput
from splitinfer.net import BadTrace, LinkSettings
from splitinfer.net.bucket import TokenBucket, TraceBucket
from splitinfer.net.trace import (
    SEGMENT_BYTES,
    ConstantRate,
    Opportunities,
    PiecewiseRate,
    load_trace,
    loss_penalty,
)

ROOT = Path(__file__).resolve().parents[2]
HEADER = "t_s,up_mbps,down_mbps,rtt_ms,loss\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_parses_into_piecewise_schedules(tmp_path: Path) -> None:
    path = write(tmp_path, "s.csv", HEADER + "0,0.2,1,40,0\n2.5,0.8,2,100,0.01\n")
    trace = load_trace(path)
    assert (trace.format, trace.duration_s) == ("csv", 2.5)
    up = trace.up.capacity
    assert up.rate_at(1.0) == pytest.approx(25_000) and up.rate_at(9.0) == pytest.approx(100_000)
    assert up.bytes_by(2.5) == pytest.approx(62_500)
    assert up.bytes_by(3.5) == pytest.approx(162_500)  # the last row holds
    assert trace.down.capacity.rate_at(0.0) == pytest.approx(125_000)
    assert (trace.up.rtt_ms.at(2.4), trace.up.rtt_ms.at(2.5)) == (40.0, 100.0)
    assert trace.down.loss.at(100.0) == 0.01


def test_mahimahi_parses_and_loops(tmp_path: Path) -> None:
    path = write(tmp_path, "up.trace", "0\n5\n5\n\n10\n")  # blank lines are skipped
    trace = load_trace(path, down_mbps=8, rtt_ms=30, loss=0.02)
    cap = trace.up.capacity
    assert isinstance(cap, Opportunities) and trace.duration_s == 0.010
    assert cap.bytes_by(0.0) == 1500 and cap.bytes_by(0.005) == 4500
    assert cap.bytes_by(0.011) == 4 * 1500 + 1500  # next loop: 0 ms again at 10 ms
    assert cap.time_for(4500) == 0.005 and cap.time_for(4501) == 0.010
    assert trace.down.capacity.rate_at(0) == pytest.approx(1e6)  # 8 Mbps fixed
    assert (trace.up.rtt_ms.at(5), trace.up.loss.at(5)) == (30.0, 0.02)


def test_mahimahi_downlink_trace(tmp_path: Path) -> None:
    up = write(tmp_path, "a.trace", "1\n2\n")
    down = write(tmp_path, "b.trace", "1\n1\n1\n2\n")
    trace = load_trace(up, down_path=down)
    assert trace.down.capacity.bytes_by(0.001) == 3 * 1500


@pytest.mark.parametrize("curve", [
    PiecewiseRate([0.0, 1.0, 2.0, 4.0], [1000.0, 0.0, 500.0, 2000.0]),
    Opportunities([0.0, 0.001, 0.001, 0.004, 0.010]),
    ConstantRate(750.0),
])  # fmt: skip
def test_time_for_inverts_bytes_by(curve: object) -> None:
    from splitinfer.net.trace import Capacity

    cap: Capacity = curve  # type: ignore[assignment]
    for nbytes in [1.0, 999.0, 1000.0, 1001.0, 1500.0, 3000.0, 7000.0, 20_000.0]:
        t = cap.time_for(nbytes)
        assert cap.bytes_by(t) >= nbytes - 1e-6
        assert cap.bytes_by(t - 1e-7) < nbytes  # the earliest such time


def test_drop_out_holds_bytes_until_the_rate_returns() -> None:
    curve = PiecewiseRate([0.0, 1.0, 3.0], [1000.0, 0.0, 1000.0])
    bucket = TraceBucket(curve, burst=1, origin=100.0)
    # the first byte is the burst; 1000 B take 1 s, then a 2 s gap, then 1 B takes 1 ms
    assert bucket.release_time(1002, now=100.0) == pytest.approx(103.001)
    assert bucket.release_time(500, now=100.5) == pytest.approx(103.501)  # queued behind


def test_trace_bucket_with_a_constant_curve_matches_the_token_bucket() -> None:
    rng = random.Random(7)
    plain = TokenBucket(rate=2000.0, burst=1500, now=0.0)
    traced = TraceBucket(PiecewiseRate([0.0], [2000.0]), burst=1500, origin=0.0)
    now = 0.0
    for _ in range(200):
        now += rng.expovariate(3.0)
        n = rng.randint(1, 4000)
        assert traced.release_time(n, now) == pytest.approx(plain.release_time(n, now))


def test_trace_bucket_follows_a_step_exactly() -> None:
    curve = PiecewiseRate([0.0, 2.0], [25_000.0, 100_000.0])  # 200 kbit/s -> 800 kbit/s
    bucket = TraceBucket(curve, burst=1, origin=0.0)
    releases = [bucket.release_time(1000, now=0.0) for _ in range(250)]
    assert releases[49] == pytest.approx(2.0, abs=1e-3)  # 50 KB by 2 s at 25 KB/s
    assert releases[-1] == pytest.approx(4.0, abs=1e-3)  # then 200 KB in 2 s at 100 KB/s


def test_loss_penalty() -> None:
    rng = random.Random(1)
    assert loss_penalty(64_000, 0.0, 0.1, rng) == (0, 0.0)
    again, late = loss_penalty(10 * SEGMENT_BYTES, 0.999999, 0.1, rng)
    assert (again, late) == (10 * SEGMENT_BYTES, 0.1)  # every segment lost: resent, +1 RTT
    hits = [loss_penalty(SEGMENT_BYTES, 0.05, 0.1, rng)[0] > 0 for _ in range(20_000)]
    assert sum(hits) / len(hits) == pytest.approx(0.05, abs=0.01)


BAD = [
    ("e.csv", "", "empty trace"),
    ("h.csv", HEADER, "a header and no rows"),
    ("x.csv", "time,up\n0,1\n", "line 1: header must be"),
    ("n.csv", HEADER + "0,1,1,10,0\n1,-2,1,10,0\n", "line 3: up_mbps must be >= 0"),
    ("m.csv", HEADER + "0,1,1,10,0\n2,1,1,10,0\n1,1,1,10,0\n", "line 4: t_s 1 is not after"),
    ("f.csv", HEADER + "0,1,fast,10,0\n", "line 2: down_mbps 'fast' is not a number"),
    ("c.csv", HEADER + "0,1,1,10\n", "line 2: 4 fields, expected 5"),
    ("s.csv", HEADER + "1,1,1,10,0\n", "line 2: the first row must start at t_s = 0"),
    ("l.csv", HEADER + "0,1,1,10,1.5\n", "line 2: loss must be in [0, 1)"),
    ("z.csv", HEADER + "0,1,1,10,0\n5,0,1,10,0\n", "line 3: the last row holds forever"),
    ("i.csv", HEADER + "0,inf,1,10,0\n", "line 2: up_mbps must be finite"),
    ("e.trace", "\n\n", "empty trace"),
    ("a.trace", "0\n5\nfive\n", "line 3: 'five' is not a whole number"),
    ("d.trace", "0\n5\n3\n", "line 3: time 3 ms is before the previous line's 5 ms"),
    ("g.trace", "-1\n5\n", "line 1: negative time"),
    ("o.trace", "0\n0\n", "the last time must be > 0 ms"),
]


@pytest.mark.parametrize(("name", "text", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_traces_name_the_file_and_line(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(BadTrace, match=r"^.*" + name.replace(".", r"\.")) as err:
        load_trace(path)
    assert message in err.value.message
    assert isinstance(err.value, BadInput) and err.value.code == "bad_trace"
    assert "\n" not in err.value.message


def test_missing_file_and_settings_checks(tmp_path: Path) -> None:
    with pytest.raises(BadTrace, match="no such trace file"):
        load_trace(tmp_path / "nope.csv")
    with pytest.raises(BadInput, match="loss must be in"):
        LinkSettings(1, 1, 10, loss=1.0)
    with pytest.raises(BadInput, match="needs an uplink trace"):
        LinkSettings(1, 1, 10, down_trace="b.trace")
    csv = write(tmp_path, "t.csv", HEADER + "0,1,1,10,0\n")
    with pytest.raises(BadTrace, match="CSV trace sets both directions"):
        load_trace(csv, down_path=csv)


def test_fixed_settings_without_loss_keep_the_fixed_path() -> None:
    assert LinkSettings(1, 2, 10).schedule() is None  # the token bucket, unchanged
    lossy = LinkSettings(1, 2, 10, loss=0.01).schedule()
    assert lossy is not None and lossy.up.loss.at(0) == 0.01


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "traces").glob("*.csv")))
def test_shipped_csv_traces_parse(name: str) -> None:
    trace = load_trace(ROOT / "traces" / name)
    assert trace.duration_s >= 170
    assert trace.up.capacity.max_rate > 0


def test_shipped_mahimahi_traces_match_their_csv() -> None:
    folder = ROOT / "traces"
    mm = load_trace(folder / "3g-dropouts.up.trace", down_path=folder / "3g-dropouts.down.trace")
    csv = load_trace(folder / "3g-dropouts.csv")
    for t in (30.0, 90.0, 150.0):
        for a, b in ((mm.up, csv.up), (mm.down, csv.down)):
            assert a.capacity.bytes_by(t) == pytest.approx(b.capacity.bytes_by(t), abs=1500)


def test_shipped_traces_are_what_the_script_writes() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make-traces.py"), "--check"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
