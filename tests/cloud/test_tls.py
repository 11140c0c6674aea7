"""HTTPS from --tls-cert/--tls-key (a throwaway self-signed certificate for 127.0.0.1)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest

from splitinfer.bundle import Bundle
from splitinfer.protocol import Result
from tests.cloud.helpers import FRAME_HEADERS, running

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl"),
]


def self_signed(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_https_serves_and_plain_http_is_not_accepted(
    tmp_path: Path, bundle: Bundle, frames: list[bytes]
) -> None:
    cert, key = self_signed(tmp_path)
    with running(bundle, server={"tls_cert": cert, "tls_key": key}) as (url, _, _):
        assert url.startswith("https://")
        trust = ssl.create_default_context(cafile=str(cert))
        r = httpx.post(f"{url}/v1/bundles/fmnist-test/infer", content=frames[0],
                       headers=FRAME_HEADERS, verify=trust)  # fmt: skip
        assert r.status_code == 200 and Result.from_json(r.json()).request_id == 100
        with pytest.raises(httpx.HTTPError):
            httpx.get(url.replace("https://", "http://") + "/healthz")
