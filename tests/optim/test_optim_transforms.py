"""Each gradient-transformation link against a hand-written per-tensor formula; clipping vs torch."""
import math

import pytest
import torch

from trainlab.errors import TrainlabError
from trainlab.optim.base import value
from trainlab.optim.recipes import create_optimizer
from trainlab.optim.transforms import (
    TRANSFORMS, add_decayed_weights, add_l2, chain, clip_by_global_norm, clip_by_value, create_link, global_norm,
    scale_by_adam, scale_by_lr,
)


def tensors(seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return [scale * torch.randn(s, generator=g, dtype=torch.float64) for s in [(4, 3), (3,), (2, 2, 2)]]


PARAMS = tensors(0)
GRADS = [tensors(s) for s in (1, 2, 3)]  # three steps of gradients

# link name -> (hyperparameters, reference: (g, p, s, t) -> u for one tensor, s = a per-tensor dict)


def ref_momentum(g, p, s, t, mu=0.8):
    s["v"] = mu * s.get("v", 0) + g
    return g + mu * s["v"]  # nesterov=True


def ref_adagrad(g, p, s, t, eps=1e-6):
    s["c"] = s.get("c", 0.5) + g * g
    return g / (torch.sqrt(s["c"]) + eps)


def ref_rms(g, p, s, t, d=0.9, eps=1e-6):
    s["c"] = d * s.get("c", 0) + (1 - d) * g * g
    s["a"] = d * s.get("a", 0) + (1 - d) * g
    return g / (torch.sqrt(s["c"] - s["a"] ** 2) + eps)  # centered


def ref_adam(g, p, s, t, b1=0.8, b2=0.95, eps=1e-6):
    s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0) + (1 - b2) * g * g
    return (s["m"] / (1 - b1**t)) / (torch.sqrt(s["v"] / (1 - b2**t)) + eps)


def ref_lookahead(g, p, s, t, k=2, alpha=0.5):
    slow = s.setdefault("slow", p.clone())
    if t % k:
        return g
    s["slow"] = slow + alpha * (p + g - slow)
    return s["slow"] - p


# the newer links (trainlab.optim.modern, .layerwise), from their papers' per-tensor rules; their
# recipes are checked over many steps in test_optim_modern.py


def ref_nadam(g, p, s, t, b1=0.8, b2=0.95, eps=1e-6, psi=0.004):
    mu, mu_next = (b1 * (1 - 0.5 * 0.96 ** (k * psi)) for k in (t, t + 1))
    s["prod"] = float(torch.tensor(s.get("prod", 1.0), dtype=torch.float32) * mu)  # torch keeps it in float32
    s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0) + (1 - b2) * g * g
    den = torch.sqrt(s["v"] / (1 - b2**t)) + eps
    return ((1 - mu) / (1 - s["prod"]) * g + mu_next / (1 - s["prod"] * mu_next) * s["m"]) / den


def ref_radam(g, p, s, t, b1=0.8, b2=0.95, eps=1e-6):  # t = 1..3 is rho_t <= 5: plain momentum
    s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0) + (1 - b2) * g * g
    rho_inf = 2 / (1 - b2) - 1
    rho = rho_inf - 2 * t * b2**t / (1 - b2**t)
    if rho <= 5:
        return s["m"] / (1 - b1**t)
    r = math.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
    return r * s["m"] / (1 - b1**t) / (torch.sqrt(s["v"]) / math.sqrt(1 - b2**t) + eps / math.sqrt(1 - b2**t))


def ref_adamax(g, p, s, t, b1=0.8, b2=0.95, eps=1e-6):
    s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
    s["u"] = torch.maximum(b2 * s.get("u", torch.zeros_like(g)), g.abs() + eps)
    return s["m"] / ((1 - b1**t) * s["u"])


def ref_lion(g, p, s, t, b1=0.8, b2=0.95):
    m = s.get("m", 0)
    s["m"] = b2 * m + (1 - b2) * g
    return torch.sign(b1 * m + (1 - b1) * g)


def ref_adan(g, p, s, t, b1=0.8, b2=0.7, b3=0.95, eps=1e-6):
    d = g - s.get("prev", g)
    s["prev"] = g
    s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0) + (1 - b2) * d
    s["n"] = b3 * s.get("n", 0) + (1 - b3) * (g + b2 * d) ** 2
    return (s["m"] / (1 - b1**t) + b2 * s["v"] / (1 - b2**t)) / (torch.sqrt(s["n"] / (1 - b3**t)) + eps)


