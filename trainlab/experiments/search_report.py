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
from ..runs import load_run
from ..runs.files import write_json, write_text
from ..training.saved import evaluate
from .optuna import optuna

DROP = ("name", "group", "tags", "runs_dir")  # best.yaml starts a new run wherever it is trained


@dataclass
class StudyResult:
    name: str
    folder: Path
    study: Any  # optuna.Study
    best_value: float | None
    best_trial: int | None
    best_config: dict[str, Any] | None
    test: dict[str, float] | None
    report: Path

    def trials(self) -> list[dict[str, Any]]:
        return [{"number": t.number, "state": t.state.name, "value": t.value, "params": t.params,
                 "run": t.user_attrs.get("run")} for t in self.study.trials]


def _plots(study, folder: Path, n_params: int) -> tuple[list[Path], list[str]]:
    plt.switch_backend("Agg")  # before Optuna's plotting module imports pyplot: files, never a window
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
                       config, test, report)


def write_page(s, trials, best, test, images, skipped) -> Path:
    keys = [d.key for d in s.dims]
    rows = []
    for t in trials:
        bold = " style='font-weight:bold'" if best is not None and t["number"] == best.number else ""
        state = t["state"].lower() + (f" (retry of {t['retry_of']})" if t.get("retry_of") is not None else "")
        cells = [str(t["number"]), state, _fmt(t["value"]), *(_fmt(t["params"].get(k)) for k in keys), t["run"] or ""]
        rows.append(f"<tr{bold}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    rows = "".join(rows)
    head = (f"<p>{s.sampler} sampler, {s.trials} trials, objective <b>{s.objective}</b> ({s.direction}, validation), "
            f"pruner {s.pruner}.</p>")
    if best is not None:
        head += (f"<p>Best: trial {best.number}, {s.objective} {best.value:.4f}; test (scored once, for this "
                 f"trial only): {html.escape(', '.join(f'{k} {v:.4f}' for k, v in (test or {}).items()))}. "
                 f"Config: <code>{html.escape(str(s.folder / 'best.yaml'))}</code>.</p>")
    body = [
        f"<h1>{html.escape(s.name)}</h1>", head, page.heading("Plots (Optuna)"), *[page.image(p) for p in images],
        page.paragraph(f"Not drawn: {html.escape('; '.join(skipped))}") if skipped else "",
        page.heading("Trials"), "<table><tr><th>#</th><th>state</th><th>value</th>",
        "".join(f"<th>{html.escape(k)}</th>" for k in keys), "<th>run</th></tr>", rows, "</table>",
    ]
    return page.write_page(s.folder / "report.html", f"trainlab search: {s.name}", body)


def _fmt(v) -> str:
    return "" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))
