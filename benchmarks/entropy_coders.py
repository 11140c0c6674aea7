"""The learned codec's two entropy coders side by side: exact (big-integer arithmetic)
and range (constriction, compiled), at 128 to 2**20 symbols.

Each row codes one latent of 4-level symbols drawn from skewed integer tables (one table
per element, 2**16 total per row, as a trained bundle holds them; ``--tables bundle``
uses the shipped default bundle's own tables at 128 symbols). Times are medians of
``--repeats`` runs after warm-up, one torch thread, for ``codec.encode(feature)`` and
``codec.decode(payload)`` (tensor in and out, as a bundle calls them). Bytes are the
payload; ``info`` is the information content of the symbols under the tables,
``sum(-log2 p)`` / 8. "hostile decode" times decoding random bytes as long as the
longest message the decoder accepts (valid symbols or a typed error, either way the
decoder's worst case in length). The exact coder refuses more than 4,096 symbols (its cost grows
with the square of the count), so its larger rows say so.

    python benchmarks/entropy_coders.py [--repeats 50] [--json out.json]

The check the docs quote: an 8 x 28 x 28 latent (6,272 symbols) must encode and decode
in at most 1 ms each with the range coder, in at most 1% + 2 B over the information.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from splitinfer import codecs
from splitinfer.bottleneck.prior import quantize_pmf
from splitinfer.bundle import STAGE1_BUNDLE_ID, Bundle, shipped_bundle_path
from splitinfer.codecs import CodecState, arith, rangecoder
from splitinfer.errors import BadCodecSpec, CodecError
from splitinfer.timing import host_info

SHAPES: list[tuple[tuple[int, int, int], str]] = [
    ((8, 4, 4), "element"),  # 128: the default bundle's latent
    ((16, 8, 8), "element"),  # 1,024
    ((16, 16, 16), "element"),  # 4,096: the exact coder's cap
    ((8, 28, 28), "element"),  # 6,272: the 8 x 28 x 28 check
    ((64, 40, 40), "element"),  # 102,400
    ((4, 512, 512), "channel"),  # 2**20, one table per channel
]


def _median_ms(fn: Callable[[], Any], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def _try_decode(codec: Any, payload: bytes) -> None:
    """Decode hostile bytes: valid symbols or a typed error, either way timed."""
    with contextlib.suppress(CodecError):
        codec.decode(payload)


def _latent(
    shape: tuple[int, int, int], mode: str, use_bundle: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """(tables, feature) for one latent: symbols drawn from the tables."""
    c, h, w = shape
    rows = c if mode == "channel" else c * h * w
    g = torch.Generator().manual_seed(rows)
    # the stage1 bundle's tables are the real ones for the (8, 4, 4) latent measured here
    stage1 = shipped_bundle_path(STAGE1_BUNDLE_ID)
    prior = Bundle.load(stage1).model.prior if use_bundle else None
    if prior is not None and tuple(prior.shape) == shape and mode == "element":
        freqs = prior.freqs.clone()
    else:
        freqs = quantize_pmf(torch.softmax(torch.randn(rows, 4, generator=g) * 2, dim=1)).int()
    per_row = h * w if mode == "channel" else 1
    probs = freqs.double().repeat_interleave(per_row, dim=0)
    q = torch.multinomial(probs, 1, generator=g).reshape(1, c, h, w)
    return freqs, q.float() / 3


def measure(repeats: int, use_bundle: bool) -> list[dict[str, Any]]:
    rows = []
    for shape, mode in SHAPES:
        freqs, z = _latent(shape, mode, use_bundle)
        n = z.numel()
        for coder in ("exact", "range"):
            spec = f"learned:levels=4,tables={mode},coder={coder}"
            row: dict[str, Any] = {"symbols": n, "tables": mode, "coder": coder}
            try:
                codec = codecs.create(spec, state=CodecState(shape, freqs))
            except BadCodecSpec:
                row["note"] = "over the exact coder's 4,096-symbol cap"
                rows.append(row)
                continue
            payload = codec.encode(z)
            if not torch.equal(codec.decode(payload), z):
                raise SystemExit(f"round trip failed: {spec} at {n} symbols")
            info = codec.estimate_bits(z) / 8  # type: ignore[attr-defined]
            reps = max(3, repeats // 10) if coder == "exact" and n > 1024 else repeats
            longest = (
                arith.max_message_bytes(n) if coder == "exact" else rangecoder.max_message_bytes(n)
            )
            junk = torch.randint(0, 256, (longest,), generator=torch.Generator().manual_seed(n))
            hostile = bytes(junk.to(torch.uint8).tolist())
            row |= {
                "encode_ms": _median_ms(lambda c=codec, x=z: c.encode(x), reps),
                "decode_ms": _median_ms(lambda c=codec, p=payload: c.decode(p), reps),
                "hostile_decode_ms": _median_ms(lambda c=codec, h=hostile: _try_decode(c, h), reps),
                "hostile_bytes": longest,
                "bytes": len(payload),
                "info_bytes": info,
                "over_info": len(payload) - info,
            }
            rows.append(row)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    out = [
        "| symbols | tables | coder | encode ms | decode ms | bytes | information (B) | over "
        "| hostile decode ms (longest message) |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "note" in r:
            out.append(f"| {r['symbols']:,} | {r['tables']} | {r['coder']} | {r['note']} |||||")
            continue
        pct = 100 * r["over_info"] / r["info_bytes"] if r["info_bytes"] else 0.0
        out.append(
            f"| {r['symbols']:,} | {r['tables']} | {r['coder']} | {r['encode_ms']:.3f} | "
            f"{r['decode_ms']:.3f} | {r['bytes']:,} | {r['info_bytes']:,.1f} | "
            f"{r['over_info']:+.1f} B ({pct:+.2f}%) | "
            f"{r['hostile_decode_ms']:.3f} ({r['hostile_bytes']:,} B) |"
        )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=50, help="timed runs per cell")
    parser.add_argument(
        "--tables",
        choices=("random", "bundle"),
        default="bundle",
        help="'bundle': the default bundle's own tables for the 128-symbol row",
    )
    parser.add_argument("--json", type=Path, help="also write the rows and machine here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = measure(args.repeats, args.tables == "bundle")
    print(table(rows))
    check = next(r for r in rows if r["symbols"] == 6272 and r["coder"] == "range")
    ok = (
        check["encode_ms"] <= 1
        and check["decode_ms"] <= 1
        and check["over_info"] <= 0.01 * check["info_bytes"] + 2
    )
    print(
        f"\n8x28x28 (6,272 symbols), range coder: encode {check['encode_ms']:.3f} ms, "
        f"decode {check['decode_ms']:.3f} ms, {check['bytes']} B vs "
        f"{check['info_bytes']:.1f} B information: {'within' if ok else 'OUTSIDE'} "
        "1 ms each and 1% + 2 B"
    )
    info = host_info()
    print(f"machine: {info}")
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
