#!/usr/bin/env python3
"""Generate the results block of docs/results.md from a `splitinfer bench` results.json.

    python scripts/readme_results.py                         # print the block (newest full run)
    python scripts/readme_results.py reports/2026-11-27/results.json
    python scripts/readme_results.py RESULTS --check         # exit 1 if the block is stale
    python scripts/readme_results.py RESULTS --write         # replace the block
    python scripts/readme_results.py --sweep docs/figures/sweep-fmnist-full.json \
        --doc README.md --check                              # the sweep's table

The block sits between `<!-- results:begin -->` and `<!-- results:end -->` in
docs/results.md (the README summarises it in ten lines and links there). With --sweep, the
rate-accuracy table of a `splitinfer sweep` sweep.json instead, between `<!-- sweep:begin -->`
and `<!-- sweep:end -->` (in the README and docs/results.md).
Without RESULTS the newest reports/<date>/results.json of a full (not --quick) run is used.
A thin wrapper over splitinfer.experiments.readme.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from splitinfer.experiments.readme import check_readme, render_block, replace_block


def newest_results(root: Path = Path("reports")) -> Path | None:
    """The newest full-run results.json under ``root`` (folder names sort by date)."""
    found = sorted(p for p in root.glob("*/results.json") if not p.parent.name.endswith("quick"))
    return found[-1] if found else None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("results", nargs="?", type=Path, help="results.json (default: newest)")
    p.add_argument("--sweep", type=Path, help="a sweep.json: render its rate-accuracy table")
    p.add_argument("--doc", "--readme", dest="readme", type=Path, default=Path("docs/results.md"),
                   help="the Markdown file with the block (default docs/results.md)")  # fmt: skip
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 if the block is stale")
    mode.add_argument("--write", action="store_true", help="replace the block")
    args = p.parse_args(argv)
    if args.sweep:
        from splitinfer.train.sweep.report import render_markdown

        try:
            doc = json.loads(args.sweep.read_text())
        except (OSError, json.JSONDecodeError) as err:
            print(f"cannot read {args.sweep}: {err}", file=sys.stderr)
            return 2
        if not str(doc.get("format", "")).startswith("splitinfer.sweep/"):
            print(f"{args.sweep} is not a `splitinfer sweep` sweep.json", file=sys.stderr)
            return 2
        link = Path(os.path.relpath(args.sweep, args.readme.parent)).as_posix()
        return _apply(args, render_markdown(doc, args.sweep.as_posix(), link), args.sweep)
    path = args.results or newest_results()
    if path is None or not path.is_file():
        print("no results.json: run `make bench` (or pass a path)", file=sys.stderr)
        return 2
    results = json.loads(path.read_text())
    if results.get("format") != "splitinfer.bench/1":
        print(f"{path} is not a `splitinfer bench` results.json", file=sys.stderr)
        return 2
    return _apply(args, render_block(results), path)


def _apply(args: argparse.Namespace, block: str, path: Path) -> int:
    flag = "--sweep " if args.sweep else ""
    if args.check:
        problem = check_readme(args.readme, block)
        if problem:
            again = f"python scripts/readme_results.py {flag}{path} --doc {args.readme} --write"
            print(f"{args.readme}: the block is stale (regenerate with `{again}`):\n{problem}",
                  file=sys.stderr)  # fmt: skip
            return 1
        print(f"{args.readme}: the Results block matches {path}")
        return 0
    if args.write:
        args.readme.write_text(replace_block(args.readme.read_text(), block))
        print(f"wrote the Results block of {args.readme} from {path}")
        return 0
    sys.stdout.write(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
