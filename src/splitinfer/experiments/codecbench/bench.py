"""Measure codecs on named feature tensors: bytes, error, speed.

    >>> from splitinfer.experiments.codecbench import bench
    >>> sets = bench.real_features(n_images=4)            # real Fashion-MNIST features
    >>> rows = bench.bench_codecs({s.name: s.tensor for s in sets}, bench.DEFAULT_SPECS)
    >>> print(bench.format_table(rows)); open("out.json", "w").write(bench.rows_to_json(rows))

Following the evaluation protocol, each sample (one image's features, batch of 1) is
encoded on its own: bytes are the mean payload per sample, times the median over
``repeats`` runs (after ``warmup`` runs) of the per-sample time; MB/s is of the raw fp32
tensor. PSNR is relative to the tensor's range (max - min over all samples).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

import torch

from splitinfer.codecs.pipeline import Pipeline
from splitinfer.codecs.spec import SpecLike
from splitinfer.experiments.codecbench.features import FeatureSet, model_features, real_features
from splitinfer.timing import time_rounds

#: Every codec at representative settings.
DEFAULT_SPECS: tuple[str, ...] = (
    "raw:dtype=fp32",
    "raw:dtype=fp16",
    "raw:dtype=bf16",
    "raw:dtype=fp32|zstd:level=3",
    "raw:dtype=fp16|zstd:level=3",
    "raw:dtype=fp32|deflate:level=6",
    "quant:bits=8",
    "quant:bits=8,clip=channel",
    "quant:bits=4,clip=p99.9",
    "quant:bits=8|zstd:level=3",
    "quant:bits=8|deflate:level=6",
    "quant:bits=8|tile|png",
    "quant:bits=8,clip=p99.9|tile|jpeg:quality=90",
    "quant:bits=8,clip=p99.9|tile|jpeg:quality=50",
    "quant:bits=8,clip=p99.9|tile|jpeg:quality=20",
    "quant:bits=8,clip=p99.9|tile|webp:quality=75",
    "quant:bits=8,clip=p99.9|tile|avif:quality=60",
    "quant:bits=8,clip=p99.9|tile|jpegxl:distance=1.0",
    "quant:bits=8|tile|jpegxl:distance=0.0",
    "quant:bits=8|ans",
    "quant:bits=8,clip=channel|ans",
    "quant:bits=4,clip=p99.9|ans",
    "quant:bits=2,clip=p99.9|ans",
)


@dataclass(frozen=True)
class BenchRow:
    """One (features, codec) measurement; sizes and times are per sample."""

    features: str
    spec: str
    tolerance: str
    sample_shape: tuple[int, ...]
    samples: int
    raw_bytes: int
    payload_bytes: float
    ratio: float
    bits_per_element: float
    mse: float
    psnr_db: float
    max_abs_error: float
    encode_ms: float
    decode_ms: float
    encode_mbps: float
    decode_mbps: float


def _median_ms(fn: Callable[[], object], count: int, repeats: int, warmup: int) -> float:
    return time_rounds(lambda _: fn(), repeats=repeats, warmup=warmup, per_call=count).median_ms


def psnr_db(mse: float, peak: float) -> float:
    """10 log10(peak^2 / mse); inf for an exact reconstruction."""
    if mse == 0.0:
        return math.inf
    if peak == 0.0:
        return -math.inf
    return 10.0 * math.log10(peak * peak / mse)


def bench_one(
    name: str, x: torch.Tensor, spec: SpecLike, repeats: int = 5, warmup: int = 1
) -> BenchRow:
    """Measure one codec on ``x`` of shape (N, ...), one sample (x[i:i+1]) at a time."""
    codec = Pipeline(spec)
    samples = [x[i : i + 1].contiguous() for i in range(x.shape[0])]
    payloads = [codec.encode(s) for s in samples]
    decoded = torch.cat([codec.decode(p) for p in payloads]).float()
    err = decoded - x.float()
    mse = float(err.pow(2).mean())
    peak = float(x.max() - x.min())
    enc_ms = _median_ms(lambda: [codec.encode(s) for s in samples], len(samples), repeats, warmup)
    dec_ms = _median_ms(lambda: [codec.decode(p) for p in payloads], len(samples), repeats, warmup)
    raw = samples[0].numel() * 4
    mean_bytes = sum(len(p) for p in payloads) / len(payloads)
    return BenchRow(
        features=name,
        spec=str(codec.spec),
        tolerance=codec.tolerance,
        sample_shape=tuple(samples[0].shape),
        samples=len(samples),
        raw_bytes=raw,
        payload_bytes=mean_bytes,
        ratio=raw / mean_bytes,
        bits_per_element=8 * mean_bytes / samples[0].numel(),
        mse=mse,
        psnr_db=psnr_db(mse, peak),
        max_abs_error=float(err.abs().max()),
        encode_ms=enc_ms,
        decode_ms=dec_ms,
        encode_mbps=raw / 1e6 / (enc_ms / 1000.0),
        decode_mbps=raw / 1e6 / (dec_ms / 1000.0),
    )


def bench_codecs(
    features: Mapping[str, torch.Tensor],
    specs: Sequence[SpecLike] = DEFAULT_SPECS,
    repeats: int = 5,
    warmup: int = 1,
    progress: Callable[[str, str], None] | None = None,
) -> list[BenchRow]:
    """:func:`bench_one` for every (features, spec) pair, features outermost."""
    rows = []
    for name, x in features.items():
        for spec in specs:
            if progress:
                progress(name, str(spec))
            rows.append(bench_one(name, x, spec, repeats, warmup))
    return rows


def _json_safe(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, tuple):
        return list(value)
    return value


def rows_to_json(rows: Sequence[BenchRow], meta: Mapping[str, object] | None = None) -> str:
    """JSON text ``{"meta": ..., "rows": [...]}``; infinite PSNR is written as "inf"."""
    data = [{k: _json_safe(v) for k, v in asdict(r).items()} for r in rows]
    return json.dumps({"meta": dict(meta or {}), "rows": data}, indent=2)


def format_table(rows: Sequence[BenchRow]) -> str:
    """A fixed-width text table of the rows."""
    head = f"{'features':22} {'codec':56} {'bytes':>9} {'ratio':>7} {'bpe':>6} "
    head += f"{'PSNR dB':>8} {'maxerr':>8} {'enc ms':>8} {'dec ms':>8} {'enc MB/s':>9}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.features:22.22} {r.spec:56.56} {r.payload_bytes:9.1f} {r.ratio:7.1f} "
            f"{r.bits_per_element:6.3f} {r.psnr_db:8.2f} {r.max_abs_error:8.4f} "
            f"{r.encode_ms:8.3f} {r.decode_ms:8.3f} {r.encode_mbps:9.1f}"
        )
    return "\n".join(lines)


__all__ = [
    "DEFAULT_SPECS",
    "BenchRow",
    "FeatureSet",
    "bench_codecs",
    "bench_one",
    "format_table",
    "model_features",
    "psnr_db",
    "real_features",
    "rows_to_json",
]
