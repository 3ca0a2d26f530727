"""`trainlab claims report`: one self-contained HTML page for the catalogue, and claims.json.

At the top, one row per claim with its quick and its full verdict side by side, each with its
effect and interval and its p-value beside the Holm and Benjamini-Hochberg adjusted ones (about
one claim in twenty comes out "significant" by chance at 5%); the rows filter by deck and by
verdict (radio buttons and CSS: the page has no scripts). Below, each claim: the deck's words,
what was measured, both modes' verdicts with their numbers and pictures, why each mode's settings
were chosen, and, where the two modes disagree, what is going on.
"""
from __future__ import annotations

import html
import json
from collections import Counter
from pathlib import Path
from typing import Any

from ...report import page
from ...runs.files import write_json
from .. import stats
from . import ordered
from .base import CLAIMS, DECKS, p_value
from .disagreements import DISAGREEMENTS
from .engine import clean, load_results

MODES = ("quick", "full")
VERDICTS = ("supported", "refuted", "inconclusive", "none")
CSS = """
.badge{display:inline-block;padding:1px 9px;border-radius:10px;color:#fff;font-weight:600;font-size:12px}
.supported{background:#2a7d2a} .refuted{background:#b00} .inconclusive{background:#a67c00} .none,.error{background:#999}
.claim{border:1px solid #ddd;border-radius:6px;padding:.3em 1em 1em;margin:1.2em 0}
.claim h2{border:none;margin:.5em 0 .2em} blockquote{margin:.3em 0 .5em 1em;color:#444;font-style:italic}
.small{color:#555;font-size:12.5px} code{background:#f5f5f5;padding:1px 4px} .differ{background:#fff6e0;padding:.4em}
.filters{margin:.6em 0;font-size:13px} .filters input{display:none}
.filters label{border:1px solid #bbb;border-radius:10px;padding:1px 8px;margin:0 2px;cursor:pointer;line-height:2}
.filters input:checked+label{background:#333;color:#fff}
"""


def _badge(verdict: str | None) -> str:
    v = verdict or "none"
    return f"<span class='badge {html.escape(v)}'>{html.escape('not run' if v == 'none' else v)}</span>"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return "n/a" if v is None else str(v)


def effect(numbers: dict[str, Any]) -> str:
    """The effect behind a verdict in a few characters: a difference with its 95% CI, a ratio, a
    count of seeds, or a value against its threshold; each part of a several-part rule."""
    parts = [n for k, n in numbers.items() if k.startswith("part") and isinstance(n, dict)]
    if parts:
        return "; ".join(effect(n) for n in parts)
    if "ratio" in numbers and "ci" in numbers:
        lo, hi = numbers["ci"]
        return f"x{numbers['ratio']:.3g} [{lo:.3g}, {hi:.3g}]"
    if "mean_diff" in numbers and "ci" in numbers:
        lo, hi = numbers["ci"]
        return f"{numbers['mean_diff']:+.3g} [{lo:+.3g}, {hi:+.3g}]"
    if "gain" in numbers and "ci" in numbers:
        lo, hi = numbers["ci"]
        return f"{numbers['gain']:+.3g} [{lo:+.3g}, {hi:+.3g}]"
    if "yes" in numbers:
        return f"{numbers['yes']}/{numbers['n']} seeds, median x{numbers.get('median_ratio', float('nan')):.3g}"
    if "value" in numbers and "threshold" in numbers:
        return f"{numbers['value']:.3g} vs {numbers['threshold']:g}"
    return ""


