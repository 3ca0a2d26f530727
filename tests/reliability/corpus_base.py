"""Bad input, as a corpus: how a case is made and run. The cases themselves, by kind of input:
corpus_configs (configs), corpus_data (data files), corpus_checkpoints (archives and
checkpoints), corpus_runs (run folders and CLI arguments); corpus gathers them.

Each case builds its input in a fresh folder (the working directory while it runs) and names the
words the one-line refusal must contain: the input (a key, a file, a flag) and the fix, and any
words it must not contain (a diagnosis that blames the wrong thing). `refuse` runs `trainlab
ARGV` and checks exit code 2, exactly that one line on stderr and nothing on stdout, no
traceback, no pickle payload run (it would create MARKER), and the folder's tree hashed the
same before and after: nothing already on disk changed and nothing new was left.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from faultlib import Outcome, call, lines, run_script, tree_changes, tree_hash

MARKER = "MARKER"  # a payload that runs would create this file in the case's folder
RUN = "runs/r"  # where cases that need one find an interrupted run (a copy of the template)


class Payload:
    """Unpickling this runs code: exec() that creates the marker file (harmless, and detectable)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('code ran')",)


@dataclass
class Case:
    id: str
    kind: str  # config | data | archive | checkpoint | run | cli
    build: Callable[[Path], tuple[list[str], list[str]]]  # folder -> (argv, words the line must hold)
    needs_run: bool = False
    wrong: tuple[str, ...] = ()  # words the line must not hold: a diagnosis that blames the wrong thing


CASES: list[Case] = []


def case(kind: str, needs_run: bool = False, wrong: tuple[str, ...] = ()):
    def add(fn):
        CASES.append(Case(fn.__name__.replace("_", "-"), kind, fn, needs_run, wrong))
        return fn

    return add


def yaml_file(d: Path, text: str | bytes, name: str = "c.yaml") -> str:
    """d/name holding `text`; its name (relative to the case's folder, where the case runs)."""
    p = d / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return name


TRAIN = ["--set", "dataset=digits", "--set", "model=mlp", "--set", "epochs=1"]


def train_on(dataset: str) -> list[str]:
    """`trainlab train` on `dataset` with a tiny model for one epoch."""
    return ["train", "--set", f"dataset={dataset}", "--set", "model=mlp", "--set", "epochs=1"]


# ---------------------------------------------------------------- running a case
@contextlib.contextmanager
def _inside(folder: Path, env: dict[str, str]):
    old_cwd, old_env = os.getcwd(), {k: os.environ.get(k) for k in env}
    os.chdir(folder)
    os.environ.update(env)
    try:
        yield
    finally:
        os.chdir(old_cwd)
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def refuse(c: Case, folder: Path, template: Path | None, *, script: bool = False) -> Outcome:
    """Run case `c` in folder/<id> (`template`: an interrupted run, copied in when the case needs
    one); the refusal must be clean (see the module's docstring)."""
    d = folder / c.id
    d.mkdir(parents=True)
    if c.needs_run:
        shutil.copytree(template, d / RUN)
    env = {"TRAINLAB_DATA": str(d / "data"), "TRAINLAB_CACHE": str(folder.parent / f"{folder.name}-cache")}
    what = f"{c.kind}: {c.id}"
    with _inside(d, env):
        argv, words = c.build(d)
        before = tree_hash(d)
        try:
            code, out, err = run_script(argv, cwd=d, env=env) if script else call(argv)
        except Exception:  # noqa: BLE001 - a traceback is the finding
            return Outcome(False, what, "traceback: " + traceback.format_exc().strip().replace("\n", " | ")[-1500:])
        after = tree_hash(d)
    errs = lines(err)
    problems = []
    if code != 2:
        problems.append(f"exit code {code}")
    if len(errs) != 1 or lines(out):
        problems.append(f"{len(errs)} lines on stderr and {len(lines(out))} on stdout")
    if "Traceback" in out + err:
        problems.append("a traceback")
    missing = [w for w in words if w not in err]
    if missing:
        problems.append(f"the line lacks {missing}")
    blamed = [w for w in c.wrong if w in err]
    if blamed:
        problems.append(f"the line blames the wrong thing: {blamed}")
    if (d / MARKER).exists():
        problems.append("the pickle payload ran")
    if before != after:
        problems.append("files changed: " + tree_changes(before, after))
    line = errs[0] if len(errs) == 1 else err.strip()
    return Outcome(not problems, what, "; ".join(problems) + f" [{line[-300:]}]" if problems else "")
