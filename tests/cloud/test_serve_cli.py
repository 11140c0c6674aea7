"""`splitinfer serve`: refuses unsafe settings, serves, and drains on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from splitinfer.cli import main
from splitinfer.cloud.metrics import MULTIPROC_ENV
from splitinfer.cloud.settings import ServeSettings
from splitinfer.errors import BadInput
from splitinfer.harness.server import free_port
from splitinfer.protocol import FRAME_TYPE
from splitinfer.protocol.pb import splitinfer_pb2 as pb
from splitinfer.protocol.pb import splitinfer_pb2_grpc as pb_grpc

pytestmark = pytest.mark.integration  # starts servers, subprocesses or heavy tools


@pytest.mark.parametrize(
    "argv",
    [
        ["serve", "--bundle", "b", "--host", "0.0.0.0"],
        ["serve", "--bundle", "b", "--host", "10.1.2.3", "--port", "9000"],
        ["serve", "--bundle", "b", "--tls-cert", "c.pem"],  # cert without key
    ],
)
def test_unsafe_or_incomplete_settings_are_refused(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SPLITINFER_TOKEN", raising=False)
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "bad_input" in err and "Traceback" not in err


def test_an_empty_bundle_list_is_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPLITINFER_BUNDLES", "[]")  # said explicitly: no default bundle
    with pytest.raises(SystemExit) as info:
        main(["serve"])
    assert info.value.code == 2 and "no bundle to serve" in capsys.readouterr().err


def test_without_a_bundle_serve_takes_the_shipped_one_and_says_so(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import splitinfer.cloud.server as server
    from splitinfer.bundle import default_bundle_path

    served: list[ServeSettings] = []

    def fake_run(settings: ServeSettings, announce: Any) -> None:
        served.append(settings)
        announce()

    monkeypatch.delenv("SPLITINFER_BUNDLES", raising=False)
    monkeypatch.setattr(server, "run_server", fake_run)
    with pytest.raises(SystemExit) as info:
        main(["serve", "--port", "0"])
    assert info.value.code == 0
    assert served[0].bundles == [default_bundle_path()]
    assert "no --bundle given: serving the shipped bundle" in capsys.readouterr().out


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPLITINFER_HOST", "0.0.0.0")
    monkeypatch.setenv("SPLITINFER_TOKEN", "from-env")
    monkeypatch.setenv("SPLITINFER_BUNDLES", '["a", "b"]')
    monkeypatch.setenv("SPLITINFER_MAX_BATCH", "4")
    s = ServeSettings(max_batch=8)  # an explicit value (a flag) beats the environment
    s.check()  # a token makes the public bind acceptable
    assert s.token_value == "from-env" and s.bundles == [Path("a"), Path("b")]
    assert s.max_batch == 8 and "from-env" not in repr(s)
    with pytest.raises(BadInput, match="insecure"):
        ServeSettings(token=None).check()
    ServeSettings(token=None, insecure=True).check()


GRPC_AUTH = (("authorization", "Bearer t0k"),)


def test_sigterm_lets_the_in_flight_request_finish(bundle_dir: Path, frames: list[bytes]) -> None:
    port, grpc_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "SPLITINFER_TOKEN": "t0k"}
    cmd = [sys.executable, "-c", "from splitinfer.cli import main; main()", "serve",
           "--bundle", str(bundle_dir), "--port", str(port), "--max-wait-ms", "1500",
           "--grpc-port", str(grpc_port),
           "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"server did not start: {proc.stdout.read() if proc.stdout else ''}")
            time.sleep(0.1)
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            stub = pb_grpc.SplitInferenceStub(channel)
            listed = stub.ListBundles(pb.ListBundlesRequest(), metadata=GRPC_AUTH, timeout=10)
            assert [b.id for b in listed.bundles] == ["fmnist-test"]
        statuses: list[int] = []
        slow = threading.Thread(
            target=lambda: statuses.append(
                httpx.post(f"{url}/v1/bundles/fmnist-test/infer", content=frames[0],
                           headers={"Authorization": "Bearer t0k"}, timeout=30).status_code
            )
        )  # fmt: skip
        slow.start()
        time.sleep(0.5)  # the request now waits in the batcher (max wait 1.5 s)
        proc.send_signal(signal.SIGTERM)
        slow.join(timeout=30)
        assert statuses == [200]
        rc = proc.wait(timeout=30)
        assert rc in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after a clean stop
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _worker_pids(parent: int) -> list[int]:
    """Children of ``parent`` started by multiprocessing's spawn (the server workers)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and b"spawn_main" in cmdline:
            pids.append(int(entry.name))
    return pids


def _infer_200s(text: str) -> float:
    """``splitinfer_requests_total{route="infer",status="200"}`` in a scrape."""
    from prometheus_client.parser import text_string_to_metric_families

    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "splitinfer_requests_total" and s.labels == {"route": "infer", "status": "200"}
    )


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_workers_share_the_ports_and_all_stop_on_sigterm(
    bundle_dir: Path, frames: list[bytes], tmp_path: Path
) -> None:
    port, grpc_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}/v1/bundles/fmnist-test/infer"
    cmd = [sys.executable, "-c", "from splitinfer.cli import main; main()", "serve",
           "--bundle", str(bundle_dir), "--port", str(port), "--grpc-port", str(grpc_port),
           "--workers", "2", "--log-level", "warning"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("SPLITINFER_TOKEN", MULTIPROC_ENV)}
    env["TMPDIR"] = str(tmp_path)  # where `serve` makes its metrics directory
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    headers = {"Content-Type": FRAME_TYPE}
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                # a worker listens while it loads: wait for the answer (no abandoned request)
                r = httpx.post(url, content=frames[0], headers=headers, timeout=60)
                if r.status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
            if proc.poll() is not None:
                pytest.fail(f"server exited: {proc.stdout.read() if proc.stdout else ''}")
        workers = _worker_pids(proc.pid)
        assert len(workers) == 2
        codes = [httpx.post(url, content=f, headers=headers).status_code for f in frames * 3]
        assert set(codes) == {200}
        # every connection is new, so the kernel spread them: both workers counted some
        (metrics_dir,) = tmp_path.glob("splitinfer-metrics-*")
        assert {f"counter_{p}.db" for p in workers} <= {f.name for f in metrics_dir.iterdir()}
        answered = 1 + len(codes)  # the first 200 of the readiness loop, then the rest
        scrapes = [
            _infer_200s(httpx.get(f"http://127.0.0.1:{port}/metrics").text) for _ in range(6)
        ]
        assert scrapes == [answered] * 6  # whichever worker answers adds up both
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        time.sleep(0.5)
        assert not [p for p in workers if Path(f"/proc/{p}").exists()]
        assert not metrics_dir.exists()  # `serve` removed its metrics directory
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
