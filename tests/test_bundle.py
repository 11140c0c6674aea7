from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from splitinfer import wire, zoo
from splitinfer.bottleneck import UnitConfig
from splitinfer.bundle import Bundle, Preprocess
from splitinfer.data import FMNIST_CLASSES, synthetic
from splitinfer.errors import BadBundle, SplitInferError, UnknownBundle

CODEC = "quant:bits=4,clip=0:1|ans"


def _bundle(unit: UnitConfig | None = UnitConfig(channels=2), codec: str = CODEC) -> Bundle:
    torch.manual_seed(0)
    return Bundle.build(
        bundle_id="test-bundle",
        model_name="fmnist_resnet",
        model=zoo.create("fmnist_resnet"),
        cut="stage2",
        unit=unit,
        codec=codec,
        classes=FMNIST_CLASSES,
        preprocess=Preprocess((0.286,), (0.353,)),
        input_shape=(1, 28, 28),
        metrics={"accuracy": 0.1},
        built_by="pytest",
    )


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return synthetic(6, seed=2)[0]


def test_frames_decode_to_the_same_logits_as_the_proxy_path(images: torch.Tensor) -> None:
    b = _bundle()
    frames = b.edge.encode(images, first_request_id=40)
    assert len(frames) == len(images)
    for i, frame in enumerate(frames):
        header, _ = wire.decode_frame(frame)
        assert header.request_id == 40 + i and header.bundle == b.fingerprint
        with torch.no_grad():
            expected = b.model(b.spec.preprocess(images[i : i + 1]))
        assert torch.equal(b.cloud.decode_and_run(frame), expected)


def test_save_load_round_trip_gives_identical_outputs(tmp_path: Path, images: torch.Tensor) -> None:
    b = _bundle()
    b.save(tmp_path / "b")
    loaded = Bundle.load(tmp_path / "b")
    assert loaded.spec == b.spec and loaded.fingerprint == b.fingerprint
    frames = b.edge.encode(images)
    assert loaded.edge.encode(images) == frames  # byte-identical frames
    for frame in frames:
        assert torch.equal(loaded.cloud.decode_and_run(frame), b.cloud.decode_and_run(frame))


def test_bundle_without_unit(tmp_path: Path, images: torch.Tensor) -> None:
    b = _bundle(unit=None, codec="quant:bits=8|zstd")
    b.save(tmp_path / "raw")
    loaded = Bundle.load(tmp_path / "raw")
    assert loaded.feature_shape == (1, 64, 14, 14)
    frame = loaded.edge.encode(images[:1])[0]
    assert torch.equal(loaded.cloud.decode_and_run(frame), b.cloud.decode_and_run(frame))


def test_a_frame_for_another_bundle_is_refused(images: torch.Tensor) -> None:
    a, other = _bundle(), _bundle(codec="quant:bits=2,clip=0:1|ans")
    assert a.fingerprint != other.fingerprint
    with pytest.raises(UnknownBundle, match="stale"):
        other.cloud.decode_and_run(a.edge.encode(images[:1])[0])


def _saved(tmp_path: Path) -> Path:
    return _bundle().save(tmp_path / "b")


def test_tampered_weights_are_refused(tmp_path: Path) -> None:
    folder = _saved(tmp_path)
    from safetensors.torch import load_file, save_file

    state = load_file(str(folder / "weights.safetensors"))
    key = next(iter(state))
    state[key] = state[key] + 1
    save_file(state, str(folder / "weights.safetensors"))
    with pytest.raises(BadBundle, match="tampered"):
        Bundle.load(folder)


def test_a_pickle_in_place_of_weights_is_refused(tmp_path: Path) -> None:
    folder = _saved(tmp_path)
    torch.save({"x": torch.nn.Linear(2, 2)}, folder / "weights.safetensors")
    with pytest.raises(BadBundle, match="cannot read"):
        Bundle.load(folder)


@pytest.mark.parametrize(
    ("edit", "error", "match"),
    [
        (lambda s: s.update(id="../../etc"), BadBundle, "no paths"),
        (lambda s: s.update(format="splitinfer.bundle/9"), BadBundle, "format"),
        (lambda s: s.update(codec="nosuchcodec"), BadBundle, "nosuchcodec"),
        (lambda s: s.update(classes=["a"]), BadBundle, "class names"),
        (lambda s: s.update(cut="layer9"), SplitInferError, "layer9"),
        (lambda s: s["input"].update(shape=[1, 28]), BadBundle, "C,H,W"),
        (lambda s: s.update(unit={"channels": 2, "evil": 1}), BadBundle, "unknown"),
        (lambda s: s.pop("weights_sha256"), BadBundle, "weights_sha256"),
    ],
)
def test_malformed_specs_are_refused(
    tmp_path: Path, edit: object, error: type[Exception], match: str
) -> None:
    folder = _saved(tmp_path)
    spec = json.loads((folder / "spec.json").read_text())
    edit(spec)  # type: ignore[operator]
    (folder / "spec.json").write_text(json.dumps(spec))
    with pytest.raises(error, match=match):
        Bundle.load(folder)


