"""The same training commands under `torchrun --nproc_per_node 2` on CPU (gloo): rank 0
writes the checkpoint, results and bundle; resume continues; the bundle loads as usual."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from splitinfer.bundle import Bundle

SPLITINFER = shutil.which("splitinfer") or str(Path(sys.executable).parent / "splitinfer")
DATA = ["--data", "synthetic:4,32", "--device", "cpu", "--workers", "0", "--batch-size", "8",
        "--threads", "1"]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def torchrun(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
               SPLITINFER, *args]  # fmt: skip
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": src, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.mark.skipif(not Path(SPLITINFER).exists(), reason="the splitinfer script is not installed")
def test_two_cpu_processes_train_resume_and_write_one_bundle(tmp_path: Path) -> None:
    bb = tmp_path / "bb"
    first = torchrun("train", "backbone", "--model", "fmnist_cnn", *DATA, "--epochs", "1",
                     "--out", str(bb))  # fmt: skip
    assert first.stdout.count("top-1") == 1  # only rank 0 reports
    assert "2 processes" in first.stdout and "synthetic" in first.stdout
    torchrun("train", "backbone", "--model", "fmnist_cnn", *DATA, "--epochs", "2",
             "--out", str(bb), "--resume")  # fmt: skip
    results = json.loads((bb / "results.json").read_text())
    assert results["world_size"] == 2 and results["epochs"] == 2
    assert [h["epoch"] for h in results["history"]] == [1, 2]  # epoch 1 came from the checkpoint
    assert results["data"].startswith("synthetic:4,32 (synthetic (generated images")

    done = torchrun("train", "units", "--model", "fmnist_cnn", *DATA, "--epochs", "1",
                    "--weights", str(bb / "weights.safetensors"), "--cut", "stage1",
                    "--channels", "2", "--codec", "learned:levels=4,tables=channel",
                    "--out", str(tmp_path / "units"), "--bundle", str(tmp_path / "bundle"),
                    "--bundle-id", "ddp-test")  # fmt: skip
    assert done.stdout.count("bundle ") == 1
    bundle = Bundle.load(tmp_path / "bundle")
    assert bundle.spec.id == "ddp-test" and bundle.spec.input_shape == (1, 28, 28)
    assert bundle.spec.classes == ("class0", "class1", "class2", "class3")
    x = torch.zeros(1, 1, 28, 28, dtype=torch.uint8)
    logits = bundle.cloud.run(bundle.cloud.decode(bundle.edge.frame(bundle.edge.features(x), 0))[1])
    assert logits.shape == (1, 4)


@pytest.mark.skipif(not Path(SPLITINFER).exists(), reason="the splitinfer script is not installed")
def test_a_port_in_use_is_pytorchs_own_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                   "--master_addr", "127.0.0.1", "--master_port", str(port), SPLITINFER,
                   "train", "backbone", "--model", "fmnist_cnn", *DATA, "--epochs", "1",
                   "--out", str(tmp_path / "bb")]  # fmt: skip
        src = str(Path(__file__).resolve().parents[2] / "src")
        env = {**os.environ, "PYTHONPATH": src, "OMP_NUM_THREADS": "1"}
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode != 0
    assert "EADDRINUSE" in done.stdout + done.stderr  # surfaced, not swallowed
    assert not (tmp_path / "bb" / "results.json").exists()
