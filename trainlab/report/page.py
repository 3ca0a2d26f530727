"""A self-contained HTML report for a run: every image inlined, no scripts, no network."""
from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from ..runs import Run, write_text

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.15em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0} td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;font-size:13px}
th{background:#f5f5f5} .num{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;border:1px solid #eee;margin:.4em 0} .status{font-weight:bold}
.finished,.early_stopped{color:#2a7d2a} .diverged{color:#b00} .running{color:#b60}
.cols{display:flex;gap:2em;flex-wrap:wrap} .cols>div{flex:1 1 420px}
"""


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (dict, list)):
        return html.escape(json.dumps(v))
    return html.escape(str(v))


def _table(rows: list[tuple[str, Any]]) -> str:
    return "<table>" + "".join(f"<tr><th>{html.escape(k)}</th><td>{_fmt(v)}</td></tr>" for k, v in rows) + "</table>"


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def render(run: Run, images: list[Path]) -> str:
    s, cfg, env, rows = run.summary, run.config, run.env, run.metrics
    status = s.get("status", "running")
    test = s.get("test", {})
    head = [("status", status)]
    if s.get("message"):
        head.append(("message", s["message"]))
    head += [("best epoch", s.get("best", {}).get("epoch")), (f"best {s.get('monitor', '')}", s.get("best", {}).get(s.get("monitor", "")))]
    head += [(f"test {k}", v) for k, v in test.items()]
    head += [("epochs run", s.get("epochs_run")), ("training time (s)", s.get("train_time_s")),
             ("parameters", s.get("parameters"))]
    cols = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_top5", "val_miou", "lr", "grad_norm",
            "images_per_s"]
    cols = [c for c in cols if any(c in r for r in rows)]
    metric_rows = "".join("<tr>" + "".join(f'<td class="num">{_fmt(r.get(c))}</td>' for c in cols) + "</tr>"
                          for r in rows)
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>trainlab report: {html.escape(run.name)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(run.name)}</h1>",
        f"<p class='status {html.escape(status)}'>{html.escape(cfg.get('model', ''))} on "
        f"{html.escape(str(cfg.get('dataset', '')))}: {html.escape(status)}</p>",
        "<div class='cols'><div><h2>Summary</h2>", _table(head), "</div>",
        "<div><h2>Environment</h2>", _table([(k, v) for k, v in env.items()]), "</div></div>",
        "<h2>Curves</h2>", *[_img(p, p.stem) for p in images],
        "<h2>Metrics per row</h2><table><tr>", "".join(f"<th>{c}</th>" for c in cols), "</tr>",
        metric_rows, "</table>",
        "<h2>Config (resolved)</h2>", _table([(k, v) for k, v in cfg.items()]),
        "</body></html>",
    ]
    return "".join(parts)


def write_html(run: Run, images: list[Path]) -> Path:
    write_text(run.report, render(run, images))
    return run.report
