"""Progress of a search, read from its storage: one line per ended trial, the best so far, time left."""
from __future__ import annotations

import contextlib
import threading
import time

from .optuna import optuna


@contextlib.contextmanager
def watch(study, s, quiet: bool, procs=None, every: float = 1.0):
    """Print a line for each trial that ends while the block runs (a thread polls the storage)."""
    if quiet:
        yield
        return

    ended = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]  # before this call: not printed
    seen = {t.number for t in ended}
    stop = threading.Event()
    t0 = time.perf_counter()
    start_n = len(seen)
    counts = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)

    def poll() -> None:
        while True:
            last = stop.is_set()  # one more look after the work ended, for the trials that ended last
            new = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished() and t.number not in seen]
            # in the order they ended: each line's count and best include that trial and those before it only
            for t in sorted(new, key=lambda t: (t.datetime_complete, t.number)):
                seen.add(t.number)
                ended.append(t)
                counted = sum(x.state in counts for x in ended)
                done = [x for x in ended if x.state == optuna.trial.TrialState.COMPLETE and x.value is not None]
                best = (max if s.direction == "maximize" else min)(done, key=lambda x: x.value) if done else None
                fresh = len(seen) - start_n
                left = (time.perf_counter() - t0) / fresh * max(0, s.trials - counted) if fresh else None
                value = f" {s.objective} {t.value:.4f}" if t.value is not None else ""
                params = ", ".join(f"{k}={_fmt(v)}" for k, v in t.params.items())
                print(f"[{counted}/{s.trials}] trial {t.number} {t.state.name.lower()}{value} ({params})"
                      + (f"  best {best.value:.4f} (trial {best.number})" if best else "")
                      + (f"  ~{left:.0f}s left" if left is not None and counted < s.trials else ""), flush=True)
            if last:
                return
            stop.wait(every)

    th = threading.Thread(target=poll, daemon=True)
    th.start()
    try:
        yield
    finally:
        stop.set()
        th.join()


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
