"""Mode auto: the planner's choice from a constructed input (no timing asserts), and the
runner running and recording that choice against a real server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from splitinfer.bundle import Bundle, default_bundle_path
from splitinfer.data import synthetic
from splitinfer.edge import EdgeRunner
from splitinfer.edge.auto import AutoInputs, decide, measure_inputs
from splitinfer.edge.stream import run_stream
from splitinfer.errors import BadInput
from splitinfer.partition.profile import CutProfile, ModelProfile
from splitinfer.partition.split import CutPoint
from splitinfer.plan import InputEncoding, RatePoint
from tests.cloud.conftest import CODEC, build
from tests.edge.helpers import TOKEN, Servers, serving


def constructed() -> AutoInputs:
    """A 2 GFLOP model: 10 ms on the host, a 10% head, 60-byte frames, 500-byte PNGs."""
    cut = CutPoint(
        name="stage2", aliases=(), node="stage2", index=0, shape=(1, 2, 7, 7), dtype="float32",
        numel=98, bytes_fp32=392, flops_head=200_000_000, flops_tail=1_800_000_000,
        params_head=10_000, params_tail=90_000,
    )  # fmt: skip
    profile = ModelProfile(
        model="constructed", input_shape=(1, 1, 28, 28), input_bytes=784,
        total_flops=2_000_000_000, params=100_000, full_ms=10.0,
        cuts=[CutProfile(cut, head_ms=1.0, tail_ms=8.0)],
    )  # fmt: skip
    point = RatePoint(
        cut="stage2", label="unit c=2 + quant", payload_bytes=45.0, frame_bytes=60.0,
        accuracy=0.88, accuracy_loss=4.0, encode_ms=0.5, decode_ms=0.2, measured=True,
        source="constructed",
    )  # fmt: skip
    return AutoInputs(profile, point, InputEncoding(500.0, 0.05, 0.05, "constructed"))


def test_a_very_slow_link_keeps_the_work_on_the_device() -> None:
    d = decide(constructed(), "3g", "phone")
    assert d.mode == "mobile-only" and (d.link, d.device, d.server) == ("3g", "phone", "host")
    assert set(d.candidates) == {"split", "cloud-only", "mobile-only"}
    assert d.predicted_ms == d.candidates["mobile-only"]["latency_ms"]
    assert d.predicted_ms == min(c["latency_ms"] for c in d.candidates.values())
    assert d.to_json()["modeled"] is True


def test_a_fast_link_offloads() -> None:
    d = decide(constructed(), "wifi", "phone")
    assert d.mode in ("split", "cloud-only")
    grpc_only = decide(constructed(), "wifi", "phone", allowed=("split", "mobile-only"))
    assert grpc_only.mode == "split" and "cloud-only" not in grpc_only.candidates
    assert any("competing" in note for note in grpc_only.notes)


def test_a_budget_excludes_a_lossy_split() -> None:
    lossy = decide(constructed(), "wifi", "phone", allowed=("split", "mobile-only"), budget=1.0)
    assert lossy.mode == "mobile-only"  # the split loses 4 pp, over the 1 pp budget


def test_bad_decision_arguments() -> None:
    with pytest.raises(BadInput):
        decide(constructed(), "wifi", objective="speed")
    with pytest.raises(BadInput):
        decide(constructed(), "wifi", allowed=("split",))


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return build("edge-auto", CODEC)


@pytest.fixture(scope="module")
def servers(bundle: Bundle) -> Iterator[Servers]:
    with serving(bundle) as s:
        yield s


def test_measured_inputs_describe_the_bundle(bundle: Bundle) -> None:
    sample = synthetic(4, seed=2)[0]
    inputs = measure_inputs(bundle, sample, repeats=2, warmup=1)
    (cut,) = inputs.profile.cuts
    assert cut.cut.name == bundle.spec.cut and cut.cut.shape == bundle.feature_shape
    assert cut.head_ms and cut.tail_ms and inputs.profile.full_ms
    assert 0 < cut.cut.flops_head < inputs.profile.total_flops
    frames = bundle.edge.encode(sample)
    assert inputs.rate_point.frame_bytes == pytest.approx(sum(map(len, frames)) / len(frames))
    assert "measured here" in inputs.rate_point.source  # the test bundle has no metrics
    assert inputs.input_encoding.bytes > 0


def test_the_default_bundle_brings_its_operating_point() -> None:
    b = Bundle.load(default_bundle_path())  # shipped as package data: missing is a failure
    x = torch.zeros(2, *b.spec.input_shape, dtype=torch.uint8)
    inputs = measure_inputs(b, x, repeats=1, warmup=0)
    if "mean_frame_bytes" in b.spec.metrics:
        assert inputs.rate_point.frame_bytes == b.spec.metrics["mean_frame_bytes"]
        assert inputs.rate_point.source.startswith(f"bundle {b.spec.id}")


@pytest.mark.integration
@pytest.mark.parametrize(
    ("transport", "link", "device", "expected"),
    [
        ("http", "custom:up=0.01,down=0.01,rtt=3000", "host", ("mobile-only",)),
        ("grpc", "custom:up=0.01,down=0.01,rtt=3000", "host", ("mobile-only",)),
        ("http", "wifi", "phone", ("split", "cloud-only")),
        ("grpc", "wifi", "phone", ("split",)),
    ],
)
def test_the_runner_runs_and_records_the_choice(
    servers: Servers, bundle: Bundle, transport: str, link: str, device: str,
    expected: tuple[str, ...],
) -> None:  # fmt: skip
    images, labels = synthetic(3, seed=6)
    with EdgeRunner(bundle, servers.url(transport), token=TOKEN) as runner:
        decision = runner.plan_auto(link, device, inputs=constructed(), replan=None)
        summary = run_stream(runner, images, labels, "auto")  # decided once: no re-planning
    assert decision.mode in expected
    data = summary.to_json()
    assert data["decision"]["mode"] == decision.mode and data["images"] == 3
    for r in summary.results:
        assert r.mode == decision.mode and r.planned == decision.mode
        assert r.predicted_ms == decision.predicted_ms
        assert r.transport == ("local" if decision.mode == "mobile-only" else transport)


@pytest.mark.integration
def test_the_runner_measures_its_own_inputs(servers: Servers, bundle: Bundle) -> None:
    images = synthetic(3, seed=6)[0]
    with EdgeRunner(bundle, servers.grpc, token=TOKEN) as runner:
        decision = runner.plan_auto("custom:up=0.01,down=0.01,rtt=3000", sample=images, repeats=2)
        assert decision.mode == "mobile-only"  # 3 s RTT: nothing beats the device
        assert runner.infer(images[0], "auto").planned == "mobile-only"


def test_a_flagged_prediction_is_measured_again_then_marked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import splitinfer.edge.auto as auto

    calls: list[int] = []

    def busy(threads: int | None = None) -> str:
        calls.append(1)
        return "load average 9 on 2 cores (other work shares the CPU)"

    monkeypatch.setattr(auto, "load_guard", busy)
    bundle = build("auto-flagged", CODEC)
    inputs = measure_inputs(bundle, repeats=2, warmup=0)
    assert len(calls) == 2  # measured twice: a flagged timing is not acted on at once
    assert inputs.unreliable[0].startswith("load average 9 on 2 cores")
    assert inputs.profile.timing["reliable"] is False
    decision = decide(inputs, "wifi")
    assert decision.to_json()["reliable"] is False and decision.unreliable == inputs.unreliable


def test_a_steady_measurement_is_taken_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import splitinfer.edge.auto as auto

    monkeypatch.setattr(auto, "load_guard", lambda threads=None: None)
    monkeypatch.setattr(auto, "parts_mismatch", lambda *a: None)
    monkeypatch.setattr(auto.Checks, "timing", lambda self, what, t: None)
    inputs = measure_inputs(build("auto-steady", CODEC), repeats=2, warmup=0)
    assert inputs.unreliable == () and inputs.profile.timing["repeats"] == 2
