"""SWA (`swa: {start_epoch, lr}`): the average against torch.optim.swa_utils.AveragedModel on the same
weights; in a run, the lr held from start_epoch, the last row, best.safetensors and the test score
of the average of the live weights at the epochs' ends (batch-norm statistics recomputed on the
training set); refusals in one line; a killed run resumed bit for bit."""
import pytest
import torch
from helpers import untimed
from safetensors.torch import load_file
from torch.optim.swa_utils import AveragedModel

import trainlab
from trainlab.config import load_config
from trainlab.errors import TrainlabError
from trainlab.nn.layers import recompute_bn_stats
from trainlab.optim.schedules import create_schedule
from trainlab.runs.files import load_state
from trainlab.training.evaluation import batches, evaluate_split
from trainlab.training.saved import load_saved
from trainlab.training.swa import WeightAverage

# a small CNN with batch norm on digits: 5 epochs of 10 steps, SWA over epochs 3, 4, 5 at lr 0.02
BASE = {"dataset": "digits", "model": "convnet", "model_options": {"channels": [8, 16], "hidden": 32},
        "norm": "batch", "dropout": 0.1, "epochs": 5, "batch_size": 128, "lr": 0.1, "schedule": "cosine",
        "threads": 1, "swa": {"start_epoch": 3, "lr": 0.02}}


def cfg(tmp_path, **kw):
    return {**BASE, "runs_dir": str(tmp_path / "runs"), **kw}


