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

**Two methods.** ``cgroup`` (the default) throttles the thread with the kernel's CFS
bandwidth control. It is coarse for work shorter than a few periods: the kernel accounts
at scheduler ticks and refills the quota per period (at least 1 ms of quota, so a
25 ms period at a 4% share), so a 3 ms block may run at host speed on a fresh period or
wait several periods (docs/device-emulation.md measures this). ``dilate`` times the block's
own CPU time (``time.thread_time``) and then sleeps ``cpu x (1 / share - 1)``: each block
takes its CPU time / share, on any OS and without root, with no period to fall into;
what it does not emulate is a slow device's contention with other threads (there are
none on the edge: one thread).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from splitinfer.device.cgroup import CgroupUnavailable, CpuGroup, detect, open_group
from splitinfer.device.quota import (
    DEFAULT_PERIOD_US,
    Quota,
    corrected_share,
    quota_for,
    share_for,
)
from splitinfer.errors import BadInput
from splitinfer.plan import DeviceProfile
from splitinfer.plan import device as device_profile

#: how the device's slowness is made: a CFS quota, or a sleep after each block of work
METHODS = ("cgroup", "dilate")


def check_method(method: str, what: str = "device emulation method") -> str:
    """``method`` if it is one of :data:`METHODS`; else a :class:`BadInput` naming ``what``
    (a CLI checks its option before anything starts, and names the option)."""
    if method not in METHODS:
        raise BadInput(f"unknown {what} {method!r}; known: {', '.join(METHODS)}")
    return method


