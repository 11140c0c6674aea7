"""Evaluate a bundle the way it is deployed: encode -> frame -> decode, one image at a time.

The evaluation protocol of DESIGN.md section 5: top-1 on the real path (not the training
proxy), with the mean bytes of the actual frame (header included) and of its payload,
and the median time to encode + frame and to unframe + decode one image's feature.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable
from typing import Any

import torch

from splitinfer import wire
from splitinfer.bundle import Bundle


def evaluate_bundle(
    bundle: Bundle,
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int = 250,
    progress: Callable[[int, int], None] | None = None,
    rate: int = 0,
) -> dict[str, Any]:
    """Accuracy through real frames, mean frame / payload bytes, codec times per image.

    ``images`` are uint8 N x C x H x W. Each image is encoded into its own frame (as a
    device would send it); decoded features are batched for the cloud half only.
    ``rate``: the rate point of a multi-rate bundle to measure.
    """
    batches = (
        (images[i : i + batch_size], labels[i : i + batch_size])
        for i in range(0, len(images), batch_size)
    )
    return evaluate_bundle_stream(bundle, batches, len(images), progress, rate=rate)


def evaluate_bundle_stream(
    bundle: Bundle,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    total: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    skipped: Callable[[], int] | None = None,
    rate: int = 0,
) -> dict[str, Any]:
    """:func:`evaluate_bundle` over batches of (uint8 images, labels) that stream from disk.

    ``total``: the expected image count, for progress only. ``skipped``: reads the count
    of unreadable images the stream dropped, reported as ``skipped_images``.
    """
    correct = frame_bytes = payload_bytes = session_bytes = n = 0
    estimate = getattr(bundle.rate_codec(rate), "estimate_bits", None)  # learned-prior codecs
    estimated_bits = 0.0
    encode_ms: list[float] = []
    decode_ms: list[float] = []
    t_start = time.perf_counter()
    for images, labels in batches:
        if len(images) == 0:
            continue
        z = bundle.edge.features(images, rate)
        decoded = []
        for i in range(len(z)):
            t0 = time.perf_counter()
            frame = bundle.edge.frame(z[i : i + 1], n + i, rate)
            t1 = time.perf_counter()
            decoded.append(bundle.cloud.decode(frame)[1])
            t2 = time.perf_counter()
            encode_ms.append((t1 - t0) * 1e3)
            decode_ms.append((t2 - t1) * 1e3)
            if estimate is not None:
                estimated_bits += estimate(z[i : i + 1])
            frame_bytes += len(frame)
            payload = len(wire.decode_frame(frame)[1])
            payload_bytes += payload
            session_bytes += wire.session_message_bytes(payload)
        logits = bundle.cloud.run(torch.cat(decoded), rate)
        correct += int((logits.argmax(1) == labels).sum())
        n += len(images)
        if progress:
            progress(n, max(total or n, n))
    count = max(n, 1)
    bits: dict[str, Any] = {}
    if estimate is not None:
        # what the bundle's probability tables promise vs what the coder sent
        bits = {
            "mean_estimated_payload_bits": estimated_bits / count,
            "mean_actual_payload_bits": 8 * payload_bytes / count,
        }
    extra = {"skipped_images": skipped()} if skipped is not None else {}
    return {
        "accuracy": correct / count,
        "images": n,
        **extra,
        "mean_frame_bytes": frame_bytes / count,
        "mean_payload_bytes": payload_bytes / count,
        "mean_session_bytes": session_bytes / count,
        **bits,
        "encode_ms_median": statistics.median(encode_ms) if encode_ms else 0.0,
        "decode_ms_median": statistics.median(decode_ms) if decode_ms else 0.0,
        "seconds": round(time.perf_counter() - t_start, 1),
        "path": "edge.features -> codec.encode -> wire frame -> cloud.decode -> cloud.run",
    }
