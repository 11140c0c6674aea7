"""Every cost formula against a hand-worked example (DESIGN.md section 4)."""

from __future__ import annotations

import pytest

from splitinfer.plan.cost import (
    LinkParams,
    Stages,
    local_cost,
    offload_cost,
    radio_power_mw,
    transfer_ms,
)

LINK = LinkParams(up_mbps=8, down_mbps=16, rtt_ms=50, alpha_up=400, alpha_down=50, beta=1000)
STAGES = Stages(head_ms=10, encode_ms=2, bytes_up=10_000, decode_ms=1, tail_ms=5, bytes_down=2000)


def test_transfer_time_is_8_bytes_over_bandwidth() -> None:
    assert transfer_ms(10_000, 8) == pytest.approx(10.0)  # 80,000 bit / 8 Mbit/s = 10 ms
    assert transfer_ms(0, 8) == 0.0


def test_radio_power_is_linear_in_throughput() -> None:
    # Huang et al.'s LTE uplink numbers at 6 Mbps: 438.39 * 6 + 1288.04 mW
    assert radio_power_mw(438.39, 1288.04, 6) == pytest.approx(3918.38)


def test_offload_realistic_by_hand() -> None:
    c = offload_cost(STAGES, LINK, active_w=2.0, idle_w=0.5, mode="realistic")
    assert c.uplink_ms == pytest.approx(10.0)
    assert c.downlink_ms == pytest.approx(1.0)  # 16,000 bit / 16 Mbit/s
    assert c.server_ms == pytest.approx(6.0)
    assert c.latency_ms == pytest.approx(10 + 2 + 10 + 50 + 6 + 1)  # 79 ms
    assert c.compute_mj == pytest.approx(2.0 * 12)  # 24 mJ
    # up: (400*8 + 1000) mW * 10 ms = 42 mJ; down: (50*16 + 1000) mW * 1 ms = 1.8 mJ
    assert c.radio_mj == pytest.approx(43.8)
    assert c.idle_mj == pytest.approx(0.5 * (50 + 6))  # waiting for RTT + server: 28 mJ
    assert c.energy_mj == pytest.approx(95.8)


def test_offload_seed_mode_drops_rtt_and_idle() -> None:
    c = offload_cost(STAGES, LINK, active_w=2.0, idle_w=0.5, mode="seed")
    assert c.rtt_ms == 0 and c.idle_mj == 0
    assert c.latency_ms == pytest.approx(29.0)
    assert c.energy_mj == pytest.approx(24 + 43.8)


def test_mobile_only_is_active_power_times_full_time() -> None:
    c = local_cost(100.0, 3.0)
    assert c.latency_ms == 100.0 and c.energy_mj == pytest.approx(300.0) and c.bytes_up == 0
