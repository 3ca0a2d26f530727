"""Races of the queue on one SQLite file, counted: processes taking waiting runs at once (how many
runs were granted, and how many of them twice), and processes opening one new storage at once
(how many tries had a process fail). Both were races before the fixes of 2026-12-02 evening
(commits c2d6cf6 and afd598d); run it on an older commit to see them.

    .venv/bin/python bench/queue_races.py                        # 8 takers x 200 runs, 3 tries; 6 openers, 5 tries
    .venv/bin/python bench/queue_races.py --takers 4 --runs 120 --tries 1
"""
from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from trainlab.experiments.queue import Queue  # noqa: E402

TAKE = """
import json, sys
from trainlab.experiments.queue import Queue
q = Queue(sys.argv[1], say=lambda s: None)
exp = q.experiment("race")
got = []
while (t := q.take(exp)) is not None:
    got.append(t)
print(json.dumps(got))
"""
OPEN = """
import sys
from trainlab.experiments.queue import open_storage
try:
    open_storage(sys.argv[1]); print("ok")
except Exception as e:
    print("failed:", str(e)[:160])
"""


def take_race(takers: int, runs: int) -> tuple[int, int]:
    """(runs granted, runs granted more than once) when `takers` processes take `runs` at once."""
    url = f"sqlite:///{tempfile.mkdtemp()}/q.db"
    q = Queue(url, say=lambda s: None)
    q.enqueue(q.create("race", "runs", {}), [{"i": i} for i in range(runs)], key=lambda r: str(r["i"]))
    procs = [subprocess.Popen([sys.executable, "-c", TAKE, url], stdout=subprocess.PIPE, text=True)
             for _ in range(takers)]
    counts = collections.Counter(t for p in procs for t in json.loads(p.communicate()[0]))
    return sum(counts.values()), sum(1 for k in counts.values() if k > 1)


def open_race(openers: int) -> list[str]:
    """What each of `openers` processes opening one new SQLite storage at once said that was not "ok"."""
    url = f"sqlite:///{tempfile.mkdtemp()}/s.db"
    procs = [subprocess.Popen([sys.executable, "-c", OPEN, url], stdout=subprocess.PIPE, text=True)
             for _ in range(openers)]
    return [out for p in procs if (out := p.communicate()[0].strip()) != "ok"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--takers", type=int, default=8)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--tries", type=int, default=3)
    ap.add_argument("--openers", type=int, default=6)
    ap.add_argument("--open-tries", type=int, default=5)
    a = ap.parse_args()
    for i in range(a.tries):
        granted, twice = take_race(a.takers, a.runs)
        print(f"take {i + 1}/{a.tries}: {a.takers} processes, {a.runs} waiting runs: granted {granted}, "
              f"{twice} runs more than once", flush=True)
    bad = 0
    for i in range(a.open_tries):
        said = open_race(a.openers)
        bad += bool(said)
        print(f"open {i + 1}/{a.open_tries}: {a.openers} processes, one new file: "
              + (f"{len(said)} failed ({said[0]})" if said else "all opened"), flush=True)
    print(f"tries with a failed open: {bad} of {a.open_tries}")


if __name__ == "__main__":
    main()
