"""`splitinfer run` end to end: real server, real Fashion-MNIST images, optional link."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from splitinfer.cli import build_app
from splitinfer.errors import BadInput
from splitinfer.train.data import fmnist_root
from tests.cloud.conftest import CODEC, build
from tests.cloud.helpers import TOKEN, running


@pytest.fixture(scope="module", autouse=True)
def _needs_data() -> None:
    try:
        fmnist_root()
    except BadInput:
        pytest.skip("Fashion-MNIST is not installed (make data)")


@pytest.mark.parametrize(("mode", "link"), [("split", None), ("cloud-only", None),
                                            ("split", "wifi")])  # fmt: skip
def test_run_streams_images_and_writes_a_summary(
    tmp_path: Path, mode: str, link: str | None
) -> None:
    bundle = build("run-test", CODEC)
    folder = bundle.save(tmp_path / "b")
    out = tmp_path / "summary.json"
    with running(bundle) as (url, _dp, _server):
        args = ["run", "--bundle", str(folder), "--server", url, "--mode", mode,
                "--images", "8", "--token", TOKEN, "--json", str(out)]  # fmt: skip
        if link:
            args += ["--link", link]
        result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["images"] == 8 and data["mode"] == mode and data["fallbacks"] == 0
    assert data["bytes_up_mean"] > 0 and data["measured"] is True
    if link == "wifi":  # the emulated link adds its RTT to every request
        assert data["latency_ms_p50"] >= 20.0


def test_split_without_a_server_is_a_usage_error(tmp_path: Path) -> None:
    folder = build("run-test", CODEC).save(tmp_path / "b")
    result = CliRunner().invoke(build_app(), ["run", "--bundle", str(folder), "--mode", "split"])
    assert result.exit_code != 0
