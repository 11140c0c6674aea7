"""DeviceEmulation without the OS: labels, the fallback at host speed, the cap, and where
EdgeRunner runs the device's work (inside ``slowed``, network waits outside)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
import torch

from splitinfer.bundle import Bundle, default_bundle_path
from splitinfer.device import DeviceEmulation, emulation
from splitinfer.device.cgroup import CgroupUnavailable
from splitinfer.edge import EdgeRunner
from splitinfer.plan.errors import UnknownProfile


def _no_cgroups() -> None:
    raise CgroupUnavailable("no cgroup cpu controller is mounted")


def test_without_cgroups_it_runs_at_host_speed_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(emulation, "detect", _no_cgroups)
    with DeviceEmulation.start("phone", probe=lambda: 100.0) as emu:
        with emu.slowed():
            pass
        label = emu.to_json()
    assert not emu.emulated and label["emulated"] is False
    assert "NOT emulated" in label["note"] and "HOST speed" in label["note"]
    assert label["quota"]["share"] == pytest.approx(0.2) and label["host_gflops_measured"] == 100


def test_a_device_faster_than_the_host_is_capped_and_labelled() -> None:
    emu = DeviceEmulation.start("jetson-tx2", probe=lambda: 25.0)
    assert not emu.emulated and emu.quota is not None and emu.quota.capped
    assert "capped" in emu.describe() and emu.to_json()["quota"]["share"] == pytest.approx(4.0)


def test_the_host_profile_needs_no_probe_and_no_quota() -> None:
    emu = DeviceEmulation.start("host")
    assert not emu.emulated and emu.quota is None and emu.host_gflops is None


def test_an_unknown_profile_fails_before_any_probe() -> None:
    def probe() -> float:
        raise AssertionError("probed")

    with pytest.raises(UnknownProfile, match="known: host, jetson-tx2, phone"):
        DeviceEmulation.start("toaster", probe=probe)


class Spy:
    """A Slowdown that counts the blocks run inside it."""

    def __init__(self) -> None:
        self.blocks = 0

    @contextlib.contextmanager
    def slowed(self) -> Iterator[None]:
        self.blocks += 1
        yield


def test_the_runner_runs_the_devices_work_inside_slowed() -> None:
    spy = Spy()
    bundle = Bundle.load(default_bundle_path())
    image = torch.zeros(bundle.spec.input_shape, dtype=torch.uint8)
    with EdgeRunner(bundle, None, device=spy) as runner:
        runner.infer(image, "mobile-only")
        assert spy.blocks == 1
        runner._frame(image[None], 0)  # the split path's device work: head + frame
        assert spy.blocks == 2


def test_a_demo_link_run_keeps_its_device_label_through_json_and_merge() -> None:
    from splitinfer.demo.results import LinkRun

    label = {"profile": "phone", "emulated": True, "note": "device phone: emulated"}
    run = LinkRun("wifi", {"name": "wifi"}, {}, 1.0, {}, label)
    back = LinkRun.from_json(run.to_json())
    assert back.device_emulation == label
    assert LinkRun.merge([back, back]).device_emulation == label
    old = run.to_json()
    del old["device_emulation"]  # results written before device emulation existed
    assert LinkRun.from_json(old).device_emulation is None


def test_dilate_sleeps_the_blocks_own_cpu_time_scaled_by_the_share(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 20 GFLOP/s phone on an 80 GFLOP/s host: share 25%, so each block is followed by
    a sleep of 3x its CPU time; no cgroup is opened (none is looked for)."""
    monkeypatch.setattr(emulation, "detect", _no_cgroups)
    clock = iter([10.0, 10.004, 20.0, 20.001])  # thread_time at entry and exit, twice
    slept: list[float] = []
    monkeypatch.setattr(emulation.time, "thread_time", lambda: next(clock))
    monkeypatch.setattr(emulation.time, "sleep", slept.append)
    with DeviceEmulation.start("phone", probe=lambda: 80.0, method="dilate") as emu:
        for _ in range(2):
            with emu.slowed():
                pass
        label = emu.to_json()
    assert slept == pytest.approx([0.012, 0.003])
    assert emu.emulated and emu.group is None and label["method"] == "dilate"
    assert "dilated" in label["note"] and "3.00x" in label["note"]


def test_dilate_does_nothing_for_a_device_faster_than_the_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(emulation.time, "sleep", lambda s: pytest.fail("slept"))
    emu = DeviceEmulation.start("jetson-tx2", probe=lambda: 25.0, method="dilate")
    with emu.slowed():
        pass
    assert not emu.emulated and "capped" in emu.describe()


def test_an_unknown_emulation_method_is_refused() -> None:
    from splitinfer.errors import BadInput

    with pytest.raises(BadInput, match="known: cgroup, dilate"):
        DeviceEmulation.start("phone", probe=lambda: 80.0, method="warp")
