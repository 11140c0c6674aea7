"""`splitinfer run --device` against a local server: the edge runs emulated (where cgroups
allow), the summary is labelled with the device, and no group is left behind."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from splitinfer.bundle import Bundle, default_bundle_path
from splitinfer.cli import build_app, main
from splitinfer.device.cgroup import PREFIX, CgroupUnavailable, detect
from tests.conftest import needs_fmnist
from tests.edge.helpers import TOKEN, Servers, serving

pytestmark = pytest.mark.integration  # starts servers


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    with serving(Bundle.load(default_bundle_path())) as s:
        yield s


def _cgroups() -> bool:
    try:
        detect()
    except CgroupUnavailable:
        return False
    return True


def _ours() -> list[Path]:
    return list(detect().root.glob(f"{PREFIX}{os.getpid()}-*")) if _cgroups() else []


@needs_fmnist
@pytest.mark.parametrize(
    ("device", "extra"), [("phone", ()), ("slow:speed=0.3", ("--link", "wifi"))]
)
def test_run_device_runs_the_edge_emulated_and_labels_the_results(
    tmp_path: Path, servers: Servers, device: str, extra: tuple[str, ...]
) -> None:
    out = tmp_path / "summary.json"
    result = CliRunner().invoke(build_app(), [
        "run", "--server", servers.http, "--mode", "split", "--images", "6",
        "--token", TOKEN, "--device", device, "--json", str(out), *extra,
    ])  # fmt: skip
    assert result.exit_code == 0, result.output + repr(result.exception)
    data = json.loads(out.read_text())
    label = data["device_emulation"]
    assert data["device"] == device and label["profile"] == device.split(":")[0]
    assert data["images"] == 6 and data["fallbacks"] == 0 and label["edge_threads"] == 1
    assert label["emulated"] is (_cgroups() and not label["quota"]["capped"])
    assert label["calibration"] is None  # run does not calibrate (see the docs)
    assert ("NOT emulated" in label["note"]) is not label["emulated"]
    assert f"device {label['profile']}" in result.output
    if extra:  # the emulated link (its threads at host speed) and the device together
        assert data["link_emulated"] and data["latency_ms_p50"] >= 20.0
    assert _ours() == []  # the group is gone once the run ends


@needs_fmnist
def test_run_device_calibrate_takes_one_feedback_step(tmp_path: Path, servers: Servers) -> None:
    if not _cgroups():
        pytest.skip("no cgroup cpu controller here (or not root): nothing to calibrate")
    out = tmp_path / "summary.json"
    result = CliRunner().invoke(build_app(), [
        "run", "--server", servers.http, "--mode", "split", "--images", "3", "--token", TOKEN,
        "--device", "slow:gflops=2", "--device-calibrate", "--json", str(out),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output + repr(result.exception)
    label = json.loads(out.read_text())["device_emulation"]
    calibration = label["calibration"]
    assert calibration is not None and calibration["calls"] >= 3
    assert label["quota"]["effective_share"] == pytest.approx(calibration["share_after"], rel=0.01)
    assert "calibrated from" in label["note"]
    assert _ours() == []


@needs_fmnist
def test_run_device_method_dilate_needs_no_cgroup_and_says_so(
    tmp_path: Path, servers: Servers
) -> None:
    out = tmp_path / "summary.json"
    result = CliRunner().invoke(build_app(), [
        "run", "--server", servers.http, "--mode", "split", "--images", "4", "--token", TOKEN,
        "--device", "slow:speed=0.5", "--device-method", "dilate", "--json", str(out),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output + repr(result.exception)
    label = json.loads(out.read_text())["device_emulation"]
    assert label["emulated"] is True and label["method"] == "dilate"
    assert label["cgroup_version"] is None and "dilated" in label["note"]
    assert _ours() == []  # no group was made


def test_run_with_an_unknown_device_method_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--server", "http://127.0.0.1:9", "--device", "phone",
              "--device-method", "warp"])  # fmt: skip
    assert exit_info.value.code == 2
    assert "cgroup, dilate" in capsys.readouterr().err


def test_run_with_an_unknown_device_lists_the_valid_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--mode", "mobile-only", "--device", "x"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown_profile" in err and "known: host, jetson-tx2, phone" in err


def test_bench_with_an_unknown_device_fails_before_running(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--only", "end-to-end", "--device", "x", "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "known: host, jetson-tx2, phone" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
