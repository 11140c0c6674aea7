"""Your model, your data: an ImageFolder (3 classes, mixed sizes, one corrupt file) at 64 px
through backbone -> units with the learned codec -> bundle -> serve -> run, for resnet18
and mobilenet_v3_small; the server's predictions equal the offline bundle's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from splitinfer.bundle import Bundle
from splitinfer.cli import build_app
from splitinfer.data.stream import open_streams, parse_data_spec
from splitinfer.edge import EdgeRunner
from splitinfer.errors import BadInput
from tests.edge.helpers import TOKEN, serving
from tests.train.folders import CLASSES, make_image_folder

# model, cut, DataLoader workers, extra units options. 2 channels after the unit: 128
# latent symbols per image, under the learned coder's current 4,096-symbol cap.
CASES = [
    ("resnet18", "layer2", "1", ()),
    ("mobilenet_v3_small", "features.3", "0", ("--tune", "units+tail", "--distill", "2")),
]


def cli(*args: str) -> str:
    result = CliRunner().invoke(build_app(), list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_image_folder(tmp_path_factory.mktemp("photos"))


@pytest.mark.parametrize(("model", "cut", "workers", "extra"), CASES)
def test_imagefolder_end_to_end(
    model: str,
    cut: str,
    workers: str,
    extra: tuple[str, ...],
    folder: Path,
    tmp_path: Path,
    one_torch_thread: None,
) -> None:
    common = ["--model", model, "--data", f"imagefolder:{folder}", "--image-size", "64",
              "--device", "cpu", "--workers", workers, "--batch-size", "8",
              "--lr", "0.01"]  # fmt: skip
    out = cli("train", "backbone", *common, "--epochs", "1", "--out", str(tmp_path / "bb"))
    assert "1 unreadable image(s) skipped" in out
    results = json.loads((tmp_path / "bb" / "results.json").read_text())
    assert results["classes"] == list(CLASSES) and results["skipped_images"] == 1
    assert results["input_shape"] == [3, 64, 64] and results["test_images"] == 12
    out = cli("train", "units", *common, "--weights", str(tmp_path / "bb" / "weights.safetensors"),
              "--cut", cut, "--channels", "2", "--codec", "learned:levels=4,tables=channel",
              "--rate-lambda", "0.01", "--epochs", "1", "--out", str(tmp_path / "units"),
              "--bundle", str(tmp_path / "bundle"), "--bundle-id", "photos-64",
              *extra)  # fmt: skip
    assert "1 training image(s) skipped" in out
    bundle = Bundle.load(tmp_path / "bundle")
    spec = bundle.spec
    assert spec.input_shape == (3, 64, 64) and spec.classes == CLASSES and spec.cut == cut
    assert spec.metrics["images"] == 12 and spec.metrics["data"].startswith("imagefolder:")

    # the test split as the evaluation saw it (Resize + CenterCrop), offline and served
    test = open_streams(parse_data_spec(f"imagefolder:{folder}"), (3, 64, 64)).test
    images = torch.stack([test[i].image for i in range(len(test))])  # type: ignore[arg-type]
    labels = torch.tensor([test[i].label for i in range(len(test))])  # type: ignore[arg-type]
    frames = [bundle.edge.frame(bundle.edge.features(images[i : i + 1]), i) for i in range(12)]
    offline = [int(bundle.cloud.run(bundle.cloud.decode(f)[1]).argmax(1)) for f in frames]
    assert sum(p == int(y) for p, y in zip(offline, labels, strict=True)) / 12 == pytest.approx(
        spec.metrics["accuracy"]
    )
    with serving(bundle) as servers, EdgeRunner(bundle, servers.http, token=TOKEN) as runner:
        served = [r.prediction for r in runner.infer_many(images)]
        assert served == offline
        summary = tmp_path / "run.json"
        cli("run", "--bundle", str(tmp_path / "bundle"), "--server", servers.http,
            "--token", TOKEN, "--images", str(folder / "test"), "--json", str(summary))  # fmt: skip
    ran = json.loads(summary.read_text())
    assert ran["images"] == 12 and ran["labelled"] == 12 and ran["fallbacks"] == 0

    # the test split streamed again by `train evaluate`; the planner's measured rate point
    evaluated = tmp_path / "evaluate.json"
    cli("train", "evaluate", "--bundle", str(tmp_path / "bundle"), "--data",
        f"imagefolder:{folder}", "--workers", "0", "--json", str(evaluated))  # fmt: skip
    again = json.loads(evaluated.read_text())
    assert again["accuracy"] == spec.metrics["accuracy"] and again["images"] == 12
    assert again["mean_frame_bytes"] == spec.metrics["mean_frame_bytes"]
    from splitinfer.cli.plan import _rate_points

    (point,) = _rate_points(tmp_path / "bundle")
    assert point.cut == cut and point.measured
    assert point.frame_bytes == spec.metrics["mean_frame_bytes"]


def test_bad_folders_fail_before_training(tmp_path: Path) -> None:
    root = make_image_folder(tmp_path / "a", per_class=1, test_per_class=1, corrupt=False)
    (root / "test" / "owl").rename(root / "test" / "bat")
    with pytest.raises(BadInput, match="only in train \\['owl'\\], only in test \\['bat'\\]"):
        open_streams(parse_data_spec(f"imagefolder:{root}"), (3, 32, 32))
    single = tmp_path / "b"
    for split in ("train", "test"):
        (single / split / "cat").mkdir(parents=True)
        (single / split / "cat" / "x.png").write_bytes(b"")
    with pytest.raises(BadInput, match="a classifier needs 2"):
        open_streams(parse_data_spec(f"imagefolder:{single}"), (3, 32, 32))
    empty = tmp_path / "c"
    (empty / "train" / "cat").mkdir(parents=True)
    (empty / "train" / "dog").mkdir(parents=True)
    (empty / "test").mkdir()
    with pytest.raises(BadInput, match="without images: cat, dog"):
        open_streams(parse_data_spec(f"imagefolder:{empty}"), (3, 32, 32))
    with pytest.raises(BadInput, match="known forms"):
        parse_data_spec("cifar10")
    with pytest.raises(BadInput, match="CLASSES,SIZE"):
        parse_data_spec("synthetic:ten")


def test_cuda_where_there_is_none_is_a_clear_error() -> None:
    from splitinfer.train.runtime import resolve_device

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(BadInput, match="no CUDA device"):
        resolve_device("cuda:0")
    with pytest.raises(BadInput, match="unknown device"):
        resolve_device("tpu")
    assert resolve_device("auto").type == "cpu"
