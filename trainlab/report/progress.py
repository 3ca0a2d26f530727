"""A Keras-style progress display: a live bar with loss and accuracy, one line per evaluation.

On a terminal the bar updates in place (rich); in a Jupyter notebook too (rich draws it in a
widget, with ipywidgets installed: the `notebooks` extra), where it stays when the run ends; in a
pipe or a log file only the evaluation lines are printed, so logs stay readable. `quiet=True`
prints nothing.
"""
from __future__ import annotations

import importlib.util
import sys
import time
from typing import Any, Callable

from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress

from ..console import make_console


class Progress:
    def __init__(self, total_steps: int, steps_per_epoch: int, quiet: bool = False, start_step: int = 0,
                 batch_size: int = 1, accuracy: bool = True):
        """accuracy=False: the bar shows the loss alone (a regression run has no accuracy)."""
        self.total, self.spe, self.quiet, self.batch_size = total_steps, steps_per_epoch, quiet, batch_size
        self.accuracy = accuracy
        self.console = make_console(stderr=False)
        jupyter = self.console.is_jupyter and importlib.util.find_spec("ipywidgets") is not None
        self.live = not quiet and (self.console.is_terminal or jupyter)
        self.transient = not self.console.is_jupyter  # a terminal's bar makes way for the final line; a notebook's stays
        self._last = 0.0
        self._bar = None
        self._task = None
        self._start = start_step

    def __enter__(self) -> "Progress":
        if self.live:
            self._bar = RichProgress(
                TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]:.4f}" + ("  acc {task.fields[acc]:.4f}" if self.accuracy else "")),
                TextColumn("{task.fields[speed]} img/s"), TimeRemainingColumn(), console=self.console,
                transient=self.transient)
            self._bar.__enter__()
            self._task = self._bar.add_task("train", total=self.total, completed=self._start,
                                            epoch=self._start // self.spe + 1, loss=float("nan"), acc=float("nan"),
                                            speed="-")
            self._t0, self._s0 = time.perf_counter(), self._start
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def update(self, step: int, metrics: Callable[[], dict[str, float]] | None = None) -> None:
        """Advance to `step`; `metrics()` (running loss and acc) is read only when the bar redraws,
        at most 10 times a second; None keeps the last values (on a GPU they come with each log row)."""
        if self._bar is None:
            return
        now = time.perf_counter()
        if now - self._last < 0.1 and step != self.total:  # redraws cost time: at most 10 per second
            return
        self._last = now
        rate = (step - self._s0) / max(now - self._t0, 1e-9)
        shown = metrics() if metrics is not None else {}
        self._bar.update(self._task, completed=step, epoch=min((step - 1) // self.spe + 1, self.total // self.spe),
                         speed=f"{rate * self.batch_size:.0f}", **shown)

    def log_eval(self, row: dict[str, Any], epochs: int) -> None:
        if self.quiet:
            return
        parts = [f"epoch {row['epoch']:g}/{epochs}"]
        for k in ("train_loss", "train_acc", "val_loss", "val_acc", "val_top5", "val_miou", "val_map50", "val_map"):
            if k in row:
                parts.append(f"{k} {row[k]:.4f}")
        parts.append(f"lr {row['lr']:.3g}")
        if "time" in row:
            parts.append(f"{row['time']:.1f}s")
            parts.append(f"{row['images_per_s']:.0f} img/s")
        if self._bar is not None and "train_loss" in row:
            self._bar.update(self._task, loss=row["train_loss"], acc=row.get("train_acc", float("nan")))
        line = "  ".join(parts)
        if self._bar is not None:
            self._bar.console.print(line)
        else:
            print(line, flush=True)
            sys.stdout.flush()
