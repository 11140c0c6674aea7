"""Malicious bundles: each one must be refused, with a clear typed error, by
``Bundle.load`` and by ``splitinfer serve`` (exit status 2, one line, no traceback).

    python -m reliability.bundles              # every case, serve as a subprocess

Every case starts from a copy of a good bundle and breaks one thing: the spec (not JSON,
wrong types, out-of-range shapes, a path in the id, an unknown codec or model), the
weights (tampered, shape-mismatched with a matching digest, an extra tensor, a pickle in
their place, random bytes), or the files themselves (symlinks out of the bundle, a FIFO,
a device, a missing file, an oversized spec).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from reliability.load import machine
from splitinfer.bundle import SPEC_FILE, WEIGHTS_FILE, Bundle, default_bundle_path
from splitinfer.errors import SplitInferError
from splitinfer.harness.server import SERVE, free_port

Breaker = Callable[[Path], None]
MARKER = "splitinfer-pickle-ran"  # a file the pickle payload would create if unpickled


@dataclass(frozen=True)
class Case:
    """One way to break a bundle, and the error code and words the refusal must carry."""

    name: str
    breaker: Breaker
    code: str
    words: str


def _spec(folder: Path) -> dict[str, Any]:
    return dict(json.loads((folder / SPEC_FILE).read_text()))


def _edit_spec(**changes: Any) -> Breaker:
    def breaker(folder: Path) -> None:
        data = _spec(folder)
        for dotted, value in changes.items():
            where = data
            *path, last = dotted.split("__")
            for key in path:
                where = where[key]
            where[last] = value
        (folder / SPEC_FILE).write_text(json.dumps(data))

    return breaker


def _write(name: str, content: bytes) -> Breaker:
    def breaker(folder: Path) -> None:
        (folder / name).unlink()
        (folder / name).write_bytes(content)

    return breaker


def _symlink(name: str, target: str | Callable[[Path], Path]) -> Breaker:
    def breaker(folder: Path) -> None:
        dest = target(folder) if callable(target) else Path(target)
        (folder / name).unlink()
        (folder / name).symlink_to(dest)

    return breaker


def _outside_copy(name: str) -> Callable[[Path], Path]:
    """The bundle's own file moved next to the bundle (outside it): valid content."""

    def target(folder: Path) -> Path:
        dest = folder.parent / f"{folder.name}-outside-{name}"
        shutil.copyfile(folder / name, dest)
        return dest

    return target


def _fifo(name: str) -> Breaker:
    def breaker(folder: Path) -> None:
        (folder / name).unlink()
        os.mkfifo(folder / name)

    return breaker


def _safetensors_with_digest(mutate: Callable[[dict[str, Any]], None]) -> Breaker:
    """Rewrite the weights through ``mutate`` and put their true digest in the spec, so
    only the shape / name checks behind the digest can refuse them."""

    def breaker(folder: Path) -> None:
        from safetensors.torch import load_file, save_file

        from splitinfer.bundle import _digest

        state = load_file(str(folder / WEIGHTS_FILE))
        mutate(state)
        save_file(state, str(folder / WEIGHTS_FILE))
        data = _spec(folder)
        data["weights_sha256"] = _digest(state)
        (folder / SPEC_FILE).write_text(json.dumps(data))

    return breaker


def _shrink_one(state: dict[str, Any]) -> None:
    key = next(k for k in sorted(state) if k.startswith("model.") and state[k].dim() >= 2)
    state[key] = state[key][:1].contiguous()


def _extra_tensor(state: dict[str, Any]) -> None:
    import torch

    state["evil.payload"] = torch.zeros(4)


