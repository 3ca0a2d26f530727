"""The reliability figures: the faults a user meets, many times each, as "N/N held".

    .venv/bin/python bench/faults.py            # every figure, full counts (about 5 minutes on 2 cores)
    .venv/bin/python bench/faults.py --quick    # one or two of each (about two minutes)
    .venv/bin/python bench/faults.py --only kill-run,divergence --seed 3

Each figure runs one kind of fault (tests/reliability/fault*.py inject it and check what
trainlab did: against an uninterrupted run's weights, a hash of the folder's tree, a marker file a
pickle payload would create) and prints how many times the property held, with the command that
reproduces it. Random points come from --seed. tests/reliability/ runs a lean sample of each
kind on every test run; docs/reliability.md says what each figure means and shows a full run.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "reliability"), str(ROOT / "tests")]  # the fault modules; fixtures_data


class Bench:
    """The temporary folder, the random points, and the references, each made once when needed."""

    def __init__(self, folder: Path, seed: int, quick: bool):
        self.folder, self.rng, self.quick = folder, random.Random(seed), quick
        self.seed = seed
        self._made: dict[str, Any] = {}
        self._n = 0

    def n(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def fresh(self, name: str) -> Path:
        self._n += 1
        return self.folder / f"{self._n:03d}-{name}"

    def made(self, name: str, make: Callable[[], Any]) -> Any:
        if name not in self._made:
            self._made[name] = make()
        return self._made[name]

    @property
    def reference(self) -> tuple[Path, dict[str, Any]]:
        import faultlib as F

        def make():
            path = F.reference_run(self.folder / "reference")
            return path, F.fingerprint(path)

        return self.made("reference", make)

    @property
    def compare_reference(self) -> dict[str, dict[str, Any]]:
        import fault_parallel as P
        import faultlib as F

        def make():
            code, _, err = F.call(P.compare_argv(self.folder / "compare-reference", "ref", seeds=2, jobs=1))
            assert code == 0, err
            return P.compare_prints(self.folder / "compare-reference" / "ref")

        return self.made("compare", make)

    @property
    def template(self) -> Path:
        """An interrupted run, for the bad-input cases about checkpoints and run folders."""
        import json

        import trainlab
        from faultlib import SETTINGS

        def make():
            run = trainlab.train({**SETTINGS, "epochs": 1, "runs_dir": str(self.folder / "template"), "name": "r"},
                                 quiet=True, report=False)
            s = json.loads((run.path / "summary.json").read_text())
            (run.path / "summary.json").write_text(json.dumps({**s, "status": "running"}))
            return run.path

        return self.made("template", make)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ================================================================ the figures
def kill_run(b: Bench) -> list:
    """SIGKILL at random points of a run, then `trainlab resume` (the console script, or every other
    time this process): the final and best weights equal an uninterrupted run's bit for bit, rows
    and test scores equal, no file half-written. 18 kills at an event drawn at random among those a
    run has after its first checkpoint (5 mid-step, 5 writing a checkpoint, 4 evaluating, 4 writing
    the report); 2 blind kills of the console script's run at a random moment, wherever they land."""
    import fault_kills as K

    counts = b.made("counts", lambda: K.count_events(b.folder / "counts"))
    _, want = b.reference
    out = []
    per_phase = dict(zip(K.PHASES, (5, 5, 4, 4))) if not b.quick else dict.fromkeys(K.PHASES, 1)
    for phase in K.PHASES:
        for i in range(per_phase[phase]):  # resumed by the console script, or (every other one) from this process
            nth = b.rng.randint(1, counts[phase])
            out.append(K.kill_and_resume(b.fresh(f"kill-{phase}"), want, phase, nth, script=i % 2 == 0))
            say(f"  {out[-1]}")
    for _ in range(b.n(2, 0)):
        for _attempt in range(3):  # a blind kill may miss a run that is already over: draw again
            o = K.kill_at_random_time(b.fresh("kill-blind"), want, b.rng)
            if "draw again" not in o.detail:
                break
        out.append(o)
        say(f"  {o}")
    return out


def kill_compare(b: Bench) -> list:
    """`trainlab compare` (2 arms x 2 seeds, 2 workers) SIGKILLed with its workers after 0, 1 and 2
    runs had finished and another was mid-way, then the same command again."""
    import fault_parallel as P

    want = b.compare_reference
    out = []
    for finished in range(b.n(3, 1)):  # killed while the first run trains, then after one, then two
        out.append(P.kill_compare(b.fresh("kill-compare"), want, seeds=2, finished_first=finished, jobs=2,
                                  script=not out))  # the first one run again by the console script
        say(f"  {out[-1]}")
    return out


