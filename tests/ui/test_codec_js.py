"""The JavaScript coder (ui/static/codec.js) is bit-exact with Python on shared vectors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from splitinfer.ui import STATIC
from tests.ui.golden_codec import GOLDEN, generate

HERE = Path(__file__).resolve().parent


def test_golden_vectors_are_what_python_makes_now() -> None:
    fresh = generate()
    if os.environ.get("SPLITINFER_REGEN_GOLDEN"):
        GOLDEN.write_text(json.dumps(fresh))
    assert json.loads(GOLDEN.read_text()) == json.loads(json.dumps(fresh))


def test_the_js_coder_reproduces_them() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the JS coder is checked in Chromium only")
    run = subprocess.run(
        [node, str(HERE / "check_codec.mjs"), str(GOLDEN), str(STATIC / "codec.js")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert " 0 failed" in run.stdout
