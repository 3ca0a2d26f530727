"""The one progress display of experiments: a line per ended run or trial, with how many of how many
have ended, what ended and how, the best so far and the time left (compare, ensembles, claims and
searches all print through `Tally`). `watch` feeds it from a search's storage.
"""
from __future__ import annotations

import contextlib
import threading
import time
from typing import Any, Callable, Iterator

from ..console import fmt_time
from .optuna import optuna


class Tally:
    """`total` things to end, `done` of them already ended before this call (not printed)."""

    def __init__(self, total: int, done: int = 0, quiet: bool = False):
        self.total, self.done, self.quiet = total, done, quiet
        self.start, self.t0 = done, time.perf_counter()

    def ended(self, what: str, outcome: str, best: str = "", counts: bool = True) -> None:
        """One line: `what` ended with `outcome`; `best` says the leader so far. counts=False for an
        ending that does not count towards the total (a failed trial that is run again)."""
        self.done += counts
        if self.quiet:
            return
        fresh = self.done - self.start
        left = (time.perf_counter() - self.t0) / fresh * (self.total - self.done) if fresh else None
        print(f"[{self.done}/{self.total}] {what}: {outcome}" + (f"  {best}" if best else "")
              + (f"  ~{fmt_time(left)} left" if left is not None and self.done < self.total else ""), flush=True)

    def elapsed(self) -> str:
        return fmt_time(time.perf_counter() - self.t0)


@contextlib.contextmanager
def watch(study: Any, s: Any, quiet: bool, every: float = 1.0) -> Iterator[Tally]:
    """Print a line for each trial of `study` that ends while the block runs (a thread polls the
    storage, so trials of other workers and other machines show too), in the order they ended."""
    counts = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    ended = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
    seen = {t.number for t in ended}
    tally = Tally(s.trials, sum(t.state in counts for t in ended), quiet)
    if quiet:
        yield tally
        return

    def look() -> None:
        new = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished() and t.number not in seen]
        for t in sorted(new, key=lambda t: (t.datetime_complete, t.number)):
            seen.add(t.number)
            ended.append(t)  # each line's best includes that trial and those that ended before it only
            done = [x for x in ended if x.state == optuna.trial.TrialState.COMPLETE and x.value is not None]
            best = (max if s.direction == "maximize" else min)(done, key=lambda x: x.value) if done else None
            value = f" {s.objective} {t.value:.4f}" if t.value is not None else ""
            params = ", ".join(f"{k}={_fmt(v)}" for k, v in t.params.items())
            tally.ended(f"trial {t.number}", f"{t.state.name.lower()}{value} ({params})",
                        f"best {best.value:.4f} (trial {best.number})" if best else "", counts=t.state in counts)

    with polling(look, every):
        yield tally


@contextlib.contextmanager
def polling(look: Callable[[], None], every: float = 1.0) -> Iterator[None]:
    """`look()` in a thread every `every` seconds while the block runs, and once more after it ends (for
    what ended last): how the progress of work on other processes and machines is read from storage."""
    stop = threading.Event()

    def loop() -> None:
        while True:
            last = stop.is_set()
            look()
            if last:
                return
            stop.wait(every)

    th = threading.Thread(target=loop, daemon=True)
    th.start()
    try:
        yield
    finally:
        stop.set()
        th.join()


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