def adjusted(results: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """id -> {p, holm, bh} for the results whose rule is a test (the family the adjustment is over)."""
    tested = [(r["id"], p_value(r.get("numbers") or {})) for r in results]
    tested = [(i, p) for i, p in tested if p is not None]
    holm = stats.holm([p for _, p in tested])
    bh = stats.benjamini_hochberg([p for _, p in tested])
    return {i: {"p": p, "holm": h, "bh": q} for (i, p), h, q in zip(tested, holm, bh)}


def _p_cell(adj: dict[str, float] | None) -> str:
    if not adj:
        return "<span class='small'>no test</span>"
    return f"{adj['p']:.3g} <span class='small'>(Holm {adj['holm']:.3g}, BH {adj['bh']:.3g})</span>"


def _numbers(n: dict[str, Any]) -> str:
    flat = {k: v for k, v in n.items() if not isinstance(v, dict)}
    cells = "".join(f"<tr><th>{html.escape(str(k))}</th><td class='num'>{html.escape(_fmt(v))}</td></tr>"
                    for k, v in flat.items())
    for name, sub in ((k, v) for k, v in n.items() if isinstance(v, dict)):
        cells += "".join(f"<tr><th>{html.escape(name)}.{html.escape(str(k))}</th><td class='num'>"
                         f"{html.escape(_fmt(v))}</td></tr>" for k, v in sub.items() if not isinstance(v, dict))
    return f"<table>{cells}</table>" if cells else ""


def mode_block(cid: str, mode: str, res: dict[str, Any] | None, adj: dict[str, float] | None, folder: Path) -> str:
    if res is None:
        return (f"<div><h3>{mode}</h3><p>{_badge(None)} <span class='small'>run it: <code>trainlab claims run {cid} "
                f"--{mode}</code></span></p></div>")
    plot = folder / cid / res.get("plot", f"plot-{mode}.png")
    return "".join([
        f"<div><h3>{mode} {_badge(res['verdict'])}</h3><p>{html.escape(res['because'])}</p>",
        f"<p class='small'>p {_p_cell(adj)} &middot; rule with the compared things swapped: "
        f"<b>{html.escape(str(res.get('swapped')))}</b> &middot; {res.get('seconds', 0):.0f} s &middot; settings "
        f"<code>{html.escape(json.dumps(res.get('settings', {})))}</code></p>",
        page.image(plot, f"{cid} {mode}") if plot.is_file() else "<p class='small'>(no picture)</p>",
        f"<details><summary class='small'>numbers</summary>{_numbers(res.get('numbers', {}))}</details></div>"])


def section(cid: str, by_mode: dict[str, dict[str, Any]], adj: dict[str, dict], folder: Path) -> str:
    claim = CLAIMS.get(cid)
    any_res = next(iter(by_mode.values()))
    verdicts = {m: r["verdict"] for m, r in by_mode.items()}
    differ = len(verdicts) == 2 and verdicts["quick"] != verdicts["full"]
    notes = [f"<b>Quick settings:</b> {html.escape(claim.why)}",
             f"<b>Full settings:</b> {html.escape(claim.full_why or 'the quick settings (nothing here trains)')}",
             f"<b>When it would not hold:</b> {html.escape(claim.caveat)}"]
    if claim.quick_note and verdicts.get("quick") != "supported":
        notes.insert(1, f"<b>Why quick settings may not show it:</b> {html.escape(claim.quick_note)}")
    return "".join([
        f"<div class='claim' id='{html.escape(cid)}'><h2>{html.escape(cid)}</h2>",
        f"<div class='small'>deck {html.escape(claim.deck)} &middot; {html.escape(claim.topic)}</div>",
        f"<blockquote>{html.escape(claim.text)}</blockquote>",
        f"<p><b>Measured:</b> {html.escape(claim.measures)}</p>",
        f"<p class='small'><b>Rule, fixed before the runs:</b> {html.escape(any_res.get('test', ''))}.</p>",
        (f"<p class='differ'><b>Quick and full disagree</b> ({verdicts['quick']} / {verdicts['full']}): "
         f"{html.escape(DISAGREEMENTS.get(cid, 'not explained yet'))}</p>" if differ else ""),
        "<div class='cols'>", *(mode_block(cid, m, by_mode.get(m), adj[m].get(cid), folder) for m in MODES), "</div>",
        f"<p class='small'>{'<br>'.join(notes)}</p></div>"])


def filters() -> tuple[str, str]:
    """Radio buttons (deck, quick verdict, full verdict) and the CSS that hides the rows they rule out."""
    groups = {"deck": ("all", *DECKS), "quick": ("all", *VERDICTS), "full": ("all", *VERDICTS)}
    inputs, css = [], []
    for g, values in groups.items():
        inputs.append(f"<span class='small'>{g}:</span>")
        for v in values:
            fid = f"f-{g}-{v}"
            inputs.append(f"<input type='radio' name='{g}' id='{fid}'{' checked' if v == 'all' else ''}>"
                          f"<label for='{fid}'>{'not run' if v == 'none' else v}</label>")
            if v != "all":
                css.append(f"#{fid}:checked~table tr.row:not(.{g}-{v}){{display:none}}")
        inputs.append("<br>")
    return "".join(inputs), "\n".join(css)


def write_page(folder: str | Path = "runs/claims") -> Path:
    """report.html and claims.json in `folder`, from the quick.json and full.json files there."""
    folder = Path(folder)
    results = {m: {r["id"]: r for r in load_results(folder, m)} for m in MODES}
    adj = {m: adjusted(list(results[m].values())) for m in MODES}
    ids = [c for c in (e.id for e in ordered()) if any(c in results[m] for m in MODES)]
    missing = [c.id for c in ordered() if c.id not in ids]
    rows, lines = [], []
    for cid in ids:
        claim = CLAIMS.get(cid)
        cls = [f"deck-{claim.deck}"] + [f"{m}-{results[m][cid]['verdict'] if cid in results[m] else 'none'}"
                                         for m in MODES]
        cells = [f"<td><a href='#{html.escape(cid)}'>{html.escape(cid)}</a></td><td>{claim.deck}</td>"]
        for m in MODES:
            r = results[m].get(cid)
            cells.append(f"<td>{_badge(r['verdict'] if r else None)}</td><td class='num small'>"
                         f"{html.escape(effect(r.get('numbers') or {})) if r else ''}</td>"
                         f"<td class='num'>{_p_cell(adj[m].get(cid)) if r else ''}</td>")
        rows.append(f"<tr class='row {' '.join(cls)}'>{''.join(cells)}</tr>")
    for m in MODES:
        counts = Counter(r["verdict"] for r in results[m].values())
        minutes = sum(float(r.get("seconds") or 0) for r in results[m].values()) / 60
        tested = len(adj[m])
        firm = sum(1 for i, a in adj[m].items() if results[m][i]["verdict"] in ("supported", "refuted"))
        holm_ok = sum(1 for i, a in adj[m].items() if a["holm"] < stats.ALPHA and results[m][i]["verdict"] != "inconclusive")
        bh_ok = sum(1 for i, a in adj[m].items() if a["bh"] < stats.ALPHA and results[m][i]["verdict"] != "inconclusive")
        lines.append(
            f"<p><b>{m}</b>: {len(results[m])} of {len(CLAIMS)} claims run, {minutes:.1f} minutes of experiments: "
            f"{_badge('supported')} {counts['supported']} {_badge('refuted')} {counts['refuted']} "
            f"{_badge('inconclusive')} {counts['inconclusive']}. {tested} verdicts rest on a test at 5%: if no claim "
            f"held, about {tested * stats.ALPHA:.1f} of them would still come out firm by chance. Of the {firm} firm "
            f"ones, {holm_ok} keep p &lt; 0.05 after Holm's adjustment (family-wise) and {bh_ok} after "
            f"Benjamini-Hochberg's (false discovery rate).</p>")
    radios, filter_css = filters()
    head = ("<tr><th rowspan=2>claim</th><th rowspan=2>deck</th><th colspan=3>quick</th><th colspan=3>full</th></tr>"
            "<tr>" + "<th>verdict</th><th>effect [95% CI]</th><th>p (adjusted)</th>" * 2 + "</tr>")
    body = [
        "<h1>The lecture claims, run</h1>", *lines,
        "<p class='small'>Each verdict comes from a rule written in the claim's module before its results were seen "
        "(a paired test at 5%, a sign test, an interval, or a threshold on a computed number). It reports what "
        "happened at these settings, not what the deck says. Quick settings run in minutes on 8x8 digits; full "
        "settings meet the lecture's conditions on Fashion-MNIST.</p>",
        (f"<p class='small'>Not run yet: {html.escape(', '.join(missing))}.</p>" if missing else ""),
        f"<div class='filters'>{radios}<table>{head}{''.join(rows)}</table></div>",
        *[section(cid, {m: results[m][cid] for m in MODES if cid in results[m]}, adj, folder) for cid in ids],
    ]
    page.write_page(folder / "report.html", "trainlab: the lecture claims", body, css=CSS + filter_css)
    keep = ("id", "deck", "topic", "text", "measures", "verdict", "because", "test", "numbers", "swapped", "mode",
            "settings", "seconds", "version")
    write_json(folder / "claims.json", clean({
        m: {"counts": dict(Counter(r["verdict"] for r in results[m].values())),
            "seconds": sum(float(r.get("seconds") or 0) for r in results[m].values()),
            "claims": [{**{k: r.get(k) for k in keep}, **({"p_adjusted": adj[m][r["id"]]} if r["id"] in adj[m] else {})}
                       for r in results[m].values()]} for m in MODES}))
    return folder / "report.html"
