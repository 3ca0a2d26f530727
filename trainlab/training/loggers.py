"""Loggers beside the run folder: TensorBoard and MLflow, asked for with `loggers: [tensorboard, mlflow]`.

The run folder stays the record of truth and is always written; a logger sends a copy to a tool
people already use. The loop makes two plain calls: `log(row)` with each metrics row (the row
metrics.csv gets, at its step) and `finish(run, summary)` at the end (final scores, hyperparameters,
artifacts). In a distributed run rank 0 alone makes them (the other ranks have no run folder).

A logger that fails (a full disk, a tracking server gone) warns once, in one line, and is switched
off for the rest of the run: the run goes on, and its folder has every row.

- tensorboard: event files in the run folder's `tb/` (torch.utils.tensorboard): every column of each
  row as a scalar at the row's step (in float32, as TensorBoard stores scalars: metrics.csv's value
  rounded to float32), lr and gradient norm among them; the resolved config as text; with
  `diagnostics: true`, per-layer histograms of weights, gradients and activations at each evaluation;
  at the end the hyperparameters with the final scores (`final/test_acc`, `final/best_val_loss`, ...)
  for the HParams view. `tensorboard --logdir runs` shows every run below runs/, compare groups and
  search trials included.
- mlflow: one MLflow run per trainlab run, in the experiment named by the run's group (a compare's
  arms and seeds are runs of the compare's experiment; a search's trials, of the study's), with the
  resolved config as params, every column of each row as a metric at its step, tags (group, arm,
  seed, status, the run folder), and at the end the final scores and the plots, report and best
  weights as artifacts. The store is $MLFLOW_TRACKING_URI, or else `sqlite:///<runs_dir>/mlflow.db`
  with artifacts in `<runs_dir>/mlflow-artifacts/` (MLflow 3 wants a database, not a bare ./mlruns).
  `mlflow.json` in the run folder names the MLflow run; `trainlab resume` replaces it with one holding
  the rows kept at the checkpoint, then the rest (MLflow cannot take back the points logged after it).
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import yaml
from torch import nn

from .. import runs as rf
from ..config import Config
from .diagnostics import Diagnostics, weight_layers

PACKAGES = {"tensorboard": "tensorboard", "mlflow": "mlflow"}  # logger -> its package (and extra of the same name)
SKIP = ("step",)  # the step is where a value goes, not a value


def values(row: dict[str, Any]) -> dict[str, float]:
    """The numeric columns of a metrics row (what metrics.csv holds as numbers), but the step."""
    return {k: float(v) for k, v in row.items() if k not in SKIP and isinstance(v, (int, float))
            and not isinstance(v, bool)}


def final_scores(summary: dict[str, Any]) -> dict[str, float]:
    """The scores a run ends with: `test_<metric>` (scored once) and `best_<val metric>` (its best evaluation)."""
    out = {f"test_{k}": float(v) for k, v in (summary.get("test") or {}).items() if isinstance(v, (int, float))}
    best = summary.get("best") or {}
    out.update({f"best_{k}": float(v) for k, v in best.items() if k.startswith("val_") and isinstance(v, (int, float))})
    return {k: v for k, v in out.items() if math.isfinite(v)}


def flat_config(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"optimizer_options": {"momentum": 0.9}} -> {"optimizer_options.momentum": 0.9}; lists as text,
    None left out: what TensorBoard's HParams and MLflow's params take."""
    out: dict[str, Any] = {}
    for k, v in config.items():
        if isinstance(v, dict) and v:
            out.update(flat_config(v, f"{prefix}{k}."))
        elif isinstance(v, (list, tuple, dict)):
            out[prefix + k] = json.dumps(v)
        elif v is not None:
            out[prefix + k] = v
    return out


def experiment_of(group: str | None) -> tuple[str, str | None]:
    """(MLflow experiment, compare arm) of a run's group: "compare-x/dropout" -> ("compare-x", "dropout");
    "study" -> ("study", None); no group -> $MLFLOW_EXPERIMENT_NAME or "trainlab"."""
    if not group:
        return os.environ.get("MLFLOW_EXPERIMENT_NAME") or "trainlab", None
    head, _, rest = group.strip("/").partition("/")
    return head, rest or None