def ref_ademamix(g, p, s, t, b1=0.8, b2=0.95, b3=0.99, alpha=4.0, eps=1e-6, warmup=2):
    a = min(t * alpha / warmup, alpha)
    f = min(t, warmup) / warmup
    b = min(math.exp(math.log(b1) * math.log(b3) / ((1 - f) * math.log(b3) + f * math.log(b1))), b3)
    s["m1"] = b1 * s.get("m1", 0) + (1 - b1) * g
    s["m2"] = b * s.get("m2", 0) + (1 - b) * g
    s["v"] = b2 * s.get("v", 0) + (1 - b2) * g * g
    return (s["m1"] / (1 - b1**t) + a * s["m2"]) / (torch.sqrt(s["v"] / (1 - b2**t)) + eps)


def ref_schedule_free(u, p, s, t, b1=0.8, lr=0.1, b2=0.9):  # u: a step of z (after scale_by_lr)
    s.setdefault("z", p.clone())
    s.setdefault("x", p.clone())
    step = lr * math.sqrt(1 - b2**t)
    s["z"] = s["z"] + math.sqrt(1 - b2**t) * u
    s["sum"] = s.get("sum", 0.0) + max(s.get("top", 0.0), step) ** 2
    s["top"] = max(s.get("top", 0.0), step)
    c = s["top"] ** 2 / s["sum"]
    s["x"] = (1 - c) * s["x"] + c * s["z"]
    return b1 * s["x"] + (1 - b1) * s["z"] - p


def ref_adafactor(g, p, s, t, lr=0.1, decay=-0.8, eps2=1e-3, d=1.0):
    rate, e1 = t**decay, torch.finfo(p.dtype).eps
    if p.ndim > 1:  # factored over the last two dims: v ~ r c / mean(r)
        s["r"] = (1 - rate) * s.get("r", 0) + rate * (g * g).mean(-1, keepdim=True)
        s["c"] = (1 - rate) * s.get("c", 0) + rate * (g * g).mean(-2, keepdim=True)
        v = s["r"] @ s["c"] / s["r"].mean(-2, keepdim=True).clamp(min=e1)
    else:
        s["v"] = v = (1 - rate) * s.get("v", 0) + rate * g * g
    u = g / v.clamp(min=e1 * e1).sqrt()
    u = u / max(1.0, float(u.pow(2).mean().sqrt()) / d)
    return max(eps2, float(p.pow(2).mean().sqrt())) * min(lr, t**-0.5) / lr * u


def ref_trust_ratio(u, p, s, t):
    return u if p.ndim <= 1 else p.norm() / u.norm() * u  # exclude_1d


def ref_lars(g, p, s, t, eta=0.01, wd=0.1):
    return eta * p.norm() / (g.norm() + wd * p.norm()) * (g + wd * p)


LINKS = {
    "scale_by_nadam": ({"b1": 0.8, "b2": 0.95, "eps": 1e-6}, ref_nadam),
    "scale_by_radam": ({"b1": 0.8, "b2": 0.95, "eps": 1e-6}, ref_radam),
    "scale_by_adamax": ({"b1": 0.8, "b2": 0.95, "eps": 1e-6}, ref_adamax),
    "scale_by_lion": ({"b1": 0.8, "b2": 0.95}, ref_lion),
    "scale_by_adan": ({"b1": 0.8, "b2": 0.7, "b3": 0.95, "eps": 1e-6}, ref_adan),
    "scale_by_ademamix": ({"b1": 0.8, "b2": 0.95, "b3": 0.99, "alpha": 4.0, "eps": 1e-6, "alpha_warmup": 2,
                           "b3_warmup": 2}, ref_ademamix),
    "schedule_free": ({"b1": 0.8, "lr": 0.1, "b2": 0.9}, ref_schedule_free),
    "scale_by_adafactor": ({"lr": 0.1}, ref_adafactor),
    "scale_by_trust_ratio": ({"exclude_1d": True}, ref_trust_ratio),
    "scale_by_lars": ({"trust_coefficient": 0.01, "weight_decay": 0.1}, ref_lars),
    "add_proximal_decay": ({"weight_decay": 0.1, "lr": 0.5}, lambda g, p, s, t: (g + 0.1 * p) / (1 + 0.05)),
    "scale": ({"factor": 0.3}, lambda g, p, s, t: 0.3 * g),
    "lookahead": ({"k": 2, "alpha": 0.5}, ref_lookahead),
    "scale_by_momentum": ({"mu": 0.8, "nesterov": True}, ref_momentum),
    "scale_by_adagrad": ({"eps": 1e-6, "initial_accumulator": 0.5}, ref_adagrad),
    "scale_by_rms": ({"decay": 0.9, "eps": 1e-6, "centered": True}, ref_rms),
    "scale_by_adam": ({"b1": 0.8, "b2": 0.95, "eps": 1e-6}, ref_adam),
    "add_l2": ({"weight_decay": 0.1}, lambda g, p, s, t: g + 0.1 * p),
    "add_decayed_weights": ({"weight_decay": 0.1, "exclude_1d": True},
                            lambda g, p, s, t: g + 0.1 * p if p.ndim > 1 else g),
    "clip_by_value": ({"clip": 0.5}, lambda g, p, s, t: g.clamp(-0.5, 0.5)),
    "scale_by_lr": ({"lr": lambda t: 0.1 / (1 + t)}, lambda g, p, s, t: -0.1 / t * g),  # count is 0-based
}


