"""Real frames with known answers: Fashion-MNIST test images through a bundle's edge half.

A :class:`Workload` holds a pool of test images, their payloads (``bundle.edge``) and the
prediction the server must give for each (the argmax of the in-process
``bundle.cloud.decode_and_run``). Request ``i`` carries image ``i % pool``: the payload is
reused and only the request id changes, so any number of distinct requests is cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from splitinfer import wire
from splitinfer.bundle import Bundle, default_bundle_path


@dataclass
class Workload:
    """Frames for one bundle and the answers they must get."""

    bundle: Bundle
    bundle_dir: Path
    images: torch.Tensor  # uint8 (pool, C, H, W)
    payloads: list[bytes]
    expected: list[int]  # split path: argmax of bundle.cloud.decode_and_run
    expected_full: list[int]  # mobile-only fallback: argmax of bundle.full

    @property
    def bundle_id(self) -> str:
        return self.bundle.spec.id

    @property
    def infer_path(self) -> str:
        return f"/v1/bundles/{self.bundle_id}/infer"

    def __len__(self) -> int:
        return len(self.payloads)

    def frame(self, request_id: int) -> bytes:
        """The compact frame of request ``request_id`` (image ``request_id % pool``)."""
        header = wire.FrameHeader(request_id=request_id, bundle=self.bundle.fingerprint)
        return wire.encode_frame(header, self.payloads[request_id % len(self)])

    def answer(self, request_id: int) -> int:
        """The class the server must return first for ``request_id``."""
        return self.expected[request_id % len(self)]


def load_workload(bundle_dir: Path | None = None, pool: int = 256) -> Workload:
    """The first ``pool`` Fashion-MNIST test images through ``bundle_dir`` (default bundle)."""
    from splitinfer.data import load_fashion_mnist

    return workload_of(bundle_dir, load_fashion_mnist("test")[0][:pool])


def workload_of(bundle_dir: Path | None, images: torch.Tensor) -> Workload:
    """``images`` (uint8, N x C x H x W) through ``bundle_dir`` (default bundle): their
    payloads and the answers the server must give."""
    folder = Path(bundle_dir) if bundle_dir is not None else default_bundle_path()
    bundle = Bundle.load(folder)
    frames = bundle.edge.encode(images)
    payloads = [wire.decode_frame(f)[1] for f in frames]
    expected = [int(bundle.cloud.decode_and_run(f).argmax()) for f in frames]
    with torch.no_grad():
        full = bundle.full(bundle.spec.preprocess(images)).argmax(1).tolist()
    return Workload(bundle, folder, images, payloads, expected, [int(c) for c in full])
