"""`trainlab claims report`: one self-contained HTML page for the catalogue, and claims.json.

For each claim: its verdict badge, the claim in the deck's words with its source, what was
measured, the numbers behind the verdict (with the test used), what the rule says with the
compared things swapped (a rule that cannot come out refuted would show here), the picture, the
command that reruns it, and a note on why these settings and when the claim would not hold.
"""
from __future__ import annotations

import html
import json
from collections import Counter
from pathlib import Path
from typing import Any

from ...report import page
from ...runs.files import write_json
from .base import CLAIMS
from .engine import clean, load_results

BADGE = """
.badge{display:inline-block;padding:1px 9px;border-radius:10px;color:#fff;font-weight:600;font-size:12px}
.supported{background:#2a7d2a} .refuted{background:#b00} .inconclusive{background:#a67c00}
.claim{border:1px solid #ddd;border-radius:6px;padding:.3em 1em 1em;margin:1.2em 0}
.claim h2{border:none;margin:.5em 0 .2em} blockquote{margin:.3em 0 .5em 1em;color:#444;font-style:italic}
.small{color:#555;font-size:12.5px} code{background:#f5f5f5;padding:1px 4px}
"""


def _badge(verdict: str) -> str:
    return f"<span class='badge {html.escape(verdict)}'>{html.escape(verdict)}</span>"


def _numbers(n: dict[str, Any]) -> str:
    flat = {k: v for k, v in n.items() if not isinstance(v, dict)}
    parts = {k: v for k, v in n.items() if isinstance(v, dict)}
    cells = "".join(f"<tr><th>{html.escape(str(k))}</th><td class='num'>{html.escape(_fmt(v))}</td></tr>"
                    for k, v in flat.items())
    for name, sub in parts.items():
        cells += "".join(f"<tr><th>{html.escape(name)}.{html.escape(str(k))}</th><td class='num'>"
                         f"{html.escape(_fmt(v))}</td></tr>" for k, v in sub.items() if not isinstance(v, dict))
    return f"<table>{cells}</table>" if cells else ""


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return "n/a" if v is None else str(v)


def section(res: dict[str, Any], folder: Path) -> str:
    claim = CLAIMS.get(res["id"]) if res["id"] in CLAIMS else None
    plot = folder / res["id"] / res.get("plot", "plot.png")
    mode = res.get("mode", "quick")
    swapped = res.get("swapped")
    return "".join([
        f"<div class='claim' id='{html.escape(res['id'])}'><h2>{_badge(res['verdict'])} {html.escape(res['id'])}</h2>",
        f"<div class='small'>deck {html.escape(res['deck'])} &middot; {html.escape(res['topic'])}</div>",
        f"<blockquote>{html.escape(res['text'])}</blockquote>",
        f"<p><b>Measured:</b> {html.escape(res['measures'])}</p>",
        f"<p><b>Verdict:</b> {_badge(res['verdict'])} {html.escape(res['because'])}</p>",
        f"<p class='small'><b>Rule, fixed before the run:</b> {html.escape(res['test'])}. "
        f"With the compared things swapped the same rule says: <b>{html.escape(str(swapped))}</b>.</p>",
        _numbers(res.get("numbers", {})),
        page.image(plot, res["id"]) if plot.is_file() else "<p class='small'>(no picture)</p>",
        f"<p class='small'><b>Why these settings:</b> {html.escape(claim.why if claim else '')}<br>"
        f"<b>When it would not hold:</b> {html.escape(claim.caveat if claim else '')}</p>",
        f"<p class='small'>Rerun: <code>trainlab claims run {html.escape(res['id'])} --{mode}</code> "
        f"&middot; settings {html.escape(json.dumps(res.get('settings', {})))} &middot; {res.get('seconds', 0):.0f} s, "
        f"version {res.get('version')}</p></div>",
    ])


def write_page(folder: str | Path = "runs/claims") -> Path:
    """report.html and claims.json in `folder`, from the result.json files there."""
    folder = Path(folder)
    results = load_results(folder)
    counts = Counter(r["verdict"] for r in results)
    missing = [c for c in CLAIMS.list() if c not in {r["id"] for r in results}]
    total = sum(float(r.get("seconds") or 0) for r in results)
    modes = sorted({r.get("mode", "quick") for r in results})
    index = "".join(f"<tr><td><a href='#{html.escape(r['id'])}'>{html.escape(r['id'])}</a></td>"
                    f"<td>{html.escape(r['deck'])}</td><td>{html.escape(r['topic'])}</td><td>{_badge(r['verdict'])}</td>"
                    f"<td class='small'>{html.escape(r['because'][:140])}</td></tr>" for r in results)
    body = [
        "<h1>The lecture claims, run</h1>",
        f"<p>{len(results)} of {len(CLAIMS)} claims run ({', '.join(modes) or 'none'} settings), "
        f"{total / 60:.1f} minutes of experiments: {_badge('supported')} {counts['supported']} &nbsp; "
        f"{_badge('refuted')} {counts['refuted']} &nbsp; {_badge('inconclusive')} {counts['inconclusive']}.</p>",
        "<p class='small'>Each verdict comes from a rule written in the claim's module before its results were seen "
        "(a threshold or a paired test at 5%). It reports what happened at these settings, not what the deck says; "
        "a claim about ImageNet-scale training may not show on 8x8 digits.</p>",
        (f"<p class='small'>Not run yet: {html.escape(', '.join(missing))}.</p>" if missing else ""),
        "<table><tr><th>claim</th><th>deck</th><th>topic</th><th>verdict</th><th>because</th></tr>", index, "</table>",
        *[section(r, folder) for r in results],
    ]
    page.write_page(folder / "report.html", "trainlab: the lecture claims", body, css=BADGE)
    write_json(folder / "claims.json", clean({"counts": dict(counts), "seconds": total, "claims": [
        {k: r.get(k) for k in ("id", "deck", "topic", "text", "measures", "verdict", "because", "test", "numbers",
                               "swapped", "mode", "settings", "seconds", "version")} for r in results]}))
    return folder / "report.html"
