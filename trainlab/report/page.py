"""The one page writer: self-contained HTML pages (every image inlined, no scripts, no network) for
a run, a comparison, a search and the claims catalogue. A page is a title and a list of HTML
fragments made with the helpers here (`table`, `key_values`, `image`, `heading`, `paragraph`);
`write_page` wraps them in the shared style and writes the file atomically.
"""
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


def fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (dict, list)):
        return html.escape(json.dumps(v))
    return html.escape(str(v))


def key_values(rows: list[tuple[str, Any]]) -> str:
    """A two-column table: a name, its value."""
    return "<table>" + "".join(f"<tr><th>{html.escape(k)}</th><td>{fmt(v)}</td></tr>" for k, v in rows) + "</table>"


def table(header: list[str], rows: list[list[Any]], raw: bool = False) -> str:
    """A table with a header row; cells are escaped (raw=True: cells are HTML already)."""
    cell = (lambda v: str(v)) if raw else fmt
    return ("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows) + "</table>")


def image(path: Path, alt: str | None = None) -> str:
    """A PNG inlined as data (the page works when mailed or moved)."""
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img alt="{html.escape(alt or Path(path).stem)}" src="data:image/png;base64,{data}">'


def heading(text: str) -> str:
    return f"<h2>{html.escape(text)}</h2>"


def paragraph(text: str, css: str = "") -> str:
    """A paragraph of HTML the caller made (escape what came from outside with html.escape)."""
    return f"<p class='{css}'>{text}</p>" if css else f"<p>{text}</p>"


def render(title: str, body: list[str], css: str = "") -> str:
    return "".join(["<!doctype html><html lang='en'><head><meta charset='utf-8'>",
                    f"<title>{html.escape(title)}</title><style>{CSS}{css}</style></head><body>", *body,
                    "</body></html>"])


def write_page(path: Path, title: str, body: list[str], css: str = "") -> Path:
    """`body` (HTML fragments) as one self-contained page at `path`, written atomically."""
    write_text(Path(path), render(title, body, css))
    return Path(path)


def run_page(run: Run, images: list[Path]) -> Path:
    """A run's report.html: summary, environment, curves, the metrics rows and the resolved config."""
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
    cols = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_top5", "val_miou", "val_map50", "val_map",
            "lr", "grad_norm", "images_per_s"]
    cols = [c for c in cols if any(c in r for r in rows)]
    metric_rows = "".join("<tr>" + "".join(f'<td class="num">{fmt(r.get(c))}</td>' for c in cols) + "</tr>"
                          for r in rows)
    body = [
        f"<h1>{html.escape(run.name)}</h1>",
        f"<p class='status {html.escape(status)}'>{html.escape(cfg.get('model', ''))} on "
        f"{html.escape(str(cfg.get('dataset', '')))}: {html.escape(status)}</p>",
        "<div class='cols'><div>", heading("Summary"), key_values(head), "</div>",
        "<div>", heading("Environment"), key_values([(k, v) for k, v in env.items()]), "</div></div>",
        heading("Curves"), *[image(p) for p in images],
        heading("Metrics per row"), "<table><tr>", "".join(f"<th>{c}</th>" for c in cols), "</tr>",
        metric_rows, "</table>",
        heading("Config (resolved)"), key_values([(k, v) for k, v in cfg.items()]),
    ]
    return write_page(run.report, f"trainlab report: {run.name}", body)
