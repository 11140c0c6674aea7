"""Every CLI failure mode a user meets ends in ONE line on stderr and exit status 2."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from splitinfer.bundle import default_bundle_path
from splitinfer.cli import main


class _NotSplitinfer(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = b"<!DOCTYPE html>\n<html><head><title>Welcome to nginx!</title></head>\n" * 50
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def other_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotSplitinfer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture(scope="module")
def busy_port() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock.getsockname()[1]
    sock.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def failures(busy: int, other: int, tmp: Path) -> dict[str, tuple[list[str], str]]:
    """name -> (argv, the error code the one line must carry)."""
    dead = f"http://127.0.0.1:{_free_port()}"
    bundle = str(default_bundle_path())
    return {
        "serve: HTTP port in use": (["serve", "--port", str(busy)], "port_in_use"),
        "serve: gRPC port in use": (
            ["serve", "--port", str(_free_port()), "--grpc-port", str(busy)],
            "port_in_use",
        ),
        "serve: not a bundle": (["serve", "--bundle", str(tmp)], "bad_bundle"),
        "run: not a splitinfer server": (
            [
                "run",
                "--server",
                f"http://127.0.0.1:{other}",
                "--images",
                "2",
                "--fallback",
                "never",
            ],
            "cloud_refused",
        ),
        "run: server down, no fallback": (
            ["run", "--server", dead, "--images", "2", "--fallback", "never", "--retries", "0"],
            "cloud_unavailable",
        ),
        "run: unknown mode": (["run", "--mode", "turbo"], "bad_input"),
        "run: bad --fallback": (["run", "--fallback", "maybe"], "bad_input"),
        "plan: unknown link": (["plan", bundle, "--link", "5g"], "unknown_profile"),
        "plan: unknown device": (["plan", "resnet50", "--device", "toaster"], "unknown_profile"),
        "plan: a folder that is no bundle": (["plan", str(tmp)], "bad_plan_input"),
        "plan: unknown model": (["plan", "resnet5000"], "unknown_model"),
        "profile: unknown model": (["profile", "resnet5000"], "unknown_model"),
    }


CASES = list(failures(0, 0, Path(".")))


@pytest.mark.parametrize("name", CASES)
def test_each_failure_is_one_line_and_exit_2(
    name: str, busy_port: int, other_server: int, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    argv, code = failures(busy_port, other_server, tmp_path)[name]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    assert exit_info.value.code == 2, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error [{code}] "), err
    assert "Traceback" not in out + err and "serving" not in out
    assert len(lines[0]) < 400  # a foreign page is summarised (80 characters), never dumped


def test_fallback_is_loud_and_fails_the_run_past_the_rate(
    capsys: pytest.CaptureFixture[str],
) -> None:
    dead = f"http://127.0.0.1:{_free_port()}"
    argv = ["run", "--server", dead, "--images", "4", "--retries", "0"]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    assert exit_info.value.code == 3  # the default --max-fallback-rate is 0
    assert "ALL ran mobile-only (fallback)" in " ".join(out.split())
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: 4 of 4 inferences fell back"), err
    assert "cannot reach" in lines[0]
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--max-fallback-rate", "1"])  # allowed: exit 0, still loud
    assert exit_info.value.code == 0
    assert "fell back" in capsys.readouterr().err
