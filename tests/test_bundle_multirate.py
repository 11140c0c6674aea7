"""Multi-rate bundles: several rate points sharing one head, a rate index in the frame."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from splitinfer import wire, zoo
from splitinfer.bottleneck import UnitConfig
from splitinfer.bundle import (
    STAGE1_BUNDLE_ID,
    Bundle,
    Preprocess,
    shipped_bundle_path,
)
from splitinfer.data import FMNIST_CLASSES, normalize_fmnist, synthetic
from splitinfer.errors import BadBundle, BadFrame, BadInput, SplitInferError, UnknownRate
from splitinfer.plan.ratepoints import parse_ratepoints
from splitinfer.protocol.status import grpc_status_name, http_status
from splitinfer.train.loop import FitConfig
from splitinfer.train.multirate import build_multirate, new_point, parse_points
from splitinfer.train.recipes import Data

LEARNED = "learned:levels=4,tables=element"
UNIT = UnitConfig(channels=2, stride=2)


def base_bundle(seed: int = 0) -> Bundle:
    """A random-weight single-rate bundle with a learned codec (fmnist_resnet, stage2)."""
    torch.manual_seed(seed)
    b = Bundle.build(
        bundle_id="mr-base", model_name="fmnist_resnet", model=zoo.create("fmnist_resnet"),
        cut="stage2", unit=UNIT, codec=LEARNED, classes=FMNIST_CLASSES,
        preprocess=Preprocess((0.286,), (0.353,)), input_shape=(1, 28, 28),
        metrics={"accuracy": 0.5, "mean_frame_bytes": 20.0}, built_by="pytest",
    )  # fmt: skip
    assert b.model.prior is not None
    b.model.prior.update_tables()
    return Bundle.build(
        bundle_id="mr-base", model_name="fmnist_resnet", model=b.source, cut="stage2",
        unit=UNIT, codec=LEARNED, classes=FMNIST_CLASSES, units=b.model,
        preprocess=b.spec.preprocess, input_shape=(1, 28, 28),
        metrics=b.spec.metrics, built_by="pytest",
    )  # fmt: skip


def multirate(base: Bundle) -> Bundle:
    """``base`` plus two points: 8 levels (warm from point 0) and a 3-channel unit (cold)."""
    cut = tuple(base.model.head(torch.zeros(1, 1, 28, 28)).shape)
    torch.manual_seed(5)
    points = []
    for unit, codec, warm in (
        (UNIT, "learned:levels=8,tables=element", True),
        (UnitConfig(channels=3, stride=2), LEARNED, False),
    ):
        bm = new_point(base.model, unit, codec, cut, warm)
        assert bm.prior is not None
        if not warm:
            bm.prior.update_tables()
        points.append((unit, codec, bm.eval(), {"accuracy": 0.25, "mean_frame_bytes": 9.0}))
    return base.with_rates(points, bundle_id="mr-test", built_by="pytest")


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return synthetic(5, seed=4)[0]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Bundle, Path]:
    b = multirate(base_bundle())
    return b, b.save(tmp_path_factory.mktemp("mr") / "mr-test")


def test_round_trip_every_rate_matches_the_torch_path(
    saved: tuple[Bundle, Path], images: torch.Tensor
) -> None:
    built, folder = saved
    b = Bundle.load(folder)
    assert b.rate_count == 3 and b.multirate
    assert b.spec == built.spec and b.fingerprint == built.fingerprint
    assert [p["rate"] for p in b.rate_points()] == [0, 1, 2]
    assert b.rate_feature_shape(2) == (1, 3, 7, 7) != b.rate_feature_shape(0)
    for rate in range(3):
        frames = b.edge.encode(images, first_request_id=7, rate=rate)  # no reload in between
        assert frames == built.edge.encode(images, first_request_id=7, rate=rate)
        for i, frame in enumerate(frames):
            header, _payload = wire.decode_frame(frame)
            assert header.rate == rate and header.request_id == 7 + i
            assert frame[3] == wire.FrameKind.COMPACT | wire.FLAG_HAS_RATE
            with torch.no_grad():
                expected = b.rate_model(rate)(b.spec.preprocess(images[i : i + 1]))
            assert torch.equal(b.cloud.decode_and_run(frame), expected)
    # the points share the head and the tail, and differ in their units
    assert b.rate_model(1).head is b.model.head and b.rate_model(2).tail is b.model.tail
    assert b.rate_model(1).reduction is not b.model.reduction


def test_spec_and_weights_hold_every_point(saved: tuple[Bundle, Path]) -> None:
    from safetensors.torch import load_file

    _built, folder = saved
    spec = json.loads((folder / "spec.json").read_text())
    assert [r["codec"] for r in spec["rates"]] == ["learned:levels=8,tables=element", LEARNED]
    assert spec["rates"][1]["unit"]["channels"] == 3
    assert spec["rates"][0]["metrics"]["mean_frame_bytes"] == 9.0
    keys = load_file(str(folder / "weights.safetensors"))
    assert any(k.startswith("rate1.prior.") for k in keys)
    assert any(k.startswith("rate2.reduction.") for k in keys)


def test_metrics_stay_out_of_the_fingerprint(saved: tuple[Bundle, Path]) -> None:
    from dataclasses import replace

    built, _folder = saved
    spec = built.spec
    remeasured = replace(spec, rates=tuple(replace(r, metrics={}) for r in spec.rates))
    assert remeasured.canonical() == spec.canonical()
    other = replace(spec, rates=spec.rates[:1])
    assert other.canonical() != spec.canonical()


def test_unknown_rate_is_a_typed_400(saved: tuple[Bundle, Path], images: torch.Tensor) -> None:
    b, _folder = saved
    with pytest.raises(UnknownRate, match=r"0\.\.2"):
        b.edge.encode(images[:1], rate=3)
    good = b.edge.encode(images[:1], rate=1)[0]
    _header, payload = wire.decode_frame(good)
    bad = wire.encode_frame(wire.FrameHeader(request_id=1, bundle=b.fingerprint, rate=9), payload)
    with pytest.raises(UnknownRate) as err:
        b.cloud.decode(bad)
    assert isinstance(err.value, BadFrame) and err.value.code == "unknown_rate"
    assert http_status("unknown_rate") == 400 and grpc_status_name("unknown_rate") != "INTERNAL"
    assert torch.equal(b.cloud.decode_and_run(good), b.cloud.decode_and_run(good))


def test_a_broken_multirate_bundle_is_refused(saved: tuple[Bundle, Path], tmp_path: Path) -> None:
    import shutil

    _built, folder = saved
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    spec = json.loads((copy / "spec.json").read_text())
    spec["rates"] = spec["rates"][:1]  # the weights still hold rate2.*: refused
    (copy / "spec.json").write_text(json.dumps(spec))
    with pytest.raises(BadBundle):
        Bundle.load(copy)
    spec["rates"] = []
    (copy / "spec.json").write_text(json.dumps(spec))
    with pytest.raises(BadBundle, match="non-empty"):
        Bundle.load(copy)


def test_wire_rate_field_round_trips_and_is_strict() -> None:
    header = wire.FrameHeader(request_id=300, bundle=0xA1B2C3D4, rate=5)
    frame = wire.encode_frame(header, b"abc")
    assert wire.decode_frame(frame) == (header, b"abc")
    plain = wire.encode_frame(wire.FrameHeader(request_id=300, bundle=0xA1B2C3D4), b"abc")
    assert len(frame) == len(plain) + 1 and plain[3] == wire.FrameKind.COMPACT
    assert wire.frame_overhead(header, 3) == wire.frame_overhead(
        wire.FrameHeader(request_id=300, bundle=0xA1B2C3D4), 3) + 1  # fmt: skip
    with pytest.raises(BadFrame):  # the flag set but the rate byte cut off
        truncated = bytearray(plain[:-4])
        truncated[3] |= wire.FLAG_HAS_RATE
        import zlib

        wire.decode_frame(bytes(truncated[:-3]) + zlib.crc32(truncated[:-3]).to_bytes(4, "big"))
    with pytest.raises(BadInput):
        wire.FrameHeader(request_id=1, codec_spec="raw", shape=(1,), dtype="float32", rate=0)
    with pytest.raises(BadInput):
        wire.FrameHeader(request_id=1, bundle=1, rate=256)


#: The single-rate bundle the shipped multi-rate bundle grew from (the default until #16).
STAGE1 = STAGE1_BUNDLE_ID


def test_old_single_rate_bundles_are_unchanged(images: torch.Tensor) -> None:
    folder = shipped_bundle_path(STAGE1)
    b = Bundle.load(folder)
    assert b.fingerprint == 0x836380DD and not b.multirate and b.rate_count == 1
    assert "rates" not in json.loads((folder / "spec.json").read_text())
    frame = b.edge.encode(images[:1])[0]
    assert frame[3] == wire.FrameKind.COMPACT and wire.decode_frame(frame)[0].rate is None
    _header, payload = wire.decode_frame(frame)
    with pytest.raises(UnknownRate):
        b.cloud.decode(
            wire.encode_frame(wire.FrameHeader(1, bundle=b.fingerprint, rate=1), payload)
        )


def test_build_multirate_trains_and_measures_each_point(tmp_path: Path) -> None:
    source = base_bundle(seed=1).save(tmp_path / "src")
    x, y = synthetic(48, seed=6)
    xt, yt = synthetic(20, seed=7)
    data = Data((normalize_fmnist(x), y), (normalize_fmnist(xt), yt))
    config = FitConfig(epochs=1, batch_size=16, lr=0.001, threads=1, optimizer="adam")
    seen: list[int] = []
    b = build_multirate(
        source, ["levels=8,lambda=0.001", "lambda=0.01,channels=3"], data=data, config=config,
        out=tmp_path / "run", bundle_dir=tmp_path / "mr", bundle_id="mr-built", distill=None,
        on_point=lambda k, m: seen.append(k), command="pytest", test_images_u8=xt,
    )  # fmt: skip
    assert seen == [0, 1, 2] and b.rate_count == 3 and b.spec.id == "mr-built"
    for point in b.rate_points():
        assert point["accuracy"] is not None and point["mean_frame_bytes"] > 14
    assert b.spec.rates[1].unit.channels == 3 and b.spec.rates[0].metrics["rate_lambda"] == 0.001
    # the points measured through this bundle's real frames, point 0 with its rate byte
    again = Bundle.load(tmp_path / "mr")
    frames = again.edge.encode(xt, rate=1)
    assert sum(map(len, frames)) / len(frames) == pytest.approx(
        b.spec.rates[0].metrics["mean_frame_bytes"]
    )
    # the planner's rate points: one per point, labelled with the index the frames carry
    written = parse_ratepoints(json.loads((tmp_path / "run" / "ratepoints.json").read_text()))
    assert [p.label.split(":")[0] for p in written] == ["rate 0", "rate 1", "rate 2"]
    assert [p.frame_bytes for p in written] == [p["mean_frame_bytes"] for p in b.rate_points()]
    # --resume reuses the finished points instead of training them again
    resumed = build_multirate(
        source, ["levels=8,lambda=0.001", "lambda=0.01,channels=3"], data=data, config=config,
        out=tmp_path / "run", bundle_dir=tmp_path / "mr2", bundle_id="mr-built", distill=None,
        resume=True, command="pytest", test_images_u8=xt,
    )  # fmt: skip
    assert resumed.spec.weights_sha256 == b.spec.weights_sha256


def test_point_texts_are_checked() -> None:
    texts = ["lambda=0.006", "levels=16,lambda=0,channels=4", "lambda=1e-3,channels=1"]
    points = parse_points(texts, UNIT, LEARNED)
    assert (points[0].levels, points[0].channels, points[0].warm) == (4, 2, True)
    assert (points[1].levels, points[1].channels, points[1].warm) == (16, 4, True)
    assert (points[2].rate_lambda, points[2].channels, points[2].warm) == (1e-3, 1, False)
    for bad in ("levels=1,lambda=0", "lambda=-1", "speed=3", "lambda=nan"):
        with pytest.raises(SplitInferError):
            parse_points([bad], UNIT, LEARNED)


def test_a_grown_unit_starts_as_the_source_point(images: torch.Tensor) -> None:
    base = base_bundle()
    cut = tuple(base.model.head(torch.zeros(1, 1, 28, 28)).shape)
    grown = new_point(base.model, UnitConfig(channels=5, stride=2), LEARNED, cut, warm=True)
    x = base.spec.preprocess(images)
    with torch.no_grad():
        z0, z1 = base.model.edge(x), grown.eval().edge(x)
        assert torch.equal(z1[:, :2], z0)  # the source's channels first
        assert torch.allclose(grown.cloud(z1), base.model.cloud(z0))  # new ones enter at 0


def test_the_shipped_multirate_bundle(images: torch.Tensor) -> None:
    """The default model's multi-rate bundle: point 0 is the stage1 bundle's own split
    (same logits), and its measured points span at least 3x in bytes."""
    folder = shipped_bundle_path("fmnist-r10-stage1-multirate")
    b, default = Bundle.load(folder), Bundle.load(shipped_bundle_path(STAGE1))
    assert b.rate_count >= 3 and b.spec.metrics["source_bundle"].endswith("(0x836380dd)")
    points = b.rate_points()
    sizes = [p["mean_frame_bytes"] for p in points]
    assert max(sizes) >= 3 * min(sizes)
    assert all(p["accuracy"] > 0.8 and p["codec"].startswith("learned:") for p in points)
    for frame, old in zip(b.edge.encode(images), default.edge.encode(images), strict=True):
        assert len(frame) == len(old) + 1  # the rate byte, nothing else
        assert torch.equal(b.cloud.decode_and_run(frame), default.cloud.decode_and_run(old))
    for rate in range(1, b.rate_count):
        for i, frame in enumerate(b.edge.encode(images, rate=rate)):
            with torch.no_grad():
                expected = b.rate_model(rate)(b.spec.preprocess(images[i : i + 1]))
            assert torch.equal(b.cloud.decode_and_run(frame), expected)