class TensorBoard:
    """Event files in the run folder's tb/."""

    name = "tensorboard"

    def __init__(self, cfg: Config, run: rf.Run, model: nn.Module, diag: Diagnostics | None, resumed_at: int | None):
        from torch.utils.tensorboard import SummaryWriter  # lazy: imports tensorboard and protobuf, for this logger
        from torch.utils.tensorboard.summary import hparams  # lazy: as above

        self.hparams = hparams
        quiet_writer_thread()
        # resumed: the events after the checkpoint's step were logged by the run that died; they are purged
        # (TensorBoard drops what an earlier file holds at or after purge_step) and logged again
        self.writer = SummaryWriter(str(run.path / "tb"), purge_step=None if resumed_at is None else resumed_at + 1)
        self.model, self.diag = model, diag
        if resumed_at is None:
            text = yaml.safe_dump(cfg.resolved(), sort_keys=False)
            self.writer.add_text("config", "```yaml\n" + text + "```", 0)
            self.writer.flush()

    def scalar(self, tag: str, value: float, step: int) -> None:
        # float32, the one scalar TensorBoard's data server reads (it skips float64 tensors): the value read
        # back is metrics.csv's rounded to float32, exactly
        self.writer.add_scalar(tag, value, step)

    def log(self, row: dict[str, Any]) -> None:
        step = row["step"]
        for k, v in values(row).items():
            self.scalar(k, v, step)
        if self.diag is not None and "val_loss" in row:
            self.histograms(step)
        self.writer.flush()  # a failure shows at this row, and a killed run's events are on disk

    def histograms(self, step: int) -> None:
        """Per-layer weights and gradients (of the last step), and the activations the diagnostics measured."""
        for name, p in weight_layers(self.model):
            self.writer.add_histogram(f"weights/{name}", p.detach().float().cpu(), step)
            if p.grad is not None:
                self.writer.add_histogram(f"gradients/{name}", p.grad.detach().float().cpu(), step)
        last = self.diag.log.rows[-1] if self.diag.log.rows else {}
        for name, a in (last.get("activations") or {}).items() if last.get("step") == step else ():
            counts = np.asarray(a["hist"], dtype=float)
            n = float(counts.sum())
            lo, hi = a["range"]
            limits = np.linspace(lo, hi, len(counts) + 1)[1:]
            sum_sq = a["std"] ** 2 * max(n - 1, 0) + n * a["mean"] ** 2
            self.writer.add_histogram_raw(f"activations/{name}", min=lo, max=hi, num=n, sum=a["mean"] * n,
                                          sum_squares=sum_sq, bucket_limits=limits.tolist(),
                                          bucket_counts=counts.tolist(), global_step=step)

    def finish(self, run: rf.Run, summary: dict[str, Any]) -> None:
        step = int((summary.get("last") or {}).get("step", 0))
        finals = {f"final/{k}": v for k, v in final_scores(summary).items()}
        for k, v in finals.items():
            self.scalar(k, v, step)
        # the session's hyperparameters and its end; no experiment summary of its own, so TensorBoard's
        # HParams view gathers the hyperparameters and metrics of every run below --logdir side by side
        _, start, end = self.hparams(flat_config(run.config), finals)
        self.writer.file_writer.add_summary(start)
        self.writer.file_writer.add_summary(end)
        self.close()

    def close(self) -> None:
        self.writer.close()


def quiet_writer_thread() -> None:
    """TensorBoard writes events in a thread of its own; an error there (a full disk) is kept and raised again
    by the next write in the run's thread, where `Loggers` says it in one line. Python would also print the
    thread's traceback: this hook leaves that one out (an error in any other thread prints as before)."""
    previous = threading.excepthook
    if getattr(previous, "trainlab", False):
        return

    def hook(args) -> None:
        if type(args.thread).__name__ != "_AsyncWriterThread":
            previous(args)

    hook.trainlab = True  # type: ignore[attr-defined]
    threading.excepthook = hook


def tracking_uri(runs_dir: str | Path) -> str:
    """$MLFLOW_TRACKING_URI, or the SQLite store in the runs folder."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(Path(runs_dir) / 'mlflow.db').resolve()}"


@contextlib.contextmanager
def first_use(uri: str) -> Iterator[None]:
    """Opening a store, one process at a time: MLflow creates and migrates a new SQLite store on first
    use, and two workers of a compare doing it at once break each other's migration. A lock file beside
    a SQLite store serializes that (and the experiment's creation); other stores are servers, which
    need none. The store's INFO lines and its migration's warnings are kept out of the run's output."""
    loggers = [logging.getLogger(name) for name in ("mlflow", "alembic")]
    levels = [lg.level for lg in loggers]
    db = Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None
    with contextlib.ExitStack() as stack:
        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")
        if db is not None:
            db.parent.mkdir(parents=True, exist_ok=True)
            lock = stack.enter_context(open(db.with_name(db.name + ".lock"), "a"))
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        for lg in loggers:
            lg.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)


