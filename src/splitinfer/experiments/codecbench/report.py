"""One call that runs the whole codec benchmark: what ``splitinfer codecs bench`` wraps.

>>> from splitinfer.experiments.codecbench.report import run_benchmark
>>> report = run_benchmark(quick=True)
>>> print(report.format()); Path("out.json").write_text(report.to_json())
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch

from splitinfer.codecs.catalog import list_codecs
from splitinfer.codecs.pipeline import Pipeline
from splitinfer.experiments.codecbench.bench import (
    DEFAULT_SPECS,
    BenchRow,
    bench_codecs,
    format_table,
    real_features,
    rows_to_json,
)
from splitinfer.experiments.codecbench.entropy import EntropyReport, entropy_report
from splitinfer.experiments.codecbench.features import DEFAULT_CUTS, FeatureSet
from splitinfer.experiments.codecbench.fuzz import fuzz_decode
from splitinfer.timing import host_info

ENTROPY_SPECS = ("quant:bits=8|ans:model=hist", "quant:bits=8,clip=channel|ans:model=channel")
FUZZ_SPECS = (*list_codecs(), "quant:bits=4,clip=channel|ans", "quant:bits=12|png")


@dataclass
class BenchReport:
    """Rows, the ANS-vs-entropy check, the optional fuzz summary and the run's metadata."""

    rows: list[BenchRow]
    entropy: list[tuple[str, EntropyReport]]
    fuzz: dict[str, object] | None
    meta: dict[str, object] = field(default_factory=dict)

    def format(self) -> str:
        lines = [f"# {name}: {info}" for name, info in self._notes().items()]
        lines += [format_table(self.rows), "", "# ANS bits vs empirical entropy (first image)"]
        for name, e in self.entropy:
            lines.append(
                f"{name:22} {e.spec:46} model={e.model:8} body/H={e.body_over_entropy:.4f} "
                f"total/H={e.total_over_entropy:.4f} (H={e.entropy_bits / 8:.0f} B, "
                f"body={e.body_bits // 8} B, side={e.side_bits // 8} B, "
                f"header={e.header_bits // 8} B)"
            )
        if self.fuzz:
            lines.append(
                f"fuzz: {self.fuzz['count']} mutated payloads, only typed errors, "
                f"{self.fuzz['seconds']:.1f} s"
            )
        return "\n".join(lines)

    def _notes(self) -> dict[str, str]:
        features = self.meta.get("features", {})
        return {k: str(v) for k, v in features.items()} if isinstance(features, dict) else {}

    def to_json(self) -> str:
        entropy = [{"features": name, **e.to_dict()} for name, e in self.entropy]
        meta = {**self.meta, "entropy": entropy, "fuzz": self.fuzz}
        return rows_to_json(self.rows, meta)


def entropy_rows(sets: Sequence[FeatureSet]) -> list[tuple[str, EntropyReport]]:
    """:func:`entropy_report` on the first image of each feature set."""
    return [(fs.name, entropy_report(fs.tensor[:1], spec)) for fs in sets for spec in ENTROPY_SPECS]


def fuzz_summary(count: int) -> dict[str, object]:
    """Decode ``count`` mutated payloads spread over FUZZ_SPECS; typed errors only."""
    x = torch.randn(1, 8, 7, 7, generator=torch.Generator().manual_seed(0)).relu()
    per = -(-count // len(FUZZ_SPECS))
    start, per_spec = time.perf_counter(), {}
    for i, spec in enumerate(FUZZ_SPECS):
        codec = Pipeline(spec)
        stats = fuzz_decode(codec, codec.encode(x), per, seed=i)
        per_spec[spec] = {"count": stats.count, "decoded": stats.decoded, **stats.errors}
    seconds = time.perf_counter() - start
    return {"count": per * len(FUZZ_SPECS), "seconds": seconds, "per_spec": per_spec}


def run_benchmark(
    quick: bool = False,
    images: int = 8,
    repeats: int = 5,
    models: Sequence[str] = tuple(DEFAULT_CUTS),
    specs: Sequence[str] = DEFAULT_SPECS,
    weights: Mapping[str, str] | None = None,
    fuzz: int = 0,
    threads: int = 1,
    progress: Callable[[str, str], None] | None = None,
) -> BenchReport:
    """Build real features, benchmark ``specs`` on them, check ANS against entropy.

    ``quick``: 2 images and 3 repeats. ``threads``: torch intra-op threads during the run
    (1 by default: the codecs are single-threaded and extra torch threads only add
    wake-up stalls on small tensors on a busy host).
    """
    images, repeats = (2, 3) if quick else (images, repeats)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        sets = real_features(images, models, weights)
        rows = bench_codecs({fs.name: fs.tensor for fs in sets}, specs, repeats, 1, progress)
        entropy = entropy_rows(sets)
        fuzzed = fuzz_summary(fuzz) if fuzz else None
    finally:
        torch.set_num_threads(previous)
    meta: dict[str, object] = {
        "machine": host_info(),
        "threads": threads,
        "images": images,
        "repeats": repeats,
        "features": {fs.name: f"{tuple(fs.tensor.shape)} - {fs.note}" for fs in sets},
    }
    return BenchReport(rows, entropy, fuzzed, meta)
