"""The cgroup adapter: mount parsing (pure), and a real quota slowing a busy loop where
this machine allows it (Linux, root, a cpu controller), skipped with the reason elsewhere."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from splitinfer.device import DeviceEmulation
from splitinfer.device.cgroup import (
    PREFIX,
    CgroupUnavailable,
    Controller,
    detect,
    find_controller,
    open_group,
    own_group,
)
from splitinfer.device.quota import quota_for

V1 = """\
tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
"""
V1_JOINT = "cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,cpu,cpuacct 0 0\n"
V2 = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec 0 0\n"


def test_find_controller_prefers_v1_cpu_then_v2_with_cpu() -> None:
    assert find_controller(V1) == Controller(1, Path("/sys/fs/cgroup/cpu"))
    assert find_controller(V1_JOINT) == Controller(1, Path("/sys/fs/cgroup/cpu,cpuacct"))
    assert find_controller(V2, "cpuset cpu io memory pids") == Controller(2, Path("/sys/fs/cgroup"))
    assert find_controller(V2, "memory pids") is None
    assert find_controller(V2) is None and find_controller("") is None


def test_own_group_reads_proc_cgroup() -> None:
    text = "12:pids:/x\n4:cpu,cpuacct:/user.slice/a\n0::/unified/b\n"
    assert own_group(text, 1) == "/user.slice/a" and own_group(text, 2) == "/unified/b"
    assert own_group("3:memory:/m\n", 1) == "/"


def _controller() -> Controller:
    try:
        return detect()
    except CgroupUnavailable as err:
        pytest.skip(f"no cgroup CPU quota here: {err.message}")


def _busy_share(emulation: DeviceEmulation, seconds: float) -> float:
    """CPU seconds over wall seconds of a busy loop on a fresh thread, inside ``slowed``."""
    out: list[float] = []

    def spin() -> None:
        with emulation.slowed():
            c0, t0 = time.thread_time(), time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                pass
            out.append((time.thread_time() - c0) / (time.perf_counter() - t0))

    worker = threading.Thread(target=spin)
    worker.start()
    worker.join()
    return out[0]


def test_the_quota_really_slows_a_busy_loop_and_is_removed() -> None:
    controller = _controller()
    with DeviceEmulation.start("test:speed=0.2") as emulation:
        assert emulation.emulated and emulation.group is not None
        path = emulation.group.path
        assert path.is_dir()
        used = _busy_share(emulation, 0.6)
        assert used < 0.5, f"a 20% quota let a busy loop use {used:.0%} of a core"
        assert str(threading.get_native_id()) not in (path / _members(controller)).read_text()
    assert not path.exists()  # removed on exit
    assert emulation.to_json()["emulated"] is True  # the label outlives the group


def test_the_group_is_removed_after_an_error_inside() -> None:
    _controller()
    with pytest.raises(RuntimeError), DeviceEmulation.start("test:speed=0.5") as emulation:
        assert emulation.group is not None
        path = emulation.group.path
        with emulation.slowed():
            raise RuntimeError("boom")
    assert not path.exists()


def test_a_group_left_by_a_dead_process_is_removed_by_the_next_one() -> None:
    controller = _controller()
    stale = controller.root / f"{PREFIX}{_dead_pid()}-0"
    stale.mkdir()
    group = open_group(controller, quota_for(0.5))
    try:
        assert not stale.exists()
    finally:
        group.remove()
    assert not group.path.exists()


def _members(controller: Controller) -> str:
    return "tasks" if controller.version == 1 else "cgroup.procs"


def _dead_pid() -> int:
    pid = 4_000_000
    while Path(f"/proc/{pid}").exists() or pid == os.getpid():
        pid -= 1
    return pid


def _tasks(emulation: DeviceEmulation) -> set[str]:
    assert emulation.group is not None
    return set((emulation.group.path / _members(emulation.group.controller)).read_text().split())


def _started_thread_tid(target_started: list[int], stop: threading.Event) -> threading.Thread:
    def run() -> None:
        target_started.append(threading.get_native_id())
        stop.wait(5)

    t = threading.Thread(target=run)
    t.start()
    while not target_started:
        time.sleep(0.001)
    return t


def test_the_edge_thread_stays_in_and_threads_started_outside_stay_out() -> None:
    controller = _controller()
    if controller.version != 1:
        pytest.skip("cgroup v2 moves whole processes: no thread-level membership to check")
    stop = threading.Event()
    with DeviceEmulation.start("test:speed=0.5") as emulation:
        me = str(threading.get_native_id())
        with emulation.slowed():
            pass
        assert me in _tasks(emulation)  # joined once, and stays after the block
        inside: list[int] = []
        t_in = _started_thread_tid(inside, stop)  # inherits the group
        outside: list[int] = []
        with emulation.outside():
            assert me not in _tasks(emulation)
            t_out = _started_thread_tid(outside, stop)  # e.g. a link emulator
        assert me in _tasks(emulation)
        members = _tasks(emulation)
        assert str(inside[0]) in members and str(outside[0]) not in members
        stop.set()
        t_in.join()
        t_out.join()
        path = emulation.group.path if emulation.group is not None else None
    assert path is not None and not path.exists()  # closed: the thread moved back, group gone


def test_calibration_retunes_the_quota_and_labels_it() -> None:
    _controller()
    work = 200_000

    def busy(n: int) -> int:
        return sum(range(n))

    with DeviceEmulation.start("test:speed=0.5") as emulation:
        before = emulation.quota
        assert before is not None
        emulation.calibrate(busy, work, target_ms=1e-3, seconds=0.05)  # asks for far faster
        after, c = emulation.quota, emulation.calibration
        assert after is not None and c is not None and c["calls"] >= 3
        assert after.effective > before.effective  # more CPU for a device that ran slow
        assert c["share_before"] == before.effective and c["share_after"] == after.effective
        assert "calibrated from" in emulation.describe()
        assert emulation.to_json()["calibration"] == c