def test_average_is_averaged_models_on_the_same_weights():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))
    ours, ref = WeightAverage(net, start_epoch=3), AveragedModel(net)
    for epoch in range(1, 9):
        with torch.no_grad():
            for p in net.parameters():
                p.copy_(torch.randn_like(p))
        ours.update(net, epoch)
        if epoch >= 3:  # torch's recipe: `if epoch >= swa_start: swa_model.update_parameters(model)`
            ref.update_parameters(net)
    assert ours.n == int(ref.n_averaged) == 6
    for a, b in zip(ours.params, ref.module.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    live = [p.detach().clone() for p in net.parameters()]
    bn = net[1].running_mean.clone()
    with ours.applied(net, lambda m: m[1].running_mean.fill_(7.0)):
        assert all(torch.equal(p, a) for p, a in zip(net.parameters(), ours.params))
        assert (net[1].running_mean == 7.0).all()
    assert all(torch.equal(p, w) for p, w in zip(net.parameters(), live)) and torch.equal(net[1].running_mean, bn)


def test_run_holds_the_lr_and_scores_saves_and_tests_the_average(tmp_path):
    best_file = tmp_path / "runs" / "avg" / "checkpoints" / "best.safetensors"
    seen = []  # at each evaluation: is there a best.safetensors yet? (no live epoch may be written as best)
    run = trainlab.train(cfg(tmp_path, name="avg", keep_every=10, keep_checkpoints=1), quiet=True, report=False,
                         on_eval=lambda row: seen.append(best_file.is_file()))
    assert seen == [False, False, False, False, True]
    rows, spe = run.metrics, run.metrics[0]["step"]
    assert spe == 10 and [r["epoch"] for r in rows] == [1, 2, 3, 4, 5]
    cosine = create_schedule("cosine", lr=0.1, total=5)
    assert [r["lr"] for r in rows] == [cosine((spe - 1) / spe), cosine((2 * spe - 1) / spe), 0.02, 0.02, 0.02]
    assert [r.get("swa_models") for r in rows] == [None, None, None, None, 3]
    assert run.summary["swa"] == {"start_epoch": 3, "lr": 0.02, "models": 3}
    assert run.summary["best"]["step"] == 50 and run.summary["best"]["val_loss"] == rows[-1]["val_loss"]

    # the reference: AveragedModel over the live weights at the ends of epochs 3, 4, 5 (the kept checkpoints)
    p = load_saved(run, weights="last")
    ref = AveragedModel(p.model)
    for step in (30, 40, 50):
        p.model.load_state_dict(load_file(run.ckpt_dir / f"ckpt-{step:08d}.safetensors"))
        ref.update_parameters(p.model)
    best = load_file(run.ckpt_dir / "best.safetensors")
    names = [n for n, _ in p.model.named_parameters()]
    for n, avg in zip(names, ref.module.parameters()):
        torch.testing.assert_close(best[n], avg.detach(), rtol=1e-6, atol=1e-7)
    # its batch-norm statistics: recomputed for the average over the whole training set, in training batches
    last = load_file(run.latest_checkpoint()[0])  # the live weights at the end: not the average
    assert any(not torch.equal(best[n], last[n]) for n in names)
    p.model.load_state_dict({**p.model.state_dict(), **{n: best[n] for n in names}})
    recompute_bn_stats(p.model, batches(p, p.data.train.x, 128))
    for k, v in p.model.state_dict().items():
        if "running" in k:
            torch.testing.assert_close(best[k], v, rtol=1e-6, atol=1e-6)
    # the last validation row and the test score are the average's
    assert evaluate_split(p, p.data.val.x, p.data.val.y)["loss"] == pytest.approx(rows[-1]["val_loss"], rel=1e-6)
    assert evaluate_split(p, p.data.test.x, p.data.test.y)["acc"] == pytest.approx(run.summary["test"]["acc"])


def test_without_swa_the_same_run_differs_only_from_start_epoch(tmp_path):
    swa = trainlab.train(cfg(tmp_path, name="swa"), quiet=True, report=False)
    plain = trainlab.train(cfg(tmp_path, name="plain", swa=None), quiet=True, report=False)
    assert untimed(swa.metrics)[:2] == untimed(plain.metrics)[:2]  # the same run until epoch 3 begins
    assert swa.metrics[2]["lr"] == 0.02 != plain.metrics[2]["lr"]
    assert plain.summary["arm"] != swa.summary["arm"] and "swa" not in plain.summary


def test_interrupted_swa_run_resumes_bit_identically(tmp_path, kill_and_resume):
    settings = cfg(tmp_path, eval_every=7, log_every=7)
    ref = trainlab.train({**settings, "name": "ref"}, quiet=True, report=False)
    done = kill_and_resume(settings, at_step=42)  # after the step-35 checkpoint (two epochs averaged), before 42's
    assert untimed(done.metrics) == untimed(ref.metrics)
    for name in (ref.latest_checkpoint()[0].name, "best.safetensors"):
        a, b = load_file(ref.ckpt_dir / name), load_file(done.ckpt_dir / name)
        assert all(torch.equal(a[k], b[k]) for k in a)
    sa, sb = load_state(ref.latest_checkpoint()[1]), load_state(done.latest_checkpoint()[1])
    assert sa["swa"]["n"] == sb["swa"]["n"] == 3
    assert all(torch.equal(x, y) for x, y in zip(sa["swa"]["params"], sb["swa"]["params"]))
    assert done.summary["test"] == ref.summary["test"]


@pytest.mark.parametrize("kw, words", [
    ({"ema": 0.99}, "swa with ema: 0.99: both replace the weights that are scored, saved and tested"),
    ({"epochs": 2}, r"swa.start_epoch: 3 is after the last epoch \(epochs: 2\), so nothing would be averaged"),
    ({"early_stopping": True}, "swa with early_stopping: SWA's answer is its average at the end"),
    ({"optimizer": "schedule_free_sgd"}, "swa with optimizer 'schedule_free_sgd': the optimizer keeps an average"),
    ({"optimizer": ["scale_by_momentum", {"scale_by_lr": {"lr": 0.1}}], "lr": 0.1, "schedule": "constant"},
     "swa.lr would be ignored: the chain's scale_by_lr gives its own lr"),
    ({"swa": {"start_epoch": 0, "lr": 0.1}}, "key 'swa.start_epoch': input should be greater than or equal to 1"),
    ({"swa": {"start_epoch": 2}}, "key 'swa.lr': field required"),
    ({"swa": {"start_epoch": 2, "lr": 0.1, "anneal_epochs": 2}}, "unknown key 'swa.anneal_epochs'"),
])
def test_swa_that_cannot_act_is_refused_in_one_line_before_data_loads(tmp_path, kw, words):
    with pytest.raises(TrainlabError, match=words) as e:
        trainlab.train(cfg(tmp_path, dataset="no-such-dataset", **kw), quiet=True)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "runs").exists()


def test_swa_is_written_out_in_the_saved_config():
    assert load_config(None, ["swa.start_epoch=4", "swa.lr=0.01"]).resolved()["swa"] == {"start_epoch": 4, "lr": 0.01}
    assert load_config(None, []).resolved()["swa"] is None
