"""Malicious bundles are refused with a clear typed error by ``Bundle.load`` and by
``splitinfer serve`` (``python -m reliability.bundles`` runs serve as a subprocess)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reliability import bundles as rb
from splitinfer.cli import main
from splitinfer.harness.workload import Workload

pytestmark = pytest.mark.integration  # starts servers, subprocesses or heavy tools

SYMLINKS_OUT = {"weights symlink out of the bundle", "spec symlink out of the bundle"}
SERVE_CASES = {
    "spec is not JSON",
    "id with a path (traversal)",
    "weights tampered (one byte)",
    "shape-mismatched weights, digest matching",
    "a pickle in place of the weights",
    "weights are a FIFO",
    "unknown model",
}
CASES = [c for c in rb.CASES if c.name not in SYMLINKS_OUT]


@pytest.fixture(autouse=True)
def _no_marker() -> None:
    (Path(rb.tempfile.gettempdir()) / rb.MARKER).unlink(missing_ok=True)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bundle_load_refuses(case: rb.Case, workload: Workload, tmp_path: Path) -> None:
    folder = rb.make_bad(case, workload.bundle_dir, tmp_path)
    refusal = rb.load_refusal(folder)
    assert refusal.startswith(f"[{case.code}]") and case.words in refusal, refusal
    assert not rb.pickle_ran()


@pytest.mark.parametrize("name", sorted(SERVE_CASES))
def test_serve_refuses_with_one_line(
    name: str,
    workload: Workload,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from splitinfer.cloud import server

    def accepted(*_: object) -> None:
        raise AssertionError("serve accepted a malicious bundle")

    monkeypatch.setattr(server, "make_server", accepted)
    case = next(c for c in rb.CASES if c.name == name)
    folder = rb.make_bad(case, workload.bundle_dir, tmp_path)
    with pytest.raises(SystemExit) as info:
        main(["serve", "--bundle", str(folder), "--port", "0"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "Traceback" not in err
    assert f"[{case.code}]" in " ".join(err.split())
    assert not rb.pickle_ran()


def test_bundle_load_refuses_symlinks_out_of_the_bundle(workload: Workload, tmp_path: Path) -> None:
    for case in (c for c in rb.CASES if c.name in SYMLINKS_OUT):
        refusal = rb.load_refusal(rb.make_bad(case, workload.bundle_dir, tmp_path))
        assert refusal.startswith("[bad_bundle]") and "symbolic link" in refusal, refusal
