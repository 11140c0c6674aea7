"""The planner picks the plan a person would pick by hand, and respects the budget."""

from __future__ import annotations

import pytest

from splitinfer.errors import UnknownCutPoint
from splitinfer.plan import InputEncoding, RatePoint, device, link, plan, server
from splitinfer.plan.errors import BadPlanInput
from tests.plan.toy import make_profile

PHOTO = InputEncoding(20_000, 0.0, 0.0, "test: a 20 KB JPEG")


def point(cut: str, loss: float | None, payload: float = 500) -> RatePoint:
    return RatePoint(
        cut=cut, label=f"test {cut}", payload_bytes=payload, frame_bytes=payload + 64,
        accuracy=None, accuracy_loss=loss, encode_ms=0.1, decode_ms=0.1, measured=True,
        source="test",
    )  # fmt: skip


def test_weak_device_and_huge_bandwidth_goes_cloud_only() -> None:
    p = plan(
        make_profile(), link=link("custom:up=100000,down=100000,rtt=10"),
        device=device("host:speed=0.01"), server=server("gpu"), input_encoding=PHOTO,
    )  # fmt: skip
    assert p.best.kind == "cloud-only"


def test_no_bandwidth_goes_mobile_only() -> None:
    p = plan(
        make_profile(), link=link("custom:up=0.001,down=0.001,rtt=10"),
        device=device("host"), server=server("gpu"), input_encoding=PHOTO,
    )  # fmt: skip
    assert p.best.kind == "mobile-only"
    assert p.ratios()["latency_vs_mobile_only"] == pytest.approx(1.0)


def test_in_between_a_middle_cut_wins() -> None:
    p = plan(
        make_profile(), link=link("custom:up=1,down=10,rtt=20"), device=device("host"),
        server=server("gpu"), input_encoding=PHOTO,
    )  # fmt: skip
    assert (p.best.kind, p.best.cut, p.best.label) == ("split", "middle", "quant8")
    assert p.ratios()["latency_vs_cloud_only"] > 1 and p.ratios()["latency_vs_mobile_only"] > 1


def test_budget_excludes_lossy_points() -> None:
    kwargs = dict(
        link=link("custom:up=1,down=10,rtt=20"), device=device("host"), server=server("gpu"),
        input_encoding=PHOTO,
    )  # fmt: skip
    # "early" with a strong (lossy) codec would be fastest; the budget rules it out.
    points = [point("early", 2.0, payload=500), point("middle", 0.5)]
    p = plan(make_profile(), rate_points=points, budget=1.0, **kwargs)  # type: ignore[arg-type]
    assert p.best.cut == "middle" and p.best.accuracy_loss == 0.5
    early = next(c for c in p.candidates if c.cut == "early")
    assert not early.within_budget and early.cost.latency_ms < p.best.cost.latency_ms
    p = plan(make_profile(), rate_points=points, budget=2.0, **kwargs)  # type: ignore[arg-type]
    assert p.best.cut == "early"


def test_unmeasured_points_can_be_excluded() -> None:
    kwargs = dict(
        link=link("custom:up=1,down=10,rtt=20"), device=device("host"), server=server("gpu"),
        input_encoding=PHOTO, include_unmeasured=False,
    )  # fmt: skip
    p = plan(make_profile(), **kwargs)  # type: ignore[arg-type]
    assert p.best.accuracy_loss is not None


def test_objectives_and_modes() -> None:
    kwargs = dict(
        link=link("4g"), device=device("phone"), server=server("host"), input_encoding=PHOTO
    )
    energy = plan(make_profile(), objective="energy", **kwargs)  # type: ignore[arg-type]
    assert energy.best.cost.energy_mj == min(c.cost.energy_mj for c in energy.candidates)
    fewest = plan(make_profile(), objective="bytes", **kwargs)  # type: ignore[arg-type]
    assert fewest.best.kind != "mobile-only"
    seed = plan(make_profile(), mode="seed", **kwargs)  # type: ignore[arg-type]
    assert all(c.cost.rtt_ms == 0 for c in seed.candidates)
    assert seed.to_json()["modeled"] is True and seed.to_json()["mode"] == "seed"


def test_flops_based_device_needs_no_timings() -> None:
    p = plan(make_profile(measured=False), link=link("wifi"), device=device("phone"),
             server=server("custom:gflops=1000"), input_encoding=PHOTO)  # fmt: skip
    mobile = p.mobile_only.cost
    assert mobile.latency_ms == pytest.approx(100e6 / 20e9 * 1e3)  # FLOPs / 20 GFLOP/s


def test_bad_inputs_are_typed_errors() -> None:
    kwargs = dict(link=link("4g"), device=device("host"), server=server("host"))
    with pytest.raises(BadPlanInput, match="no measured times"):
        plan(make_profile(measured=False), **kwargs)  # type: ignore[arg-type]
    with pytest.raises(UnknownCutPoint, match="valid: early, middle, late"):
        plan(make_profile(), rate_points=[point("nope", 0.0)], **kwargs)  # type: ignore[arg-type]
    with pytest.raises(BadPlanInput, match="objective"):
        plan(make_profile(), objective="speed", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(BadPlanInput, match="budget"):
        plan(make_profile(), budget=-1, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(BadPlanInput, match=">= 0"):
        point("middle", 0.0, payload=-5)


@pytest.mark.parametrize("where", ["host", "phone"])  # speed-relative and FLOP-rated devices
def test_the_units_compute_is_counted(where: str) -> None:
    def point(edge: float, cloud: float) -> RatePoint:
        return RatePoint(
            cut="middle", label="unit", payload_bytes=10, frame_bytes=25, accuracy=None,
            accuracy_loss=0.5, encode_ms=0.1, decode_ms=0.1, measured=True, source="test",
            unit_flops_edge=edge, unit_flops_cloud=cloud,
        )  # fmt: skip

    def split_cost(rp: RatePoint) -> tuple[float, float]:
        p = plan(make_profile(), link=link("wifi"), device=device(where), server=server("host"),
                 rate_points=[rp])  # fmt: skip
        k = next(c for c in p.candidates if c.kind == "split").cost
        return k.head_ms, k.server_ms

    head, srv = split_cost(point(0, 0))
    head_u, srv_u = split_cost(point(10_000_000, 20_000_000))  # 10% / 20% of the model's FLOPs
    assert head_u > head and srv_u > srv
    if where == "host":  # the toy model: 100 ms for 1e8 FLOPs on this host
        assert head_u - head == pytest.approx(10.0) and srv_u - srv == pytest.approx(20.0)
