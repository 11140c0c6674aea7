"""The quota arithmetic and the device-profile specs that feed it (pure, no OS)."""

from __future__ import annotations

import pytest

from splitinfer.device.quota import (
    DEFAULT_PERIOD_US,
    MAX_PERIOD_US,
    MIN_QUOTA_US,
    corrected_share,
    quota_for,
    share_for,
)
from splitinfer.errors import BadInput
from splitinfer.plan import device
from splitinfer.plan.errors import BadProfileSpec, UnknownProfile


@pytest.mark.parametrize(
    ("gflops", "speed", "host", "share"),
    [(20.0, None, 100.0, 0.2), (100.0, None, 50.0, 2.0), (None, 0.25, None, 0.25),
     (None, 0.25, 999.0, 0.25)],
)  # fmt: skip
def test_share_is_device_over_host_speed(
    gflops: float | None, speed: float | None, host: float | None, share: float
) -> None:
    assert share_for(gflops, speed, host) == pytest.approx(share)


@pytest.mark.parametrize(
    ("gflops", "speed", "host"),
    [(20.0, None, None), (20.0, None, 0.0), (20.0, None, float("inf")), (None, None, 10.0),
     (0.0, None, 10.0), (None, -1.0, None)],
)  # fmt: skip
def test_share_refuses_what_it_cannot_use(
    gflops: float | None, speed: float | None, host: float | None
) -> None:
    with pytest.raises(BadInput):
        share_for(gflops, speed, host)


@pytest.mark.parametrize("share", [0.5, 0.2, 0.1, 0.05, 0.013, 0.001, 0.999])
def test_quota_over_period_is_the_share_within_the_kernels_limits(share: float) -> None:
    q = quota_for(share)
    assert q.quota_us is not None and not q.capped
    assert q.quota_us >= MIN_QUOTA_US and DEFAULT_PERIOD_US <= q.period_us <= MAX_PERIOD_US
    assert q.effective == pytest.approx(share, rel=0.01)


def test_the_period_grows_only_when_the_quota_would_fall_under_1ms() -> None:
    assert (quota_for(0.2).quota_us, quota_for(0.2).period_us) == (2000, 10_000)
    assert (quota_for(0.05).quota_us, quota_for(0.05).period_us) == (1000, 20_000)


@pytest.mark.parametrize("share", [1.0, 1.5, 40.0])
def test_a_device_faster_than_one_core_is_capped(share: float) -> None:
    q = quota_for(share)
    assert q.capped and q.quota_us is None and q.effective == 1.0
    assert "capped" in q.describe() and q.to_json()["capped"] is True


@pytest.mark.parametrize("share", [0.0005, 0.0, -0.1, float("nan"), float("inf")])
def test_a_share_the_cgroup_cannot_give_is_refused(share: float) -> None:
    with pytest.raises(BadInput):
        quota_for(share)


def test_named_and_custom_device_specs() -> None:
    assert device("phone").gflops == 20.0 and device("jetson-tx2").gflops == 100.0
    mine = device("mydev:gflops=7.5")
    assert (mine.name, mine.gflops, mine.speed) == ("mydev", 7.5, None)
    assert device("slowpoke:speed=0.1").speed == 0.1
    assert device("phone:gflops=5").gflops == 5.0  # a named profile, one field overridden


def test_an_unknown_device_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownProfile) as err:
        device("toaster")
    message = err.value.message
    assert all(name in message for name in ("host", "jetson-tx2", "phone", "NAME:gflops="))
    assert isinstance(err.value, BadInput)


@pytest.mark.parametrize("spec", ["mydev:gflops=abc", "mydev:flops=3", "phone:gflops=-1", ":x=1"])
def test_a_malformed_device_spec_is_a_bad_input(spec: str) -> None:
    with pytest.raises(BadProfileSpec):
        device(spec)


@pytest.mark.parametrize(
    ("measured", "target", "after"),
    [(10.0, 10.0, 0.2), (12.0, 10.0, 0.24), (8.0, 10.0, 0.16), (100.0, 10.0, 0.4),
     (1.0, 10.0, 0.1)],
)  # fmt: skip
def test_one_calibration_step_scales_the_share_within_a_factor_of_two(
    measured: float, target: float, after: float
) -> None:
    assert corrected_share(0.2, measured, target) == pytest.approx(after)


@pytest.mark.parametrize(("share", "measured", "target"), [(0, 1, 1), (0.2, 0, 1), (0.2, 1, -1)])
def test_calibration_refuses_non_positive_inputs(
    share: float, measured: float, target: float
) -> None:
    with pytest.raises(BadInput):
        corrected_share(share, measured, target)
