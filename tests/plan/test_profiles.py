"""Link/device/server profiles: lookups, overrides, custom specs and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from splitinfer.errors import BadInput
from splitinfer.plan import DEVICES, LINKS, SERVERS, device, link, server
from splitinfer.plan.errors import BadProfileSpec, UnknownProfile
from splitinfer.plan.profiles import load_profiles


@pytest.mark.parametrize("name", LINKS.names())
def test_every_link_is_sourced_and_positive(name: str) -> None:
    p = LINKS[name]
    assert p.source and p.up_mbps > 0 and p.down_mbps > 0 and p.rtt_ms >= 0


@pytest.mark.parametrize("name", DEVICES.names() + SERVERS.names())
def test_every_device_is_sourced(name: str) -> None:
    p = DEVICES[name] if name in DEVICES else SERVERS[name]
    assert p.source and p.compute_basis


def test_huang_lte_power_model() -> None:
    lte = link("4g")
    assert (lte.alpha_up, lte.alpha_down, lte.beta) == (438.39, 51.97, 1288.04)


def test_custom_link_and_overrides() -> None:
    c = link("custom:up=2,down=10,rtt=80,beta=100")
    assert (c.up_mbps, c.down_mbps, c.rtt_ms, c.beta) == (2, 10, 80, 100)
    assert c.alpha_up == LINKS["4g"].alpha_up
    slow = link("wifi:up=0.5")
    assert slow.up_mbps == 0.5 and "OVERRIDDEN" in slow.source
    d = device("jetson-tx2:speed=0.5")
    assert d.speed == 0.5 and d.gflops is None and d.active_w == 7.5
    assert server("gpu").speed == 20.0


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("5g", "unknown link profile '5g'; known: 3g, 4g, wifi"),
        ("custom:up=1,down=2", "needs up=, down= and rtt="),
        ("custom:up=0,down=2,rtt=3", "up_mbps must be > 0"),
        ("custom:up=-1,down=2,rtt=3", "up_mbps must be > 0"),
        ("4g:up=fast", "is not a number"),
        ("4g:up", "expected key=value"),
        ("4g:jitter=3", "unknown key"),
    ],
)
def test_bad_link_specs(spec: str, match: str) -> None:
    with pytest.raises(BadInput, match=match):
        link(spec)


def test_unknown_device_lists_known_names() -> None:
    with pytest.raises(UnknownProfile, match="known: host, jetson-tx2, phone"):
        device("pixel")
    with pytest.raises(BadProfileSpec, match="speed must be > 0"):
        device("host:speed=0")


def test_profile_file(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    entry = {"name": "sat", "up_mbps": 0.5, "down_mbps": 5, "rtt_ms": 600, "alpha_up": 1,
             "alpha_down": 1, "beta": 1, "source": "test"}  # fmt: skip
    path.write_text(json.dumps({"links": [entry]}))  # JSON is YAML too
    assert load_profiles(path)["links"][0].rtt_ms == 600
    path.write_text(json.dumps({"links": [{"name": "x"}]}))
    with pytest.raises(BadProfileSpec, match="bad links entry"):
        load_profiles(path)


def test_profile_file_cannot_shadow_a_known_profile(tmp_path: Path) -> None:
    from splitinfer.plan.profiles import register_profiles

    entry = {**LINKS["3g"].__dict__}
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"links": [entry]}))
    with pytest.raises(BadProfileSpec, match="already defined"):
        register_profiles(path)