def test_missing_files_and_bad_json(tmp_path: Path) -> None:
    with pytest.raises(BadBundle, match="missing"):
        Bundle.load(tmp_path)
    folder = _saved(tmp_path)
    (folder / "spec.json").write_text("{not json")
    with pytest.raises(BadBundle, match="JSON"):
        Bundle.load(folder)


LEARNED = "learned:levels=4,tables=element"


def test_learned_codec_bundle_round_trip(tmp_path: Path, images: torch.Tensor) -> None:
    b = _bundle(UnitConfig(channels=2, stride=2, depth=2, hidden=16), LEARNED)
    assert b.model.prior is not None
    b.model.prior.update_tables()
    b = Bundle(b.spec, b.source, b.model)  # pick up the frozen tables
    frames = b.edge.encode(images)
    for i, frame in enumerate(frames):
        _header, payload = wire.decode_frame(frame)
        z = b.edge.features(images[i : i + 1])
        # the payload is the arithmetic-coded message only: no codec header
        assert abs(8 * len(payload) - b.codec.estimate_bits(z)) <= 9  # type: ignore[union-attr]
        with torch.no_grad():
            expected = b.model(b.spec.preprocess(images[i : i + 1]))
        assert torch.equal(b.cloud.decode_and_run(frame), expected)
    # the spec's weights digest covers the prior and its tables; rebuild it, then reload
    rebuilt = Bundle.build(
        bundle_id="test-bundle", model_name="fmnist_resnet", model=b.source, cut="stage2",
        unit=b.spec.unit, codec=LEARNED, classes=FMNIST_CLASSES, units=b.model,
        preprocess=b.spec.preprocess, input_shape=(1, 28, 28),
    )  # fmt: skip
    rebuilt.save(tmp_path / "b")
    loaded = Bundle.load(tmp_path / "b")
    assert loaded.edge.encode(images) == rebuilt.edge.encode(images)
    assert any(k.startswith("prior.") for k in _weights(tmp_path / "b"))


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / "weights.safetensors"))


def test_learned_bundle_with_broken_tables_is_refused(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from splitinfer.bundle import _digest

    b = _bundle(UnitConfig(channels=2, stride=2), LEARNED)
    b.save(tmp_path / "b")
    state = _weights(tmp_path / "b")
    state["prior.freqs"] = torch.zeros_like(state["prior.freqs"])  # no valid table
    save_file(state, str(tmp_path / "b" / "weights.safetensors"))
    spec = json.loads((tmp_path / "b" / "spec.json").read_text())
    spec["weights_sha256"] = _digest(state)  # a consistent but malicious bundle
    (tmp_path / "b" / "spec.json").write_text(json.dumps(spec))
    with pytest.raises(BadBundle, match="frequency table"):
        Bundle.load(tmp_path / "b")
    del state["prior.freqs"]
    save_file(state, str(tmp_path / "b" / "weights.safetensors"))
    spec["weights_sha256"] = _digest(state)
    (tmp_path / "b" / "spec.json").write_text(json.dumps(spec))
    with pytest.raises(BadBundle, match="do not fit"):
        Bundle.load(tmp_path / "b")


def test_learned_codec_needs_a_unit() -> None:
    with pytest.raises(SplitInferError, match="no unit"):
        _bundle(None, LEARNED)


def test_a_bundles_codec_is_capped_to_its_feature(images: torch.Tensor) -> None:
    """The codec gets its caps when the bundle builds it: a frame declaring a tensor far
    bigger than the bundle's feature is refused before it is decoded (nothing global)."""
    import math

    from splitinfer import codecs
    from splitinfer.errors import PayloadTooLarge

    b = _bundle()
    numel = math.prod(b.feature_shape)
    assert b.codec.limits == codecs.Limits.for_elements(numel)
    bomb = codecs.create(CODEC).encode(torch.zeros(1, 4, 400, 400))  # 640,000 elements
    frame = wire.encode_frame(wire.FrameHeader(request_id=1, bundle=b.fingerprint), bomb)
    with pytest.raises(PayloadTooLarge):
        b.cloud.decode(frame)
    assert codecs.create(CODEC).decode(bomb).shape == (1, 4, 400, 400)  # generic caps
    frames = b.edge.encode(images)  # the bundle's own frames still decode
    assert b.cloud.decode(frames[0])[1].shape == b.feature_shape


def test_a_learned_bundle_with_the_range_coder(tmp_path: Path, images: torch.Tensor) -> None:
    ranged = "learned:levels=4,tables=channel,coder=range"
    b = _bundle(UnitConfig(channels=2, stride=2), ranged)
    assert b.spec.codec == ranged and str(b.codec.spec) == ranged
    b.save(tmp_path / "b")
    loaded = Bundle.load(tmp_path / "b")
    frames = loaded.edge.encode(images)
    assert frames == b.edge.encode(images)
    for i, frame in enumerate(frames):
        with torch.no_grad():
            expected = b.model(b.spec.preprocess(images[i : i + 1]))
        assert torch.equal(loaded.cloud.decode_and_run(frame), expected)
    auto = _bundle(UnitConfig(channels=2, stride=2), "learned:levels=4,tables=element,coder=auto")
    assert auto.spec.codec == "learned:levels=4,tables=element"  # 2 x 4 x 4: resolved to exact
