"""Re-planning prices each choice's device work at what the runner measured for it."""

from __future__ import annotations

import pytest

from splitinfer.bundle import Bundle
from splitinfer.data import synthetic
from splitinfer.edge import EdgeRunner
from splitinfer.edge.auto import decide, replan_costs
from splitinfer.edge.estimate import DeviceTimes, LinkEstimate
from splitinfer.edge.replan import Choice, ReplanPolicy
from splitinfer.errors import BadInput
from tests.cloud.conftest import CODEC, build
from tests.edge.test_auto import constructed
from tests.edge.test_runner_replan import BAD, SteppedLink

NONE = LinkEstimate(None, None, 0, "none")


def test_a_choice_is_priced_at_its_own_median_once_run_else_at_the_ratio() -> None:
    t = DeviceTimes(window=5, min_runs=2)
    assert t.corrected("split", 10.0) == 10.0 and t.corrected("mobile-only", 40.0) == 40.0
    assert t.ratio() is None
    assert t.observe("mobile-only", 120.0) is False  # one run sets no price: the model's
    assert t.corrected("mobile-only", 40.0) == 40.0 and t.corrected("split", 10.0) == 10.0
    assert t.observe("mobile-only", 100.0) is True  # two: its own median, 110
    assert t.corrected("mobile-only", 40.0) == pytest.approx(110.0)
    assert t.corrected("split", 10.0) == pytest.approx(27.5)  # never run: the ratio, 2.75x
    t.observe("mobile-only", 900.0)  # one slow run (a pause) is outvoted by the median
    assert t.corrected("mobile-only", 40.0) == pytest.approx(120.0)
    assert t.to_json()["runs"] == {"mobile-only": 3}
    with pytest.raises(BadInput):
        t.observe("split", -1.0)
    with pytest.raises(BadInput):
        DeviceTimes(window=2, min_runs=3)


def test_the_ratio_of_one_kind_of_work_does_not_price_the_other() -> None:
    """The image's encoding (cloud-only) and the network's layers (split, mobile-only) are
    different work: on the 1 GFLOP/s phone the PNG ran 5x over its model and the network
    1.3x. Cloud-only's ratio priced mobile-only at 410 ms where it took 110 ms, and
    adaptive never tried it through the 3G stretch of the commute."""
    t = DeviceTimes(min_runs=1)
    t.corrected("cloud-only", 2.7)
    t.corrected("mobile-only", 85.0)
    t.corrected("split@0", 40.0)
    t.observe("cloud-only", 13.5)  # 5x its model
    assert t.ratio("image") == pytest.approx(5.0) and t.ratio("network") is None
    assert t.corrected("mobile-only", 85.0) == 85.0  # no network run yet: the model
    t.observe("split@0", 52.0)  # the head, 1.3x its model
    assert t.corrected("mobile-only", 85.0) == pytest.approx(85.0 * 1.3)
    assert t.corrected("cloud-only", 2.7) == pytest.approx(13.5)  # its own run
    assert t.to_json()["ratio"] == {"image": 5.0, "network": 1.3}


def test_a_measurement_that_moves_a_price_asks_for_a_replan() -> None:
    t = DeviceTimes(min_runs=1)
    t.corrected("split", 10.0)
    assert t.observe("split", 10.5) is False  # within the threshold of its price
    t.corrected("split", 10.0)
    assert t.observe("split", 30.0) is True  # the median of (10.5, 30) moved it by > 25%


def test_replan_costs_replace_the_modeled_device_work_by_the_measured() -> None:
    inputs = constructed()
    d = decide(inputs, "4g", "phone")
    times = DeviceTimes(min_runs=1)
    costs = replan_costs(inputs, "4g", "phone", device_times=times)
    modeled = costs(NONE)
    assert modeled[Choice("mobile-only")] == pytest.approx(
        d.candidates["mobile-only"]["latency_ms"]
    )
    local = d.candidates["mobile-only"]["device_ms"]
    times.observe("mobile-only", 3 * local)  # the device is 3x slower than its profile
    measured = costs(NONE)
    assert measured[Choice("mobile-only")] == pytest.approx(modeled[Choice("mobile-only")]
                                                            + 2 * local)  # fmt: skip
    split_device = d.candidates["split"]["device_ms"]  # never run: scaled by the ratio
    assert measured[Choice("split")] == pytest.approx(modeled[Choice("split")] + 2 * split_device)
    energy = replan_costs(inputs, "4g", "phone", objective="energy", device_times=times)(NONE)
    plain = replan_costs(inputs, "4g", "phone", objective="energy")(NONE)
    compute = d.candidates["mobile-only"]["compute_mj"]
    assert energy[Choice("mobile-only")] == pytest.approx(plain[Choice("mobile-only")]
                                                          + 2 * compute)  # fmt: skip
    nbytes = replan_costs(inputs, "4g", "phone", objective="bytes", device_times=times)(NONE)
    assert nbytes == replan_costs(inputs, "4g", "phone", objective="bytes")(NONE)


def test_the_runner_learns_its_device_and_prices_with_it() -> None:
    """A phone-profiled plan on a host: the host runs the model much faster than the phone
    profile says, and the runner's prices follow what it measured."""
    bundle: Bundle = build("edge-test", CODEC)
    images = synthetic(12, seed=3)[0]
    prices = {}
    for measured in (False, True):
        runner = EdgeRunner(bundle, SteppedLink([(0, BAD)], set()), retries=0)
        d = runner.plan_auto("3g", "phone", inputs=constructed(),
                             replan=ReplanPolicy(every=4, measured_device=measured))  # fmt: skip
        results = [runner.infer(images[i], "auto") for i in range(len(images))]
        assert all(r.mode == "mobile-only" for r in results[:3])
        prices[measured] = results[-1].predicted_ms
        assert (runner.device_times is not None) == measured
    model = d.candidates["mobile-only"]["latency_ms"]
    assert prices[False] == pytest.approx(model)
    times = runner.device_times
    ratio = times.ratio() if times is not None else None
    assert ratio is not None and ratio < 1
    runs = sum(r.mode == "mobile-only" and r.planned == "mobile-only" for r in results)
    assert times.to_json()["runs"]["mobile-only"] == runs
    assert prices[True] < prices[False]  # the host is faster than the phone profile
