"""Run folders: the record of a run on disk, its checkpoints, and tables of many runs.

    runs/[<group>/]<name>/
      config.yaml       resolved config, every default written out
      env.json          versions, git hash, seed, threads, device
      metrics.jsonl     one row per log or evaluation (metrics.csv holds the same rows)
      diagnostics.jsonl per-layer statistics (when diagnostics: true)
      checkpoints/      ckpt-<step>.safetensors (weights) + ckpt-<step>.pt (optimizer, RNG, loop state)
                        latest.json -> the newest complete pair; best.safetensors; preprocess.safetensors
      summary.json      status, the arm hash, best epoch, metrics, test metrics
      plots/*.png, report.html

Runs of one experiment share a `group` (a folder, may be nested: `compare-x/dropout`), and
every run records the hash of the settings that define its arm (everything but seed, name,
runs_dir, group, tags, threads and loggers), so "same arm, another seed" needs no config diff. Every file is
written atomically (see `trainlab.files`).

    >>> rows = trainlab.load_runs("runs", group="sweep", status="finished")   # doctest: +SKIP
"""
from __future__ import annotations

import hashlib
import html
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch

from ..console import fmt_epochs, fmt_score, fmt_time
from ..errors import TrainlabError
from ..values import load_yaml
from .figures import curves_figure, shown
from .files import load_tensors, read_json_object, read_jsonl, save_state, save_tensors, write_json

CKPT_RE = re.compile(r"ckpt-(\d{8})\.safetensors$")
# keys that never change what an arm is: identity, place, how many threads ran it, where copies of its rows went
NOT_ARM = ("seed", "name", "runs_dir", "group", "tags", "threads", "loggers")
# keys added later, at the value every run had before they existed: left out of the hash, so the
# runs made before a key existed still count as the same arm
IMPLIED = {"loss": "cross_entropy", "ema": 0.0, "ema_every": 1, "ema_warmup": False, "tta": [], "swa": None}


