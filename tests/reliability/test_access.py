"""Access: bearer tokens on both transports (none, wrong, in the wrong place), TLS with a
certificate made here (HTTPS and gRPC), the loopback default, ``--insecure``, and the token
never in the logs (``python -m reliability.access`` runs the same against a TLS server)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reliability import access
from splitinfer.cli import main
from splitinfer.cloud import DataPlane
from splitinfer.cloud.grpc import start_grpc_server
from splitinfer.cloud.server import bound_port, serve_in_thread
from splitinfer.cloud.settings import ServeSettings
from splitinfer.harness.server import Endpoint, ServeProcess
from splitinfer.harness.workload import Workload

pytestmark = pytest.mark.integration  # starts servers, subprocesses or heavy tools


def test_http_needs_the_bearer_token_in_the_authorization_header(
    served: ServeProcess, workload: Workload
) -> None:
    seen, problems = access.http_tokens(served, workload)
    assert not problems, problems
    assert seen["http infer, right token"] == "200" and seen["http infer, no token"] == "401"


def test_grpc_needs_the_bearer_token_in_the_metadata(
    served: ServeProcess, workload: Workload
) -> None:
    seen, problems = access.grpc_tokens(served, workload)
    assert not problems, problems
    assert len(seen) == 15


def test_the_default_bind_is_loopback_only(served: ServeProcess) -> None:
    assert "--host" not in served.args
    seen, problems = access.bind_checks(served)
    assert not problems, (problems, seen)


def test_the_token_is_never_logged(served: ServeProcess, workload: Workload) -> None:
    access.http_tokens(served, workload)  # every misplaced token too, e.g. in the query
    access.grpc_tokens(served, workload)
    seen, problems = access.secret_checks(served)
    assert not problems, (problems, seen)
    assert "GET /metrics" in served.log_text()  # the log is on and holds the requests


@pytest.mark.parametrize(
    ("flags", "refused"),
    [([], True), (["--insecure"], False), (["--token", "t" * 32], False)],
    ids=["no token", "--insecure", "token"],
)
def test_a_public_bind_needs_a_token_or_insecure(
    flags: list[str],
    refused: bool,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SPLITINFER_TOKEN", raising=False)
    missing = str(tmp_path / "no-bundle")  # past the auth check, serve stops here
    with pytest.raises(SystemExit) as info:
        main(["serve", "--host", "0.0.0.0", "--bundle", missing, *flags])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "Traceback" not in err
    assert ("without authentication" in err) is refused
    assert ("bad_bundle" in err) is not refused


@pytest.fixture(scope="module")
def tls_server(
    workload: Workload, token: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Endpoint]:
    """HTTPS (uvicorn in a thread) and gRPC over TLS (its own loop in a thread), each with
    its own DataPlane, both with a certificate made for this test."""
    cert, key = access.self_signed(tmp_path_factory.mktemp("tls"))
    settings = ServeSettings(
        bundles=[],
        port=0,
        token=token,
        log_level="warning",
        drain_timeout_s=5,
        tls_cert=cert,
        tls_key=key,
    )
    with (
        serve_in_thread(settings, DataPlane([workload.bundle])) as (_, http_server),
        _grpc_in_thread(DataPlane([workload.bundle]), token, cert, key) as grpc_port,
    ):
        yield Endpoint(
            port=bound_port(http_server), grpc_port=grpc_port, token=token, tls_cert=cert
        )


def _grpc_in_thread(dp: DataPlane, token: str, cert: Path, key: Path) -> Any:
    from contextlib import contextmanager

    @contextmanager
    def running() -> Iterator[int]:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        server, port = asyncio.run_coroutine_threadsafe(
            start_grpc_server(dp, token=token, tls_cert=cert, tls_key=key), loop
        ).result(30)
        try:
            yield port
        finally:
            asyncio.run_coroutine_threadsafe(server.stop(1), loop).result(30)
            asyncio.run_coroutine_threadsafe(dp.close(), loop).result(30)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)

    return running()


def test_tls_on_both_transports(tls_server: Endpoint, workload: Workload) -> None:
    seen, problems = access.tls_checks(tls_server, workload)
    assert not problems, (problems, seen)
    assert seen["grpcs, trusted CA, token"] == "OK"
    assert seen["https, trusted CA, token"] == "200"


def test_tokens_hold_over_tls_too(tls_server: Endpoint, workload: Workload) -> None:
    for check in (access.http_tokens, access.grpc_tokens):
        _, problems = check(tls_server, workload)
        assert not problems, problems