class MLflow:
    """One MLflow run per trainlab run, written with MlflowClient (no global active run)."""

    name = "mlflow"
    STATUS = {"finished": "FINISHED", "early_stopped": "FINISHED", "stopped": "FINISHED", "diverged": "FAILED"}

    def __init__(self, cfg: Config, run: rf.Run, resumed_at: int | None):
        from mlflow.entities import Metric, Param  # lazy: ~2 s of imports, for this logger only
        from mlflow.tracking import MlflowClient  # lazy: as above

        self.Metric = Metric
        ref = run.path / "mlflow.json"
        old = json.loads(ref.read_text()) if resumed_at is not None and ref.is_file() else None
        self.uri = old["tracking_uri"] if old else tracking_uri(cfg.runs_dir)
        experiment, arm = experiment_of(cfg.group)
        with first_use(self.uri):
            self.client = MlflowClient(tracking_uri=self.uri)  # a new SQLite store is created (migrated) here
            experiment_id = self.experiment_id(experiment, cfg.runs_dir)
        summary = run.summary
        tags = {"group": cfg.group or "", "arm": arm or summary.get("arm", ""), "arm_hash": summary.get("arm", ""),
                "seed": str(cfg.seed), "run_dir": str(run.path.resolve()), "status": "running",
                "model": cfg.model, "dataset": cfg.dataset}
        name = f"{arm}/{run.name}" if arm else run.name
        self.run_id = self.client.create_run(experiment_id, run_name=name, tags=tags).info.run_id
        params = [Param(k, str(v)) for k, v in flat_config(cfg.resolved()).items()]
        for i in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(self.run_id, params=params[i:i + 100])
        if resumed_at is not None:  # the rows after the checkpoint are trained again, and MLflow cannot take back
            # a point: the run that died is deleted (MLflow keeps it in its trash); this one gets the rows kept so far
            if old:
                self.client.delete_run(old["run_id"])
            for row in run.metrics:
                self.log(row)
        rf.write_json(ref, {"tracking_uri": self.uri, "experiment": experiment, "run_id": self.run_id})

    def experiment_id(self, name: str, runs_dir: str) -> str:
        """The experiment's id, created if new (artifacts in runs_dir/mlflow-artifacts with the default store);
        two workers of a compare may race to create it: the loser reads the winner's."""
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        default = not os.environ.get("MLFLOW_TRACKING_URI")
        where = (Path(runs_dir) / "mlflow-artifacts").resolve().as_uri() if default else None
        try:
            return self.client.create_experiment(name, artifact_location=where)
        except Exception:
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return found.experiment_id

    def metrics(self, scores: dict[str, float], step: int) -> None:
        now = int(time.time() * 1000)
        batch = [self.Metric(k, v, now, step) for k, v in scores.items()]
        for i in range(0, len(batch), 1000):  # MLflow takes at most 1000 metrics per batch
            self.client.log_batch(self.run_id, metrics=batch[i:i + 1000])

    def log(self, row: dict[str, Any]) -> None:
        self.metrics(values(row), row["step"])

    def finish(self, run: rf.Run, summary: dict[str, Any]) -> None:
        step = int((summary.get("last") or {}).get("step", 0))
        self.metrics(final_scores(summary), step)
        status = summary.get("status", "")
        self.client.set_tag(self.run_id, "status", status)
        files = [(run.path / "report.html", None), (run.path / "summary.json", None),
                 (run.path / "metrics.csv", None), (run.ckpt_dir / "best.safetensors", "weights"),
                 (run.ckpt_dir / "preprocess.safetensors", "weights")]
        for path, folder in files:
            if path.is_file():
                self.client.log_artifact(self.run_id, str(path), folder)
        if (run.path / "plots").is_dir():
            self.client.log_artifacts(self.run_id, str(run.path / "plots"), "plots")
        self.client.set_terminated(self.run_id, self.STATUS.get(status, "FINISHED"))

    def close(self) -> None:
        pass


class Loggers:
    """The run's loggers; none for `loggers: []` and on every rank but 0 (then each call does nothing)."""

    def __init__(self, cfg: Config | None = None, run: rf.Run | None = None, model: nn.Module | None = None,
                 diag: Diagnostics | None = None, resumed_at: int | None = None):
        self.active: list[Any] = []
        self.step = resumed_at or 0
        for name in cfg.loggers if cfg is not None and run is not None else ():
            if name == "tensorboard":
                self.guard(name, lambda: self.active.append(TensorBoard(cfg, run, model, diag, resumed_at)))
            else:
                self.guard(name, lambda: self.active.append(MLflow(cfg, run, resumed_at)))

    def log(self, row: dict[str, Any]) -> None:
        """Send one metrics row to every logger."""
        self.step = row.get("step", self.step)
        for lg in list(self.active):
            self.guard(lg, lg.log, row)

    def finish(self, run: rf.Run, summary: dict[str, Any]) -> None:
        """Final scores, hyperparameters and artifacts; then the loggers close."""
        for lg in list(self.active):
            self.guard(lg, lg.finish, run, summary)
        self.active = []

    def guard(self, logger: Any, call, *args: Any) -> None:
        """call(*args); if it fails, one warning line, and the logger is off for the rest of the run."""
        try:
            call(*args)
        except Exception as e:  # any failure of an optional copy: the run and its folder go on
            name = logger if isinstance(logger, str) else logger.name
            why = str(e).splitlines()[0][:200] if str(e) else ""
            print(f"trainlab: warning: the {name} logger failed at step {self.step} ({type(e).__name__}: {why}); "
                  "the run goes on without it, and its folder has every row", file=sys.stderr, flush=True)
            if logger in self.active:
                self.active.remove(logger)
                try:
                    logger.close()
                except Exception:  # closing a broken writer may fail again: said once already
                    pass