def arm_hash(resolved: dict[str, Any]) -> str:
    """12 hex digits identifying an arm: the resolved config minus seed, name, runs_dir, group, tags, threads, loggers.

    >>> arm_hash({"lr": 0.1, "seed": 0}) == arm_hash({"lr": 0.1, "seed": 7})
    True
    """
    arm = {k: v for k, v in resolved.items() if k not in NOT_ARM and not (k in IMPLIED and v == IMPLIED[k])}
    return hashlib.sha256(json.dumps(arm, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _safe(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "-", part).strip("-.") or "run"


def new_run_dir(runs_dir: str | Path, name: str, group: str | None = None) -> Path:
    """Create a fresh folder `runs_dir/[group/]name`; an existing name is never reused (suffix -2, -3, ...)."""
    root = Path(runs_dir)
    if group:
        root = root.joinpath(*(_safe(p) for p in str(group).split("/") if p.strip()))
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise TrainlabError(f"runs folder {str(root)!r} cannot be created ({e.strerror}); "
                            "set runs_dir to a writable folder") from None
    base = _safe(name)
    for i in range(1, 10_000):
        cand = root / (base if i == 1 else f"{base}-{i}")
        try:
            cand.mkdir()
            return cand
        except FileExistsError:
            continue
        except OSError as e:
            raise TrainlabError(f"run folder {str(cand)!r} cannot be created ({e.strerror}); "
                                "set runs_dir to a writable folder") from None
    raise TrainlabError(f"too many runs named {base!r} in {str(root)!r}; choose another name")


class Checkpoints:
    """The checkpoints/ folder: pairs of weights (safetensors) and state (weights_only torch file),
    switched in by latest.json, and retention: the newest `keep` pairs, plus every pair whose
    step is a multiple of `keep_every` (0 = none) for snapshot ensembles and weight averaging."""

    def __init__(self, folder: Path, keep: int = 1, keep_every: int = 0):
        self.dir, self.keep, self.keep_every = Path(folder), keep, keep_every

    def save(self, step: int, weights: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        name = f"ckpt-{step:08d}"
        save_tensors(self.dir / f"{name}.safetensors", weights, {"step": str(step)})
        save_state(self.dir / f"{name}.pt", state)
        write_json(self.dir / "latest.json", {"step": step})  # the switch: both files are complete
        steps = self.steps()
        keep = set(steps[-self.keep:]) | {s for s in steps if self.keep_every and s % self.keep_every == 0}
        for s in steps:
            if s not in keep and s != step:
                for suffix in (".safetensors", ".pt"):
                    (self.dir / f"ckpt-{s:08d}{suffix}").unlink(missing_ok=True)

    def steps(self) -> list[int]:
        """Steps of the complete pairs on disk, oldest first."""
        if not self.dir.is_dir():
            return []
        found = (CKPT_RE.match(p.name) for p in self.dir.iterdir())
        return sorted(int(m.group(1)) for m in found if m and (self.dir / f"ckpt-{m.group(1)}.pt").is_file())

    def paths(self, step: int) -> tuple[Path, Path]:
        return self.dir / f"ckpt-{step:08d}.safetensors", self.dir / f"ckpt-{step:08d}.pt"

    def latest(self, run_path: Path) -> tuple[Path, Path]:
        ptr = self.dir / "latest.json"
        if not ptr.is_file():
            raise TrainlabError(f"run {str(run_path)!r} has no checkpoint yet (checkpoints/latest.json missing); "
                                "start it again with `trainlab train`")
        try:
            step = int(json.loads(ptr.read_text())["step"])
        except (ValueError, KeyError, TypeError):
            raise TrainlabError(f"{str(ptr)!r} is corrupt; remove it to fall back to training from scratch") from None
        return self.paths(step)


@dataclass
class Run:
    """A run folder: its config, metrics, summary and checkpoints.

    >>> run = trainlab.load_run("runs/convnet-fashion-mnist")   # doctest: +SKIP
    >>> run.summary["best"]["val_acc"], run.metrics[-1]["epoch"]  # doctest: +SKIP
    """

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config(self) -> dict[str, Any]:
        return load_yaml((self.path / "config.yaml").read_text())

    @property
    def summary(self) -> dict[str, Any]:
        p = self.path / "summary.json"
        fix = "restore it, or delete it (`trainlab resume` writes it again from the checkpoints)"
        return read_json_object(p, fix) if p.is_file() else {}

    @property
    def metrics(self) -> list[dict[str, Any]]:
        return read_jsonl(self.path / "metrics.jsonl")

    @property
    def diagnostics(self) -> list[dict[str, Any]]:
        return read_jsonl(self.path / "diagnostics.jsonl")

    @property
    def env(self) -> dict[str, Any]:
        p = self.path / "env.json"
        return read_json_object(p, "restore it, or delete it (it only records the environment)") if p.is_file() else {}

    @property
    def ckpt_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def checkpoints(self) -> Checkpoints:
        return Checkpoints(self.ckpt_dir)

    @property
    def report(self) -> Path:
        return self.path / "report.html"

    def best_weights(self) -> dict[str, torch.Tensor]:
        best = self.ckpt_dir / "best.safetensors"
        if best.is_file():
            return load_tensors(best)
        return load_tensors(self.latest_checkpoint()[0])

    def latest_checkpoint(self) -> tuple[Path, Path]:
        """(weights, state) of the newest complete checkpoint."""
        return self.checkpoints.latest(self.path)

    def plot(self):
        """The run's curves as a matplotlib figure: loss and accuracy, train against validation, the best
        evaluation marked (Jupyter shows it inline; `fig.savefig(path)` saves it).

        >>> trainlab.train({"dataset": "digits", "model": "mlp", "epochs": 3}).plot()  # doctest: +SKIP
        """
        rows = self.metrics
        if not rows:
            raise TrainlabError(f"run {self.name!r} has no metrics rows yet; train it (or resume it) first")
        return shown(curves_figure(self.name, rows, (self.summary.get("best") or {}).get("epoch")))

    def _repr_html_(self) -> str:
        """A run in a notebook: what ran, how it ended, its scores and its evaluations, as tables."""
        try:
            return run_html(self)
        except Exception as e:  # a damaged folder still shows something, and says why
            return f"<pre>{html.escape(repr(self))}: {html.escape(str(e))}</pre>"


COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_top5", "val_miou", "lr", "elapsed")


def run_html(run: Run) -> str:
    """The run as plain HTML tables (the report layer, above this one, writes the full page)."""
    s, cfg = run.summary, run.config
    best = s.get("best") or {}
    monitor = s.get("monitor", cfg.get("monitor", "val_loss"))
    facts = [("status", s.get("status", "?") + (f": {s['message']}" if s.get("message") else "")),
             ("model", f"{cfg.get('model')} on {cfg.get('dataset')}, seed {cfg.get('seed')}"),
             ("epochs", f"{fmt_epochs(s.get('epochs_run'))} of {cfg.get('epochs')}"
              + (f" in {fmt_time(s['train_time_s'])}" if s.get("train_time_s") else ""))]
    if best.get(monitor) is not None:
        facts.append((f"best {monitor}", f"{fmt_score(best[monitor])} at epoch {fmt_epochs(best.get('epoch'))}"))
    if s.get("test"):
        facts.append(("test (once)", ", ".join(f"{k} {fmt_score(v)}" for k, v in s["test"].items()
                                               if isinstance(v, (int, float)))))
    facts.append(("folder", str(run.path)))
    out = [f"<p><b>{html.escape(run.name)}</b> (trainlab run)</p><table>"]
    out += [f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>{html.escape(v)}</td></tr>"
            for k, v in facts]
    out.append("</table>")
    rows = [r for r in run.metrics if "val_loss" in r][-12:]  # the evaluations, the last 12
    cols = [c for c in COLUMNS if any(c in r for r in rows)]
    shown_as = {"epoch": fmt_epochs, "lr": lambda v: f"{v:.3g}", "elapsed": fmt_time}
    if rows:
        out.append("<table><tr>" + "".join(f"<th>{c}</th>" for c in cols) + "</tr>")
        out += ["<tr>" + "".join(f"<td>{html.escape(shown_as.get(c, fmt_score)(r[c])) if c in r else ''}</td>"
                                 for c in cols) + "</tr>" for r in rows]
        out.append("</table>")
    return "".join(out)


def load_run(path: str | Path) -> Run:
    """Open an existing run folder; one clear error if it is not one."""
    p = Path(path)
    if not p.is_dir():
        raise TrainlabError(f"run folder {str(p)!r} not found; `trainlab runs` lists the runs")
    if not (p / "config.yaml").is_file():
        raise TrainlabError(f"{str(p)!r} is not a trainlab run (no config.yaml); pass a folder made by `trainlab train`")
    return Run(p)


def iter_runs(runs_dir: str | Path) -> Iterator[Run]:
    """Every run folder below `runs_dir` (group folders are walked), oldest first."""
    root = Path(runs_dir)
    if not root.is_dir():
        return
    if (root / "config.yaml").is_file():
        yield Run(root)
        return
    found: list[Path] = []
    stack = [root]
    while stack:
        for p in stack.pop().iterdir():
            if p.is_dir() and not p.name.startswith("."):
                (found.append(p) if (p / "config.yaml").is_file() else stack.append(p))
    yield from (Run(p) for p in sorted(found, key=lambda q: (q.stat().st_mtime, str(q))))
