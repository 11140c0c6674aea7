"""Bad parameters become typed errors; profiles come from splitinfer.plan, not copies."""

from __future__ import annotations

import math

import pytest

from splitinfer.errors import BadInput
from splitinfer.net import (
    BadAddress,
    BadLinkSettings,
    LinkSettings,
    LinkShaper,
    format_address,
    parse_address,
)
from splitinfer.plan import link


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9001", ("127.0.0.1", 9001)),
        (" localhost:0 ", ("localhost", 0)),
        ("[::1]:8000", ("::1", 8000)),
        (("127.0.0.1", 65535), ("127.0.0.1", 65535)),
    ],
)
def test_parse_address(text: str | tuple[str, int], expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected
    assert parse_address(format_address(expected)) == expected


@pytest.mark.parametrize(
    "bad",
    ["127.0.0.1", "127.0.0.1:", ":9001", "host:port", "127.0.0.1:65536", "127.0.0.1:-1",
     "::1:80", "[::1]80", ("127.0.0.1", "80"), ("127.0.0.1", True), ("", 80), 9001],
)  # fmt: skip
def test_bad_address_is_typed(bad: object) -> None:
    with pytest.raises(BadAddress) as err:
        parse_address(bad)  # type: ignore[arg-type]
    assert isinstance(err.value, BadInput) and err.value.code == "bad_address"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"up_mbps": -1.0}, {"up_mbps": 0.0}, {"down_mbps": math.nan}, {"down_mbps": "5"},
        {"rtt_ms": -0.1}, {"rtt_ms": math.inf}, {"burst_bytes": 0}, {"burst_bytes": 1.5},
        {"up_mbps": True},
    ],
)  # fmt: skip
def test_bad_settings_are_typed(kwargs: dict[str, object]) -> None:
    values: dict[str, object] = {"up_mbps": 1.0, "down_mbps": 1.0, "rtt_ms": 10.0, **kwargs}
    with pytest.raises(BadLinkSettings) as err:
        LinkSettings(**values)  # type: ignore[arg-type]
    assert isinstance(err.value, BadInput)
    with pytest.raises(BadLinkSettings):
        LinkShaper("127.0.0.1:0", "127.0.0.1:1", **values)  # type: ignore[arg-type]


def test_shaper_rejects_bad_addresses_and_timeout() -> None:
    with pytest.raises(BadAddress):
        LinkShaper("nowhere", "127.0.0.1:1", 1, 1, 0)
    with pytest.raises(BadAddress):
        LinkShaper("127.0.0.1:0", "127.0.0.1:99999", 1, 1, 0)
    with pytest.raises(BadLinkSettings):
        LinkShaper("127.0.0.1:0", "127.0.0.1:1", 1, 1, 0, connect_timeout_s=0)


def test_unlimited_rate_is_allowed() -> None:
    s = LinkSettings(math.inf, math.inf, 0.0)
    assert math.isinf(s.up_bytes_per_s) and s.one_way_delay_s == 0
    assert "unlimited" in s.describe()


@pytest.mark.parametrize("name", ["3g", "4g", "wifi"])
def test_from_profile_uses_plan_profiles(name: str) -> None:
    p = link(name)
    shaper = LinkShaper.from_profile(name, "127.0.0.1:0", "127.0.0.1:8000")
    s = shaper.settings
    assert (s.up_mbps, s.down_mbps, s.rtt_ms, s.name) == (p.up_mbps, p.down_mbps, p.rtt_ms, name)
    assert s.one_way_delay_s == pytest.approx(p.rtt_ms / 2000)
    assert s.up_bytes_per_s == pytest.approx(p.up_mbps * 125_000)


def test_custom_profile_and_overrides() -> None:
    s = LinkSettings.from_profile("custom:up=2,down=10,rtt=80")
    assert (s.up_mbps, s.down_mbps, s.rtt_ms) == (2, 10, 80)
    s = LinkSettings.from_profile("4g", rtt_ms=5, burst_bytes=3000)
    assert (s.up_mbps, s.rtt_ms, s.burst_bytes) == (link("4g").up_mbps, 5, 3000)
    assert s.name == "4g+overrides"


def test_unknown_profile_is_typed() -> None:
    with pytest.raises(BadInput, match="4g"):  # the message lists the known names
        LinkShaper.from_profile("5g", "127.0.0.1:0", "127.0.0.1:8000")
    with pytest.raises(BadInput):
        LinkShaper.from_profile("4g", "127.0.0.1:0", "127.0.0.1:8000", up_mbps=-3)
