"""Render a bench run's ``results.json`` as one self-contained ``index.html``.

Plain HTML and CSS, no scripts: every figure is embedded as a base64 PNG (the files also
sit beside the page), every table column says whether its numbers are modeled, measured
or assumed, and the machine and command head the page.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any

from splitinfer.experiments.result import format_cell

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1280px;
       padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { margin-top: 2.2em; border-bottom:
1px solid #ccc; padding-bottom: .2em; } h3 { font-size: 1.05em; margin: 1.4em 0 .4em; }
table { border-collapse: collapse; margin: .4em 0 .2em; font-size: 12.5px; }
th, td { border: 1px solid #d4d4d4; padding: 3px 7px; vertical-align: top; }
th { background: #f3f3f3; font-weight: 600; } td.num { text-align: right;
font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafafa; }
.caption { color: #555; font-size: 12.5px; max-width: 1100px; margin: .2em 0 1em; }
.badge { display: inline-block; border-radius: 3px; padding: 0 5px; font-size: 11px;
         font-weight: 600; color: #fff; vertical-align: middle; }
.modeled { background: #3b6fb6; } .measured { background: #2e8b57; }
.assumed { background: #c77c11; } .ok { background: #2e8b57; }
.skipped { background: #888; } .failed { background: #c0392b; }
figure { margin: 1em 0 2em; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { color: #444; font-size: 13px; max-width: 1100px; }
.meta td:first-child { font-weight: 600; } .scroll { overflow-x: auto; }
.note { background: #fff8e1; border-left: 3px solid #e0b000; padding: .4em .8em; }
details pre { background: #f6f6f6; padding: .6em; font-size: 12px; overflow-x: auto; }
"""


def badge(kind: str) -> str:
    return f'<span class="badge {escape(kind)}">{escape(kind)}</span>' if kind else ""


def render_table(t: dict[str, Any]) -> str:
    cols = t["columns"]
    head = "".join(
        f"<th>{escape(c['label'])}{' (' + escape(c['unit']) + ')' if c['unit'] else ''}"
        f"<br>{badge(c['basis'])}</th>"
        for c in cols
    )
    body = []
    for row in t["rows"]:
        cells = []
        for c in cols:
            v = row.get(c["key"])
            num = isinstance(v, int | float) and not isinstance(v, bool)
            cls = ' class="num"' if num else ""
            cells.append(f"<td{cls}>{escape(format_cell(v, c['unit']))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<h3>{escape(t["title"])}</h3><div class="scroll"><table><thead><tr>{head}</tr>'
        f"</thead><tbody>{''.join(body)}</tbody></table></div>"
        f'<p class="caption">{escape(t["caption"])}</p>'
    )


def render_figure(f: dict[str, str], root: Path, embed: bool) -> str:
    path = root / f["file"]
    if embed and path.is_file():
        src = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
    else:
        src = escape(f["file"])
    return (
        f'<figure><img src="{src}" alt="{escape(f["title"])}"><figcaption>'
        f"<b>{escape(f['title'])}</b> {badge(f['basis'])} {escape(f['caption'])} "
        f"(<code>{escape(f['file'])}</code>)</figcaption></figure>"
    )


def render_experiment(e: dict[str, Any], root: Path, embed: bool) -> str:
    parts = [
        f'<h2 id="{escape(e["name"])}">{escape(e["title"])} {badge(e["status"])}</h2>',
        f"<p>{escape(e.get('summary', ''))}</p>" if e.get("summary") else "",
        f'<p class="caption">experiment <code>{escape(e["name"])}</code>, '
        f"{e.get('seconds', 0):.1f} s, load average {e.get('load_before', '?')} before</p>",
    ]
    notes = e.get("notes") or []
    if notes:
        items = "".join(f"<li>{escape(str(n))}</li>" for n in notes)
        parts.append(f'<div class="note"><ul>{items}</ul></div>')
    parts += [render_table(t) for t in e.get("tables", [])]
    parts += [render_figure(f, root, embed) for f in e.get("figures", [])]
    if e.get("config"):
        cfg = escape(json.dumps(e["config"], indent=1, default=str))
        parts.append(f"<details><summary>settings</summary><pre>{cfg}</pre></details>")
    return "\n".join(p for p in parts if p)


def render(results: Mapping[str, Any], root: Path, embed: bool = True) -> str:
    """The whole page for ``results`` (a ``splitinfer.bench/1`` dict) written under ``root``."""
    m = results["machine"]
    rows = "".join(
        f"<tr><td>{escape(k)}</td><td>{escape(str(v))}</td></tr>"
        for k, v in (
            ("command", results["command"] + "".join(
                f"; then {r['command']} (re-ran {', '.join(r['only'])})"
                for r in results.get("reruns", [])
            )),
            ("date", results["created"]),
            ("quick", "yes (small subsets: checks structure, not values)"
             if results["quick"] else "no"),
            ("machine", f"{m.get('cpu')}, {m.get('cores')} cores, torch threads "
                        f"{m.get('torch_threads')}"),
            ("software", f"torch {m.get('torch')}, Python {m.get('python')}, "
                         f"{m.get('platform', '')}"),
            ("load average", f"{m.get('load_start')} at start, {m.get('load_end')} at end "
                             "(other jobs may share this machine)"),
            ("total time", f"{results['seconds']:.1f} s"),
        )
    )  # fmt: skip
    toc = "".join(
        f'<li><a href="#{escape(e["name"])}">{escape(e["title"])}</a> {badge(e["status"])} '
        f"{e.get('seconds', 0):.1f} s</li>"
        for e in results["experiments"].values()
    )
    body = "\n".join(render_experiment(e, root, embed) for e in results["experiments"].values())
    legend = (
        f"Every number is labelled: {badge('modeled')} computed by the cost model "
        f"(<code>splitinfer.plan</code>, docs/cost-model.md), {badge('measured')} timed or "
        f"counted on the machine above (or when a bundle was built, as stated), "
        f"{badge('assumed')} an input we could not measure (its source is stated)."
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>splitinfer bench, {escape(results["created"])}</title>
<style>{CSS}</style></head>
<body>
<h1>splitinfer bench</h1>
<table class="meta">{rows}</table>
<p>{legend}</p>
<p>Files beside this page: <code>results.json</code> (every number), <code>config.json</code>
(the resolved settings), one folder per experiment with its JSON and PNG figures.</p>
<ol>{toc}</ol>
{body}
</body></html>
"""
