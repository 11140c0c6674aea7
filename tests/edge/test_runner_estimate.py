"""The runner feeds its link estimator from its own exchanges and stamps every result.

A scripted transport answers at once with the elapsed time a link of known rate and RTT
would take (no sockets, no sleeping), so the estimates can be checked exactly.
"""

from __future__ import annotations

import pytest
import torch

from splitinfer.bundle import Bundle
from splitinfer.data import synthetic
from splitinfer.edge import EdgeRunner
from splitinfer.edge.estimate import LinkEstimator
from splitinfer.edge.stream import run_stream
from tests.cloud.conftest import CODEC, build
from tests.edge.scripted import ScriptedTransport


class ScriptedLink(ScriptedTransport):
    """A transport whose answers take ``rtt + bytes / rate`` (plus the server's 2 ms)."""

    def __init__(self, mbps: float, rtt_ms: float) -> None:
        self.mbps, self.rtt_ms = mbps, rtt_ms

    def elapsed_ms(self, request_id: int, nbytes: int) -> float:
        return self.link_ms(self.mbps, self.rtt_ms, nbytes)


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return build("edge-test", CODEC)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return synthetic(12, seed=5)[0]


def test_results_carry_the_estimate(bundle: Bundle, images: torch.Tensor) -> None:
    link = ScriptedLink(mbps=0.5, rtt_ms=80.0)
    runner = EdgeRunner(bundle, link, estimator=LinkEstimator(rtt_ms=80.0))  # type: ignore[arg-type]
    first = runner.infer(images[0], "mobile-only")
    assert (first.est_up_mbps, first.est_rtt_ms, first.est_basis) == (None, 80.0, "none")
    results = [runner.infer(images[i], "split") for i in range(8)]
    last = results[-1]
    # the first frame reads the rate off the RTT prior; the next ones' transfers are too
    # short beside the RTT to say more about the rate, so they hold it and read the RTT
    assert [r.est_basis for r in results[:2]] == ["rtt-held", "rate-held"]
    assert last.est_basis == "rate-held" and last.est_rtt_ms == pytest.approx(80.0, rel=0.01)
    assert last.est_up_mbps == pytest.approx(0.5, rel=0.01)
    assert last.to_json()["est_up_mbps"] == last.est_up_mbps
    assert runner.link_estimate.samples == 8


def test_mixed_modes_separate_rtt_and_rate(bundle: Bundle, images: torch.Tensor) -> None:
    """Split frames and cloud-only images differ in size: both RTT and rate are fitted."""
    runner = EdgeRunner(bundle, ScriptedLink(mbps=2.0, rtt_ms=40.0))  # type: ignore[arg-type]
    sizes = set()
    for i in range(12):
        r = runner.infer(images[i], "split" if i % 2 else "cloud-only")
        sizes.add(r.bytes_up)
    est = runner.link_estimate
    if max(sizes) < 1.5 * min(sizes):
        pytest.skip(f"frames and images of this bundle are too alike in size: {sizes}")
    assert est.basis == "fit"
    assert est.up_mbps == pytest.approx(2.0, rel=0.02)
    assert est.rtt_ms == pytest.approx(40.0, abs=0.5)


def test_streamed_requests_are_not_fed_and_the_summary_has_it(
    bundle: Bundle, images: torch.Tensor
) -> None:
    runner = EdgeRunner(bundle, ScriptedLink(mbps=1.0, rtt_ms=30.0))  # type: ignore[arg-type]
    summary = run_stream(runner, images, None, "split", stream=True)
    assert runner.link_estimate.samples == 0
    assert summary.to_json()["link_estimate"] == runner.link_estimate.to_json()
    summary = run_stream(runner, images[:4], None, "split")
    assert summary.to_json()["link_estimate"]["samples"] == 4
