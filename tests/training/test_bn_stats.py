"""Batch-norm statistics over the whole training set (deck 000) against torch's running averages:
recompute_bn_stats against a hand computation, and `evaluate --bn-stats full` on a short run."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import trainlab
from trainlab.cli import main
from trainlab.errors import TrainlabError
from trainlab.nn.layers import create_dropout, recompute_bn_stats


def small_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), create_dropout(0.5),
                         nn.Conv2d(4, 5, 3), nn.BatchNorm2d(5, momentum=0.3))


def data() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(70, 3, 8, 8, generator=g) * 3 + 1
    return list(x.split(16))  # 16, 16, 16, 16, 6: the last batch is smaller


def inputs_by_hand(net, batches):
    """Inputs of both batch norms over all batches: BN1 normalizes with each batch's own statistics
    (training mode), dropout is off (eval mode), written out with functional ops."""
    bn1 = net[1]
    first, second = [], []
    for b in batches:
        z = F.conv2d(b, net[0].weight, net[0].bias)  # (B, 4, 6, 6)
        first.append(z)
        mean, var = z.mean((0, 2, 3), keepdim=True), z.var((0, 2, 3), unbiased=False, keepdim=True)
        h = (z - mean) / torch.sqrt(var + bn1.eps) * bn1.weight[:, None, None] + bn1.bias[:, None, None]
        second.append(F.conv2d(torch.relu(h), net[4].weight, net[4].bias))  # (B, 5, 4, 4)
    return torch.cat(first).double(), torch.cat(second).double()


def per_channel(x):
    """(mean, unbiased variance) per channel of (N, C, H, W)."""
    return x.mean((0, 2, 3)), x.var((0, 2, 3), unbiased=True)


@torch.no_grad()
def test_running_stats_become_the_training_set_statistics():
    net, batches = small_net(), data()
    first, second = inputs_by_hand(net, batches)
    before = copy.deepcopy(net)
    assert recompute_bn_stats(net, batches) == 2
    for bn, x in ((net[1], first), (net[5], second)):
        mean, var = per_channel(x)
        torch.testing.assert_close(bn.running_mean.double(), mean, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(bn.running_var.double(), var, rtol=1e-5, atol=1e-5)
        assert int(bn.num_batches_tracked) == len(batches)
    # the first layer's inputs do not depend on the batching: one pass over all 70 images agrees
    mean, var = per_channel(net[0](torch.cat(batches)).double())
    torch.testing.assert_close(net[1].running_mean.double(), mean, rtol=1e-5, atol=1e-5)
    # torch's exponential moving averages over the same batches are something else (momentum 0.1 from 0)
    before.train()
    for b in batches:
        before(b)
    assert (before[1].running_mean.double() - mean).abs().max() > 0.1
    # weights untouched; momentum kept
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), before.parameters()))
    assert (net[1].momentum, net[5].momentum) == (0.1, 0.3)


def test_modes_and_random_state_are_kept_and_the_pass_is_deterministic():
    net, batches = small_net(), data()
    net.train()
    net[3].eval()
    rng = torch.get_rng_state()
    recompute_bn_stats(net, [(b, None) for b in batches])  # (x, y) pairs work too
    assert torch.equal(rng, torch.get_rng_state())  # dropout stayed off: no random draws
    assert net.training and net[1].training and not net[3].training
    stats = [t.clone() for t in (net[1].running_mean, net[5].running_var)]
    recompute_bn_stats(net, batches)
    assert all(torch.equal(a, b) for a, b in zip(stats, (net[1].running_mean, net[5].running_var)))
    assert all(p.grad is None for p in net.parameters())


@pytest.mark.parametrize("model, batches, match", [
    (nn.Sequential(nn.Linear(3, 2)), [torch.zeros(4, 3)], "Sequential has no BatchNorm layer.*norm='batch'"),
    (nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2, track_running_stats=False)), [torch.zeros(4, 3)],
     "no BatchNorm layer with running statistics"),
    (nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)), [], "batch norm '1' saw fewer than 2 values"),
])
def test_refused_in_one_line(model, batches, match):
    with pytest.raises(TrainlabError, match=match) as e:
        recompute_bn_stats(model, batches)
    assert "\n" not in str(e.value)


BASE = {"dataset": "digits", "model": "mlp", "epochs": 1, "batch_size": 64, "optimizer": "momentum", "lr": 0.05,
        "threads": 1, "model_options": {"width": 32}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("bn")
    return {norm: trainlab.train({**BASE, "norm": norm, "name": norm, "runs_dir": str(root)}, quiet=True).path
            for norm in ("batch", "none")}


def test_evaluate_with_full_statistics_differs_from_running_averages(runs):
    running = trainlab.evaluate(runs["batch"], split="test", device="cpu")
    full = trainlab.evaluate(runs["batch"], split="test", device="cpu", bn_stats="full")
    assert running["bn_stats"] == "running" and full["bn_stats"] == "full"
    assert abs(full["loss"] - running["loss"]) > 1e-4
    assert full["confusion_png"].endswith("confusion_test_bn-full.png") and running["confusion_png"].endswith(
        "confusion_test.png")
    # the saved weights are untouched: running statistics again give the same score
    assert trainlab.evaluate(runs["batch"], split="test", device="cpu")["loss"] == running["loss"]


def test_evaluate_refuses_full_statistics_without_batch_norm(runs, capsys):
    with pytest.raises(TrainlabError, match="--bn-stats full: run 'none' has no batch norm .*norm 'none'"):
        trainlab.evaluate(runs["none"], bn_stats="full", device="cpu")
    with pytest.raises(TrainlabError, match="--bn-stats 'fulll' is not one of running, full"):
        trainlab.evaluate(runs["batch"], bn_stats="fulll", device="cpu")
    assert main(["evaluate", str(runs["none"]), "--bn-stats", "full"]) == 2
    err = capsys.readouterr().err
    assert "has no batch norm" in err and err.count("\n") == 1
    assert main(["evaluate", str(runs["batch"]), "--bn-stats", "full", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "training-set statistics" in out and "confusion_test_bn-full.png" in out
