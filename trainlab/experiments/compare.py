"""`trainlab compare` / `trainlab.compare`: techniques across seeds, with statistics.

Runs every (arm, seed) of an experiment (in parallel workers; skipping what is done, resuming
what was interrupted), then analyses the run folders: per arm the mean, std and 95% bootstrap
CI of each final metric, and per arm against the baseline a paired comparison by seed. Choices
are made on validation metrics (the best epoch's); test metrics are reported, never chosen on.

    >>> c = trainlab.compare("configs/mlp-digits.yaml", {"none": {}, "dropout": {"dropout": 0.5}}, seeds=5)  # doctest: +SKIP
    >>> c.table()["dropout"]["val_acc"]["ci"], c.paired()["dropout"]["val_acc"]["p_t"]                         # doctest: +SKIP
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import read_yaml
from ..errors import TrainlabError
from ..runs import iter_runs, load_run
from ..runs.files import read_json_object, write_json
from . import stats
from ..runs.figures import shown
from .plots import FIGURES
from .pool import ENDED, Job, execute, plan, run_metrics
from .queue import Queue
from .queued import check_complete, enqueue, runs_from_queue, work_and_wait
from .progress import Tally
from .report import results_html, write_compare_report
from .spec import Experiment, arm_overrides

METRICS = ("val_acc", "val_loss", "val_miou", "val_map50", "val_map", "test_acc", "test_loss", "test_miou",
           "test_map50", "test_map")  # map50, map: a detection run's mAP@0.5 and mAP@[.5:.95]


def read_spec(meta: Path) -> dict[str, Any]:
    """experiment.json: the spec `trainlab compare` wrote (arms, base, seeds); one line if it was damaged."""
    fix = "restore it, or move the folder away and run the compare again"
    spec = read_json_object(meta, fix)
    if not isinstance(spec.get("arms"), dict) or not isinstance(spec.get("seeds"), int):
        raise TrainlabError(f"{str(meta)!r} lacks its arms or seeds; {fix}")
    return spec


def chance(metric: str, classes: int | None) -> float | None:
    """The score of guessing among `classes` classes: what a run that diverged before its first
    evaluation counts as (None when the classes are not known, a regression run say)."""
    if not classes:
        return None
    if metric.endswith("_acc"):
        return 1.0 / classes
    if metric.endswith("top5"):
        return min(1.0, 5.0 / classes)
    if metric.endswith("_loss"):
        return math.log(classes)
    return None


@dataclass
class Comparison:
    """An experiment's results, read from its folder: `.table()`, `.paired()`, `.plot()` (a figure),
    `.write()` (results.csv, results.json, plots and report.html); a notebook shows it as tables."""

    folder: Path
    spec: dict[str, Any]
    runs: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)  # arm -> seed -> run record

    @classmethod
    def load(cls, folder: str | Path) -> "Comparison":
        folder = Path(folder)
        meta = folder / "experiment.json"
        if not meta.is_file():
            raise TrainlabError(f"{str(folder)!r} is not a compare folder (no experiment.json); pass "
                                "runs/<experiment> as made by `trainlab compare`")
        spec = read_spec(meta)
        c = cls(folder, spec, {arm: {} for arm in spec["arms"]})
        datasets = set()
        for run in iter_runs(folder):
            rel = run.path.relative_to(folder).parts
            arm = rel[0] if len(rel) == 2 and rel[1].startswith("seed-") else None
            if arm not in c.runs:
                continue
            cfg, s = run.config, run.summary
            datasets.add(str(cfg.get("dataset")))
            c.runs[arm][int(cfg["seed"])] = {"path": run.path, "status": s.get("status"), "metrics": run_metrics(s),
                                             "summary": s,
                                             "curve": [(r["epoch"], r.get("val_acc", r.get("val_map50")),
                                                        r.get("val_loss"))
                                                       for r in run.metrics if "val_loss" in r]}
        if len(datasets) > 1:
            raise TrainlabError(f"{str(folder)!r} holds runs on different datasets ({', '.join(sorted(datasets))}); "
                                "a comparison needs one dataset: move the odd runs away")
        return c

    @classmethod
    def from_queue(cls, url: str, name: str, folder: str | Path | None = None) -> "Comparison":
        """An experiment's results from the summaries its runs left in the queue at `url` (no run
        folder needed; the report goes to `folder`, default runs/<name>)."""
        q = Queue(url)
        qexp = q.experiment(name)
        spec = {**qexp.spec, "name": name}
        runs = runs_from_queue(q, qexp, list(spec["arms"]))
        spec["seeds"] = 1 + max((s for arm in runs.values() for s in arm), default=0)
        check_complete(qexp, runs, spec["seeds"])
        c = cls(Path(folder or Path("runs") / name), spec, {})
        c.runs = {arm: {seed: {**r, "metrics": run_metrics(r["summary"])} for seed, r in seeds.items()}
                  for arm, seeds in runs.items()}
        return c

    @property
    def baseline(self) -> str:
        return self.spec["baseline"]

    def metrics(self) -> list[str]:
        have = {k for arm in self.runs.values() for r in arm.values() for k in r["metrics"]}
        return [m for m in METRICS if m in have]

    def values(self, arm: str, metric: str) -> dict[int, float]:
        """seed -> value of each ended run. A run that diverged is counted, not dropped (dropping it
        would flatter the arm that diverges more): with the scores of its best evaluation before it
        diverged, or at chance (accuracy 1/K, loss ln K) when it diverged before any."""
        out = {}
        for seed, r in sorted(self.runs[arm].items()):
            v = r["metrics"].get(metric)
            if r["status"] not in ENDED:
                continue
            if r["status"] == "diverged" and not (isinstance(v, (int, float)) and math.isfinite(v)):
                v = chance(metric, (r.get("summary") or {}).get("classes"))
            if isinstance(v, (int, float)) and math.isfinite(v):
                out[seed] = v
        return out

    def monitors(self) -> list[str]:
        """The monitors of the runs: their validation scores are at each run's best evaluation by it."""
        return sorted({str((r.get("summary") or {}).get("monitor", "val_loss")) for arm in self.runs.values()
                       for r in arm.values()})

    def diverged(self, arm: str) -> int:
        return sum(r["status"] == "diverged" for r in self.runs[arm].values())

    def table(self) -> dict[str, dict[str, dict[str, Any]]]:
        """arm -> metric -> {n, mean, std, ci, diverged}."""
        return {arm: {m: {**stats.summarize(list(self.values(arm, m).values())), "diverged": self.diverged(arm)}
                      for m in self.metrics()} for arm in self.runs}

    def paired(self, baseline: str | None = None) -> dict[str, dict[str, dict[str, Any]]]:
        """arm -> metric -> paired comparison against the baseline, on the seeds both have."""
        base = baseline or self.baseline
        if base not in self.runs:
            raise TrainlabError(f"baseline {base!r} is not an arm; choose one of: {', '.join(self.runs)}")
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for arm in self.runs:
            if arm == base:
                continue
            out[arm] = {}
            for m in self.metrics():
                a, b = self.values(arm, m), self.values(base, m)
                seeds = sorted(set(a) & set(b))
                p = stats.paired([a[s] for s in seeds], [b[s] for s in seeds])
                p["verdict"] = stats.verdict(p, m)
                out[arm][m] = p
        return out

    def plot(self, kind: str = "dots"):
        """A matplotlib figure (Jupyter shows it inline): "dots", every seed per arm with the arm's mean and
        95% interval; "curves", validation curves as a mean with a band; "paired", each arm minus the
        baseline by seed. `write()` saves all three in the experiment's plots/ folder."""
        if kind not in FIGURES:
            raise TrainlabError(f"plot kind {kind!r} is not one of: {', '.join(FIGURES)}")
        fig = FIGURES[kind](self)
        if fig is None:
            raise TrainlabError(f"nothing to draw for {kind!r}: " + ("one arm has no baseline to pair with"
                                                                    if kind == "paired" else "no run has curves"))
        return shown(fig)

    def _repr_html_(self) -> str:
        """In a notebook: each arm's mean, std and 95% interval per metric, and each arm against the baseline."""
        table, paired = results_html(self)
        seeds = 1 + max((s for arm in self.runs.values() for s in arm), default=-1)
        return (f"<p><b>{html.escape(self.spec['name'])}</b>: {len(self.runs)} arms x {seeds} seeds, baseline "
                f"<b>{html.escape(self.baseline)}</b>; mean &plusmn; std [95% interval] of each final metric "
                f"(validation at each run's best evaluation, test reported only)</p>{table}{paired}")

    def write(self) -> Path:
        """results.csv, results.json, the plots and report.html in the experiment folder."""
        return write_compare_report(self)


