"""`trainlab claims run`: run claims one after another, cache each result, show progress.

A claim's result lives in `<folder>/<id>/result.json` with its picture beside it. The measured
numbers are keyed by the claim's version, settings and module text: with the same key a finished
claim is not run again, an interrupted one continues (its training runs are `trainlab.compare`
runs, which skip what is done and resume what was cut), and a changed claim is run afresh. The
rule is applied again to cached numbers every time, so a corrected rule needs no new training.
"""
from __future__ import annotations

import hashlib
import html
import json
import math
import time
from pathlib import Path
from typing import Any

from ...errors import TrainlabError
from ...report.plots import plt
from ...runs.figures import shown
from ...runs.files import write_json
from . import get, ordered
from .base import Claim, Context


def settings_key(claim: Claim, mode: str) -> str:
    """The cache key: the claim's version, its settings in this mode, and its module's text (an edited
    claim is run again even if nobody bumped its version)."""
    code = hashlib.sha256(Path(claim.source).read_bytes()).hexdigest() if claim.source and Path(claim.source).is_file() else ""
    blob = json.dumps({"version": claim.version, "settings": claim.settings(mode), "code": code}, sort_keys=True,
                      default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def clean(v: Any) -> Any:
    """JSON for machines: NaN and infinities become null."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {str(k): clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [clean(x) for x in v]
    return v


def restore(v: Any) -> Any:
    """The inverse of `clean` inside lists of numbers: null back to NaN (a diverged seed)."""
    if isinstance(v, dict):
        return {k: restore(x) for k, x in v.items()}
    if isinstance(v, list):
        return [math.nan if x is None else restore(x) for x in v]
    return v


def cached(folder: Path, claim: Claim, mode: str) -> dict[str, Any] | None:
    f = folder / claim.id / "result.json"
    if not f.is_file():
        return None
    try:
        res = json.loads(f.read_text())
    except json.JSONDecodeError:
        return None
    return res if res.get("key") == settings_key(claim, mode) and res.get("mode") == mode else None


def run_claim(claim: Claim, mode: str, folder: Path, jobs: int | None = None, storage: str | None = None,
              enqueue_only: bool = False) -> dict[str, Any]:
    """Run one claim (or take its cached result) and write result.json and plot.png. With `storage`,
    its training runs go through the queue there; with enqueue_only too, they are only enqueued
    (the result is then "queued": run the same command again, without it, once workers are done)."""
    hit = cached(folder, claim, mode)
    if hit is not None:  # the measured numbers are reused; rule and picture are made again (cheap)
        data = restore(hit["data"])
        verdict, swapped = claim.judge(data), claim.judge(claim.swap(data))
        if (verdict.verdict, verdict.because, swapped.verdict) != (hit["verdict"], hit["because"], hit.get("swapped")):
            hit = clean({**hit, **verdict.as_dict(), "swapped": swapped.verdict})
            write_json(folder / claim.id / "result.json", hit)
        claim.plot(data, folder / claim.id / "plot.png")
        return {**hit, "cached": True}
    key = settings_key(claim, mode)
    out = folder / claim.id
    t0 = time.perf_counter()
    settings = claim.settings(mode)
    data = claim.run(settings, Context(out / f"runs-{mode}-{key}", jobs=jobs, storage=storage,
                                       enqueue_only=enqueue_only))
    if data is None:  # enqueued only
        return {"id": claim.id, "verdict": "queued", "because": "its runs are in the queue", "cached": False,
                "seconds": round(time.perf_counter() - t0, 1)}
    verdict = claim.judge(data)
    swapped = claim.judge(claim.swap(data))
    plot = out / "plot.png"
    claim.plot(data, plot)
    res = {"id": claim.id, "deck": claim.deck, "topic": claim.topic, "text": claim.text, "measures": claim.measures,
           "version": claim.version, "mode": mode, "key": key, "settings": settings, "data": data,
           **verdict.as_dict(), "swapped": swapped.verdict, "plot": str(plot.name),
           "seconds": round(time.perf_counter() - t0, 1), "when": time.strftime("%Y-%m-%dT%H:%M:%S")}
    write_json(out / "result.json", clean(res))
    return {**clean(res), "cached": False}


COLOURS = {"supported": "#2e7d32", "refuted": "#c62828", "inconclusive": "#ef6c00"}


class ClaimResults(list):
    """Claims' results (a list of result dicts, as result.json holds them), with the folder they are in:
    a notebook shows them as a table of verdicts, and `.plot()` draws their pictures."""

    def __init__(self, results: list[dict[str, Any]], folder: str | Path):
        super().__init__(results)
        self.folder = Path(folder)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td><b>{html.escape(r['id'])}</b></td><td>{html.escape(str(r.get('deck', '')))}</td>"
            f"<td style='text-align:left'>{html.escape(str(r.get('text', '')))}</td>"
            f"<td style='color:{COLOURS.get(r['verdict'], '#555')};font-weight:bold'>{html.escape(r['verdict'])}</td>"
            f"<td style='text-align:left'>{html.escape(str(r.get('because', '')))}</td></tr>" for r in self)
        return ("<table><tr><th>claim</th><th>deck</th><th>the deck says</th><th>verdict</th><th>because</th></tr>"
                + rows + "</table>")

    def plot(self):
        """Each claim's picture (its plot.png), one under another, titled with its verdict."""
        pictures = [(r, self.folder / r["id"] / r["plot"]) for r in self if r.get("plot")]
        pictures = [(r, p) for r, p in pictures if p.is_file()]
        if not pictures:
            raise TrainlabError(f"no claim picture in {str(self.folder)!r}; run the claims first")
        images = [plt.imread(p) for _, p in pictures]
        width = 9.0
        heights = [width * im.shape[0] / im.shape[1] for im in images]
        fig, axes = plt.subplots(len(images), 1, figsize=(width, sum(heights) + 0.4 * len(images)),
                                 gridspec_kw={"height_ratios": heights}, squeeze=False)
        for ax, (r, _), im in zip(axes[:, 0], pictures, images):
            ax.imshow(im)
            ax.set_axis_off()
            ax.set_title(f"{r['id']}: {r['verdict']}", fontsize=10, color=COLOURS.get(r["verdict"], "#555"))
        return shown(fig)


def run_claims(ids: list[str] | None, mode: str = "quick", folder: str | Path = "runs/claims",
               jobs: int | None = None, quiet: bool = False, storage: str | None = None,
               enqueue_only: bool = False) -> ClaimResults:
    """Run the chosen claims (all when `ids` is empty) in catalogue order; one line per claim. The
    results (a list of dicts) show as a table in a notebook and draw their pictures with `.plot()`.

    >>> trainlab.run_claims(["sigmoid-saturation"], folder="runs/claims")  # doctest: +SKIP
    """
    if mode not in ("quick", "full"):
        raise TrainlabError(f"mode {mode!r} must be quick or full")
    claims = [get(i) for i in ids] if ids else ordered()
    folder = Path(folder)
    results, t0 = [], time.perf_counter()
    for i, claim in enumerate(claims, 1):
        if not quiet:
            print(f"[{i}/{len(claims)}] {claim.id} (deck {claim.deck}, {claim.topic}) ...", end=" ", flush=True)
        try:
            res = run_claim(claim, mode, folder, jobs, storage, enqueue_only)
        except TrainlabError:
            raise
        except Exception as e:  # one broken claim does not stop the catalogue; it is reported and not cached
            if not quiet:
                print(f"error: {type(e).__name__}: {e}", flush=True)
            results.append({"id": claim.id, "verdict": "error", "because": f"{type(e).__name__}: {e}"})
            continue
        results.append(res)
        if not quiet:
            spent = time.perf_counter() - t0
            took = "cached" if res["cached"] else f"{res['seconds']:.0f} s"
            if res["verdict"] == "queued":
                print(f"queued ({took})", flush=True)
                continue
            print(f"{res['verdict']} ({took}; {spent / 60:.1f} min so far)", flush=True)
    return ClaimResults(results, folder)


def load_results(folder: str | Path) -> ClaimResults:
    """Every registered claim's newest result in `folder` (claims not run yet are left out)."""
    out = []
    for claim in ordered():
        f = Path(folder) / claim.id / "result.json"
        if f.is_file():
            try:
                out.append(json.loads(f.read_text()))
            except json.JSONDecodeError:
                continue
    return ClaimResults(out, folder)