def kill_search(b: Bench) -> list:
    """Two `trainlab search` workers on one SQLite study, one SIGKILLed mid-trial: the other
    finishes the budget and the killed trial is failed and retried with the same parameters."""
    import fault_parallel as P

    out = []
    for _ in range(b.n(2, 1)):
        out.append(P.kill_search_worker(b.fresh("kill-search")))
        say(f"  {out[-1]}")
    return out


def kill_ddp(b: Bench) -> list:
    """A 2-process DDP run with rank 0 or 1 SIGKILLed once it has checkpointed a random step: one
    line from the launcher, then `trainlab resume --nproc 2` bit for bit."""
    import fault_parallel as P

    want = b.made("ddp", lambda: P.ddp_reference(b.folder / "ddp-reference"))
    out = []
    for i in range(b.n(2, 1)):
        out.append(P.kill_ddp_rank(b.fresh("kill-ddp"), want, rank=i % 2, after_step=b.rng.randint(1, P.DDP_STEPS - 15),
                                   script=True))
        say(f"  {out[-1]}")
    return out


def disk_full(b: Bench) -> list:
    """The disk fills up while a file of the run is written (checkpoint files, metrics, the summary,
    the report; random write): one line naming the file and the fix, the previous checkpoint loads
    and equals the reference's, resume with room again is bit for bit. Plus, where a tmpfs can be
    mounted (a private mount namespace), a real full disk."""
    import fault_disk as D

    ref, want = b.reference
    plan = [("checkpoint", 40)] * b.n(4, 1) + [("metrics", 5)] * b.n(2, 1) + [("summary", 1), ("report", 3)][:b.n(2, 1)]
    out = []
    for which, most in plan:
        out.append(D.full_disk_then_resume(b.fresh(f"full-{which}"), want, ref, which, b.rng.randint(1, most)))
        say(f"  {out[-1]}")
    real = None if b.quick else real_full_disk(b.fresh("tmpfs"), ref, want)
    if real is not None:
        out.append(real)
        say(f"  {real}")
    elif not b.quick:
        say("  a real full disk: not run, no tmpfs can be mounted here")
    return out


def real_full_disk(folder: Path, ref: Path, want: dict[str, Any]):
    """A run on a tmpfs about half as large as its checkpoints need, mounted in a private mount
    namespace (`unshare -m`, root); the folder is copied out before the namespace ends."""
    import faultlib as F

    what = "a real full disk: a tmpfs smaller than the run"
    try:
        can = subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False).returncode == 0
    except OSError:
        can = False
    if not can:
        return None  # not counted: this machine cannot mount a tmpfs (needs root and a mount namespace)
    folder.mkdir(parents=True)
    size = sum(f.stat().st_size for f in (ref / "checkpoints").iterdir()) // 2 // 4096 * 4096
    mnt, keep = folder / "mnt", folder / "kept"
    mnt.mkdir()
    train = " ".join(f"'{a}'" for a in F.console_script() + [
        "train", "--quiet", "--name", "full", *F.sets({**F.SETTINGS, "runs_dir": str(mnt)})])
    script = (f"mount -t tmpfs -o size={size} tmpfs {mnt} || exit 9; {train} 2> {folder}/err; echo $? > {folder}/rc; "
              f"cp -a {mnt}/full {keep}")
    subprocess.run(["unshare", "-m", "sh", "-c", script], check=False)
    rc = (folder / "rc").read_text().strip() if (folder / "rc").is_file() else "none"
    err = (folder / "err").read_text() if (folder / "err").is_file() else ""
    said = F.lines(err)
    if rc != "2" or len(said) != 1 or "No space left on device" not in said[0]:
        return F.Outcome(False, what + f" ({size // 1024} KiB)", f"exit {rc}, stderr {err[-300:]!r}")
    from trainlab.runs.files import load_state
    from trainlab.runs import load_run

    step = load_state(load_run(keep).latest_checkpoint()[1])["step"]
    if F.checkpoint_digest(keep, step) != F.checkpoint_digest(ref, step):
        return F.Outcome(False, what, f"its checkpoint at step {step} differs from the reference's")
    code, _, err = F.run_script(["resume", str(keep), "--quiet"])
    if code != 0:
        return F.Outcome(False, what, f"resume elsewhere: exit {code}: {err[-300:]}")
    diff = F.differences(F.fingerprint(keep), want)
    return F.Outcome(not diff, what + f" ({size // 1024} KiB, full at step {step}: ...{said[0][-60:]})", diff)


