"""`splitinfer demo`: the quick run end to end against the real server and link emulator."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from splitinfer.bundle import default_bundle_path
from splitinfer.demo import MODES, DemoConfig, DemoFailed, ServerProcess, run_demo, write_run
from splitinfer.errors import BadInput


def _have_data() -> bool:
    from splitinfer.data import fmnist_root

    try:
        fmnist_root()
    except BadInput:
        return False
    return (default_bundle_path() / "spec.json").is_file()


pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not _have_data(), reason="needs Fashion-MNIST (make data) and the shipped bundle"
    ),
]


def _children(pid: int) -> set[int]:
    """Live (not zombie-reaped) processes whose parent is ``pid`` (Linux /proc)."""
    out = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            out.add(int(entry.name))
    return out


def _listening_sockets(pid: int) -> set[str]:
    """Inodes of the TCP sockets in LISTEN state that ``pid`` holds open."""
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[3] == "0A":  # TCP_LISTEN
                    listening.add(cols[9])
    held = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            held.add(target[8:-1])
    return held & listening


def _our_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith(("splitinfer", "worker-"))}


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    pid = os.getpid()
    before = (_children(pid), _listening_sockets(pid), _our_threads())
    out = tmp_path_factory.mktemp("demo")
    config = DemoConfig.quick(images=4, accuracy_images=100, warmup=1)
    results = run_demo(config, log_dir=out)
    write_run(results, out)
    after = (_children(pid), _listening_sockets(pid), _our_threads())
    return {"results": results, "out": out, "before": before, "after": after}


def test_quick_demo_writes_the_report_json_and_charts(quick: dict[str, Any]) -> None:
    out: Path = quick["out"]
    report = (out / "report.md").read_text()
    for mode in MODES:
        assert f"| wifi | {mode} |" in report
    assert "modeled" in report.lower() and "Planner fidelity" in report
    for name in ("latency.png", "bytes.png", "energy.png", "fidelity.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, name
    stored = json.loads((out / "results.json").read_text())
    assert stored["format"] == "splitinfer.demo/1"
    assert stored["rows"] == json.loads(json.dumps(quick["results"].rows()))


def test_quick_demo_numbers_are_consistent(quick: dict[str, Any]) -> None:
    r = quick["results"]
    rows = {row["mode"]: row for row in r.rows()}
    assert set(rows) == set(MODES)
    assert rows["mobile-only"]["bytes_up"] == 0 and rows["mobile-only"]["wire_bytes_up"] == 0
    assert 0 < rows["split"]["bytes_up"] < rows["cloud-only"]["bytes_up"]
    assert rows["split"]["wire_bytes_up"] > rows["split"]["bytes_up"]  # HTTP around the frame
    rtt = r.links[0].settings["rtt_ms"]
    for mode, row in rows.items():
        assert row["requests"] == 4
        assert 0 <= row["accuracy"] <= 1 and 0 <= row["online_accuracy"] <= 1
        assert 0 < row["latency_ms_p50"] <= row["latency_ms_p95"]
        assert row["energy_mj_modeled"] > 0 and row["planner_ms"] > 0
        if mode != "mobile-only":  # the emulated link really is in the path
            assert row["latency_ms_p50"] >= rtt
    assert rows["cloud-only"]["latency_vs_cloud"] == pytest.approx(1.0)
    assert r.accuracy["split"]["images"] == 100
    assert all(v == 4 for v in r.agreement["wifi"].values())  # online == offline path


def test_quick_demo_leaves_no_process_socket_or_thread(quick: dict[str, Any]) -> None:
    children, sockets, threads = quick["after"]
    before_children, before_sockets, before_threads = quick["before"]
    assert children <= before_children
    assert sockets <= before_sockets
    assert threads <= before_threads


def test_a_server_that_cannot_start_is_a_clear_error(tmp_path: Path) -> None:
    pid = os.getpid()
    before = _children(pid)
    with (
        pytest.raises(DemoFailed, match="exited during start-up"),
        ServerProcess(tmp_path / "no-bundle", tmp_path / "server.log", 1) as srv,
    ):
        srv.wait_ready(60)
    assert _children(pid) <= before


def test_bad_options_fail_before_anything_starts() -> None:
    with pytest.raises(BadInput):
        run_demo(DemoConfig(links=("5g",)))
    with pytest.raises(BadInput):
        run_demo(DemoConfig(images=0))
    with pytest.raises(BadInput, match="cgroup, dilate"):
        run_demo(DemoConfig(device="phone", device_method="warp"))


def test_the_command_is_registered() -> None:
    from typer.testing import CliRunner

    from splitinfer.cli import build_app

    result = CliRunner().invoke(build_app(), ["demo", "--help"])
    assert result.exit_code == 0
    for flag in ("--images", "--links", "--out", "--bundle", "--quick"):
        assert flag in result.output


def test_quick_demo_probes_once_and_models_http_and_the_fixed_time(quick: dict[str, Any]) -> None:
    """Without a stored probe the demo probes its own server once, stores it, and its
    model-only planner adds HTTP's bytes and the fixed ms (tests store in their own file)."""
    from splitinfer.plan.protocol import HTTP, load_probe

    stored = load_probe()
    assert stored is not None and stored["requests_per_mode"] == 4
    inputs = quick["results"].planner_inputs["wifi"]["wire_only"]
    assert set(inputs["fixed_ms"]) == set(MODES)
    assert inputs["fixed_ms"]["split"] == stored["fixed_ms"]["http"]["split"] >= 0
    assert (inputs["http_up_bytes"], inputs["http_down_bytes"]) == (HTTP.up, HTTP.down)
