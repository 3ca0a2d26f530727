"""Mixing augmentations in a run: a run with mixup, cutmix and random erasing killed and resumed
ends bit for bit as the run that was never stopped; its train accuracy is a weighted count."""
import torch
from helpers import untimed
from safetensors.torch import load_file

import trainlab

BASE = {"dataset": "digits", "model": "convnet", "model_options": {"channels": [8, 16], "hidden": 32},
        "epochs": 3, "batch_size": 64, "threads": 1, "label_smoothing": 0.1,
        "augment": ["mixup:p=0.8:magnitude=0.4", "cutmix:p=0.5", "random_erasing:p=0.5", "hflip"]}


def test_interrupted_mixing_run_resumes_bit_identically(tmp_path, kill_and_resume):
    settings = {**BASE, "runs_dir": str(tmp_path / "runs"), "log_every": 3, "eval_every": 7}
    ref = trainlab.train({**settings, "name": "ref"}, quiet=True, report=False)
    done = kill_and_resume(settings, at_step=14)  # after the step-7 checkpoint, before step 14's
    assert untimed(done.metrics) == untimed(ref.metrics)
    a, b = load_file(ref.latest_checkpoint()[0]), load_file(done.latest_checkpoint()[0])
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert done.summary["test"] == ref.summary["test"]
    steps = [0] + [r["step"] for r in ref.metrics]
    hits = [r["train_acc"] * (s - s0) * 64 for r, s0, s in zip(ref.metrics, steps, steps[1:])]  # 64 a batch
    assert any(abs(h - round(h)) > 1e-6 for h in hits)  # mixed examples count fractions of a hit
