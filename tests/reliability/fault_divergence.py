"""Divergence: a NaN injected into the loss, a gradient or the input batch at a chosen step, or a
learning rate far too high; the run must stop at that step, name it and keep the last good checkpoint."""
from __future__ import annotations

import json
from pathlib import Path

from faultlib import CKPT_EVERY, SETTINGS, Outcome, call, checkpoint_digest, lines, sets


# ================================================================ divergence
def diverge(folder: Path, ref_dir: Path, where: str, step: int) -> Outcome:
    """A NaN in the loss, in one parameter's gradient, or in the input batch at training step
    `step`: the run must stop at that step and say so, keep the last good checkpoint (equal to
    the reference's at that step), write no later one, mark summary.json `diverged`, exit 1."""
    import torch

    import trainlab.training.loop as L
    import trainlab.training.run as T

    what = f"NaN in the {where} at step {step}"
    folder.mkdir(parents=True, exist_ok=True)
    real_fit, real_loss = T.fit, L.loss_fn
    forwards = [0]  # training forwards so far: the step being taken

    def fit(p, *a, **k):
        def count(module, args):
            if module.training:
                forwards[0] += 1
                if where == "input" and forwards[0] == step:
                    return (args[0].clone().index_put_((torch.tensor([0]),), torch.tensor(float("nan"))),)
            return None

        hooks = [p.model.register_forward_pre_hook(count)]
        if where == "gradient":
            first = next(t for t in p.model.parameters() if t.requires_grad)
            hooks.append(first.register_hook(lambda g: g * float("nan") if forwards[0] == step else g))
        try:
            return real_fit(p, *a, **k)
        finally:
            for h in hooks:
                h.remove()

    def loss_fn(*a, **k):
        loss = real_loss(*a, **k)
        return loss * float("nan") if where == "loss" and forwards[0] == step else loss

    T.fit, L.loss_fn = fit, loss_fn
    try:
        code, out, err = call(["train", "--name", where, *sets({**SETTINGS, "runs_dir": str(folder)})])
    finally:
        T.fit, L.loss_fn = real_fit, real_loss
    named = "gradient norm became nan" if where == "gradient" else "loss became nan"  # the input's NaN: its loss
    return check_diverged(folder / where, ref_dir, what, code, out, err, step, named)


def check_diverged(run_dir: Path, ref_dir: Path | None, what: str, code: int, out: str, err: str,
                   step: int | None, named: str = "became") -> Outcome:
    from trainlab.runs import load_run

    if code != 1 or "Traceback" in out + err:
        return Outcome(False, what, f"exit {code} (1 expected): {(err or out).strip()[-300:]}")
    said = [line for line in lines(out) if "run diverged" in line]
    s = load_run(run_dir).summary
    at = f"{named} at step {step}" if step is not None else f"{named} "
    if len(said) != 1 or at not in said[0] or s.get("status") != "diverged" or at not in s.get("message", ""):
        return Outcome(False, what, f"status {s.get('status')!r}, message {s.get('message')!r}, said {said!r}")
    if step is None:  # a natural divergence: the step is whatever the message names
        step = int(s["message"].split(" at step ", 1)[1].split()[0])
    last = json.loads((run_dir / "checkpoints" / "latest.json").read_text())["step"]
    kept = sorted(int(p.stem[5:]) for p in (run_dir / "checkpoints").glob("ckpt-*.safetensors"))
    good = (step - 1) // CKPT_EVERY * CKPT_EVERY
    if last >= step or kept[-1] >= step or (ref_dir is not None and last != good):
        return Outcome(False, what, f"last checkpoint at step {last}, files up to {kept[-1]}, diverged at {step}")
    import torch
    from safetensors.torch import load_file

    w = load_file(run_dir / "checkpoints" / f"ckpt-{last:08d}.safetensors")
    if not all(torch.isfinite(t).all() for t in w.values()):
        return Outcome(False, what, f"the kept checkpoint at step {last} holds non-finite weights")
    if ref_dir is not None and checkpoint_digest(run_dir, last) != checkpoint_digest(ref_dir, last):
        return Outcome(False, what, f"the kept checkpoint at step {last} differs from the reference's")
    return Outcome(True, what + f" (kept step {last})")


def diverge_naturally(folder: Path, lr: float, seed: int) -> Outcome:
    """No injection: a learning rate far too high, as a user would set it."""
    what = f"lr {lr:g} with plain SGD, seed {seed}"
    name = f"lr{lr:.0f}-s{seed}"
    code, out, err = call(["train", "--name", name, *sets({**SETTINGS, "runs_dir": str(folder), "optimizer": "sgd",
                                                           "lr": lr, "seed": seed, "dropout": 0.0})])
    return check_diverged(folder / name, None, what, code, out, err, None)
