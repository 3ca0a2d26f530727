"""The lr finder: the ramp, the smoothing and both suggestions against their definitions (fastai's
`valley` and `steep` written out here), the stopping rule, a run trained after it bit for bit the
run trained without it, `lr: find` writing its choice into the saved config (and resuming), the
refusals, and `trainlab lr-find`."""
import math
import random

import numpy as np
import pytest
import torch
from helpers import untimed
from PIL import Image
from safetensors.torch import load_file

import trainlab
from trainlab.cli import main
from trainlab.config import load_config
from trainlab.distributed import check as check_distributed
from trainlab.errors import TrainlabError
from trainlab.training.lr_find import lr_find, ramp, smooth, steepest, valley

BASE = {"dataset": "digits", "model": "mlp", "model_options": {"depth": 2, "width": 32}, "dropout": 0.2,
        "epochs": 2, "batch_size": 64, "threads": 1, "augment": [], "optimizer": "momentum"}


def cfg(tmp_path, **kw):
    return {**BASE, "runs_dir": str(tmp_path / "runs"), **kw}


# ---------------------------------------------------------------- definitions
def test_ramp_is_exponential_from_start_to_end():
    f = ramp(1e-7, 10.0, 100)
    lrs = [f(i) for i in range(100)]
    assert lrs[0] == pytest.approx(1e-7) and lrs[-1] == pytest.approx(10.0)
    ratios = [b / a for a, b in zip(lrs, lrs[1:])]
    assert max(ratios) == pytest.approx(min(ratios)) == pytest.approx(1e8 ** (1 / 99))


def test_smoothing_is_the_bias_corrected_moving_average():
    # beta 0.5 by hand: a = 0.5, 1.25, 2.125; divided by 1 - 0.5^n = 0.5, 0.75, 0.875
    assert smooth([1.0, 2.0, 3.0], beta=0.5) == pytest.approx([1.0, 1.25 / 0.75, 2.125 / 0.875])
    assert smooth([2.0] * 5) == pytest.approx([2.0] * 5)  # a constant stays itself: no pull towards 0


def fastai_valley(lrs, losses):
    """fastai.callback.schedule.valley, as fastai writes it."""
    n = len(losses)
    max_start, max_end = 0, 0
    lds = [1] * n
    for i in range(1, n):
        for j in range(0, i):
            if (losses[i] < losses[j]) and (lds[i] < lds[j] + 1):
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    idx = max_start + int(sections) + int(sections / 2)
    return float(lrs[idx])


def fastai_steep(lrs, losses):
    """fastai.callback.schedule.steep, as fastai writes it (on tensors)."""
    lrs, losses = torch.tensor(lrs, dtype=torch.float64), torch.tensor(losses, dtype=torch.float64)
    grads = (losses[1:] - losses[:-1]) / (lrs[1:].log() - lrs[:-1].log())
    return lrs[grads.argmin()].item()


def test_valley_by_hand():
    # the longest fall is indices 0..5 (length 6, ending at 5); fastai notes its start as 5 - 6 = -1:
    # -1 + int(6 / 3) + int(2 / 2) = 2
    assert valley([3.0, 2.5, 2.0, 1.5, 1.0, 0.5, 2.0, 4.0]) == 2


@pytest.mark.parametrize("seed", range(20))
def test_suggestions_are_fastais_on_random_curves(seed):
    rnd = random.Random(seed)
    n = rnd.randint(12, 90)
    lrs = [1e-7 * (1e8 ** (i / (n - 1))) for i in range(n)]
    u = [math.log10(lr) + 3.0 for lr in lrs]  # a falling sigmoid in log lr, with noise, then a blow-up
    losses = smooth([2.3 - 1.5 / (1 + math.exp(-2 * x)) + 0.3 * rnd.random() + (4 * x if x > 1.5 else 0) for x in u])
    assert lrs[valley(losses)] == fastai_valley(lrs, losses)
    assert lrs[steepest(lrs, losses)] == pytest.approx(fastai_steep(lrs, losses), rel=1e-12)


def test_steepest_finds_the_steepest_point_of_a_known_curve():
    lrs = [1e-6 * 10 ** (i / 20) for i in range(101)]  # 1e-6 .. 10
    losses = [2.0 - math.tanh(math.log(lr / 1e-3)) for lr in lrs]  # steepest at lr = 1e-3
    assert lrs[steepest(lrs, losses)] == pytest.approx(1e-3, rel=0.13)  # one step of 10^(1/20) either side


# ---------------------------------------------------------------- the range test
@pytest.mark.parametrize("start_lr, diverge", [(1e-7, 1.2), (1e-7, 2.0), (1e-3, 4.0)])
def test_range_test_stops_when_the_smoothed_loss_passes_diverge_times_its_best(tmp_path, start_lr, diverge):
    # end_lr 100: this MLP's smoothed loss climbs over several steps, so a rule off by a little shows
    found = lr_find(cfg(tmp_path), start_lr=start_lr, end_lr=100, steps=100, diverge=diverge)
    s = found.smoothed
    assert len(s) == len(found.lrs) == len(found.losses) < 100 and found.stopped.startswith(f"stopped at step {len(s)}")
    assert all(s[i] <= diverge * min(s[: i + 1]) for i in range(len(s) - 1)) and s[-1] > diverge * min(s)
    assert found.lrs == pytest.approx([ramp(start_lr, 100, 100)(i) for i in range(len(s))])
    lo, hi = 10, len(s) - 5  # fastai's trim: steps // 10 at the start, 5 at the end
    assert found.valley == found.lrs[lo + valley(s[lo:hi])] == fastai_valley(found.lrs[lo:hi], s[lo:hi])
    assert found.steepest == pytest.approx(fastai_steep(found.lrs[lo:hi], s[lo:hi]))
    assert found.lr == found.valley and found.summary()["rule"] == "valley"


