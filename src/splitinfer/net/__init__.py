"""Link emulation: a TCP proxy that imposes a link profile's bandwidth and RTT.

    from splitinfer.net import LinkShaper
    shaper = LinkShaper.from_profile("4g", listen="127.0.0.1:0", upstream="127.0.0.1:8000")
    with shaper.running() as port:
        ...  # talk to 127.0.0.1:port as to the server behind a 4G link

Profiles (the numbers) live in :mod:`splitinfer.plan.profiles`; see docs/link-emulator.md
for how the emulator works and how accurate it is.
"""

from splitinfer.net.address import Address, format_address, parse_address
from splitinfer.net.errors import BadAddress, BadLinkSettings, ShaperError
from splitinfer.net.settings import DEFAULT_BURST_BYTES, LinkSettings
from splitinfer.net.shaper import LinkShaper
from splitinfer.net.stats import ConnectionStats, DirectionStats

__all__ = [
    "DEFAULT_BURST_BYTES",
    "Address",
    "BadAddress",
    "BadLinkSettings",
    "ConnectionStats",
    "DirectionStats",
    "LinkSettings",
    "LinkShaper",
    "ShaperError",
    "format_address",
    "parse_address",
]