def compare(base: str | Path | dict[str, Any], arms: dict[str, dict[str, Any]], seeds: int = 5,
            jobs: int | None = None, name: str | None = None, baseline: str | None = None,
            runs_dir: str | None = None, quiet: bool = True, storage: str | None = None,
            enqueue_only: bool = False) -> Comparison | None:
    """Run (or finish) an experiment and analyse it. `base` is a config path or dict; `arms` maps
    arm names to config overrides (the first arm is the baseline unless `baseline` says otherwise).
    storage: a queue (sqlite:///... or postgresql://...) the runs go through, so workers on other
    machines (`trainlab worker --storage URL`) take their share; this call works on them too
    (enqueue_only: it only enqueues them, and returns None)."""
    values = read_yaml(base) if isinstance(base, (str, Path)) else dict(base)
    exp = Experiment(name=name or (f"compare-{Path(base).stem}" if isinstance(base, (str, Path)) else "compare"),
                     base=values, arms={a: arm_overrides(a, dict(o or {}), values) for a, o in arms.items()},
                     seeds=seeds, baseline=baseline or "", runs_dir=runs_dir or str(values.get("runs_dir", "runs")))
    return run_experiment(exp, jobs=jobs, quiet=quiet, storage=storage, enqueue_only=enqueue_only)


