"""Where training runs: the device, mixed precision, and the distributed process group.

    --device auto|cpu|cuda[:N]   ->  torch.device (auto: CUDA when present, else CPU)
    torchrun --nproc_per_node K  ->  one process per rank; NCCL on CUDA, gloo on CPU

Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) the process group is created
here; its errors (a bad world size, a port in use) are PyTorch's own and are not caught.
Only rank 0 logs, checkpoints and writes results or bundles (:attr:`Runtime.is_main`).
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from splitinfer.errors import BadInput

DEVICES = "auto | cpu | cuda | cuda:N"


def resolve_device(spec: str) -> torch.device:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N``; CUDA asked for where there is none: BadInput."""
    spec = spec.strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or (spec.startswith("cuda:") and spec[5:].isdigit()):
        if not torch.cuda.is_available():
            raise BadInput(
                f"--device {spec}: no CUDA device is available here (torch "
                f"{torch.__version__}, CUDA build: {torch.version.cuda or 'none'}); "
                "use --device cpu or auto"
            )
        index = int(spec[5:]) if ":" in spec else 0
        if index >= torch.cuda.device_count():
            raise BadInput(f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s)")
        return torch.device("cuda", index)
    raise BadInput(f"unknown device {spec!r}; use {DEVICES}")


@dataclass(frozen=True)
class Runtime:
    """The device, whether bf16 autocast is on, and this process's rank among ``world``."""

    device: torch.device
    amp: bool = False
    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """bf16 autocast on CUDA when ``amp``; a no-op otherwise."""
        if self.amp and self.cuda:
            with torch.autocast("cuda", dtype=torch.bfloat16):
                yield
        else:
            yield

    def barrier(self) -> None:
        if self.distributed:
            torch.distributed.barrier()


CPU = Runtime(torch.device("cpu"))


def start(device: str = "auto", amp: bool = True) -> Runtime:
    """The runtime for this process; joins the torchrun process group when there is one."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Runtime(resolve_device(device), amp=amp)
    import torch.distributed as dist

    resolved = resolve_device(device)
    if resolved.type == "cuda":
        resolved = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(resolved)
    if not dist.is_initialized():
        # generous: rank 0 evaluates and checkpoints while the others wait at a barrier
        dist.init_process_group(
            "nccl" if resolved.type == "cuda" else "gloo", timeout=datetime.timedelta(hours=2)
        )
    return Runtime(resolved, amp=amp, rank=dist.get_rank(), world=dist.get_world_size())


def stop(runtime: Runtime) -> None:
    """Leave the process group (a no-op for one process)."""
    if runtime.distributed and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
