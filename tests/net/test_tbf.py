"""Cross-check against the kernel: the shaper's rate vs tbf's, at the same setting.

Needs root, `ip netns` and `tc`; skipped otherwise. tbf counts Ethernet/IP/TCP headers,
the shaper counts payload, so tbf's payload rate is converted before comparing.
"""

from __future__ import annotations

import pytest

from splitinfer.net import LinkShaper, ShaperError
from splitinfer.net.probe import measure, probe_server
from splitinfer.net.tbf import PAYLOAD_PER_WIRE_BYTE, measure_tbf, unavailable_reason

pytestmark = pytest.mark.integration  # starts servers, subprocesses or heavy tools

RATE, SIZE = 20.0, 500_000


def test_shaper_rate_matches_kernel_tbf() -> None:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    try:
        kernel = measure_tbf(RATE, RATE, [SIZE], pings=3, repeats=1)
    except ShaperError as err:  # e.g. a container without CAP_NET_ADMIN
        pytest.skip(f"cannot build a tbf link here: {err}")
    with probe_server() as upstream:
        shaper = LinkShaper("127.0.0.1:0", upstream, RATE, RATE, 0)
        with shaper.running() as port:
            ours = measure(("127.0.0.1", port), [SIZE], pings=3, repeats=1)
    for k, o in zip(kernel.transfers, ours.transfers, strict=True):
        assert k.direction == o.direction
        wire_rate = k.mbps / PAYLOAD_PER_WIRE_BYTE
        # generous: both should be within a few % of RATE on a quiet machine
        assert wire_rate == pytest.approx(RATE, rel=0.15)
        assert o.mbps == pytest.approx(RATE, rel=0.15)
        assert o.mbps == pytest.approx(wire_rate, rel=0.15)
