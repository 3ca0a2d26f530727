"""A comparison's files: results.csv (one row per run), results.json (the table, the paired
tests and their sentences) and a self-contained report.html with the plots."""
from __future__ import annotations

import csv
import html
import io
from pathlib import Path

from ..report.page import heading, image, paragraph, write_page
from ..runs.files import write_json, write_text
from .plots import plot_comparison


def _num(v) -> str:
    return f"{v:.4f}" if isinstance(v, float) else html.escape(str(v))


def results_html(c, table=None, paired=None) -> tuple[str, str]:
    """The comparison's two tables as HTML: each arm's mean, std and 95% interval per metric, and each
    arm against the baseline, paired by seed (the report page and a notebook's view show both)."""
    metrics = c.metrics()
    table, paired = table or c.table(), paired if paired is not None else c.paired()
    rows = "".join(
        f"<tr><th>{html.escape(arm)}{' (baseline)' if arm == c.baseline else ''}</th>"
        + "".join(f"<td class='num'>{_num(t[m]['mean'])} &plusmn; {_num(t[m]['std'])}<br>"
                  f"<small>[{_num(t[m]['ci'][0])}, {_num(t[m]['ci'][1])}] n={t[m]['n']}</small></td>" for m in metrics)
        + "</tr>" for arm, t in table.items())
    verdicts = "".join(f"<li><b>{html.escape(arm)}</b> vs {html.escape(c.baseline)}: "
                       + "; ".join(html.escape(p[m]["verdict"]) for m in metrics if m.startswith("val_"))
                       + "<br><small>test (reported, not chosen on): "
                       + "; ".join(html.escape(p[m]["verdict"]) for m in metrics if m.startswith("test_"))
                       + f"; Wilcoxon p={_num(p[metrics[0]]['p_wilcoxon'])}, d_z={_num(p[metrics[0]]['d_z'])}"
                       + "</small></li>" for arm, p in paired.items())
    head = "<table><tr><th>arm</th>" + "".join(f"<th>{m}</th>" for m in metrics) + "</tr>"
    return head + rows + "</table>", f"<ul>{verdicts}</ul>"


def write_compare_report(c) -> Path:
    metrics = c.metrics()
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["arm", "seed", "status", *metrics, "path"])
    for arm, runs in c.runs.items():
        for seed, r in sorted(runs.items()):
            w.writerow([arm, seed, r["status"], *(r["metrics"].get(m, "") for m in metrics), r["path"]])
    write_text(c.folder / "results.csv", buf.getvalue())
    table, paired = c.table(), c.paired()
    write_json(c.folder / "results.json", {"experiment": c.spec, "table": table, "paired": paired,
                                           "baseline": c.baseline})
    images = plot_comparison(c)
    rows, verdicts = results_html(c, table, paired)
    failed = [(a, s, r["status"]) for a, runs in c.runs.items() for s, r in runs.items()
              if r["status"] not in ("finished", "early_stopped", "stopped", "diverged")]
    diverged = {a: c.diverged(a) for a in c.runs if c.diverged(a)}
    body = [
        f"<h1>{html.escape(c.spec['name'])}</h1>",
        f"<p>{len(c.runs)} arms, seeds 0..{c.spec['seeds'] - 1}, baseline <b>{html.escape(c.baseline)}</b>. "
        "Mean &plusmn; std across seeds, [95% t-interval]; validation values are at each run's best evaluation "
        f"by its monitor ({html.escape(', '.join(c.monitors()) or 'val_loss')}), the weights it kept (what a "
        "choice is made on), test values are reported only.</p>",
        heading("Results"), rows, heading("Against the baseline (paired by seed)"), verdicts,
        paragraph(f"Runs left out (they did not end): {html.escape(str(failed))}", "diverged") if failed else "",
        paragraph("Runs that diverged, counted at their best evaluation before it (at chance when before any): "
                  + html.escape(", ".join(f"{a} {n}" for a, n in diverged.items())), "diverged") if diverged else "",
        heading("Pictures"), *[image(p) for p in images],
        heading("Arms"), "<table>", "".join(f"<tr><th>{html.escape(a)}</th><td>{html.escape(str(o))}</td></tr>"
                                            for a, o in c.spec["arms"].items()), "</table>",
        paragraph(f"Re-analyse: <code>trainlab compare --from {html.escape(str(c.folder))}</code>"),
    ]
    return write_page(c.folder / "report.html", f"trainlab compare: {c.spec['name']}", body)