@dataclass
class DeviceEmulation:
    """A device profile emulated on this host (or not, with the reason)."""

    profile: DeviceProfile
    host_gflops: float | None  # measured by the probe (None: host-relative profile)
    quota: Quota | None  # None: the host profile, nothing to emulate
    group: CpuGroup | None = None
    reason: str = ""  # why it is not emulated ("" when it is)
    cgroup_version: int | None = None  # set when emulated; kept after close, for the labels
    calibration: dict[str, float] | None = None  # the feedback step, when one was taken
    method: str = "cgroup"  # or "dilate" (see the module)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _joined: dict[int, Path] = field(default_factory=dict, repr=False)  # tid -> group left

    def __post_init__(self) -> None:
        if self.group is not None:
            self.cgroup_version = self.group.version

    @property
    def emulated(self) -> bool:
        """Whether the edge's work ran (or runs) at the device's speed."""
        return self.cgroup_version is not None or self._dilation > 0

    @property
    def _dilation(self) -> float:
        """Seconds slept per CPU second of device work (method ``dilate``)."""
        if self.method != "dilate" or self.quota is None or self.quota.capped:
            return 0.0
        return 1.0 / self.quota.share - 1.0

    @classmethod
    def start(
        cls,
        spec: str | DeviceProfile,
        probe: Callable[[], float] | None = None,
        period_us: int = DEFAULT_PERIOD_US,
        method: str = "cgroup",
    ) -> DeviceEmulation:
        """Look the profile up (unknown names raise, listing the valid ones), measure the
        host with ``probe`` (GFLOP/s; needed for gflops profiles), and open the cgroup
        (``method="cgroup"``) or not (``"dilate"``: see the module)."""
        check_method(method)
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
            return cls(profile, host, quota, reason=quota.describe(), method=method)
        if method == "dilate":
            return cls(profile, host, quota, method=method)
        try:
            group = open_group(detect(), quota)
        except CgroupUnavailable as err:
            return cls(profile, host, quota, reason=f"{err.message}: runs at HOST speed")
        return cls(profile, host, quota, group)

    @contextlib.contextmanager
    def slowed(self) -> Iterator[None]:
        """Run the body at the device's speed (a no-op when not emulated); the calling
        thread joins the group on its first call and stays in it (see the module)."""
        dilation = self._dilation
        if dilation <= 0:
            self.enter()
            yield
            return
        t0 = time.thread_time()
        try:
            yield
        finally:
            time.sleep((time.thread_time() - t0) * dilation)

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

    def calibrate(
        self, fn: Callable[[Any], Any], x: Any, target_ms: float, seconds: float = 0.5,
        min_calls: int = 3,
    ) -> None:  # fmt: skip
        """One feedback step: time ``fn(x)`` under the quota (mean wall ms per call, back to
        back, after one warm-up call) and scale the share by measured / ``target_ms``, so
        what the probe could not see (other load, a throttled thread's cold caches) is
        paid for. The calling thread joins the group (and stays)."""
        import torch

        if self.group is None or self.quota is None or self.quota.capped:
            return
        with torch.inference_mode(), self.slowed():
            fn(x)
            calls, start = 0, time.perf_counter()
            while calls < min_calls or time.perf_counter() - start < seconds:
                fn(x)
                calls += 1
            measured = (time.perf_counter() - start) * 1e3 / calls
        before = self.quota
        share = corrected_share(before.effective, measured, target_ms)
        after = quota_for(share, before.period_us)
        self.group.limit(after)
        self.quota = after
        self.calibration = {
            "calls": calls, "measured_ms": measured, "target_ms": target_ms,
            "share_before": before.effective, "share_after": after.effective,
        }  # fmt: skip

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
        if self._dilation > 0 and self.quota is not None:
            return (
                f"{what}: dilated, each block of device work followed by a sleep of "
                f"{self._dilation:.2f}x its own CPU time (share {100 * self.quota.share:.1f}% "
                "of one host core; no cgroup)"
            )
        if self.cgroup_version is not None and self.quota is not None:
            how = "without a limit" if self.quota.capped else "with a"
            line = f"{what}: in a cgroup v{self.cgroup_version} {how} {self.quota.describe()}"
            c = self.calibration
            if c is not None:
                line += (
                    f", calibrated from {100 * c['share_before']:.1f}% ({c['measured_ms']:.2f} "
                    f"ms per call under the quota, {c['target_ms']:.2f} ms wanted)"
                )
            return line
        return f"{what}: NOT emulated, {self.reason}"

    def to_json(self) -> dict[str, Any]:
        """The label every result carries."""
        return {
            "profile": self.profile.name,
            "gflops": self.profile.gflops,
            "speed": self.profile.speed,
            "host_gflops_measured": self.host_gflops,
            "emulated": self.emulated,
            "method": self.method,
            "cgroup_version": self.cgroup_version,
            "quota": self.quota.to_json() if self.quota is not None else None,
            "calibration": self.calibration,
            "edge_threads": 1,
            "note": self.describe(),
        }


def for_bundle(
    spec: str | DeviceProfile,
    bundle: Any,
    seconds: float = 0.5,
    calibrate: bool = False,
    method: str = "cgroup",
) -> DeviceEmulation:
    """:meth:`DeviceEmulation.start` with the host measured on ``bundle``'s whole network
    (:meth:`Bundle.unsplit`, the planner's host rate), on one random image, then (gflops
    profiles, ``calibrate``) one :meth:`~DeviceEmulation.calibrate` step on that network
    against the profile's time for it, FLOPs / GFLOP/s. Run it on the thread (and with the
    torch thread count) the edge will use: that thread stays in the group. Calibration is
    off by default: on a loaded host one short timed pass is as noisy as the error it
    corrects (docs/device-emulation.md)."""
    import torch

    from splitinfer.device.probe import count_flops, host_gflops

    g = torch.Generator().manual_seed(0)
    shape = (1, *bundle.spec.input_shape)
    x = bundle.spec.preprocess(torch.randint(0, 256, shape, generator=g, dtype=torch.uint8))
    emulation = DeviceEmulation.start(
        spec, lambda: host_gflops(bundle.unsplit, x, seconds), method=method
    )
    gflops = emulation.profile.gflops
    if calibrate and emulation.emulated and gflops:
        try:
            target_ms = count_flops(bundle.unsplit, x) / (gflops * 1e6)
            emulation.calibrate(bundle.unsplit, x, target_ms, seconds)
        except BaseException:
            emulation.close()
            raise
    return emulation
