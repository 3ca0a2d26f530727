"""`trainlab claims run`: run claims one after another, cache each result, show progress.

A claim's result lives in `<folder>/<id>/<mode>.json` (quick.json, full.json) with its picture
`plot-<mode>.png` beside it, so both modes' results sit side by side. The measured
numbers are keyed by the claim's version, settings and module text: with the same key a finished
claim is not run again, an interrupted one continues (its training runs are `trainlab.compare`
runs, which skip what is done and resume what was cut), and a changed claim is run afresh. The
rule is applied again to cached numbers every time, so a corrected rule needs no new training.

What the runs inside a claim write to stderr (label-risk warnings, library UserWarnings, from this
process and from worker processes alike) is collected while the claim runs and summarised once at
the end, each distinct line with its count and the claims that printed it.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from ...errors import TrainlabError
from ...runs.files import write_json
from . import get, ordered
from .base import Claim, Context
from .results import ClaimResults


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


def result_file(folder: Path, claim_id: str, mode: str) -> Path:
    return Path(folder) / claim_id / f"{mode}.json"


def cached(folder: Path, claim: Claim, mode: str) -> dict[str, Any] | None:
    f = result_file(folder, claim.id, mode)
    if not f.is_file():
        return None
    try:
        res = json.loads(f.read_text())
    except json.JSONDecodeError:
        return None
    return res if res.get("key") == settings_key(claim, mode) and res.get("mode") == mode else None


def run_claim(claim: Claim, mode: str, folder: Path, jobs: int | None = None, storage: str | None = None,
              enqueue_only: bool = False) -> dict[str, Any]:
    """Run one claim (or take its cached result) and write <mode>.json and plot-<mode>.png. With `storage`,
    its training runs go through the queue there; with enqueue_only too, they are only enqueued
    (the result is then "queued": run the same command again, without it, once workers are done)."""
    hit = cached(folder, claim, mode)
    if hit is not None:  # the measured numbers are reused; rule and picture are made again (cheap)
        data = restore(hit["data"])
        verdict, swapped = claim.judge(data), claim.judge(claim.swap(data))
        if (verdict.verdict, verdict.because, swapped.verdict) != (hit["verdict"], hit["because"], hit.get("swapped")):
            hit = clean({**hit, **verdict.as_dict(), "swapped": swapped.verdict})
            write_json(result_file(folder, claim.id, mode), hit)
        claim.plot(data, folder / claim.id / f"plot-{mode}.png")
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
    plot = out / f"plot-{mode}.png"
    claim.plot(data, plot)
    res = {"id": claim.id, "deck": claim.deck, "topic": claim.topic, "text": claim.text, "measures": claim.measures,
           "version": claim.version, "mode": mode, "key": key, "settings": settings, "data": data,
           **verdict.as_dict(), "swapped": swapped.verdict, "plot": str(plot.name),
           "seconds": round(time.perf_counter() - t0, 1), "when": time.strftime("%Y-%m-%dT%H:%M:%S")}
    write_json(result_file(folder, claim.id, mode), clean(res))
    return {**clean(res), "cached": False}


@contextlib.contextmanager
def stderr_collected(into: list[str]):
    """Send file descriptor 2 (this process's stderr and that of every worker process it starts) to a
    temporary file while the block runs; its lines are appended to `into`."""
    sys.stderr.flush()
    saved, saved_py = os.dup(2), sys.stderr
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        sys.stderr = os.fdopen(os.dup(tmp.fileno()), "w", buffering=1)  # also where sys.stderr was replaced
        try:
            yield
        finally:
            sys.stderr.close()
            sys.stderr = saved_py
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            into.extend(line for line in tmp.read().decode("utf-8", "replace").splitlines() if line.strip())


def summarise_stderr(lines: dict[str, list[str]]) -> list[str]:
    """Each distinct stderr line once, with how often it came and from which claims (at most 3 named)."""
    count: Counter[str] = Counter()
    where: dict[str, list[str]] = {}
    for claim_id, got in lines.items():
        for line in got:
            count[line.strip()] += 1
            where.setdefault(line.strip(), [])
            if claim_id not in where[line.strip()]:
                where[line.strip()].append(claim_id)
    out = []
    for line, n in count.most_common():
        ids = where[line]
        named = ", ".join(ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
        out.append(f"  {n}x  {line}  [{named}]")
    return out


def run_claims(ids: list[str] | None, mode: str = "quick", folder: str | Path = "runs/claims",
               jobs: int | None = None, quiet: bool = False, storage: str | None = None,
               enqueue_only: bool = False) -> ClaimResults:
    """Run the chosen claims (all when `ids` is empty) in catalogue order; one line per claim, then
    what the runs wrote to stderr, each distinct line once. The results (a list of dicts) show as a
    table in a notebook and draw their pictures with `.plot()`.

    >>> trainlab.run_claims(["sigmoid-saturation"], folder="runs/claims")  # doctest: +SKIP
    """
    if mode not in ("quick", "full"):
        raise TrainlabError(f"mode {mode!r} must be quick or full")
    claims = [get(i) for i in ids] if ids else ordered()
    folder = Path(folder)
    results, t0 = [], time.perf_counter()
    said: dict[str, list[str]] = {}
    for i, claim in enumerate(claims, 1):
        if not quiet:
            print(f"[{i}/{len(claims)}] {claim.id} (deck {claim.deck}, {claim.topic}) ...", end=" ", flush=True)
        said[claim.id] = []
        try:
            with stderr_collected(said[claim.id]):
                res = run_claim(claim, mode, folder, jobs, storage, enqueue_only)
        except TrainlabError:
            sys.stderr.write("".join(f"{line}\n" for line in said[claim.id]))
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
    summary = summarise_stderr(said)
    if summary and not quiet:
        print(f"what the runs wrote to stderr, each line once ({sum(len(v) for v in said.values())} lines in all):")
        print("\n".join(summary), flush=True)
    return ClaimResults(results, folder)


def load_results(folder: str | Path, mode: str | None = None) -> ClaimResults:
    """Every registered claim's result in `folder` for `mode` (quick or full); with mode None, each
    claim's full result where it has one, else its quick one. Claims not run yet are left out."""
    out = []
    for claim in ordered():
        for m in ([mode] if mode else ["full", "quick"]):
            f = result_file(Path(folder), claim.id, m)
            if f.is_file():
                try:
                    out.append(json.loads(f.read_text()))
                    break
                except json.JSONDecodeError:
                    continue
    return ClaimResults(out, folder)
