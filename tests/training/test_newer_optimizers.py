"""The newer optimizer recipes in the training loop: each one trains configs/mlp-digits.yaml from the
CLI; a schedule-free run is scored, kept and saved at the optimizer's average x (with batch-norm
statistics recomputed for it) while it trains at y, and resumes bit for bit."""
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import trainlab
from helpers import untimed
from trainlab.cli import main
from trainlab.errors import TrainlabError
from trainlab.nn.layers import recompute_bn_stats
from trainlab.optim.recipes import OPTIMIZERS
from trainlab.runs.files import load_state
from trainlab.training.evaluation import batches
from trainlab.training.loop import bn_sample
from trainlab.training.saved import load_saved

MLP_DIGITS = Path(__file__).parents[2] / "configs" / "mlp-digits.yaml"
NEWER = sorted(set(OPTIMIZERS.list()) - {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"})
LR = {"lion": 1e-3, "lars": 1.0}  # every other recipe trains at the config's lr 0.05 for a moment
# an MLP with batch norm, evaluated after 30 steps and at the end (step 40)
BASE = {"dataset": "digits", "model": "mlp", "model_options": {"depth": 2, "width": 32}, "norm": "batch",
        "epochs": 2, "batch_size": 64, "lr": 0.05, "threads": 1, "eval_every": 30, "warmup_epochs": 0.5,
        "optimizer": "schedule_free_sgd", "optimizer_options": {"momentum": 0.9}}


def cfg(tmp_path, **kw):
    return {**BASE, "runs_dir": str(tmp_path / "runs"), **kw}


@pytest.mark.parametrize("name", NEWER)
def test_recipe_trains_from_the_cli(name, tmp_path, capsys):
    code = main(["train", str(MLP_DIGITS), "--set", f"optimizer={name}", "--set", "epochs=1", "--set", "threads=1",
                 "--set", f"lr={LR.get(name, 0.05)}", "--set", f"runs_dir={tmp_path}", "--set", "name=run"])
    out = capsys.readouterr().out
    assert code == 0 and "finished: test acc" in out, out
    run = trainlab.load_run(tmp_path / "run")
    assert run.config["optimizer"] == name and run.summary["test"]["acc"] > 0.2  # ten classes: 0.1 is chance


def state_point(state: dict, key: str) -> list[torch.Tensor]:
    chain = state["optimizer"]["state"]["chain"]
    return next(v for k, v in chain.items() if k.endswith(":schedule_free"))[key]


def test_schedule_free_run_scores_keeps_and_saves_the_averaged_point(tmp_path):
    run = trainlab.train(cfg(tmp_path, name="sf"), quiet=True, report=False)
    assert run.summary["status"] == "finished" and [r["step"] for r in run.metrics] == [30, 40]
    weights_path, state_path = run.latest_checkpoint()
    saved, state = load_file(weights_path), load_state(state_path)
    live = state["live_weights"]
    names = [k for k in live if not k.split(".")[-1].startswith(("running", "num_batches"))]  # parameters, in order
    x = state_point(state, "x")
    assert len(names) == len(x) and all(torch.equal(saved[k], t) for k, t in zip(names, x))  # the weights file: x
    assert any(not torch.equal(saved[k], live[k]) for k in names)  # ... not y, which the state keeps to resume
    # batch-norm statistics of the saved x: recomputed for x over the same training batches, not y's running ones
    p = load_saved(run, weights="last")
    stats = {k: v.clone() for k, v in p.model.state_dict().items() if "running" in k}
    recompute_bn_stats(p.model, batches(p, bn_sample(p.data.train.x), p.cfg.batch_size))
    assert stats and all(torch.equal(v, p.model.state_dict()[k]) for k, v in stats.items())
    assert any(not torch.equal(v, live[k]) for k, v in stats.items())
    # the logged validation loss and the test score are those of the kept x
    best = run.summary["best"]
    assert best["step"] == 40 and trainlab.evaluate(run.path, "val")["loss"] == pytest.approx(best["val_loss"], abs=1e-6)
    assert trainlab.evaluate(run.path, "test")["acc"] == run.summary["test"]["acc"]
    assert all(torch.equal(load_file(run.ckpt_dir / "best.safetensors")[k], saved[k]) for k in saved)


def test_evaluating_leaves_the_training_untouched(tmp_path):
    # each evaluation and checkpoint swaps x in, recomputes BN, and swaps y (and y's BN) back: evaluating
    # every 5 steps instead of every 30 ends with the same live weights and the same final score
    a = trainlab.train(cfg(tmp_path, name="a"), quiet=True, report=False)
    b = trainlab.train(cfg(tmp_path, name="b", eval_every=5), quiet=True, report=False)
    la, lb = (load_state(r.latest_checkpoint()[1])["live_weights"] for r in (a, b))
    assert all(torch.equal(la[k], lb[k]) for k in la)
    assert len(b.metrics) == 8 and a.metrics[-1]["val_loss"] == b.metrics[-1]["val_loss"]


def test_interrupted_schedule_free_run_resumes_bit_identically(tmp_path, kill_and_resume):
    settings = cfg(tmp_path, epochs=3, dropout=0.2, log_every=3, eval_every=7)
    ref = trainlab.train({**settings, "name": "ref"}, quiet=True, report=False)
    done = kill_and_resume(settings, at_step=14)  # after the step-7 checkpoint (x saved, y in the state)
    assert untimed(done.metrics) == untimed(ref.metrics)
    for name in (ref.latest_checkpoint()[0].name, "best.safetensors"):
        a, b = load_file(ref.ckpt_dir / name), load_file(done.ckpt_dir / name)
        assert all(torch.equal(a[k], b[k]) for k in a)
    sa, sb = load_state(ref.latest_checkpoint()[1]), load_state(done.latest_checkpoint()[1])
    assert all(torch.equal(sa["live_weights"][k], sb["live_weights"][k]) for k in sa["live_weights"])
    assert all(torch.equal(u, v) for u, v in zip(state_point(sa, "z"), state_point(sb, "z")))
    assert done.summary["test"] == ref.summary["test"]


def test_ema_with_schedule_free_is_refused(tmp_path):
    with pytest.raises(TrainlabError, match="ema: 0.99 with optimizer 'schedule_free_adamw'.*remove ema") as e:
        trainlab.train(cfg(tmp_path, optimizer="schedule_free_adamw", optimizer_options={}, ema=0.99), quiet=True)
    assert "\n" not in str(e.value) and not (tmp_path / "runs").exists()