def test_every_link_is_tested():
    # clip_by_global_norm against torch below; scale_by_muon against torch.optim.Muon in test_optim_modern.py
    assert set(TRANSFORMS.list()) == set(LINKS) | {"clip_by_global_norm", "scale_by_muon"}


@pytest.mark.parametrize("name", sorted(LINKS))
def test_link_matches_formula(name):
    hp, ref = LINKS[name]
    link = create_link(name, **hp)
    state = link.init(PARAMS)
    ref_state = [dict() for _ in PARAMS]
    for t, grads in enumerate(GRADS, start=1):
        before = [g.clone() for g in grads]
        updates, state = link.update(grads, state, PARAMS)
        updates = value(updates, PARAMS)  # a pending form (PlusWeights, Quotient) evaluated
        expected = [ref(g, p, s, t) for g, p, s in zip(grads, PARAMS, ref_state)]
        for u, e in zip(updates, expected):
            torch.testing.assert_close(u, e, rtol=1e-12, atol=1e-12)
        assert all(torch.equal(a, b) for a, b in zip(before, grads))  # inputs are never written


@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_by_global_norm_matches_torch(max_norm):
    ps = [torch.nn.Parameter(p.clone()) for p in PARAMS]
    for p, g in zip(ps, GRADS[0]):
        p.grad = g.clone()
    total = torch.nn.utils.clip_grad_norm_(ps, max_norm)
    link = clip_by_global_norm(max_norm)
    out, _ = link.update(GRADS[0], link.init(PARAMS), PARAMS)
    for u, p in zip(out, ps):
        torch.testing.assert_close(u, p.grad, rtol=1e-14, atol=0)
    torch.testing.assert_close(global_norm(GRADS[0]), total)


def test_clip_by_value_matches_torch():
    ps = [torch.nn.Parameter(p.clone()) for p in PARAMS]
    for p, g in zip(ps, GRADS[0]):
        p.grad = g.clone()
    torch.nn.utils.clip_grad_value_(ps, 0.3)
    link = clip_by_value(0.3)
    out, _ = link.update(GRADS[0], link.init(PARAMS), PARAMS)
    assert all(torch.equal(u, p.grad) for u, p in zip(out, ps))


def test_optimizer_value_clipping_matches_torch_clip_then_sgd():
    ours = [torch.nn.Parameter(p.clone()) for p in PARAMS]
    ref = [torch.nn.Parameter(p.clone()) for p in PARAMS]
    opt = create_optimizer("sgd", ours, lr=0.1, clip_value=0.3)
    ropt = torch.optim.SGD(ref, lr=0.1)
    for grads in GRADS:
        for a, b, g in zip(ours, ref, grads):
            a.grad, b.grad = g.clone(), g.clone()
        opt.step()
        torch.nn.utils.clip_grad_value_(ref, 0.3)
        ropt.step()
        torch.testing.assert_close(opt.stats["grad_norm"], global_norm(grads))  # pre-clip
    assert all(torch.equal(a, b) for a, b in zip(ours, ref))


def run_chain(tx, steps=30):
    ps = [p.clone() for p in PARAMS]
    state = tx.init(ps)
    for t in range(steps):
        grads = [2 * p + 0.1 * math.sin(t) for p in ps]  # gradient of sum p^2 plus a wobble
        u, state = tx.update(grads, state, ps)
        ps = [p + du for p, du in zip(ps, u)]
    return torch.cat([p.flatten() for p in ps])


