"""The cloud-only family: the input image through an image codec (PNG / WebP / JPEG), decoded
and classified by the unsplit model."""

from __future__ import annotations

import io
import re
import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from splitinfer import wire
from splitinfer.errors import BadInput

#: The cloud-only codecs: ``png``, ``webp-lossless``, ``jpeg:quality=Q``, ``webp:quality=Q``.
IMAGE_CODECS = ("png", "webp-lossless", "jpeg:quality=Q", "webp:quality=Q")


def image_codec(spec: str) -> tuple[str, dict[str, Any]]:
    """A cloud-only codec spec -> (Pillow format, save arguments)."""
    name, _, arg = spec.partition(":")
    if name == "png" and not arg:
        return "PNG", {"optimize": True}
    if name == "webp-lossless" and not arg:
        return "WEBP", {"lossless": True, "quality": 100, "method": 6}
    if name in ("jpeg", "webp"):
        match = re.fullmatch(r"quality=(\d+)", arg)
        if match and 1 <= int(match.group(1)) <= 100:
            q = int(match.group(1))
            if name == "jpeg":
                return "JPEG", {"quality": q, "optimize": True}
            return "WEBP", {"quality": q, "method": 6}
    raise BadInput(f"unknown cloud-only codec {spec!r}; known: {', '.join(IMAGE_CODECS)}")


def encode_image(image: torch.Tensor, fmt: str, save_args: Mapping[str, Any]) -> bytes:
    """One uint8 C x H x W image (C = 1 or 3) -> image file bytes."""
    from PIL import Image

    array = image.permute(1, 2, 0).numpy()
    buf = io.BytesIO()
    Image.fromarray(array[..., 0] if array.shape[2] == 1 else array).save(buf, fmt, **save_args)
    return buf.getvalue()


def decode_image(data: bytes, fmt: str, channels: int) -> torch.Tensor:
    """Image file bytes (of format ``fmt`` only) -> uint8 C x H x W."""
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(data), formats=[fmt]) as im:
        array = np.asarray(im.convert("L" if channels == 1 else "RGB"), dtype=np.uint8)
    t = torch.from_numpy(array.copy())
    return t.unsqueeze(0) if channels == 1 else t.permute(2, 0, 1).contiguous()


@torch.no_grad()
def measure_cloud_only(
    model: nn.Module,
    normalize: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    labels: torch.Tensor,
    codec: str,
    batch_size: int = 250,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """The cloud-only baseline: each image encoded on its own, decoded, classified unsplit.

    Same keys as :func:`splitinfer.train.evaluate.evaluate_bundle`; the frame bytes add the
    compact frame's overhead to the image file (see :data:`BYTES_NOTE`).
    """
    fmt, args = image_codec(codec)
    model.eval()
    correct = frame_bytes = payload_bytes = session_bytes = 0
    enc_ms: list[float] = []
    dec_ms: list[float] = []
    t_start = time.perf_counter()
    for start in range(0, len(images), batch_size):
        decoded = []
        for i in range(start, min(start + batch_size, len(images))):
            t0 = time.perf_counter()
            data = encode_image(images[i], fmt, args)
            t1 = time.perf_counter()
            decoded.append(decode_image(data, fmt, images.shape[1]))
            t2 = time.perf_counter()
            enc_ms.append((t1 - t0) * 1e3)
            dec_ms.append((t2 - t1) * 1e3)
            payload_bytes += len(data)
            session_bytes += wire.session_message_bytes(len(data))
            header = wire.FrameHeader(request_id=i, bundle=0)
            frame_bytes += len(data) + wire.frame_overhead(header, len(data))
        logits = model(normalize(torch.stack(decoded)))
        correct += int((logits.argmax(1) == labels[start : start + len(decoded)]).sum())
        if progress:
            progress(start + len(decoded), len(images))
    n = max(len(images), 1)
    return {
        "accuracy": correct / n,
        "images": len(images),
        "mean_frame_bytes": frame_bytes / n,
        "mean_payload_bytes": payload_bytes / n,
        "mean_session_bytes": session_bytes / n,
        "encode_ms_median": statistics.median(enc_ms) if enc_ms else 0.0,
        "decode_ms_median": statistics.median(dec_ms) if dec_ms else 0.0,
        "seconds": round(time.perf_counter() - t_start, 1),
        "path": f"image -> {fmt} -> decode -> unsplit model",
    }
