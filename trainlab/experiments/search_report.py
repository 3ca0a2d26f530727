"""The end of a search: the best trial's test score (once), best.yaml, a table of trials,
Optuna's plots (history, importances, slices, contours) and one self-contained HTML page."""
from __future__ import annotations

import html
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..report import page
from ..report.plots import plt, save_figure
from ..runs.figures import shown
from ..runs import load_run
from ..runs.files import write_json, write_text
from ..training.saved import evaluate
from .optuna import optuna

DROP = ("name", "group", "tags", "runs_dir")  # best.yaml starts a new run wherever it is trained


@dataclass
class StudyResult:
    """A search's result: the best trial, its config and its test score (scored once), every trial;
    `.plot()` draws the search's history, and a notebook shows it as a table of trials."""

    name: str
    folder: Path
    study: Any  # optuna.Study
    best_value: float | None
    best_trial: int | None
    best_config: dict[str, Any] | None
    test: dict[str, float] | None
    report: Path
    objective: str = "value"

    def trials(self) -> list[dict[str, Any]]:
        return [{"number": t.number, "state": t.state.name, "value": t.value, "params": t.params,
                 "run": t.user_attrs.get("run")} for t in self.study.trials]

    def plot(self):
        """The search's history as a matplotlib figure: each trial's objective (pruned trials at their last
        evaluation, as crosses) and the best so far."""
        trials = self.study.trials
        maximize = self.study.direction.name == "MAXIMIZE"
        fig, ax = plt.subplots(figsize=(6.4, 3.8))
        done = [(t.number, t.value) for t in trials if t.state.name == "COMPLETE" and t.value is not None]
        pruned = [(t.number, t.intermediate_values[max(t.intermediate_values)]) for t in trials
                  if t.state.name == "PRUNED" and t.intermediate_values]
        if done:
            ax.plot(*zip(*done), "o", c="#1f77b4", label="complete")
            best, line = None, []
            for n, v in done:
                best = v if best is None or (v > best if maximize else v < best) else best
                line.append((n, best))
            ax.step(*zip(*line), where="post", c="#d62728", label="best so far")
        if pruned:
            ax.plot(*zip(*pruned), "x", c="gray", label="pruned (last evaluation)")
        ax.set_xlabel("trial")
        ax.set_ylabel(f"{self.objective} (validation)")
        ax.set_title(f"search {self.name}: {len(done)} complete, {len(pruned)} pruned", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        return shown(fig)

    def _repr_html_(self) -> str:
        """In a notebook: the best trial and its test score, and the table of trials (the best in bold)."""
        trials = self.trials()
        keys = list(dict.fromkeys(k for t in trials for k in t["params"]))
        head = f"<p><b>search {html.escape(self.name)}</b>: {len(trials)} trials"
        if self.best_trial is not None:
            test = ", ".join(f"{k} {v:.4f}" for k, v in (self.test or {}).items())
            head += (f"; best trial {self.best_trial}, {html.escape(self.objective)} {self.best_value:.4f} "
                     f"(validation); test (scored once, for it alone): {html.escape(test)}")
        return head + "</p>" + trials_html(trials, keys, self.best_trial)


def _plots(study, folder: Path, n_params: int) -> tuple[list[Path], list[str]]:
    plt.get_backend()  # pyplot imported our way (Agg, but in a notebook) before Optuna's plotting module imports it
    import optuna.visualization.matplotlib as ov  # lazy: imports matplotlib (~0.8 s), for reports only

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # "unique value length is less than 2" on grids
    out, skipped = [], []
    wanted = [("history", ov.plot_optimization_history), ("importances", ov.plot_param_importances),
              ("slice", ov.plot_slice)] + ([("contour", ov.plot_contour)] if n_params >= 2 else [])
    for name, fn in wanted:
        try:
            with warnings.catch_warnings(), plt.rc_context():  # Optuna sets a style; keep it to its own plots
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                warnings.simplefilter("ignore", UserWarning)  # tight_layout and colorbar axes
                ax = fn(study)
                first = ax.flat[0] if hasattr(ax, "flat") else ax
                fig = first.figure
                n = n_params if name in ("slice", "contour") else 1
                w, h = (3.4 * n + 1.6, 3.0 * n + 0.6) if name == "contour" else (max(6.5, 3.4 * n), 4.2)
                fig.set_size_inches(w, h)
                out.append(save_figure(fig, folder / "plots" / f"{name}.png", tight=name not in ("contour", "slice")))
        except Exception as e:  # too few completed trials for an importance, one parameter for a contour
            plt.close("all")
            skipped.append(f"{name}: {str(e).splitlines()[0][:100] if str(e) else type(e).__name__}")
    return out, skipped


def finish_study(s, study, quiet: bool) -> StudyResult:
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # retried_trial_number
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = study.best_trial if done else None
    test, config = None, None
    if best is not None:
        run = load_run(best.user_attrs["run"])
        key = f"test:{best.number}"
        test = study.user_attrs.get(key)
        if test is None:  # the test split, scored once, for the best trial only
            res = evaluate(run.path, split="test", device="cpu")
            test = {k: v for k, v in res.items() if isinstance(v, float)}
            study.set_user_attr(key, test)
        config = {k: v for k, v in run.config.items() if k not in DROP}
        write_text(s.folder / "best.yaml", f"# best of search {s.name}: trial {best.number}, {s.objective} "
                                          f"{best.value:.4f} (validation); test {test}\n"
                                          + yaml.safe_dump(config, sort_keys=False))
    images, skipped = _plots(study, s.folder, len(s.dims))
    trials = [{"number": t.number, "state": t.state.name, "value": t.value, "params": t.params,
               "run": t.user_attrs.get("run"), "retry_of": optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(t)}
              for t in study.trials]
    write_json(s.folder / "trials.json", {"study": s.name, "sampler": s.sampler, "objective": s.objective,
                                          "direction": s.direction, "trials": trials,
                                          "best": best.number if best else None, "test": test})
    report = write_page(s, trials, best, test, images, skipped)
    if not quiet:
        counts = {st: sum(t["state"] == st for t in trials) for st in ("COMPLETE", "PRUNED", "FAIL")}
        print(f"search {s.name}: {counts['COMPLETE']} complete, {counts['PRUNED']} pruned, {counts['FAIL']} failed")
        if best is not None:
            print(f"best: trial {best.number}, {s.objective} {best.value:.4f} (validation), "
                  f"test acc {test.get('acc', float('nan')):.4f} (scored once, best trial only)\n"
                  f"  {', '.join(f'{k}={v}' for k, v in best.params.items())}\n"
                  f"best config: {s.folder / 'best.yaml'}  (trainlab train {s.folder / 'best.yaml'})")
        print(f"report: {report}")
    return StudyResult(s.name, s.folder, study, best.value if best else None, best.number if best else None,
                       config, test, report, s.objective)


def trials_html(trials: list[dict[str, Any]], keys: list[str], best: int | None) -> str:
    """The table of trials: number, state, value, each parameter and the run folder; the best in bold."""
    rows = []
    for t in trials:
        bold = " style='font-weight:bold'" if t["number"] == best else ""
        state = t["state"].lower() + (f" (retry of {t['retry_of']})" if t.get("retry_of") is not None else "")
        cells = [str(t["number"]), state, _fmt(t["value"]), *(_fmt(t["params"].get(k)) for k in keys), t["run"] or ""]
        rows.append(f"<tr{bold}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    return ("<table><tr><th>#</th><th>state</th><th>value</th>" + "".join(f"<th>{html.escape(k)}</th>" for k in keys)
            + "<th>run</th></tr>" + "".join(rows) + "</table>")


def write_page(s, trials, best, test, images, skipped) -> Path:
    keys = [d.key for d in s.dims]
    head = (f"<p>{s.sampler} sampler, {s.trials} trials, objective <b>{s.objective}</b> ({s.direction}, validation), "
            f"pruner {s.pruner}.</p>")
    if best is not None:
        head += (f"<p>Best: trial {best.number}, {s.objective} {best.value:.4f}; test (scored once, for this "
                 f"trial only): {html.escape(', '.join(f'{k} {v:.4f}' for k, v in (test or {}).items()))}. "
                 f"Config: <code>{html.escape(str(s.folder / 'best.yaml'))}</code>.</p>")
    body = [
        f"<h1>{html.escape(s.name)}</h1>", head, page.heading("Plots (Optuna)"), *[page.image(p) for p in images],
        page.paragraph(f"Not drawn: {html.escape('; '.join(skipped))}") if skipped else "",
        page.heading("Trials"), trials_html(trials, keys, best.number if best is not None else None),
    ]
    return page.write_page(s.folder / "report.html", f"trainlab search: {s.name}", body)


def _fmt(v) -> str:
    return "" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))