def test_coupled_and_decoupled_decay_same_for_sgd_differ_for_adam():
    wd = 0.1
    sgd_coupled = run_chain(chain(add_l2(wd), scale_by_lr(0.05)))
    sgd_decoupled = run_chain(chain(add_decayed_weights(wd), scale_by_lr(0.05)))
    torch.testing.assert_close(sgd_coupled, sgd_decoupled, rtol=1e-14, atol=0)
    adam_coupled = run_chain(chain(add_l2(wd), scale_by_adam(), scale_by_lr(0.05)))
    adam_decoupled = run_chain(chain(scale_by_adam(), add_decayed_weights(wd), scale_by_lr(0.05)))
    assert (adam_coupled - adam_decoupled).abs().max() > 1e-3


def test_nested_chains_flatten():
    tx = chain(chain(clip_by_value(1.0), scale_by_adam()), scale_by_lr(0.1))
    assert [link.name for link in tx.links] == ["clip_by_value", "scale_by_adam", "scale_by_lr"]
    assert list(tx.init(PARAMS)) == ["0:clip_by_value", "1:scale_by_adam", "2:scale_by_lr"]


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: create_link("scale_by_momentum", mu=1.0), r"mu=1.0 must be in \[0, 1\)"),
        (lambda: create_link("scale_by_adam", b2=-0.1), "b2"),
        (lambda: create_link("scale_by_rms", eps=0.0), "eps=0.0 must be > 0"),
        (lambda: create_link("scale_by_lr", lr=0), "lr=0 must be > 0"),
        (lambda: create_link("clip_by_value", clip=-1), "clip=-1"),
        (lambda: create_link("add_l2", weight_decay=-0.1), "weight_decay=-0.1"),
        (lambda: create_link("scale_by_lr", learning_rate=0.1), "accepted: lr"),
        (lambda: chain(scale_by_adam(), "scale_by_lr"), "GradientTransformation"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(TrainlabError, match=match):
        call()


def _lookahead_problem():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
    x, y = torch.randn(32, 4, dtype=torch.float64), torch.randn(32, 1, dtype=torch.float64)
    return net, x, y


def _grad_step(net, opt, x, y, t):
    opt.zero_grad()
    sl = slice(t % 4 * 8, t % 4 * 8 + 8)  # a different mini-batch each step
    torch.nn.functional.mse_loss(net(x[sl]), y[sl]).backward()
    opt.step()


LOOKAHEAD_CHAIN = [{"scale_by_momentum": {"mu": 0.9}}, {"scale_by_lr": {"lr": 0.1}}, {"lookahead": {"k": 5, "alpha": 0.5}}]


def test_lookahead_matches_a_reference_loop_over_torch_sgd():
    import copy

    net, x, y = _lookahead_problem()
    ref = copy.deepcopy(net)
    opt = create_optimizer(LOOKAHEAD_CHAIN, net.parameters())
    inner = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    slow = [p.detach().clone() for p in ref.parameters()]
    for t in range(23):  # not a multiple of k: the last 3 steps are fast steps after a sync
        _grad_step(net, opt, x, y, t)
        _grad_step(ref, inner, x, y, t)
        if (t + 1) % 5 == 0:  # Zhang et al. 2019, Algorithm 1
            with torch.no_grad():
                for s, p in zip(slow, ref.parameters()):
                    s.add_(p - s, alpha=0.5)
                    p.copy_(s)
    for a, b in zip(net.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    assert opt.state_dict()["state"]["chain"]["2:lookahead"]["count"] == 23


def test_lookahead_state_dict_resumes_exactly():
    import copy

    net, x, y = _lookahead_problem()
    twin = copy.deepcopy(net)
    opt = create_optimizer(LOOKAHEAD_CHAIN, net.parameters())
    for t in range(23):
        _grad_step(net, opt, x, y, t)
    first = create_optimizer(LOOKAHEAD_CHAIN, twin.parameters())
    for t in range(12):
        _grad_step(twin, first, x, y, t)
    saved = copy.deepcopy(first.state_dict())
    again = create_optimizer(LOOKAHEAD_CHAIN, twin.parameters())
    again.load_state_dict(saved)
    for t in range(12, 23):
        _grad_step(twin, again, x, y, t)
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), twin.parameters()))


def test_lookahead_before_the_lr_link_is_refused():
    with pytest.raises(TrainlabError, match="lookahead must come after scale_by_lr"):
        create_optimizer(["lookahead", {"scale_by_lr": {"lr": 0.1}}], [torch.nn.Parameter(torch.ones(2))])
    with pytest.raises(TrainlabError, match="k=0"):
        create_link("lookahead", k=0)
