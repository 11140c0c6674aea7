"""The OS side of device emulation: one cgroup with a CPU bandwidth limit.

cgroup v1 (``cpu`` controller mounted on its own): ``cpu.cfs_period_us``,
``cpu.cfs_quota_us``, and ``tasks``, which takes a single thread id, so only the edge's own
thread is slowed and an in-process link emulator keeps its pace. cgroup v2: ``cpu.max``
(``"quota period"``) and ``cgroup.procs``, which moves the whole process (v2 moves
threads only inside "threaded" subtrees), so there everything in the process shares the
quota while the edge works.

Groups are named ``splitinfer-<pid>-<n>`` and removed on :meth:`CpuGroup.remove` (which
the emulation calls on exit, Ctrl-C and errors); one left behind by a killed process is
removed by the next :func:`open_group` once its process is gone.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from dataclasses import dataclass
from pathlib import Path

from splitinfer.device.quota import Quota
from splitinfer.errors import SplitInferError

PREFIX = "splitinfer-"
_counter = itertools.count()


class CgroupUnavailable(SplitInferError):
    """No writable cgroup CPU controller here (not Linux, not root, no cpu controller)."""

    code = "cgroup_unavailable"


@dataclass(frozen=True)
class Controller:
    """Where the cpu controller is mounted, and which cgroup version it is."""

    version: int  # 1 or 2
    root: Path


def find_controller(mounts: str, v2_controllers: str | None = None) -> Controller | None:
    """The cpu controller from ``/proc/self/mounts`` text: v1's ``cpu`` hierarchy first,
    else a v2 mount whose ``cgroup.controllers`` (``v2_controllers``) lists ``cpu``."""
    v2: Path | None = None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        where, kind, options = fields[1], fields[2], fields[3].split(",")
        if kind == "cgroup" and "cpu" in options:
            return Controller(1, Path(where))
        if kind == "cgroup2" and v2 is None:
            v2 = Path(where)
    if v2 is not None and v2_controllers is not None and "cpu" in v2_controllers.split():
        return Controller(2, v2)
    return None


def own_group(proc_cgroup: str, version: int) -> str:
    """This task's group path (``/`` for the root) from ``/proc/.../cgroup`` text."""
    for line in proc_cgroup.splitlines():
        _, controllers, path = line.split(":", 2)
        if version == 1 and "cpu" in controllers.split(","):
            return path or "/"
        if version == 2 and controllers == "":
            return path or "/"
    return "/"


def detect() -> Controller:
    """The cpu controller of this machine, or :class:`CgroupUnavailable` saying why."""
    try:
        mounts = Path("/proc/self/mounts").read_text()
    except OSError:
        raise CgroupUnavailable("no /proc/self/mounts (not Linux): no cgroups") from None
    v2_controllers = None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) > 2 and fields[2] == "cgroup2":
            with contextlib.suppress(OSError):
                v2_controllers = (Path(fields[1]) / "cgroup.controllers").read_text()
            break
    found = find_controller(mounts, v2_controllers)
    if found is None:
        raise CgroupUnavailable("no cgroup cpu controller is mounted")
    if not os.access(found.root, os.W_OK):
        raise CgroupUnavailable(f"cannot create cgroups under {found.root} (needs root)")
    return found


class CpuGroup:
    """One cgroup with a CPU quota; tasks join and leave it by thread id (v1) or process."""

    def __init__(self, controller: Controller, path: Path) -> None:
        self.controller = controller
        self.path = path
        self.version = controller.version

    def limit(self, quota: Quota) -> None:
        """Set the group's bandwidth (no limit when the quota is capped)."""
        if self.version == 1:
            _write(self.path / "cpu.cfs_period_us", str(quota.period_us))
            _write(self.path / "cpu.cfs_quota_us", str(quota.quota_us or -1))
        else:
            _write(self.path / "cpu.max", f"{quota.quota_us or 'max'} {quota.period_us}")

    def join(self, tid: int) -> Path:
        """Move thread ``tid`` (v1) or this process (v2) in; returns the group it left."""
        if self.version == 1:
            text = Path(f"/proc/self/task/{tid}/cgroup").read_text()
            before = self.controller.root / own_group(text, 1).lstrip("/")
            _write(self.path / "tasks", str(tid))
        else:
            before = self.controller.root / own_group(Path("/proc/self/cgroup").read_text(), 2)
            _write(self.path / "cgroup.procs", str(os.getpid()))
        return before

    def leave(self, tid: int, back_to: Path) -> None:
        """Move ``tid`` (v1) or this process (v2) back to ``back_to``."""
        if self.version == 1:
            _write(back_to / "tasks", str(tid))
        else:
            _write(back_to / "cgroup.procs", str(os.getpid()))

    def remove(self) -> None:
        """Move any task still inside out to the root, then delete the group."""
        members = "tasks" if self.version == 1 else "cgroup.procs"
        with contextlib.suppress(OSError):
            for task in (self.path / members).read_text().split():
                with contextlib.suppress(OSError):
                    _write(self.controller.root / members, task)
        with contextlib.suppress(FileNotFoundError):
            self.path.rmdir()


def open_group(controller: Controller, quota: Quota) -> CpuGroup:
    """A new group ``splitinfer-<pid>-<n>`` with ``quota`` (stale ones removed first)."""
    remove_stale(controller)
    if controller.version == 2:  # let children of the root use the cpu controller
        with contextlib.suppress(OSError):
            _write(controller.root / "cgroup.subtree_control", "+cpu")
    path = controller.root / f"{PREFIX}{os.getpid()}-{next(_counter)}"
    try:
        path.mkdir()
    except OSError as err:
        raise CgroupUnavailable(f"cannot create cgroup {path}: {err.strerror}") from None
    group = CpuGroup(controller, path)
    try:
        group.limit(quota)
    except OSError as err:
        group.remove()
        raise CgroupUnavailable(f"cannot set the CPU quota of {path}: {err.strerror}") from None
    return group


def remove_stale(controller: Controller) -> list[Path]:
    """Remove groups of ours whose process has exited; returns those removed."""
    removed = []
    for path in controller.root.glob(f"{PREFIX}*"):
        pid = path.name[len(PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or Path(f"/proc/{pid}").exists():
            continue
        with contextlib.suppress(OSError):
            CpuGroup(controller, path).remove()
            removed.append(path)
    return removed


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:  # one write() per value, as cgroup files expect
        f.write(value)