class _PickleBomb:
    """Unpickling this creates the MARKER file in the temp dir: proof that pickle ran."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (Path(tempfile.gettempdir()) / MARKER,))


def _tamper(folder: Path) -> None:
    data = bytearray((folder / WEIGHTS_FILE).read_bytes())
    data[-1] ^= 0xFF
    (folder / WEIGHTS_FILE).write_bytes(bytes(data))


def _remove(name: str) -> Breaker:
    return lambda folder: (folder / name).unlink()


CASES: tuple[Case, ...] = (
    Case("spec is not JSON", _write(SPEC_FILE, b"{not json"), "bad_bundle", "not valid JSON"),
    Case("spec is a JSON list", _write(SPEC_FILE, b"[]"), "bad_bundle", "JSON object"),
    Case("spec of another format", _edit_spec(format="splitinfer.bundle/99"), "bad_bundle",
         "unknown bundle format"),
    Case("id with a path (traversal)", _edit_spec(id="../../etc/passwd"), "bad_bundle",
         "no paths"),
    Case("absolute path as id", _edit_spec(id="/etc"), "bad_bundle", "no paths"),
    Case("input side of 100,000", _edit_spec(input__shape=[1, 100_000, 28]), "bad_bundle",
         "input shape"),
    Case("negative input side", _edit_spec(input__shape=[1, -28, 28]), "bad_bundle",
         "input shape"),
    Case("shape of strings", _edit_spec(input__shape=["a", "b", "c"]), "bad_bundle",
         "invalid bundle spec"),
    Case("class names do not match", _edit_spec(classes=["only-one"]), "bad_bundle",
         "class names"),
    Case("unit of ten million hidden channels", _edit_spec(unit__hidden=10_000_000),
         "bad_bundle", "must be <= 4096"),
    Case("200,000 classes", _edit_spec(classes=["c"] * 200_000, model__num_classes=200_000),
         "bad_bundle", "num_classes must be"),
    Case("unknown codec", _edit_spec(codec="evil:cmd=rm"), "bad_bundle", "evil"),
    Case("digest not hex", _edit_spec(weights_sha256="../" * 21 + "x"), "bad_bundle",
         "weights_sha256"),
    Case("unknown model", _edit_spec(model__name="os.system"), "unknown_model", "os.system"),
    Case("oversized spec (> 1 MiB)", _edit_spec(built_by="x" * (1 << 20)), "bad_bundle",
         "larger than"),
    Case("weights tampered (one byte)", _tamper, "bad_bundle", "weights_sha256"),
    Case("shape-mismatched weights, digest matching", _safetensors_with_digest(_shrink_one),
         "bad_bundle", "do not fit"),
    Case("an extra tensor, digest matching", _safetensors_with_digest(_extra_tensor),
         "bad_bundle", "unexpected tensor"),
    Case("a pickle in place of the weights", _write(WEIGHTS_FILE, pickle.dumps(_PickleBomb())),
         "bad_bundle", "cannot read"),
    Case("random bytes as weights", _write(WEIGHTS_FILE, os.urandom(4096)), "bad_bundle",
         "cannot read"),
    Case("weights missing", _remove(WEIGHTS_FILE), "bad_bundle", "missing"),
    Case("weights are a FIFO", _fifo(WEIGHTS_FILE), "bad_bundle", "missing"),
    Case("weights symlink to /dev/zero", _symlink(WEIGHTS_FILE, "/dev/zero"), "bad_bundle",
         "symbolic link"),
    Case("spec symlink to /etc/passwd", _symlink(SPEC_FILE, "/etc/passwd"), "bad_bundle",
         "symbolic link"),
    Case("weights symlink out of the bundle", _symlink(WEIGHTS_FILE, _outside_copy(WEIGHTS_FILE)),
         "bad_bundle", "symbolic link"),
    Case("spec symlink out of the bundle", _symlink(SPEC_FILE, _outside_copy(SPEC_FILE)),
         "bad_bundle", "symbolic link"),
)  # fmt: skip
"""Every way to break a bundle we check."""


def make_bad(case: Case, good: Path, root: Path) -> Path:
    """A copy of ``good`` under ``root``, broken as ``case`` says."""
    folder = root / case.name.replace(" ", "-").replace("/", "_")
    shutil.copytree(good, folder)
    case.breaker(folder)
    return folder


@dataclass
class Refusal:
    """How ``Bundle.load`` and ``splitinfer serve`` answered one broken bundle."""

    case: str
    load: str  # "[code] message", or "ACCEPTED"
    serve: str  # the server's one-line error, or what went wrong
    pickle_ran: bool
    passed: bool


def load_refusal(folder: Path) -> str:
    """``Bundle.load`` on ``folder``: its typed error as "[code] message", or ACCEPTED."""
    try:
        Bundle.load(folder)
    except SplitInferError as err:
        return f"[{err.code}] {err.message}"
    except Exception as err:
        return f"UNTYPED {type(err).__name__}: {err}"
    return "ACCEPTED"


def serve_refusal(folder: Path, timeout_s: float = 120.0) -> str:
    """``splitinfer serve --bundle folder`` as a subprocess: its error line, or a problem."""
    cmd = [*SERVE, "--bundle", str(folder), "--port", str(free_port())]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPLITINFER_")}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        return "ACCEPTED (still serving)"
    err = proc.stderr.strip()
    if proc.returncode != 2 or "Traceback" in err:
        return f"exit {proc.returncode}: {err[-500:]}"
    return " ".join(err.split())


def judge(case: Case, load: str, serve: str) -> bool:
    """Refused by both, with the expected code and words, and the pickle never ran."""
    ok_load = load.startswith(f"[{case.code}]") and case.words in load
    ok_serve = f"[{case.code}]" in serve and case.words.split()[0] in serve
    return ok_load and ok_serve


def pickle_ran() -> bool:
    return (Path(tempfile.gettempdir()) / MARKER).exists()


def run(good: Path, root: Path, cases: tuple[Case, ...] = CASES) -> list[Refusal]:
    out = []
    with_marker = Path(tempfile.gettempdir()) / MARKER
    with_marker.unlink(missing_ok=True)
    for case in cases:
        folder = make_bad(case, good, root)
        load, serve = load_refusal(folder), serve_refusal(folder)
        ran = pickle_ran()
        out.append(Refusal(case.name, load, serve, ran, judge(case, load, serve) and not ran))
        print(f"{'ok  ' if out[-1].passed else 'FAIL'} {case.name}: load {load[:110]} | "
              f"serve {serve[:110]}", flush=True)  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--bundle", type=Path, default=None, help="good bundle to break")
    p.add_argument("--json", type=Path, default=Path("reports/reliability/bundles.json"))
    args = p.parse_args(argv)
    good = args.bundle or default_bundle_path()
    with tempfile.TemporaryDirectory() as tmp:
        refusals = run(good, Path(tmp))
    ok = all(r.passed for r in refusals)
    out = {"machine": machine(), "bundle": str(good), "cases": [asdict(r) for r in refusals],
           "passed": ok, "digest_of_good_weights": hashlib.sha256(
               (good / WEIGHTS_FILE).read_bytes()).hexdigest()}  # fmt: skip
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1) + "\n")
    print(f"{'PASS' if ok else 'FAIL'}: {sum(r.passed for r in refusals)}/{len(refusals)} "
          f"refused as expected; wrote {args.json}")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
