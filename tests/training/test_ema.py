"""Weight EMA (`ema` in the config): the average against its closed form, evaluation with it while
the live weights train untouched, the config's bounds, and a resumed run bit for bit."""
import pytest
import torch
from safetensors.torch import load_file

import trainlab
from helpers import untimed
from trainlab.config import load_config
from trainlab.training.ema import WeightEMA
from trainlab.errors import TrainlabError
from trainlab.runs.files import load_state

BASE = {"dataset": "digits", "model": "mlp", "epochs": 2, "batch_size": 64, "lr": 0.05, "threads": 1}


def cfg(tmp_path, **kw):
    return {**BASE, "runs_dir": str(tmp_path / "runs"), **kw}


def random_steps(net, ema, steps):
    """Steps 1..steps, each setting random weights then updating `ema`: (step, weights) at each update."""
    for step in range(1, steps + 1):
        with torch.no_grad():
            for p in net.parameters():
                p.copy_(torch.randn_like(p))
        ema.update(net, step)
        if step % ema.every == 0:
            yield step, [p.detach().clone() for p in net.parameters()]


@pytest.mark.parametrize("every", [1, 3])
def test_average_equals_the_closed_form(every):
    # ema_N = d^N w_0 + (1-d) sum_k d^(N-k) w_k over the weights at the updated steps
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2).double()
    d, steps = 0.9, 10
    w0 = [p.detach().clone() for p in net.parameters()]
    ema = WeightEMA(net, d, every)
    seen = [w for _, w in random_steps(net, ema, steps)]
    n = len(seen)
    for i, got in enumerate(ema.params):
        want = d**n * w0[i] + (1 - d) * sum(d ** (n - k) * ws[i] for k, ws in enumerate(seen, start=1))
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)


def test_warmup_decay_follows_its_definition_and_forgets_the_start():
    # the n-th update (step n * every) uses d_n = min(decay, (1 + n) / (10 + n))
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2).double()
    decay, every, steps = 0.99, 2, 12
    ema = WeightEMA(net, decay, every, warmup=True)
    want = [p.detach().clone() for p in net.parameters()]
    for step, weights in random_steps(net, ema, steps):
        n = step // every
        d = min(decay, (1 + n) / (10 + n))
        want = [d * a + (1 - d) * w for a, w in zip(want, weights)]
    for got, w in zip(ema.params, want):
        torch.testing.assert_close(got, w, rtol=1e-12, atol=1e-12)
    assert [ema.decay_at(s) for s in (2, 4, 1000, 10000)] == [2 / 11, 3 / 12, 501 / 510, 0.99]
    assert WeightEMA(net, decay, every).decay_at(2) == 0.99  # without warmup: the constant decay


def test_ema_warmup_without_ema_is_refused(tmp_path):
    with pytest.raises(TrainlabError, match="ema_warmup: true does nothing without ema"):
        trainlab.train({"dataset": "digits", "model": "mlp", "epochs": 1, "ema_warmup": True,
                        "runs_dir": str(tmp_path)}, quiet=True)
    assert not any(tmp_path.iterdir())


def test_applied_swaps_in_the_average_and_restores_live_weights_exactly():
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    ema = WeightEMA(net, 0.5)
    net(torch.randn(8, 3))  # moves the running statistics
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    ema.update(net, 1)
    live = {k: v.clone() for k, v in net.state_dict().items()}
    with ema.applied(net):
        for p, a in zip(net.parameters(), ema.params):
            assert torch.equal(p, a)
        assert torch.equal(net[1].running_mean, live["1.running_mean"])  # buffers: the live model's
    assert all(torch.equal(v, live[k]) for k, v in net.state_dict().items())


@pytest.mark.parametrize("bad", [1.0, 1.5, -0.1])
def test_config_refuses_decay_outside_0_1(bad):
    with pytest.raises(TrainlabError, match="key 'ema'") as err:
        load_config(None, [f"ema={bad}"])
    assert "\n" not in str(err.value)


def test_live_weights_train_as_without_ema_and_evaluation_uses_the_average(tmp_path):
    plain = trainlab.train(cfg(tmp_path, name="plain"), quiet=True, report=False)
    avg = trainlab.train(cfg(tmp_path, name="avg", ema=0.9), quiet=True, report=False)
    train_keys = ("step", "train_loss", "train_acc", "grad_norm", "lr")
    assert [[r[k] for k in train_keys] for r in plain.metrics] == [[r[k] for k in train_keys] for r in avg.metrics]
    assert [r["val_loss"] for r in plain.metrics] != [r["val_loss"] for r in avg.metrics]
    a, b = load_file(plain.latest_checkpoint()[0]), load_file(avg.latest_checkpoint()[0])
    assert all(torch.equal(a[k], b[k]) for k in a)  # the live weights: bit for bit the same training
    state = load_state(avg.latest_checkpoint()[1])
    best = load_file(avg.ckpt_dir / "best.safetensors")
    assert avg.summary["best"]["step"] == 40  # the average of a steady descent: best at the end
    names = [f"{m}.{t}" for m in ("fc1.linear", "fc2.linear", "head") for t in ("weight", "bias")]
    assert sorted(names) == sorted(b)  # an MLP: every entry is a parameter; named_parameters() order
    assert all(torch.equal(best[k], t) for k, t in zip(names, state["ema"]["params"]))
    assert any(not torch.equal(best[k], b[k]) for k in names)
    assert plain.summary["arm"] != avg.summary["arm"]


def test_interrupted_with_ema_then_resumed_is_bit_identical(tmp_path, kill_and_resume):
    settings = cfg(tmp_path, epochs=3, dropout=0.2, log_every=3, eval_every=7, ema=0.8, ema_every=2)
    ref = trainlab.train({**settings, "name": "ref"}, quiet=True, report=False)
    done = kill_and_resume(settings, at_step=14)  # after the step-7 checkpoint, before step 14's
    assert untimed(done.metrics) == untimed(ref.metrics)
    for name in (ref.latest_checkpoint()[0].name, "best.safetensors"):
        a, b = load_file(ref.ckpt_dir / name), load_file(done.ckpt_dir / name)
        assert all(torch.equal(a[k], b[k]) for k in a)
    sa, sb = load_state(ref.latest_checkpoint()[1]), load_state(done.latest_checkpoint()[1])
    assert all(torch.equal(x, y) for x, y in zip(sa["ema"]["params"], sb["ema"]["params"]))
    assert done.summary["test"] == ref.summary["test"]


def test_ema_every_without_ema_is_refused(tmp_path):
    with pytest.raises(TrainlabError, match="ema_every: 3 does nothing without ema"):
        trainlab.train({"dataset": "digits", "model": "mlp", "epochs": 1, "ema_every": 3,
                        "runs_dir": str(tmp_path)}, quiet=True)
    assert not any(tmp_path.iterdir())
