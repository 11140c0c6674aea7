"""Measuring in the parent or a link worker: each mode's accuracy on the test split through
its deployed path (:func:`accuracy_counts`, :func:`merge_accuracy`), stage times in-process
(:func:`measure_compute`), and one emulated link with its side-by-side calibration
(:func:`measure_link`)."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from splitinfer.bundle import Bundle
from splitinfer.demo.config import MODES, NETWORK_MODES, DemoFailed
from splitinfer.demo.results import LinkRun, ModeSamples
from splitinfer.timing import time_rounds

# --- accuracy and stage times ---------------------------------------------------------


def encode_png(image: torch.Tensor) -> bytes:
    """One uint8 C x H x W image as the PNG ``EdgeRunner`` sends in cloud-only (its code)."""
    from splitinfer.edge.runner import encode_png as runner_png

    return runner_png(image)


def accuracy_counts(
    bundle: Bundle,
    images: torch.Tensor,
    labels: torch.Tensor,
    progress: Callable[[int], None] | None = None,
    batch_size: int = 500,
) -> dict[str, float]:
    """Correct predictions of each mode on ``images`` through that mode's deployed path
    (merge slices with :func:`merge_accuracy`); ``progress(units)`` counts 2 per image.

    Split: ``evaluate_bundle`` (one frame per image, decoded, batched cloud half).
    Cloud-only: the runner's PNG, decoded by the server's own decoder; where the pixels
    come back bitwise (PNG is lossless) ``bundle.full`` gets the very input mobile-only
    gets, so those logits are computed once for both (checked per image).
    """
    from splitinfer.cloud.images import decode_image
    from splitinfer.train.evaluate import evaluate_bundle

    n = len(images)
    split = evaluate_bundle(
        bundle, images, labels, batch_size=batch_size,
        progress=(lambda d, _t: progress(d)) if progress else None,
    )  # fmt: skip
    counts = {
        "images": n, "split": split["accuracy"] * n,
        "frame_bytes": split["mean_frame_bytes"] * n,
        "payload_bytes": split["mean_payload_bytes"] * n,
        "mobile-only": 0, "cloud-only": 0, "png_bytes": 0, "png_not_lossless": 0,
    }  # fmt: skip
    shape = bundle.spec.input_shape
    for start in range(0, n, batch_size):
        xb, yb = images[start : start + batch_size], labels[start : start + batch_size]
        pngs = [encode_png(im) for im in xb]
        counts["png_bytes"] += sum(len(p) for p in pngs)
        decoded = torch.cat([decode_image(p, shape) for p in pngs])
        with torch.no_grad():
            full = bundle.unsplit(bundle.spec.preprocess(xb)).argmax(1)
            same = decoded.eq(xb).flatten(1).all(1)
            cloud = full.clone()
            if not bool(same.all()):
                idx = (~same).nonzero().flatten()
                counts["png_not_lossless"] += len(idx)
                cloud[idx] = bundle.unsplit(bundle.spec.preprocess(decoded[idx])).argmax(1)
        counts["mobile-only"] += int((full == yb).sum())
        counts["cloud-only"] += int((cloud == yb).sum())
        if progress:
            progress(n + min(start + batch_size, n))
    return {k: float(v) for k, v in counts.items()}


def merge_accuracy(parts: Sequence[dict[str, float]], network: str = "") -> dict[str, Any]:
    """Each mode's top-1 and its path, from the counts of one or more slices; ``network``
    says what the baselines ran (:attr:`Bundle.baseline_label`)."""
    total = {k: sum(p[k] for p in parts) for k in parts[0]}
    n = int(total["images"])
    return {
        "split": {
            "accuracy": total["split"] / n, "images": n,
            "mean_frame_bytes": total["frame_bytes"] / n,
            "mean_payload_bytes": total["payload_bytes"] / n,
            "path": "edge.features -> codec.encode -> wire frame -> cloud.decode -> cloud.run",
        },
        "cloud-only": {
            "accuracy": total["cloud-only"] / n, "images": n,
            "mean_png_bytes": total["png_bytes"] / n,
            "png_not_lossless": int(total["png_not_lossless"]),
            "path": "EdgeRunner PNG -> server decode_image -> preprocess -> bundle.unsplit",
            "network": network,
        },
        "mobile-only": {
            "accuracy": total["mobile-only"] / n, "images": n,
            "path": "preprocess -> bundle.unsplit (on the device)",
            "network": network,
        },
        "slices": len(parts),
    }  # fmt: skip


def measure_accuracy(
    bundle: Bundle, images: torch.Tensor, labels: torch.Tensor,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """:func:`accuracy_counts` and :func:`merge_accuracy` in one process."""
    return merge_accuracy(
        [accuracy_counts(bundle, images, labels, progress)], bundle.baseline_label
    )


def _median_ms(fn: Callable[[int], object], repeats: int, warmup: int) -> float:
    return time_rounds(fn, repeats=repeats, warmup=warmup).median_ms


def _flops(fn: Callable[[], object]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def measure_compute(
    bundle: Bundle, images: torch.Tensor, repeats: int = 30, warmup: int = 5, passes: int = 3
) -> dict[str, float]:
    """Median ms of every stage run in-process on one image, and FLOPs of each half.

    Every stage is timed in ``passes`` passes over all the stages, and its figure is the
    smallest of its pass medians: a transient slowdown (another process, the VM's host)
    inflates one pass, not all. In demos on this 2-core VM one pass in three read the
    whole network at 3.0-3.9 ms where it takes 2.2 ms, and the model-only planner's
    mobile-only cell missed by 33-45% on that alone."""
    from splitinfer import wire
    from splitinfer.cloud.images import decode_image

    x = images[: repeats + warmup]
    m = len(x)
    prep = bundle.spec.preprocess
    z = [bundle.edge.features(x[i : i + 1]) for i in range(m)]
    frames = [bundle.edge.frame(z[i], i) for i in range(m)]
    dec = [bundle.cloud.decode(f)[1] for f in frames]
    pngs = [encode_png(x[i]) for i in range(m)]
    shape = bundle.spec.input_shape

    def full(i: int) -> object:
        with torch.no_grad():
            return bundle.unsplit(prep(x[i % m : i % m + 1])).argmax(1)

    stages: dict[str, Callable[[int], object]] = {
        "edge_ms": lambda i: bundle.edge.features(x[i % m : i % m + 1]),
        "encode_ms": lambda i: bundle.edge.frame(z[i % m], i),
        "decode_ms": lambda i: bundle.cloud.decode(frames[i % m]),
        "tail_ms": lambda i: bundle.cloud.run(dec[i % m]),
        "full_ms": full,
        "png_encode_ms": lambda i: encode_png(x[i % m]),
        "png_decode_ms": lambda i: prep(decode_image(pngs[i % m], shape)),
    }
    medians: dict[str, list[float]] = {k: [] for k in stages}
    for _ in range(max(1, passes)):
        for key, fn in stages.items():
            medians[key].append(_median_ms(fn, repeats, warmup))
    out = {
        **{key: min(v) for key, v in medians.items()},
        "frame_bytes_mean": sum(len(f) for f in frames) / m,
        "payload_bytes_mean": sum(len(wire.decode_frame(f)[1]) for f in frames) / m,
        "png_bytes_mean": sum(len(p) for p in pngs) / m,
        "flops_edge": _flops(lambda: bundle.edge.features(x[:1])),
        "flops_cloud": _flops(lambda: bundle.cloud.run(dec[0])),
        "flops_full": _flops(lambda: bundle.unsplit(prep(x[:1]))),
        "torch_threads": torch.get_num_threads(),
        "repeats": repeats,
        "passes": max(1, passes),
    }
    return out


# --- one link -------------------------------------------------------------------------


def measure_link(
    bundle: Bundle,
    upstream: tuple[str, int],
    settings: Any,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    warmup: int = 5,
    timeout_s: float = 10.0,
    tick: Callable[[], None] | None = None,
    calibrate: bool = True,
    device: Any = None,
) -> LinkRun:
    """Send every image in every mode through a LinkShaper with ``settings`` in front of
    ``upstream``; the paths are interleaved per image (see :func:`_path_order`).

    With ``calibrate``, each image also goes cloud-only and split through an *unshaped*
    proxy (no rate limit, no delay), and once more mobile-only, side by side: the same
    stages under the same load without the link, which the planner's calibrated inputs
    are made of. Each network path
    has its own runner (one keep-alive connection through its emulator, opened during
    warm-up in path order), so the emulators' per-connection counters give each path's
    bytes on the wire. No retries and no fallback: a failed request raises.
    ``device``: a :class:`splitinfer.device.DeviceEmulation` the edge's work runs under
    (the emulators' threads start outside it).
    """
    from splitinfer.edge import EdgeRunner
    from splitinfer.net import LinkSettings, LinkShaper

    shapers = {"": LinkShaper.from_settings(settings, ("127.0.0.1", 0), upstream)}
    if calibrate:
        flat = LinkSettings(math.inf, math.inf, 0.0, settings.burst_bytes, "loopback")
        shapers[LOOPBACK] = LinkShaper.from_settings(flat, ("127.0.0.1", 0), upstream)
    paths = [*MODES, *([LOOPBACK + m for m in MODES] if calibrate else [])]
    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        with device.outside() if device is not None else contextlib.nullcontext():
            ports = {k: stack.enter_context(sh.running()) for k, sh in shapers.items()}
        runners = {}
        for p in paths:
            prefix, mode = _split_path(p)
            url = None if mode == "mobile-only" else f"http://127.0.0.1:{ports[prefix]}"
            runners[p] = stack.enter_context(
                EdgeRunner(
                    bundle, url, retries=0, fallback=False, timeout_s=timeout_s, device=device
                )
            )
        for p in paths:  # warm-up; opens each emulator's connections in NETWORK_MODES order
            for i in range(max(warmup, 1)):
                runners[p].infer(images[i % len(images)], _split_path(p)[1])  # type: ignore[arg-type]
        conns = {}
        for prefix, sh in shapers.items():
            opened = sh.connections
            if len(opened) != len(NETWORK_MODES):
                raise DemoFailed(f"expected one connection per network mode, saw {len(opened)}")
            conns.update({prefix + m: c.id for m, c in zip(NETWORK_MODES, opened, strict=True)})

        def counters() -> dict[str, tuple[int, int]]:
            by_id = {(prefix, c.id): c for prefix, sh in shapers.items() for c in sh.connections}
            return {
                p: (
                    by_id[(_split_path(p)[0], cid)].bytes_up,
                    by_id[(_split_path(p)[0], cid)].bytes_down,
                )
                for p, cid in conns.items()
            }

        base = counters()
        samples = {p: ModeSamples(_split_path(p)[1]) for p in paths}
        for i in range(len(images)):
            for p in _path_order(i, calibrate):
                result = runners[p].infer(images[i], _split_path(p)[1])  # type: ignore[arg-type]
                samples[p].add(result, int(labels[i]))
            if tick:
                tick()
        for p, (up, down) in counters().items():
            samples[p].wire_up = (up - base[p][0]) / len(images)
            samples[p].wire_down = (down - base[p][1]) / len(images)
    s = shapers[""].settings
    info = {
        "name": s.name, "up_mbps": s.up_mbps, "down_mbps": s.down_mbps, "rtt_ms": s.rtt_ms,
        "burst_bytes": s.burst_bytes, "trace": s.trace, "loss": s.loss,
    }  # fmt: skip
    return LinkRun(
        s.name, info, {m: samples[m] for m in MODES}, time.perf_counter() - t0,
        {m: samples[LOOPBACK + m] for m in MODES} if calibrate else {},
        device.to_json() if device is not None else None,
    )  # fmt: skip


LOOPBACK = "loopback:"


def _path_order(i: int, calibrate: bool) -> list[str]:
    """The paths for image ``i``: cloud-only and split swap places every image, mobile-only
    runs between them, and each calibration twin follows what its original follows (the
    twin of mobile-only runs right after a request over the link too: compute after a
    long wait is slower, with caches cold, than right after a short request)."""
    a, b = NETWORK_MODES if i % 2 == 0 else NETWORK_MODES[::-1]
    order = [a, "mobile-only", b]
    if calibrate:
        order += [LOOPBACK + "mobile-only", LOOPBACK + a, LOOPBACK + b]
    return order


def _split_path(path: str) -> tuple[str, str]:
    """``"loopback:split"`` -> ``("loopback:", "split")``; ``"split"`` -> ``("", "split")``."""
    if path.startswith(LOOPBACK):
        return LOOPBACK, path[len(LOOPBACK) :]
    return "", path