def unwritable_runs(b: Bench) -> list:
    """A runs folder that is read-only, or that cannot exist (below a file): train, compare and
    search refuse in one line before any training, and nothing on disk changes."""
    import fault_disk as D
    import faultlib as F

    out = []
    for kind in ("read-only", "below a file"):
        for command in ("train", "compare", "search"):
            folder = b.fresh(f"runs-{command}")
            folder.mkdir()
            (folder / "base.yaml").write_text("dataset: digits\nmodel: mlp\nepochs: 1\n")
            (folder / "space.yaml").write_text("lr: {log_uniform: [0.01, 0.3]}\n")
            if kind == "read-only":
                runs = folder / "runs"
                runs.mkdir()
                guard = D.read_only(runs)
            else:
                (folder / "afile").write_text("a file")
                runs = folder / "afile" / "runs"
                guard = contextlib.nullcontext()
            argv = {"train": ["train", str(folder / "base.yaml")],
                    "compare": ["compare", str(folder / "base.yaml"), "--arm", "a:", "--seeds", "1", "--jobs", "1"],
                    "search": ["search", str(folder / "base.yaml"), str(folder / "space.yaml"), "--trials", "1"]}
            before = F.tree_hash(folder)
            with guard:
                code, stdout, err = F.call(argv[command] + ["--set", f"runs_dir={runs}"])
            said = F.lines(err)
            ok = code == 2 and len(said) == 1 and str(runs) in said[0] and not F.lines(stdout)
            ok = ok and F.tree_hash(folder) == before
            out.append(F.Outcome(ok, f"{command}, runs folder {kind}", "" if ok else f"exit {code}: {err[-300:]}"))
    say(f"  {sum(o.held for o in out)}/{len(out)} refused")
    return out


def divergence(b: Bench) -> list:
    """A NaN in the loss, a gradient or the input batch at a random step, and learning rates far
    too high: the run stops at that step and names it, keeps the last good checkpoint, writes no
    later one, summary.json says diverged, exit 1."""
    import fault_divergence as V
    import faultlib as F

    ref, _ = b.reference
    out = []
    for where in ("loss", "gradient", "input"):
        for _ in range(b.n(4, 1)):
            out.append(V.diverge(b.fresh(f"nan-{where}"), ref, where, b.rng.randint(8, F.TOTAL_STEPS - 1)))
            say(f"  {out[-1]}")
    for lr, seed in [(1e5, 0), (1e5, 1), (1e5, 2)][:b.n(3, 1)]:
        out.append(V.diverge_naturally(b.fresh("lr"), lr, seed))
        say(f"  {out[-1]}")
    return out


def bad_input(b: Bench) -> list:
    """Every case of the corpus (tests/reliability/corpus*.py) in this process, and some through
    the console script: exit 2, one line naming the input and the fix, no traceback, no code run,
    nothing on disk changed."""
    from corpus import CASES, refuse

    folder = b.fresh("bad-input")
    out = [refuse(c, folder / "api", b.template) for c in CASES]
    kinds: dict[str, list] = {}
    for c in CASES:
        kinds.setdefault(c.kind, []).append(c)
    picks = [cs[i] for i in range(b.n(2, 1)) for cs in kinds.values() if i < len(cs)][:b.n(8, 2)]
    out += [refuse(c, folder / "script", b.template, script=True) for c in picks]
    for o in out:
        if not o.held:
            say(f"  {o}")
    say(f"  {sum(o.held for o in out)}/{len(out)} refused cleanly ({len(CASES)} cases, {len(picks)} also as a process)")
    return out


def determinism(b: Bench) -> list:
    """The same config and seed trained again and again, in this process and (3 of 10) in fresh
    processes of the console script: metrics and weights equal bit for bit every time."""
    import faultlib as F

    _, want = b.reference
    n, fresh = b.n(10, 2), b.n(3, 1)
    folder = b.fresh("again")
    out = F.repeat_identical(folder, want, n - fresh) + F.repeat_identical(folder, want, fresh, script=True)
    say(f"  {sum(o.held for o in out)}/{len(out)} identical")
    return out


def compare_jobs(b: Bench) -> list:
    """The same compare with --jobs 2 and --jobs 4 (worker processes; 4 on 2 cores is the load
    figure too): every run equal bit for bit to the one-worker compare's, none lost."""
    import fault_parallel as P

    want = b.compare_reference
    jobs = (4,) if b.quick else (2, 4)
    out = [P.compare_many_workers(b.fresh(f"jobs{j}"), want, seeds=2, jobs=j) for j in jobs]
    for o in out:
        say(f"  {o}")
    return out


