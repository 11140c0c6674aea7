"""ONNX export of a bundle's halves and the ONNX Runtime engines that stand in for them."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from typer.testing import CliRunner

from splitinfer import wire, zoo
from splitinfer.bottleneck import UnitConfig
from splitinfer.bundle import Bundle, Preprocess, default_bundle_path
from splitinfer.cli import build_app
from splitinfer.data import FMNIST_CLASSES, load_fashion_mnist, synthetic
from splitinfer.edge.onnx import OnnxCloudEngine, OnnxEdgeEngine, check_agreement
from splitinfer.errors import BadBundle, BadInput, MissingDependency
from splitinfer.onnx_export import export_bundle, export_edge
from tests.conftest import fmnist_installed

# ONNX Runtime folds BatchNorm into the convolutions and runs its own kernels: features
# (sigmoid outputs in (0, 1)) agree to float rounding, not bitwise.
FEATURE_ATOL = 1e-5
LOGIT_ATOL = 1e-4


pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("one_torch_thread"),
]


@pytest.fixture(scope="module")
def default() -> Bundle:
    return Bundle.load(default_bundle_path())


@pytest.fixture(scope="module")
def exported(default: Bundle, tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("onnx")
    return export_bundle(default, folder / "edge.onnx", folder / "cloud.onnx")


@pytest.fixture(scope="module")
def edge(default: Bundle, exported: Any) -> OnnxEdgeEngine:
    return OnnxEdgeEngine(default, exported.edge_path, threads=1)


@pytest.fixture(scope="module")
def cloud(default: Bundle, exported: Any) -> OnnxCloudEngine:
    assert exported.cloud_path is not None
    return OnnxCloudEngine(default, exported.cloud_path, threads=1)


def _images(n: int, bundle: Bundle, seed: int = 0) -> torch.Tensor:
    return synthetic(n, bundle.spec.input_shape, seed=seed)[0]


def _tiny(codec: str, unit: UnitConfig | None) -> Bundle:
    torch.manual_seed(0)
    return Bundle.build(
        bundle_id="tiny-onnx", model_name="fmnist_cnn", model=zoo.create("fmnist_cnn"),
        cut="stage1", unit=unit, codec=codec, classes=FMNIST_CLASSES,
        preprocess=Preprocess((0.286,), (0.353,)), input_shape=(1, 28, 28),
    )  # fmt: skip


def _real(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    if not fmnist_installed():
        pytest.skip("Fashion-MNIST is not installed (make data)")
    x, y = load_fashion_mnist("test")
    return x[:n], y[:n]


# --- export and dynamic batch --------------------------------------------------------------


def test_export_report_and_metadata(default: Bundle, exported: Any) -> None:
    import onnx

    assert exported.bundle == default.spec.id and exported.edge_bytes > 0
    assert exported.cloud_bytes and exported.feature_shape == default.feature_shape
    meta = {p.key: p.value for p in onnx.load(exported.edge_path).metadata_props}
    assert meta["splitinfer.half"] == "edge"
    assert meta["splitinfer.fingerprint"] == f"{default.fingerprint:#010x}"


@pytest.mark.parametrize("batch", [1, 7])
def test_default_bundle_features_and_logits_match_torch(
    default: Bundle, edge: OnnxEdgeEngine, cloud: OnnxCloudEngine, batch: int
) -> None:
    images = _images(batch, default, seed=batch)
    z = edge.features(images)
    expected = default.edge.features(images)
    assert z.dtype == torch.float32 and z.shape == expected.shape
    torch.testing.assert_close(z, expected, atol=FEATURE_ATOL, rtol=0)
    torch.testing.assert_close(cloud.run(expected), default.cloud.run(expected),
                               atol=LOGIT_ATOL, rtol=1e-5)  # fmt: skip


def test_frames_use_the_bundles_framing(default: Bundle, edge: OnnxEdgeEngine) -> None:
    images = _images(3, default)
    frames = edge.encode(images, first_request_id=9)
    assert len(frames) == 3
    for i, frame in enumerate(frames):
        header, _ = wire.decode_frame(frame)
        assert header.request_id == 9 + i and header.bundle == default.fingerprint
        assert default.cloud.decode_and_run(frame).shape == (1, default.spec.num_classes)
    assert frames == default.edge.encode(images, first_request_id=9)


@pytest.mark.parametrize(
    ("codec", "unit"),
    [
        ("quant:bits=4,clip=0:1|ans", UnitConfig(channels=2, stride=2)),
        ("quant:bits=8|zstd", None),  # no unit: the head's own feature, min-max ranges
        ("learned:levels=4,tables=channel", UnitConfig(channels=4)),
    ],
)
def test_tiny_random_bundles_export_from_a_temporary_file(
    codec: str, unit: UnitConfig | None
) -> None:
    bundle = _tiny(codec, unit)
    edge = OnnxEdgeEngine.from_bundle(bundle, threads=1)
    cloud = OnnxCloudEngine.from_bundle(bundle, threads=1)
    assert edge.path is None and cloud.path is None  # the sessions hold the graphs
    for batch in (1, 7):
        images = _images(batch, bundle, seed=batch)
        z = edge.features(images)
        torch.testing.assert_close(z, bundle.edge.features(images), atol=FEATURE_ATOL, rtol=0)
        torch.testing.assert_close(cloud.run(z), bundle.cloud.run(z), atol=LOGIT_ATOL, rtol=1e-5)
    frame = edge.encode(_images(1, bundle))[0]
    torch.testing.assert_close(cloud.decode_and_run(frame), bundle.cloud.decode_and_run(frame),
                               atol=LOGIT_ATOL, rtol=1e-5)  # fmt: skip


# --- agreement on real images ---------------------------------------------------------------


def test_agreement_on_real_test_images(
    default: Bundle, edge: OnnxEdgeEngine, cloud: OnnxCloudEngine
) -> None:
    x, y = _real(200)
    seen: list[int] = []
    r = check_agreement(default, edge, x, y, cloud=cloud, batch_size=64, progress=seen.append)
    assert seen == [64, 128, 192, 200] and r["images"] == 200
    assert r["feature_max_abs_diff"] <= FEATURE_ATOL
    assert r["symbols"] > 0 and r["symbol_diff_rate"] <= 0.01
    assert r["frames_equal_rate"] >= 0.99 and r["prediction_agreement"] >= 0.99
    assert r["prediction_agreement_onnx_cloud"] >= 0.99
    assert abs(r["accuracy_onnx"] - r["accuracy_torch"]) <= 0.01
    assert r["accuracy_torch"] > 0.5  # a trained bundle, not chance


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "images",
    [
        torch.zeros(2, 1, 28, 28),  # float
        torch.zeros(2, 1, 27, 28, dtype=torch.uint8),  # wrong size
        torch.zeros(1, 28, 28, dtype=torch.uint8),  # no batch axis
        torch.zeros(0, 1, 28, 28, dtype=torch.uint8),  # empty batch
        [[0]],  # not a tensor
    ],
)
def test_bad_images_raise_bad_input(edge: OnnxEdgeEngine, images: Any) -> None:
    with pytest.raises(BadInput):
        edge.features(images)


def test_bad_features_and_options(default: Bundle, cloud: OnnxCloudEngine, tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="takes features"):
        cloud.run(torch.zeros(1, 3, 5, 5))
    with pytest.raises(BadInput, match="opset"):
        export_edge(default, tmp_path / "e.onnx", opset=5)
    with pytest.raises(BadInput, match="no ONNX file"):
        OnnxEdgeEngine(default, tmp_path / "missing.onnx")
    with pytest.raises(BadInput, match="labels"):
        check_agreement(default, OnnxEdgeEngine.from_bundle(default), _images(2, default),
                        torch.zeros(3, dtype=torch.long))  # fmt: skip


def test_a_file_from_another_bundle_or_half_is_refused(
    default: Bundle, exported: Any, tmp_path: Path
) -> None:
    other = _tiny("quant:bits=4,clip=0:1|ans", UnitConfig(channels=2))
    export_edge(other, tmp_path / "other.onnx")
    with pytest.raises(BadBundle, match="re-export"):
        OnnxEdgeEngine(default, tmp_path / "other.onnx")
    with pytest.raises(BadBundle, match="not an exported edge half"):
        OnnxEdgeEngine(default, exported.cloud_path)
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(BadBundle, match="cannot load"):
        OnnxEdgeEngine(default, tmp_path / "junk.onnx")


def test_missing_onnxruntime_is_a_typed_error(
    default: Bundle, exported: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "onnxruntime" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(MissingDependency, match=r"splitinfer\[onnx\]"):
        OnnxEdgeEngine(default, exported.edge_path)


# --- command line ---------------------------------------------------------------------------


def test_cli_export_writes_files_and_checks(tmp_path: Path) -> None:
    _real(1)
    edge, cloud, out = tmp_path / "e.onnx", tmp_path / "c.onnx", tmp_path / "r.json"
    args = ["export", str(default_bundle_path()), "--edge", str(edge), "--cloud", str(cloud),
            "--check", "16", "--threads", "1", "--json", str(out)]  # fmt: skip
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    assert edge.is_file() and cloud.is_file()
    assert "predictions = torch" in result.output and "KB" in result.output
    data = json.loads(out.read_text())
    assert data["export"]["edge_bytes"] == edge.stat().st_size
    assert data["check"]["images"] == 16 and data["check"]["prediction_agreement"] >= 0.9


def test_cli_export_help() -> None:
    result = CliRunner().invoke(build_app(), ["export", "--help"])
    assert result.exit_code == 0
    assert "--edge" in result.output and "--check" in result.output
