"""What the emulated link imposes: rates each way, round-trip time, token-bucket burst.

Numbers for named links come from :mod:`splitinfer.plan.profiles` (one source of truth
for the planner and the emulator); this module only validates and converts them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from splitinfer.net.errors import BadLinkSettings
from splitinfer.net.trace import LinkTrace, fixed_trace, load_trace
from splitinfer.plan.profiles import LinkProfile, link

#: One Ethernet MTU. Small on purpose: after an idle period the first ``burst`` bytes
#: pass at once, so a 100 KB transfer at the set rate is at most 1.5% fast.
DEFAULT_BURST_BYTES = 1500


@dataclass(frozen=True)
class LinkSettings:
    """An emulated link. ``up`` is client -> upstream (edge -> cloud), ``down`` the reverse.

    Rates are application-payload Mbps (10**6 bit/s of TCP payload, no header overhead);
    ``math.inf`` means unlimited. ``rtt_ms`` is split evenly: rtt/2 of one-way delay in
    each direction, so a request/response exchange gains exactly ``rtt_ms``.
    """

    up_mbps: float
    down_mbps: float
    rtt_ms: float
    burst_bytes: int = DEFAULT_BURST_BYTES
    name: str = "custom"
    #: Probability that a 1500-byte segment is lost (see ``splitinfer.net.trace.loss_penalty``).
    loss: float = 0.0
    #: A trace file (CSV, or Mahimahi for the uplink); the rates above are then unused
    #: except ``down_mbps`` and ``rtt_ms`` beside a Mahimahi uplink trace.
    trace: str | None = None
    #: A Mahimahi trace for the downlink (only beside a Mahimahi ``trace``).
    down_trace: str | None = None

    def __post_init__(self) -> None:
        for key in ("up_mbps", "down_mbps"):
            value = getattr(self, key)
            if not _is_number(value) or not value > 0:  # also rejects NaN
                raise BadLinkSettings(
                    f"link {self.name!r}: {key} must be a number > 0 (math.inf = unlimited), "
                    f"got {value!r}"
                )
        if not _is_number(self.rtt_ms) or not 0 <= self.rtt_ms < math.inf:
            raise BadLinkSettings(
                f"link {self.name!r}: rtt_ms must be a finite number >= 0, got {self.rtt_ms!r}"
            )
        if not _is_number(self.loss) or not 0 <= self.loss < 1:
            raise BadLinkSettings(f"link {self.name!r}: loss must be in [0, 1), got {self.loss!r}")
        if self.down_trace is not None and self.trace is None:
            raise BadLinkSettings(f"link {self.name!r}: a downlink trace needs an uplink trace")
        if isinstance(self.burst_bytes, bool) or not isinstance(self.burst_bytes, int):
            raise BadLinkSettings(f"link {self.name!r}: burst_bytes must be an integer")
        if self.burst_bytes < 1:
            raise BadLinkSettings(
                f"link {self.name!r}: burst_bytes must be >= 1, got {self.burst_bytes}"
            )

    @property
    def one_way_delay_s(self) -> float:
        """Delay added to every byte in each direction (seconds)."""
        return self.rtt_ms / 2000.0

    @property
    def up_bytes_per_s(self) -> float:
        return _bytes_per_s(self.up_mbps)

    @property
    def down_bytes_per_s(self) -> float:
        return _bytes_per_s(self.down_mbps)

    def schedule(self) -> LinkTrace | None:
        """The time-varying schedule to follow, or ``None`` for a fixed loss-free link.

        Reads the trace file (raises :class:`~splitinfer.net.errors.BadTrace`)."""
        if self.trace is not None:
            return load_trace(
                self.trace, down_path=self.down_trace, down_mbps=self.down_mbps,
                rtt_ms=self.rtt_ms, loss=self.loss,
            )  # fmt: skip
        if self.loss > 0:
            return fixed_trace(self.up_mbps, self.down_mbps, self.rtt_ms, self.loss)
        return None

    def describe(self) -> str:
        """One line for logs and the command line."""
        if self.trace is not None and self.trace.lower().endswith(".csv"):
            return f"{self.name}: trace {self.trace}, burst {self.burst_bytes} B"
        up = f"trace {self.trace}" if self.trace else _mbps(self.up_mbps)
        down = f"trace {self.down_trace}" if self.down_trace else _mbps(self.down_mbps)
        lossy = f", loss {self.loss:g}" if self.loss else ""
        return (
            f"{self.name}: up {up}, down {down}, "
            f"RTT {self.rtt_ms:g} ms ({self.rtt_ms / 2:g} ms each way){lossy}, "
            f"burst {self.burst_bytes} B"
        )

    @classmethod
    def from_profile(
        cls,
        profile: str | LinkProfile,
        *,
        up_mbps: float | None = None,
        down_mbps: float | None = None,
        rtt_ms: float | None = None,
        burst_bytes: int = DEFAULT_BURST_BYTES,
        loss: float = 0.0,
        trace: str | None = None,
        down_trace: str | None = None,
    ) -> LinkSettings:
        """Settings of a named or custom link profile (``"4g"``, ``"custom:up=2,down=10,rtt=80"``,
        a :class:`LinkProfile`), with optional overrides. Unknown names raise
        ``UnknownProfile`` (a :class:`BadInput`) listing the known ones."""
        p = link(profile)
        overridden = (up_mbps, down_mbps, rtt_ms) != (None, None, None)
        return cls(
            up_mbps=p.up_mbps if up_mbps is None else up_mbps,
            down_mbps=p.down_mbps if down_mbps is None else down_mbps,
            rtt_ms=p.rtt_ms if rtt_ms is None else rtt_ms,
            burst_bytes=burst_bytes,
            name=_name(p.name, overridden, trace),
            loss=loss,
            trace=None if trace is None else str(trace),
            down_trace=None if down_trace is None else str(down_trace),
        )


def _name(profile: str, overridden: bool, trace: str | None) -> str:
    base = f"{profile}+overrides" if overridden else profile
    if trace is None:
        return base
    file = str(trace).replace("\\", "/").rsplit("/", 1)[-1]
    # a CSV trace sets everything; beside a Mahimahi one the profile gives RTT (and down)
    return f"trace:{file}" if file.lower().endswith(".csv") else f"{base}+trace:{file}"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _bytes_per_s(mbps: float) -> float:
    return mbps * 1e6 / 8.0


def _mbps(value: float) -> str:
    return "unlimited" if math.isinf(value) else f"{value:g} Mbps"
