"""Penalties against hand sums; default mask skips biases and norm parameters."""
import pytest
import torch
from torch import nn

from trainlab.errors import TrainlabError
from trainlab.optim.penalties import PENALTIES, create_penalty
from trainlab.optim.recipes import create_optimizer


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    n = torch.get_num_threads()  # tiny tensors: a second (spinning) thread only slows a busy machine
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def make_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 3)).double()


def weights(net):
    return [net[0].weight, net[3].weight]  # the matrices/kernels; not biases, not BN gamma/beta


BETA = 0.7
HAND = {
    "l1": lambda ws: sum(w.abs().sum() for w in ws),
    "l2": lambda ws: sum((w * w).sum() for w in ws),
    "elastic_net": lambda ws: sum((BETA * w * w + w.abs()).sum() for w in ws),
}


def test_every_penalty_has_a_hand_sum():
    assert set(PENALTIES.list()) == set(HAND)


@pytest.mark.parametrize("name", sorted(HAND))
def test_value_and_gradient_match_hand_sum(name):
    net = make_net()
    pen = create_penalty(name, 0.01, beta=BETA)
    value = pen(net)
    expected = 0.01 * HAND[name](weights(net))
    torch.testing.assert_close(value, expected)
    grads = torch.autograd.grad(value, list(net.parameters()), allow_unused=True)
    ref = torch.autograd.grad(expected, list(net.parameters()), allow_unused=True)
    for g, r in zip(grads, ref):
        assert (g is None) == (r is None) or torch.count_nonzero(g if g is not None else r) == 0
        if g is not None and r is not None:
            torch.testing.assert_close(g, r)


def test_default_mask_skips_biases_and_norm_params():
    net = make_net()
    pen = create_penalty("l2", 1.0)
    assert [id(p) for p in pen.params(net)] == [id(w) for w in weights(net)]
    # a custom mask can include everything
    everything = create_penalty("l2", 1.0, mask=lambda name, p: True)
    torch.testing.assert_close(everything(net), sum((p * p).sum() for p in net.parameters()))


def test_mask_list_is_cached_per_model():
    net, other = make_net(), make_net()
    pen = create_penalty("l1", 1.0)
    assert pen.params(net) is pen.params(net)
    assert pen.params(other)[0] is other[0].weight


def test_l2_penalty_equals_coupled_weight_decay_of_twice_the_strength():
    # d/dw (s * sum w^2) = 2 s w, so an l2 penalty of strength s is torch-style weight_decay = 2 s
    s = 0.05
    mask = lambda name, p: True  # noqa: E731  (torch's weight_decay decays every parameter)
    x = torch.randn(8, 2, 3, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)

    def run(penalty, wd):
        net = make_net()
        opt = create_optimizer("momentum", net.parameters(), lr=0.05, weight_decay=wd)
        for _ in range(20):
            opt.zero_grad()
            loss = net(x).square().mean() + (penalty(net) if penalty else 0)
            loss.backward()
            opt.step()
        return torch.cat([p.detach().flatten() for p in net.parameters()])

    torch.testing.assert_close(run(create_penalty("l2", s, mask=mask), 0.0), run(None, 2 * s), rtol=1e-10, atol=1e-12)


def test_zero_strength_gives_zero():
    assert float(create_penalty("l1", 0.0)(make_net())) == 0.0


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: create_penalty("l3", 0.1), "unknown penalty .l3.; choose one of: elastic_net, l1, l2"),
        (lambda: create_penalty("l2", -0.1), "strength=-0.1 must be >= 0"),
        (lambda: create_penalty("elastic_net", 0.1, beta=-1), "beta=-1"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(TrainlabError, match=match):
        call()