def search_load(b: Bench) -> list:
    """`trainlab search --jobs 4` on one SQLite file on 2 cores: no "database is locked", no trial
    lost or failed, each trial in its own run folder, trained once."""
    import fault_parallel as P

    out = []
    for _ in range(b.n(2, 1)):
        out.append(P.search_many_workers(b.fresh("search4"), jobs=4, trials=8))
        say(f"  {out[-1]}")
    return out


FIGURES: list[tuple[str, str, str, Callable[[Bench], list]]] = [
    # (name, group, what the figure counts, how)
    ("kill-run", "kills survived", "SIGKILL at a random point of a run, then trainlab resume: weights bit for bit",
     kill_run),
    ("kill-compare", "kills survived", "SIGKILL of a compare and its workers, then again: no run lost or twice",
     kill_compare),
    ("kill-search", "kills survived", "SIGKILL of one of two search workers mid-trial: no trial lost", kill_search),
    ("kill-ddp", "kills survived", "SIGKILL of one rank of a 2-process DDP run, then resume --nproc 2: bit for bit",
     kill_ddp),
    ("disk-full", "disk faults survived", "ENOSPC while writing run files: one line, last checkpoint intact, resume",
     disk_full),
    ("unwritable-runs", "disk faults survived", "read-only or impossible runs folder: one line before any training",
     unwritable_runs),
    ("divergence", "divergences caught", "NaN/inf in loss, gradient or input, lr too high: stopped, named, kept",
     divergence),
    ("bad-input", "bad inputs refused cleanly", "exit 2, one line, no traceback, no code run, tree unchanged",
     bad_input),
    ("determinism", "runs identical", "same config and seed, 10 runs (3 in fresh processes): bit for bit",
     determinism),
    ("compare-jobs", "runs identical", "compare --jobs 2 and 4 against --jobs 1: every run bit for bit", compare_jobs),
    ("search-load", "load", "search, 4 workers on one SQLite file on 2 cores: no lock error, no trial lost",
     search_load),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one or two of each fault (about two minutes)")
    parser.add_argument("--only", help="comma-separated figures: " + ", ".join(f[0] for f in FIGURES))
    parser.add_argument("--seed", type=int, default=0, help="seed of the random kill points, steps and writes")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (its path is printed)")
    args = parser.parse_args(argv)
    names = [f[0] for f in FIGURES]
    only = [s.strip() for s in args.only.split(",")] if args.only else names
    unknown = [s for s in only if s not in names]
    if unknown:
        parser.error(f"unknown figure {unknown[0]!r}; choose from {', '.join(names)}")

    folder = Path(tempfile.mkdtemp(prefix="trainlab-faults-"))
    os.environ.update({"MPLBACKEND": "Agg", "XDG_CACHE_HOME": str(folder / "cache"),
                       "TRAINLAB_CACHE": str(folder / "cache" / "trainlab")})
    import torch

    torch.set_num_threads(1)  # as in the tests: one thread per process, and forks stay safe
    import faultlib as F

    F.warm()
    b = Bench(folder, args.seed, args.quick)
    t0 = time.perf_counter()
    rows = []
    try:
        for name, group, what, run in FIGURES:
            if name not in only:
                continue
            say(f"{name}: {what}")
            t = time.perf_counter()
            outcomes = run(b)
            rows.append((name, group, what, outcomes, time.perf_counter() - t))
    finally:
        if args.keep:
            say(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    total = time.perf_counter() - t0

    cmd = ".venv/bin/python bench/faults.py"
    flags = (" --quick" if args.quick else "") + (f" --seed {args.seed}" if args.seed else "")
    print(f"trainlab reliability figures: {cmd}{flags}   (torch {torch.__version__}, {os.cpu_count()} cores, "
          f"{total:.0f} s)")
    group = None
    for name, g, what, outcomes, took in rows:
        if g != group:
            print(f"\n{g}")
            group = g
        held = sum(o.held for o in outcomes)
        figure = f"{held}/{len(outcomes)} held"
        print(f"  {figure:<13} {what}  ({took:.0f} s)")
        print(f"  {'':<13} reproduce: {cmd} --only {name}{flags}")
        for o in outcomes:
            if not o.held:
                print(f"  {'':<13} FAILED {o.what}: {o.detail}")
    held = sum(o.held for r in rows for o in r[3])
    count = sum(len(r[3]) for r in rows)
    print(f"\nin all: {held}/{count} held")
    return 0 if held == count else 1


if __name__ == "__main__":
    sys.exit(main())
