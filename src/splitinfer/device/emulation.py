"""Run the edge's work as slowly as a device profile: measured, not modeled.

::

    --device phone ─► DeviceProfile (plan.profiles) ─► share = device / host GFLOP/s
        ─► Quota (quota.py) ─► cgroup (cgroup.py) ─► with emulation.slowed(): edge work

The edge's compute (head and framing, the whole network in mobile-only, the PNG in
cloud-only) runs inside :meth:`DeviceEmulation.slowed`. The first call moves the calling
thread into the group and it STAYS there until :meth:`DeviceEmulation.close`: moving a
task between cgroups takes the kernel milliseconds (and a thread joining a throttled
group waits there), far more than a small model's head, so joining per call would
measure the move, not the device. Threads that thread starts afterwards inherit the
group; start a link emulator before the first call, or inside
:meth:`DeviceEmulation.outside`. Where there is no cgroup (not Linux, not root), the run
goes on at host speed and every output says so (``emulated: false`` and the reason).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from splitinfer.device.cgroup import CgroupUnavailable, CpuGroup, detect, open_group
from splitinfer.device.quota import DEFAULT_PERIOD_US, Quota, quota_for, share_for
from splitinfer.plan import DeviceProfile
from splitinfer.plan import device as device_profile


@dataclass
class DeviceEmulation:
    """A device profile emulated on this host (or not, with the reason)."""

    profile: DeviceProfile
    host_gflops: float | None  # measured by the probe (None: host-relative profile)
    quota: Quota | None  # None: the host profile, nothing to emulate
    group: CpuGroup | None = None
    reason: str = ""  # why it is not emulated ("" when it is)
    cgroup_version: int | None = None  # set when emulated; kept after close, for the labels
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _joined: dict[int, Path] = field(default_factory=dict, repr=False)  # tid -> group left

    def __post_init__(self) -> None:
        if self.group is not None:
            self.cgroup_version = self.group.version

    @property
    def emulated(self) -> bool:
        """Whether the edge's work ran (or runs) under the quota."""
        return self.cgroup_version is not None

    @classmethod
    def start(
        cls,
        spec: str | DeviceProfile,
        probe: Callable[[], float] | None = None,
        period_us: int = DEFAULT_PERIOD_US,
    ) -> DeviceEmulation:
        """Look the profile up (unknown names raise, listing the valid ones), measure the
        host with ``probe`` (GFLOP/s; needed for gflops profiles), and open the cgroup."""
        profile = device_profile(spec)
        if profile.speed == 1.0:
            return cls(profile, None, None, reason="runs at host speed (host-relative 1.0)")
        host = None
        if profile.gflops is not None:
            if probe is None:
                raise ValueError("a gflops device profile needs a host-speed probe")
            host = probe()
        quota = quota_for(share_for(profile.gflops, profile.speed, host), period_us)
        if quota.capped:
            return cls(profile, host, quota, reason=quota.describe())
        try:
            group = open_group(detect(), quota)
        except CgroupUnavailable as err:
            return cls(profile, host, quota, reason=f"{err.message}: runs at HOST speed")
        return cls(profile, host, quota, group)

    @contextlib.contextmanager
    def slowed(self) -> Iterator[None]:
        """Run the body at the device's speed (a no-op when not emulated); the calling
        thread joins the group on its first call and stays in it (see the module)."""
        self.enter()
        yield

    def enter(self) -> None:
        """Move the calling thread into the group, unless it is there already."""
        tid = threading.get_native_id()
        with self._lock:
            if self.group is not None and tid not in self._joined:
                self._joined[tid] = self.group.join(tid)

    @contextlib.contextmanager
    def outside(self) -> Iterator[None]:
        """Run the block, and the threads it starts (a link emulator), at host speed."""
        tid = threading.get_native_id()
        with self._lock:
            back_to = self._joined.pop(tid, None)
            if back_to is not None and self.group is not None:
                self.group.leave(tid, back_to)
        try:
            yield
        finally:
            if back_to is not None:
                self.enter()

    def close(self) -> None:
        """Move the threads back and remove the cgroup (safe to call twice)."""
        with self._lock:
            group, self.group = self.group, None
            joined, self._joined = self._joined, {}
        if group is None:
            return
        for tid, back_to in joined.items():
            with contextlib.suppress(OSError):  # a thread that has exited (ESRCH)
                group.leave(tid, back_to)
        group.remove()

    def __enter__(self) -> DeviceEmulation:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def describe(self) -> str:
        """One line for the console."""
        what = f"device {self.profile.name}"
        if self.host_gflops is not None:
            what += (
                f" ({self.profile.gflops:g} GFLOP/s; this host {self.host_gflops:.1f} GFLOP/s "
                "on one thread, measured)"
            )
        if self.cgroup_version is not None and self.quota is not None:
            return f"{what}: emulated by a cgroup v{self.cgroup_version} {self.quota.describe()}"
        return f"{what}: NOT emulated, {self.reason}"

    def to_json(self) -> dict[str, Any]:
        """The label every result carries."""
        return {
            "profile": self.profile.name,
            "gflops": self.profile.gflops,
            "speed": self.profile.speed,
            "host_gflops_measured": self.host_gflops,
            "emulated": self.emulated,
            "cgroup_version": self.cgroup_version,
            "quota": self.quota.to_json() if self.quota is not None else None,
            "edge_threads": 1,
            "note": self.describe(),
        }


def for_bundle(spec: str | DeviceProfile, bundle: Any, seconds: float = 0.5) -> DeviceEmulation:
    """:meth:`DeviceEmulation.start` with the host measured on ``bundle``'s whole network
    (:meth:`Bundle.unsplit`, the planner's host rate), on one random image; run it on the
    thread (and with the torch thread count) the edge will use."""
    import torch

    from splitinfer.device.probe import host_gflops

    g = torch.Generator().manual_seed(0)
    shape = (1, *bundle.spec.input_shape)
    x = bundle.spec.preprocess(torch.randint(0, 256, shape, generator=g, dtype=torch.uint8))
    return DeviceEmulation.start(spec, lambda: host_gflops(bundle.unsplit, x, seconds))