def run_experiment(exp: Experiment, jobs: int | None = None, quiet: bool = False, storage: str | None = None,
                   enqueue_only: bool = False) -> Comparison | None:
    """Check every arm, plan (skip, resume, train), run with progress, then analyse and write.
    With `storage`, the runs go through the queue there instead (enqueue_only: stop after enqueuing;
    the result is then None)."""
    exp.check()
    if jobs is not None and jobs < 1:
        raise TrainlabError(f"--jobs {jobs} must be >= 1")
    if storage is not None:
        q, qexp, total = enqueue(exp, storage, say=(lambda _: None) if quiet else print)
        if enqueue_only:
            if not quiet:
                print(f"{exp.name}: {total} runs in the queue; workers take them with "
                      f"`trainlab worker --storage URL`, and `trainlab compare --from-storage URL --name {exp.name}` "
                      "gathers the analysis", flush=True)
            return None
        work_and_wait(q, qexp, total, storage, jobs, exp.runs_dir, quiet)
        return Comparison.from_queue(storage, exp.name, folder=exp.folder)
    meta = exp.folder / "experiment.json"
    if meta.is_file():
        old = read_spec(meta)
        if old.get("arms") != exp.to_json()["arms"] or old.get("base") != exp.to_json()["base"]:
            raise TrainlabError(f"{str(exp.folder)!r} holds experiment {old.get('name')!r} with other arms or "
                                "another base config; use another --name, or --from to re-analyse it")
    todo = [Job(arm, seed, exp.configs[arm].model_copy(update={"seed": seed, "name": f"seed-{seed}"}).resolved(),
                exp.folder / arm / f"seed-{seed}") for seed in range(exp.seeds) for arm in exp.arms]
    plan(todo)
    held = max(exp.seeds, read_spec(meta)["seeds"] if meta.is_file() else 0)  # seeds the folder holds, analysed
    write_json(meta, {**exp.to_json(), "seeds": held})
    show = Progress(exp, todo, jobs, quiet, held)
    execute(todo, jobs, on_done=show.done, say=None if quiet else print)
    show.close()
    c = Comparison.load(exp.folder)
    c.write()
    return c


class Progress:
    """A compare's progress lines (through the experiments' one display, `Tally`): the run that ended,
    its validation score, the best arm so far by mean validation score, time left."""

    def __init__(self, exp: Experiment, jobs: list[Job], n_jobs: int | None, quiet: bool, held: int = 0):
        self.exp = exp
        self.tally = Tally(len(jobs), sum(j.action == "done" for j in jobs), quiet)
        self.scores: dict[str, list[float]] = {}
        if not quiet:
            done = self.tally.done
            skip = f", {done} already done" if done else ""
            resume = sum(j.action == "resume" for j in jobs)
            workers = f"{n_jobs} at a time" if n_jobs else "how many at a time is decided after timing the first run"
            more = (f"; the folder holds {held} seeds of each arm, and the analysis uses all {held}"
                    if held > exp.seeds else "")
            print(f"{exp.name}: {len(exp.arms)} arms x {exp.seeds} seeds = {len(jobs)} runs{skip}"
                  + (f", {resume} to resume" if resume else "") + f"{more}; {workers}, one thread each -> {exp.folder}",
                  flush=True)

    def done(self, job: Job, status: str) -> None:
        best = load_run(job.path).summary.get("best") or {}
        score = best.get("val_acc", best.get("val_miou", best.get("val_map50")))
        if isinstance(score, (int, float)):
            self.scores.setdefault(job.arm, []).append(score)
        means = {a: sum(v) / len(v) for a, v in self.scores.items()}
        lead = max(means, key=means.get) if means else None
        self.tally.ended(f"{job.arm} seed {job.seed}", status + (f" (val {score:.4f})" if isinstance(score, (int, float))
                                                                 else ""),
                         f"best arm so far: {lead} {means[lead]:.4f}" if lead else "")

    def close(self) -> None:
        if not self.tally.quiet:
            print(f"{self.exp.name}: {self.tally.total} runs in {self.tally.elapsed()}", flush=True)
