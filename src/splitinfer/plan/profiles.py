"""Link, device and server profiles as data: every number with where it comes from.

Links carry the linear radio power model of Huang et al., "A Close Examination of
Performance and Power Characteristics of 4G LTE Networks", MobiSys 2012 (Table 4,
"data transfer power model"): ``P = alpha_up * up_Mbps + alpha_down * down_Mbps + beta``
(mW), the model Neurosurgeon (Kang et al., ASPLOS 2017) and JointDNN (Eshratifar et al.,
arXiv 1801.08618) use for the phone's radio. See docs/cost-model.md for which numbers were
checked against which source, and which are assumptions.

Profiles are looked up by spec string::

    link("4g")                                  # a named profile
    link("custom:up=2,down=10,rtt=80")          # alpha/beta default to LTE's
    device("jetson-tx2:speed=0.5")              # override one field of a named profile
    server("gpu")
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from splitinfer.plan.errors import BadProfileSpec, UnknownProfile
from splitinfer.registry import Registry


@dataclass(frozen=True)
class LinkProfile:
    """A wireless link: bandwidths (Mbps), round-trip time (ms), radio power model (mW)."""

    name: str
    up_mbps: float
    down_mbps: float
    rtt_ms: float
    alpha_up: float  # mW per Mbps of uplink throughput
    alpha_down: float  # mW per Mbps of downlink throughput
    beta: float  # mW, the radio's base power while transferring
    source: str

    def __post_init__(self) -> None:
        _positive(self.name, up_mbps=self.up_mbps, down_mbps=self.down_mbps)
        _non_negative(
            self.name, rtt_ms=self.rtt_ms, alpha_up=self.alpha_up,
            alpha_down=self.alpha_down, beta=self.beta,
        )  # fmt: skip


@dataclass(frozen=True)
class DeviceProfile:
    """Where a half runs: its speed and power.

    Speed is either ``speed`` (relative to the host the profile was measured on: 2.0 runs
    everything in half the measured time) or ``gflops`` (effective FLOP/s the device
    sustains on CNN inference, counted as the profile counts FLOPs: 2 per multiply-add).
    Exactly one is set. Power (W) matters only for the edge device.
    """

    name: str
    speed: float | None
    gflops: float | None
    active_w: float
    idle_w: float
    source: str

    def __post_init__(self) -> None:
        if (self.speed is None) == (self.gflops is None):
            raise BadProfileSpec(
                f"device {self.name!r}: give exactly one of speed (x host) or gflops"
            )
        if self.speed is not None:
            _positive(self.name, speed=self.speed)
        if self.gflops is not None:
            _positive(self.name, gflops=self.gflops)
        _non_negative(self.name, active_w=self.active_w, idle_w=self.idle_w)

    @property
    def compute_basis(self) -> str:
        """How this profile turns the model profile into times, for every output."""
        if self.speed is not None:
            return f"measured on host / {self.speed:g}"
        return f"FLOPs / {self.gflops:g} GFLOP/s"


def _positive(name: str, **values: float) -> None:
    for key, v in values.items():
        if not v > 0:  # also rejects NaN
            raise BadProfileSpec(f"profile {name!r}: {key} must be > 0, got {v!r}")


def _non_negative(name: str, **values: float) -> None:
    for key, v in values.items():
        if not v >= 0:
            raise BadProfileSpec(f"profile {name!r}: {key} must be >= 0, got {v!r}")


# --- the defaults ------------------------------------------------------------------------

_HUANG = "Huang et al., MobiSys 2012, Table 4 (alpha_up, alpha_down, beta)"

LINKS: Registry[LinkProfile] = Registry("link profile", missing=UnknownProfile)
LINKS.add("3g", LinkProfile(
    "3g", up_mbps=1.1, down_mbps=2.0, rtt_ms=150.0,
    alpha_up=868.98, alpha_down=122.12, beta=817.88,
    source=f"power: {_HUANG}; bandwidth and RTT: ASSUMED (typical HSPA, not verified)",
))  # fmt: skip
LINKS.add("4g", LinkProfile(
    "4g", up_mbps=6.0, down_mbps=13.0, rtt_ms=70.0,
    alpha_up=438.39, alpha_down=51.97, beta=1288.04,
    source=(
        f"power: {_HUANG}; bandwidth: median LTE uplink 6 / downlink 13 Mbps (Huang et "
        "al. 2012, abstract); RTT: ASSUMED"
    ),
))  # fmt: skip
LINKS.add("wifi", LinkProfile(
    "wifi", up_mbps=20.0, down_mbps=50.0, rtt_ms=20.0,
    alpha_up=283.17, alpha_down=137.01, beta=132.86,
    source=f"power: {_HUANG}; bandwidth and RTT: ASSUMED (home 802.11n/ac)",
))  # fmt: skip

DEVICES: Registry[DeviceProfile] = Registry("device profile", missing=UnknownProfile)
DEVICES.add("host", DeviceProfile(
    "host", speed=1.0, gflops=None, active_w=10.0, idle_w=2.0,
    source="times as measured in the profile; power ASSUMED (share of a server CPU)",
))  # fmt: skip
DEVICES.add("jetson-tx2", DeviceProfile(
    "jetson-tx2", speed=None, gflops=100.0, active_w=7.5, idle_w=1.5,
    source=(
        "power: 7.5 W = the module's Max-Q power mode (NVIDIA Jetson TX2 datasheet); "
        "idle 1.5 W ASSUMED; 100 GFLOP/s effective ASSUMED (~12% of the Pascal GPU's "
        "~0.67 TFLOP/s FP32 peak at batch 1)"
    ),
))  # fmt: skip
DEVICES.add("phone", DeviceProfile(
    "phone", speed=None, gflops=20.0, active_w=3.0, idle_w=0.3,
    source=(
        "mid-range phone CPU (4x Cortex-A7x class, FP32, XNNPACK-like): 20 GFLOP/s "
        "effective, 3.0 W active, 0.3 W idle: all ASSUMED"
    ),
))  # fmt: skip

SERVERS: Registry[DeviceProfile] = Registry("server profile", missing=UnknownProfile)
SERVERS.add("host", DeviceProfile(
    "host", speed=1.0, gflops=None, active_w=0.0, idle_w=0.0,
    source="the tail runs as fast as it was measured on this host",
))  # fmt: skip
SERVERS.add("gpu", DeviceProfile(
    "gpu", speed=20.0, gflops=None, active_w=0.0, idle_w=0.0,
    source="ASSUMED: a datacenter GPU at batch 1 runs 20x faster than the profiling host",
))  # fmt: skip


# --- spec strings ------------------------------------------------------------------------

_LINK_KEYS = {
    "up": "up_mbps", "down": "down_mbps", "rtt": "rtt_ms",
    "alpha_up": "alpha_up", "alpha_down": "alpha_down", "beta": "beta",
}  # fmt: skip
_DEVICE_KEYS = {"speed": "speed", "gflops": "gflops", "active": "active_w", "idle": "idle_w"}


def parse_spec(spec: str) -> tuple[str, dict[str, float]]:
    """``"name:k=v,k=v"`` -> ``(name, {k: v})``; values must be numbers."""
    name, _, rest = spec.strip().partition(":")
    params: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = part.partition("=")
        if not eq or not key.strip():
            raise BadProfileSpec(f"bad profile spec {spec!r}: expected key=value, got {part!r}")
        try:
            params[key.strip()] = float(value)
        except ValueError:
            raise BadProfileSpec(
                f"bad profile spec {spec!r}: {key.strip()}={value!r} is not a number"
            ) from None
    if not name:
        raise BadProfileSpec(f"bad profile spec {spec!r}: no name before ':'")
    return name, params


def _fields(spec: str, params: dict[str, float], keys: dict[str, str]) -> dict[str, Any]:
    unknown = sorted(set(params) - set(keys))
    if unknown:
        raise BadProfileSpec(
            f"bad profile spec {spec!r}: unknown key(s) {', '.join(unknown)}; "
            f"known: {', '.join(keys)}"
        )
    return {keys[k]: v for k, v in params.items()}


def link(spec: str | LinkProfile, registry: Registry[LinkProfile] = LINKS) -> LinkProfile:
    """A link profile from a name, ``name:overrides`` or ``custom:up=..,down=..,rtt=..``."""
    if isinstance(spec, LinkProfile):
        return spec
    name, params = parse_spec(spec)
    fields = _fields(spec, params, _LINK_KEYS)
    if name == "custom":
        missing = [k for k in ("up", "down", "rtt") if k not in params]
        if missing:
            raise BadProfileSpec(
                f"custom link {spec!r} needs up=, down= and rtt= (Mbps, Mbps, ms); "
                f"missing: {', '.join(missing)}"
            )
        lte = LINKS["4g"]
        base = dataclasses.replace(
            lte, name="custom", source=f"custom ({spec}); power: {_HUANG} (LTE) unless given"
        )
        return dataclasses.replace(base, **fields)
    base = registry[name]
    return dataclasses.replace(base, **fields, source=_overridden(base.source, params))


def device(spec: str | DeviceProfile, registry: Registry[DeviceProfile] = DEVICES) -> DeviceProfile:
    """A device profile from a name or ``name:speed=..,gflops=..,active=..,idle=..``; an
    unknown ``NAME`` with ``gflops=`` or ``speed=`` is a custom device of that name."""
    if isinstance(spec, DeviceProfile):
        return spec
    name, params = parse_spec(spec)
    fields = _fields(spec, params, _DEVICE_KEYS)
    if name == "custom" or (name not in registry and {"gflops", "speed"} & set(params)):
        base = DeviceProfile(name, 1.0, None, 0.0, 0.0, f"custom ({spec})")
    elif name not in registry:
        raise UnknownProfile(
            f"unknown {registry.kind} {name!r}; known: {', '.join(registry.names())}, "
            f"or NAME:gflops=X / NAME:speed=X for a custom one"
        )
    else:
        base = registry[name]
    if "speed" in fields and "gflops" not in fields:
        fields["gflops"] = None
    elif "gflops" in fields and "speed" not in fields:
        fields["speed"] = None
    return dataclasses.replace(base, **fields, source=_overridden(base.source, params))


def server(spec: str | DeviceProfile) -> DeviceProfile:
    """A server profile: ``host``, ``gpu``, or ``name:speed=..`` / ``custom:speed=..``."""
    return device(spec, SERVERS)


def _overridden(source: str, params: dict[str, float]) -> str:
    if not params:
        return source
    given = ", ".join(f"{k}={v:g}" for k, v in params.items())
    return f"{source}; OVERRIDDEN: {given}"


# --- profile files -----------------------------------------------------------------------


def load_profiles(path: str | Path) -> dict[str, list[Any]]:
    """Read extra profiles from YAML (if pyyaml is installed) or JSON.

    Format: ``{"links": [{name, up_mbps, ...}], "devices": [...], "servers": [...]}``;
    every entry needs every field of its dataclass, ``source`` included.
    """
    text = Path(path).read_text()
    try:
        import yaml
    except ImportError:
        yaml = None
    try:
        data = yaml.safe_load(text) if yaml is not None else json.loads(text)
    except Exception as err:  # yaml.YAMLError / json.JSONDecodeError
        raise BadProfileSpec(f"{path}: not valid YAML/JSON: {err}") from None
    if not isinstance(data, dict):
        raise BadProfileSpec(f"{path}: expected a mapping with links/devices/servers")
    out: dict[str, list[Any]] = {"links": [], "devices": [], "servers": []}
    kinds: dict[str, type] = {
        "links": LinkProfile,
        "devices": DeviceProfile,
        "servers": DeviceProfile,
    }
    for key, cls in kinds.items():
        for entry in data.get(key) or []:
            try:
                out[key].append(cls(**entry))
            except TypeError as err:
                raise BadProfileSpec(f"{path}: bad {key} entry {entry!r}: {err}") from None
    return out


def register_profiles(path: str | Path) -> list[str]:
    """Load a profile file and add its entries to the registries; returns the names added."""
    loaded = load_profiles(path)
    added = []
    for key, registry in (("links", LINKS), ("devices", DEVICES), ("servers", SERVERS)):
        for item in loaded[key]:
            if item.name in registry:
                raise BadProfileSpec(f"{path}: {key[:-1]} {item.name!r} is already defined")
            registry.add(item.name, item)
            added.append(f"{key[:-1]}:{item.name}")
    return added
