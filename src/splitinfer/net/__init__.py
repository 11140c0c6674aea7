"""Link emulation: a TCP proxy that imposes a link profile's bandwidth and RTT.

    from splitinfer.net import LinkShaper
    shaper = LinkShaper.from_profile("4g", listen="127.0.0.1:0", upstream="127.0.0.1:8000")
    with shaper.running() as port:
        ...  # talk to 127.0.0.1:port as to the server behind a 4G link

Profiles (the numbers) live in :mod:`splitinfer.plan.profiles`; see docs/link-emulator.md
for how the emulator works and how accurate it is. A trace file makes the link vary:

    shaper = LinkShaper.from_profile("4g", "127.0.0.1:0", "127.0.0.1:8000",
                                     trace="traces/commute.csv")
"""

from splitinfer.net.address import Address, format_address, parse_address
from splitinfer.net.errors import BadAddress, BadLinkSettings, BadTrace, ShaperError
from splitinfer.net.settings import DEFAULT_BURST_BYTES, LinkSettings
from splitinfer.net.shaper import LinkShaper
from splitinfer.net.stats import ConnectionStats, DirectionStats
from splitinfer.net.trace import LinkTrace, load_trace

__all__ = [
    "DEFAULT_BURST_BYTES",
    "Address",
    "BadAddress",
    "BadLinkSettings",
    "BadTrace",
    "ConnectionStats",
    "DirectionStats",
    "LinkSettings",
    "LinkShaper",
    "LinkTrace",
    "ShaperError",
    "format_address",
    "load_trace",
    "parse_address",
]
