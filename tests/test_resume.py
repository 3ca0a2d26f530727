"""A run killed with SIGKILL and resumed ends bit-identical to one never interrupted."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

import trainlab
from trainlab.errors import TrainlabError
from trainlab.trainer import resume

SETTINGS = {"dataset": "digits", "model": "mlp", "epochs": 12, "batch_size": 32, "optimizer": "adam",
            "lr": 0.002, "threads": 1, "checkpoint_every": 7, "dropout": 0.2,
            "augment": ["noise:p=0.5:magnitude=0.05"], "early_stopping": True, "patience": 100}


def _sets(d):
    out = []
    for k, v in d.items():
        out += ["--set", f"{k}={json.dumps(v)}"]
    return out


def _latest_step(run_dir):
    try:
        return json.loads((run_dir / "checkpoints" / "latest.json").read_text())["step"]
    except (OSError, ValueError, KeyError):
        return -1


@pytest.mark.slow
def test_sigkill_then_resume_is_bit_identical(tmp_path):
    runs = tmp_path / "runs"
    ref = trainlab.train({**SETTINGS, "runs_dir": str(runs), "name": "ref"}, quiet=True)

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "trainlab.cli", "train", "--quiet", "--name", "killed",
           *_sets({**SETTINGS, "runs_dir": str(runs)})]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    run_dir = runs / "killed"
    deadline = time.time() + 120
    # kill somewhere in the middle, at a step that is neither an epoch end nor a checkpoint
    while _latest_step(run_dir) < 100 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed: " + proc.stdout.read().decode()[-500:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = _latest_step(run_dir)
    total = ref.metrics[-1]["step"]
    assert 0 < killed_at < total

    resumed = resume(run_dir, quiet=True)
    assert resumed.summary["status"] == "finished"
    for name in ("best.safetensors",):
        a, b = load_file(ref.ckpt_dir / name), load_file(resumed.ckpt_dir / name)
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    a, b = load_file(ref.latest_checkpoint()[0]), load_file(resumed.latest_checkpoint()[0])
    assert all(torch.equal(a[k], b[k]) for k in a)
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("time", "images_per_s", "elapsed")} for r in rows]  # noqa: E731
    assert strip(resumed.metrics) == strip(ref.metrics)
    assert resumed.summary["test"] == ref.summary["test"]


def test_resume_errors(tmp_path):
    runs = tmp_path / "runs"
    run = trainlab.train({**SETTINGS, "epochs": 1, "runs_dir": str(runs), "name": "r"}, quiet=True)
    # pretend it was interrupted, then damage its checkpoint
    summary = json.loads((run.path / "summary.json").read_text())
    (run.path / "summary.json").write_text(json.dumps({**summary, "status": "running"}))
    weights, state = run.latest_checkpoint()
    state.write_bytes(b"not a checkpoint")
    with pytest.raises(TrainlabError, match="corrupt"):
        resume(run.path)
    weights.write_bytes(b"\x00" * 10)
    with pytest.raises(TrainlabError, match="corrupt"):
        resume(run.path)
    (run.ckpt_dir / "latest.json").unlink()
    with pytest.raises(TrainlabError, match="no checkpoint"):
        resume(run.path)
