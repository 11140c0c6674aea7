"""Device emulation: the edge's work under a cgroup CPU quota sized from a device profile
and this host's measured speed (see :mod:`splitinfer.device.emulation`)."""

from __future__ import annotations

from splitinfer.device.cgroup import CgroupUnavailable, Controller, CpuGroup, detect
from splitinfer.device.emulation import DeviceEmulation, for_bundle
from splitinfer.device.probe import count_flops, host_gflops
from splitinfer.device.quota import Quota, quota_for, share_for

__all__ = [
    "CgroupUnavailable", "Controller", "CpuGroup", "DeviceEmulation", "Quota", "count_flops",
    "detect", "for_bundle", "host_gflops", "quota_for", "share_for",
]  # fmt: skip
