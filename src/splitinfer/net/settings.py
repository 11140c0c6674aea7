"""What the emulated link imposes: rates each way, round-trip time, token-bucket burst.

Numbers for named links come from :mod:`splitinfer.plan.profiles` (one source of truth
for the planner and the emulator); this module only validates and converts them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from splitinfer.net.errors import BadLinkSettings
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

    def describe(self) -> str:
        """One line for logs and the command line."""
        return (
            f"{self.name}: up {_mbps(self.up_mbps)}, down {_mbps(self.down_mbps)}, "
            f"RTT {self.rtt_ms:g} ms ({self.rtt_ms / 2:g} ms each way), "
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
            name=f"{p.name}+overrides" if overridden else p.name,
        )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _bytes_per_s(mbps: float) -> float:
    return mbps * 1e6 / 8.0


def _mbps(value: float) -> str:
    return "unlimited" if math.isinf(value) else f"{value:g} Mbps"
