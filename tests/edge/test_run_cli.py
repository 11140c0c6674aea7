"""`splitinfer run` end to end against a real server: transports, streaming, auto, engines,
images from disk, and usage errors."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from splitinfer.bundle import Bundle
from splitinfer.cli import build_app
from splitinfer.cli.run import server_url
from splitinfer.data import fmnist_root
from splitinfer.errors import BadInput
from tests.cloud.conftest import CODEC, build
from tests.edge.helpers import TOKEN, Servers, serving

COMMUTE = str(Path(__file__).resolve().parents[2] / "traces" / "commute.csv")
pytestmark = pytest.mark.integration  # starts servers, subprocesses or heavy tools


def _has_fmnist() -> bool:
    try:
        fmnist_root()
    except BadInput:
        return False
    return True


needs_fmnist = pytest.mark.skipif(not _has_fmnist(), reason="Fashion-MNIST is not installed")
needs_onnx = pytest.mark.skipif(
    importlib.util.find_spec("splitinfer.edge.onnx") is None
    or importlib.util.find_spec("onnxruntime") is None,
    reason="splitinfer.edge.onnx / onnxruntime not available",
)


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return build("run-test", CODEC)


@pytest.fixture(scope="module")
def folder(bundle: Bundle, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bundle.save(tmp_path_factory.mktemp("run") / "b")


@pytest.fixture(scope="module")
def servers(bundle: Bundle) -> Iterator[Servers]:
    with serving(bundle) as s:
        yield s


def run(tmp_path: Path, folder: Path, *args: str) -> dict[str, Any]:
    out = tmp_path / "summary.json"
    result = CliRunner().invoke(
        build_app(), ["run", "--bundle", str(folder), "--json", str(out), *args]
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "KB/frame" in result.output and "(measured)" in result.output
    data: dict[str, Any] = json.loads(out.read_text())
    return data


@needs_fmnist
@pytest.mark.parametrize(
    ("transport", "mode", "extra"),
    [
        ("http", "split", ()),
        ("http", "cloud-only", ()),
        ("grpc", "split", ()),
        ("grpc", "split", ("--stream",)),
        ("http", "split", ("--link", "wifi")),
        ("grpc", "split", ("--link", "wifi", "--stream")),
        ("http", "cloud-only", ("--link", "4g", "--trace", COMMUTE)),
    ],
)
def test_run_streams_images_and_writes_a_summary(
    tmp_path: Path, folder: Path, servers: Servers, transport: str, mode: str,
    extra: tuple[str, ...],
) -> None:  # fmt: skip
    url = servers.url(transport)
    data = run(tmp_path, folder, "--server", url, "--mode", mode, "--images", "8",
               "--token", TOKEN, *extra)  # fmt: skip
    assert data["images"] == 8 and data["mode"] == mode and data["fallbacks"] == 0
    assert data["transport"] == transport and data["stream"] == ("--stream" in extra)
    assert data["bytes_up_mean"] > 0 and data["measured"] is True and data["labelled"] == 8
    assert 0 <= data["accuracy"] <= 1 and data["ran"] == {mode: 8}
    if "wifi" in extra:  # the emulated link adds its RTT to every request
        assert data["link_emulated"] and data["latency_ms_p50"] >= 20.0
    if "--trace" in extra:  # the commute trace starts on Wi-Fi: RTT 18-22 ms
        assert data["trace"] == COMMUTE and data["latency_ms_p50"] >= 17.0
    estimate = data["link_estimate"]  # streamed requests are not fed to the estimator
    assert estimate["samples"] == (0 if "--stream" in extra else 8)


@needs_fmnist
def test_auto_decides_for_the_link_and_records_it(
    tmp_path: Path, folder: Path, servers: Servers
) -> None:
    data = run(tmp_path, folder, "--server", servers.grpc, "--mode", "auto", "--images", "4",
               "--link", "custom:up=0.01,down=0.01,rtt=3000", "--no-emulate",
               "--token", TOKEN, "--repeats", "2", "--replan-ping", "2")  # fmt: skip
    decision = data["decision"]
    assert decision["mode"] == "mobile-only" and decision["modeled"] is True
    assert data["ran"] == {"mobile-only": 4} and not data["link_emulated"]
    assert set(decision["candidates"]) == {"split", "mobile-only"}  # gRPC carries no images
    assert data["replan"]["every"] == 20 and data["switches"] == 0  # re-planning on, no switch
    # on the device, a gRPC ListBundles after every 2 requests; the link stays too slow
    assert data["replan"]["ping_every"] == 2 and data["replan"]["pings"] == 2
    assert data["replan"]["pings_failed"] == 0


@needs_fmnist
def test_auto_without_replanning_says_so(tmp_path: Path, folder: Path, servers: Servers) -> None:
    data = run(tmp_path, folder, "--server", servers.grpc, "--mode", "auto", "--images", "3",
               "--link", "custom:up=0.01,down=0.01,rtt=3000", "--no-emulate", "--no-replan",
               "--token", TOKEN, "--repeats", "2")  # fmt: skip
    assert data["replan"] is None and data["switches"] == 0 and data["switch_log"] == []
    assert data["ran"] == {"mobile-only": 3}


def write_folder(root: Path, classes: dict[str, int]) -> Path:
    for name, n in classes.items():
        (root / name).mkdir(parents=True)
        for i in range(n):  # RGB and larger than the bundle's input: converted on load
            Image.new("RGB", (40, 36), (40 * i, 200, 90)).save(root / name / f"{i}.png")
    return root


def test_images_from_an_image_folder_are_labelled_by_class_name(
    tmp_path: Path, folder: Path, servers: Servers
) -> None:
    images = write_folder(tmp_path / "imgs", {"Trouser": 2, "bag": 3})
    data = run(tmp_path, folder, "--server", servers.http, "--images", str(images),
               "--token", TOKEN)  # fmt: skip
    assert data["images"] == 5 and data["labelled"] == 5 and data["source"] == str(images)
    data = run(tmp_path, folder, "--mode", "mobile-only", "--images", str(images),
               "--limit", "2")  # fmt: skip
    assert data["images"] == 2


def test_a_single_image_or_unknown_classes_have_no_accuracy(
    tmp_path: Path, folder: Path, servers: Servers
) -> None:
    images = write_folder(tmp_path / "imgs", {"cats": 1, "dogs": 1})
    data = run(tmp_path, folder, "--server", servers.grpc, "--images", str(images),
               "--token", TOKEN)  # fmt: skip
    assert data["images"] == 2 and data["accuracy"] is None and data["labelled"] == 0
    data = run(tmp_path, folder, "--mode", "mobile-only",
               "--images", str(images / "cats" / "0.png"))  # fmt: skip
    assert data["images"] == 1 and data["accuracy"] is None


@needs_onnx
def test_the_onnx_engine_from_the_command_line(
    tmp_path: Path, folder: Path, servers: Servers
) -> None:
    images = write_folder(tmp_path / "imgs", {"Coat": 2})
    data = run(tmp_path, folder, "--server", servers.grpc, "--engine", "onnx",
               "--images", str(images), "--token", TOKEN)  # fmt: skip
    assert data["engine"] == "onnx" and data["ran"] == {"split": 2}


@pytest.mark.parametrize(
    "args",
    [
        ["--mode", "split"],  # no server
        ["--mode", "auto", "--server", "http://127.0.0.1:1"],  # no --link
        ["--mode", "teleport"],
        ["--server", "http://127.0.0.1:1", "--stream"],  # streaming is gRPC
        ["--server", "http://127.0.0.1:1", "--transport", "grpc"],
        ["--server", "grpc://127.0.0.1:1", "--mode", "cloud-only"],
        ["--mode", "mobile-only", "--images", "/nonexistent"],
        ["--server", "http://127.0.0.1:1", "--trace", COMMUTE],  # a trace needs --link
    ],
)
def test_usage_errors_are_typed(folder: Path, args: list[str]) -> None:
    result = CliRunner().invoke(build_app(), ["run", "--bundle", str(folder), *args])
    assert result.exit_code != 0 and isinstance(result.exception, BadInput), result.output


@pytest.mark.parametrize(
    ("server", "transport", "url"),
    [
        ("127.0.0.1:8000", None, "http://127.0.0.1:8000"),
        ("127.0.0.1:50051", "grpc", "grpc://127.0.0.1:50051"),
        ("grpcs://h:1", None, "grpcs://h:1"),
        ("https://h:1", "http", "https://h:1"),
        ("127.0.0.1:8000", "ws", "ws://127.0.0.1:8000"),
        ("wss://h:1", "ws", "wss://h:1"),
        (None, "grpc", None),
    ],
)
def test_server_url_takes_the_scheme_from_the_transport(
    server: str | None, transport: str | None, url: str | None
) -> None:
    assert server_url(server, transport) == url


def test_images_are_fitted_to_the_bundle_input(tmp_path: Path) -> None:
    import torch

    from splitinfer.edge.stream import fit_images, load_images

    gray = torch.randint(0, 256, (2, 1, 28, 28), dtype=torch.uint8)
    assert fit_images(gray, (1, 28, 28)) is gray
    rgb = fit_images(gray, (3, 32, 32))
    assert rgb.shape == (2, 3, 32, 32) and rgb.dtype == torch.uint8
    assert fit_images(rgb, (1, 16, 16)).shape == (2, 1, 16, 16)
    images = write_folder(tmp_path / "imgs", {"0": 1, "7": 2})  # class indices as names
    x, y = load_images(images, (3, 20, 24), classes=[str(i) for i in range(10)])
    assert x.shape == (3, 3, 20, 24) and y is not None and y.tolist() == [0, 7, 7]
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadInput):
        load_images(tmp_path / "empty", (1, 28, 28))
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(BadInput):
        load_images(tmp_path / "bad.png", (1, 28, 28))