def test_a_run_after_the_finder_is_bit_identical_to_one_without_it(tmp_path):
    before = trainlab.train(cfg(tmp_path, name="before"), quiet=True, report=False)
    torch.manual_seed(1234)  # a state of the caller's own (the run left the one 40 steps of dropout from seed 0 leave)
    rng = torch.get_rng_state()
    found = lr_find(cfg(tmp_path), steps=40)
    assert torch.equal(rng, torch.get_rng_state())  # dropout's global stream is where it was
    after = trainlab.train(cfg(tmp_path, name="after"), quiet=True, report=False)
    assert untimed(after.metrics) == untimed(before.metrics)
    a, b = load_file(before.latest_checkpoint()[0]), load_file(after.latest_checkpoint()[0])
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert lr_find(cfg(tmp_path), steps=40).losses == found.losses  # and the finder is itself reproducible


def test_lr_find_in_a_config_writes_its_choice_and_is_that_run(tmp_path):
    found = trainlab.train(cfg(tmp_path, name="found", lr="find"), quiet=True)
    chosen = lr_find(cfg(tmp_path)).valley
    assert found.config["lr"] == chosen  # the saved config: the lr that ran
    assert found.summary["lr_find"]["rule"] == "valley" and found.summary["lr_find"]["lr"] == chosen
    assert (found.path / "lr_find.json").is_file() and (found.path / "plots" / "lr_find.png").is_file()
    assert 'alt="lr_find"' in (found.path / "report.html").read_text()  # the report shows the curve
    fixed = trainlab.train(cfg(tmp_path, name="fixed", lr=chosen), quiet=True, report=False)
    assert untimed(found.metrics) == untimed(fixed.metrics)
    a, b = load_file(found.latest_checkpoint()[0]), load_file(fixed.latest_checkpoint()[0])
    assert all(torch.equal(a[k], b[k]) for k in a)
    again = trainlab.train(cfg(tmp_path, name="seed1", lr="find", seed=1), quiet=True, report=False)
    assert again.summary["arm"] == found.summary["arm"] != fixed.summary["arm"]  # one arm: "lr: find"


def test_interrupted_lr_find_run_resumes_bit_identically(tmp_path, kill_and_resume):
    settings = cfg(tmp_path, lr="find", eval_every=7)
    ref = trainlab.train({**settings, "name": "ref"}, quiet=True, report=False)
    done = kill_and_resume(settings, at_step=14)  # the saved config holds the chosen lr: no second test runs
    assert done.config["lr"] == ref.config["lr"] and untimed(done.metrics) == untimed(ref.metrics)
    assert done.summary["test"] == ref.summary["test"] and done.summary["lr_find"] == ref.summary["lr_find"]


@pytest.mark.parametrize("kw, words", [
    ({"steps": 10}, "steps 10 is too few to suggest an lr; use at least 20"),
    ({"start_lr": 1.0, "end_lr": 0.1}, "must be 0 < start_lr < end_lr"),
    ({"diverge": 1.0}, "diverge 1 must be > 1"),
    ({"end_lr": 1e30, "start_lr": 1e20}, "the loss diverged after"),
])
def test_finder_arguments_that_cannot_work_are_refused_in_one_line(tmp_path, kw, words):
    with pytest.raises(TrainlabError, match=words) as e:
        lr_find(cfg(tmp_path), **kw)
    assert "\n" not in str(e.value)


def test_lr_find_refusals(tmp_path):
    chain = {"optimizer": ["scale_by_momentum", {"scale_by_lr": {"lr": 0.1}}], "schedule": "constant"}
    with pytest.raises(TrainlabError, match="lr: find would be ignored: the chain's scale_by_lr sets lr 0.1"):
        trainlab.train(cfg(tmp_path, dataset="no-such-dataset", lr="find", **chain), quiet=True)
    with pytest.raises(TrainlabError, match="lr: find runs the lr finder in one process"):
        check_distributed(load_config(None, ["lr=find"]), 2)
    with pytest.raises(TrainlabError, match=r"key 'lr': input should be a valid number greater than 0, or find"):
        load_config(None, ["lr=fnd"])
    assert not (tmp_path / "runs").exists()


def test_cli_draws_the_curve_and_prints_both_suggestions(tmp_path, capsys):
    out = tmp_path / "lr.png"
    assert main(["lr-find", "--set", "dataset=digits", "--set", "model=mlp", "--set", "threads=1",
                 "--steps", "60", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "lr-find: step 10/60" in text and "steepest: " in text and "valley: " in text and str(out) in text
    img = np.asarray(Image.open(out))
    assert img.shape[0] > 300 and img[..., :3].std() > 10
    assert main(["lr-find", "--set", "dataset=digits", "--steps", "5", "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "steps 5 is too few" in err and err.count("\n") == 1 and not (tmp_path / "x.png").exists()
