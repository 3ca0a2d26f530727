"""The newer recipes against references over many steps, each on a problem with two parameter groups
(different lr_mult) and weight decay: torch.optim where torch ships the method (NAdam, RAdam, Adamax,
Adafactor, Muon), else an independent per-tensor loop written here from the authors' update rule
(Lion, Adan, AdEMAMix, LAMB, LARS, Schedule-Free SGD and AdamW). Then checkpoints, and
Schedule-Free's evaluation point."""
import io
import math

import pytest
import torch
from torch import nn

from trainlab.errors import TrainlabError
from trainlab.optim.layerwise import orthogonalize
from trainlab.optim.recipes import OPTIMIZERS, create_optimizer

STEPS = 100
X = torch.randn(64, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
Y = torch.randn(64, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
MULTS = (0.3, 1.0)  # lr_mult of layer 1 and of layer 2 (the head)


def make_net(bias: bool = True) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 16, bias=bias), nn.Tanh(), nn.Linear(16, 3, bias=bias)).double()


def groups(net, key, lr):
    """Layer 1 at lr * 0.3, layer 2 at lr: lr_mult for trainlab, the lr itself for torch."""
    value = (lambda m: m) if key == "lr_mult" else (lambda m: m * lr)
    return [{"params": net[0].parameters(), key: value(MULTS[0])}, {"params": net[2].parameters(), key: value(MULTS[1])}]


def step(net, opt):
    opt.zero_grad()
    ((net(X) - Y) ** 2).mean().backward()
    opt.step()


def train(net, opt, steps=STEPS):
    for _ in range(steps):
        step(net, opt)
    return net


def flat(net):
    return torch.cat([p.detach().flatten() for p in net.parameters()])


def assert_same(ours, ref, rtol=1e-6, atol=1e-9):
    assert (flat(ref) - flat(make_net(ref[0].bias is not None))).abs().max() > 1e-2  # the reference did move
    torch.testing.assert_close(flat(ours), flat(ref), rtol=rtol, atol=atol)


# ---------------------------------------------------------------- against torch.optim
T = torch.optim
TORCH = {  # recipe -> [(lr, our hyperparameters, torch class, torch hyperparameters)]
    "nadam": [(0.01, {"weight_decay": 0.01}, T.NAdam, {"weight_decay": 0.01}),
              (0.01, {"weight_decay": 0.1, "decoupled": True}, T.NAdam, {"weight_decay": 0.1, "decoupled_weight_decay": True})],
    "radam": [(0.01, {"weight_decay": 0.01}, T.RAdam, {"weight_decay": 0.01}),
              (0.01, {"weight_decay": 0.1, "decoupled": True, "betas": (0.8, 0.99)}, T.RAdam,
               {"weight_decay": 0.1, "decoupled_weight_decay": True, "betas": (0.8, 0.99)})],
    "adamax": [(0.01, {"weight_decay": 0.01, "betas": (0.8, 0.99)}, T.Adamax, {"weight_decay": 0.01, "betas": (0.8, 0.99)})],
    "adafactor": [(0.05, {"weight_decay": 0.01}, T.Adafactor, {"weight_decay": 0.01}),  # lr < 1/sqrt(t): the lr is the step
                  (0.5, {"weight_decay": 0.1, "d": 2.0, "eps2": 1e-2}, T.Adafactor,  # 1/sqrt(t) < lr after step 4
                   {"weight_decay": 0.1, "d": 2.0, "eps": (None, 1e-2)})],
}


@pytest.mark.parametrize("name, case", [(n, c) for n in sorted(TORCH) for c in range(len(TORCH[n]))])
def test_recipe_matches_torch(name, case):
    lr, hp, cls, thp = TORCH[name][case]
    ours = make_net()
    train(ours, create_optimizer(name, groups(ours, "lr_mult", lr), lr=lr, **hp))
    ref = make_net()
    train(ref, cls(groups(ref, "lr", lr), lr=lr, foreach=True, **thp) if cls is not T.Adafactor else
          cls(groups(ref, "lr", lr), lr=lr, **thp))
    assert_same(ours, ref)


@pytest.mark.parametrize("hp, thp", [({}, {}), ({"nesterov": False, "adjust_lr": "match_rms_adamw", "momentum": 0.9},
                                             {"nesterov": False, "adjust_lr_fn": "match_rms_adamw", "momentum": 0.9})])
def test_muon_on_matrices_matches_torch_muon(hp, thp):
    # the first layer is tall (16, 5): torch scales its update by sqrt(16 / 5)
    ours = make_net(bias=False)
    train(ours, create_optimizer("muon", groups(ours, "lr_mult", 0.02), lr=0.02, weight_decay=0.1, head="muon", **hp))
    ref = make_net(bias=False)
    train(ref, torch.optim.Muon(groups(ref, "lr", 0.02), lr=0.02, weight_decay=0.1, **thp))
    assert_same(ours, ref, rtol=1e-9, atol=1e-12)


def test_muon_recipe_is_torch_muon_for_hidden_matrices_and_adamw_for_the_rest():
    lr, mult, wd = 0.02, 0.05, 0.1
    ours = make_net()
    train(ours, create_optimizer("muon", groups(ours, "lr_mult", lr), lr=lr, weight_decay=wd, adam_lr_mult=mult))
    ref = make_net()
    muon = torch.optim.Muon([ref[0].weight], lr=lr * MULTS[0], weight_decay=wd)
    adam = torch.optim.AdamW([{"params": [ref[0].bias], "lr": lr * MULTS[0] * mult},
                              {"params": ref[2].parameters(), "lr": lr * mult}], betas=(0.9, 0.95), weight_decay=wd)
    for _ in range(STEPS):
        muon.zero_grad(), adam.zero_grad()
        ((ref(X) - Y) ** 2).mean().backward()
        muon.step(), adam.step()
    assert_same(ours, ref)


def test_muon_flattens_conv_filters_to_out_by_in_k_k():
    g = torch.Generator().manual_seed(3)
    w = nn.Parameter(torch.randn(6, 2, 3, 3, generator=g, dtype=torch.float64))
    v = nn.Parameter(w.detach().reshape(6, -1).clone())  # the same filter as a (6, 18) matrix, for torch
    ours = create_optimizer("muon", [w], lr=0.05, weight_decay=0.1, head="muon")
    ref = torch.optim.Muon([v], lr=0.05, weight_decay=0.1)
    for _ in range(20):
        grad = torch.randn(6, 2, 3, 3, generator=g, dtype=torch.float64)
        w.grad, v.grad = grad, grad.reshape(6, -1).clone()
        ours.step(), ref.step()
    torch.testing.assert_close(w.detach().reshape(6, -1), v.detach(), rtol=1e-9, atol=1e-12)


def test_newton_schulz_lands_near_orthogonal():
    g = torch.randn(8, 20, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    s = torch.linalg.svdvals(orthogonalize(g).double())
    assert 0.6 < s.min() and s.max() < 1.3  # singular values pushed near 1, not exactly (bf16, 5 steps)
    assert torch.linalg.svdvals(g).max() / torch.linalg.svdvals(g).min() > 2  # the input was far from it


# ---------------------------------------------------------------- against the authors' update rules
# Each rule updates one tensor p in place from its gradient g, its own state dict s, the step t
# (from 1) and this step's lr for its group. Norms are per tensor (layer-wise methods).

def lion_rule(b1=0.9, b2=0.99, wd=0.1):
    # Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms", Algorithm 2
    def update(p, g, s, t, lr):
        m = s.get("m", torch.zeros_like(p))
        c = b1 * m + (1 - b1) * g
        p -= lr * (torch.sign(c) + wd * p)
        s["m"] = b2 * m + (1 - b2) * g
    return update


def adan_rule(b1=0.98, b2=0.92, b3=0.99, eps=1e-8, wd=0.02, prox=True):
    # Xie et al. 2022, "Adan: Adaptive Nesterov Momentum Algorithm for Faster Optimizing Deep Models",
    # Algorithm 1 with the authors' code's conventions (betas = 1 - the paper's, bias corrections,
    # eps outside the root, g_0 = g_1); decay: theta = (theta - eta u) / (1 + lr wd), or no_prox
    def update(p, g, s, t, lr):
        d = g - s.get("prev", g)
        s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0) + (1 - b2) * d
        s["n"] = b3 * s.get("n", 0) + (1 - b3) * (g + b2 * d) ** 2
        s["prev"] = g
        u = (s["m"] / (1 - b1**t) + b2 * s["v"] / (1 - b2**t)) / (torch.sqrt(s["n"] / (1 - b3**t)) + eps)
        if prox:
            p.copy_((p - lr * u) / (1 + lr * wd))
        else:
            p.copy_(p * (1 - lr * wd) - lr * u)
    return update


def ademamix_rule(b1=0.9, b2=0.999, b3=0.999, alpha=5.0, eps=1e-8, wd=0.01, warmup=0):
    # Pagliardini, Ablin & Grangier 2024, "The AdEMAMix Optimizer: Better, Faster, Older", Algorithm 1,
    # with its alpha and beta_3 schedulers over T = warmup steps
    def update(p, g, s, t, lr):
        a, b = alpha, b3
        if warmup:
            a = min(t * alpha / warmup, alpha)
            f = min(t, warmup) / warmup
            b = min(math.exp(math.log(b1) * math.log(b3) / ((1 - f) * math.log(b3) + f * math.log(b1))), b3)
        s["m1"] = b1 * s.get("m1", 0) + (1 - b1) * g
        s["m2"] = b * s.get("m2", 0) + (1 - b) * g
        s["nu"] = b2 * s.get("nu", 0) + (1 - b2) * g * g
        m1, nu = s["m1"] / (1 - b1**t), s["nu"] / (1 - b2**t)
        p -= lr * ((m1 + a * s["m2"]) / (torch.sqrt(nu) + eps) + wd * p)
    return update


def lamb_rule(b1=0.9, b2=0.999, eps=1e-6, wd=0.01, exclude_1d=False):
    # You et al. 2019, "Large Batch Optimization for Deep Learning: Training BERT in 76 minutes",
    # Algorithm 2 (phi = identity); exclude_1d: biases get Adam's step, no decay, no ratio
    def update(p, g, s, t, lr):
        s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0) + (1 - b2) * g * g
        r = (s["m"] / (1 - b1**t)) / (torch.sqrt(s["v"] / (1 - b2**t)) + eps)
        if exclude_1d and p.ndim <= 1:
            p -= lr * r
            return
        u = r + wd * p
        p -= lr * p.norm() / u.norm() * u
    return update


def lars_rule(mu=0.9, eta=0.02, wd=1e-3, exclude_1d=False):
    # You, Gitman & Ginsburg 2017, "Large Batch Training of Convolutional Networks", Algorithm 1:
    # lambda = eta ||w|| / (||g|| + beta ||w||); v = m v + gamma lambda (g + beta w); w -= v
    def update(p, g, s, t, lr):
        if exclude_1d and p.ndim <= 1:
            local, decay = 1.0, 0.0
        else:
            local, decay = eta * p.norm() / (g.norm() + wd * p.norm()), wd
        s["v"] = mu * s.get("v", 0) + lr * local * (g + decay * p)
        p -= s["v"]
    return update


def schedule_free_rule(b1=0.9, b2=None, eps=1e-8, wd=1e-3):
    # Defazio et al. 2024, "The Road Less Scheduled" (Schedule-Free SGD and AdamW, with the authors'
    # reference code's weights c = lr_max^2 / sum lr_max^2); the gradient g is taken at y = p
    def update(p, g, s, t, lr):
        if "z" not in s:
            s.update(z=p.clone(), x=p.clone(), lr_max=-1.0, weight_sum=0.0)
        y = p.clone()
        if b2 is None:  # SGD: coupled L2 at y
            lr_t = lr
            s["z"] = s["z"] - lr_t * (g + wd * y)
        else:  # AdamW: lr_t = lr sqrt(1 - b2^t), decoupled decay at y
            lr_t = lr * math.sqrt(1 - b2**t)
            s["v"] = b2 * s.get("v", 0) + (1 - b2) * g * g
            s["z"] = s["z"] - lr_t * (g / (torch.sqrt(s["v"]) + eps) + wd * y)
        s["lr_max"] = max(s["lr_max"], lr_t)
        s["weight_sum"] += s["lr_max"] ** 2
        c = s["lr_max"] ** 2 / s["weight_sum"]
        s["x"] = (1 - c) * s["x"] + c * s["z"]
        p.copy_(b1 * s["x"] + (1 - b1) * s["z"])
    return update


def warming(lr, decay=1.0):  # a linear warmup over 10 steps, then constant (what schedule-free runs use) or decaying
    return lambda step: lr * min(1.0, (step + 1) / 10) * decay ** max(0, step - 10)


PAPERS = {  # recipe -> [(lr, our hyperparameters, reference rule)]
    "lion": [(1e-3, {"weight_decay": 0.1}, lion_rule()),
             (3e-3, {"weight_decay": 0.3, "betas": (0.95, 0.98)}, lion_rule(0.95, 0.98, 0.3))],
    "adan": [(0.01, {"weight_decay": 0.02}, adan_rule()),
             (0.01, {"weight_decay": 0.02, "no_prox": True}, adan_rule(prox=False))],
    "ademamix": [(0.01, {"weight_decay": 0.01, "betas": (0.9, 0.999, 0.999)}, ademamix_rule()),
                 (0.01, {"weight_decay": 0.01, "betas": (0.9, 0.999, 0.999), "alpha_warmup": 60, "b3_warmup": 60},
                  ademamix_rule(warmup=60))],
    "lamb": [(0.01, {"weight_decay": 0.01}, lamb_rule()),
             (0.01, {"weight_decay": 0.01, "exclude_1d": True}, lamb_rule(exclude_1d=True))],
    "lars": [(1.0, {"weight_decay": 1e-3, "trust_coefficient": 0.02}, lars_rule()),
             (0.1, {"weight_decay": 1e-3, "trust_coefficient": 0.2, "exclude_1d": True}, lars_rule(eta=0.2, exclude_1d=True))],
    "schedule_free_sgd": [(warming(0.2), {"weight_decay": 1e-3}, schedule_free_rule()),
                          # a decaying lr: the averaging weights keep the largest lr so far, lr_max
                          (warming(0.2, 0.98), {"weight_decay": 1e-3, "momentum": 0.8}, schedule_free_rule(b1=0.8))],
    "schedule_free_adamw": [(warming(0.01), {"weight_decay": 0.01}, schedule_free_rule(b2=0.999, wd=0.01))],
}


def paper_loop(rule, lr, steps=STEPS):
    """Train make_net() with `rule` applied to each tensor, at lr * its group's lr_mult."""
    net = make_net()
    mults = [MULTS[0]] * 2 + [MULTS[1]] * 2  # net[0].weight, .bias, net[2].weight, .bias
    state = [dict() for _ in mults]
    for t in range(1, steps + 1):
        net.zero_grad()
        ((net(X) - Y) ** 2).mean().backward()
        with torch.no_grad():
            base = lr(t - 1) if callable(lr) else lr
            for p, s, m in zip(net.parameters(), state, mults):
                rule(p, p.grad.clone(), s, t, base * m)
    return net, state


@pytest.mark.parametrize("name, case", [(n, c) for n in sorted(PAPERS) for c in range(len(PAPERS[n]))])
def test_recipe_matches_the_authors_update_rule(name, case):
    lr, hp, rule = PAPERS[name][case]
    ours = make_net()
    opt = create_optimizer(name, groups(ours, "lr_mult", 1.0), lr=lr, **hp)
    train(ours, opt)
    ref, state = paper_loop(rule, lr)
    assert_same(ours, ref)
    if name.startswith("schedule_free"):  # the evaluation point is the paper's x
        torch.testing.assert_close(torch.cat([x.flatten() for x in opt.evaluation_point()]),
                                   torch.cat([s["x"].flatten() for s in state]), rtol=1e-6, atol=1e-9)


REFERENCED = set(TORCH) | {"muon"} | set(PAPERS)  # read by test_optim_recipes.test_every_recipe_has_a_reference


# ---------------------------------------------------------------- checkpoints and the evaluation point
NEWER = sorted(REFERENCED)


@pytest.mark.parametrize("name", NEWER)
def test_state_dict_round_trip_continues_bit_identically(name):
    def make(p):
        return create_optimizer(name, p, lr=1e-3 if name == "lion" else 0.01, weight_decay=1e-3, clip_norm=1.0)

    net = make_net()
    opt = make(groups(net, "lr_mult", 1.0))
    train(net, opt, steps=20)
    buf = io.BytesIO()
    torch.save({"model": net.state_dict(), "opt": opt.state_dict()}, buf)
    net2 = make_net()
    opt2 = make(groups(net2, "lr_mult", 1.0))
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)
    net2.load_state_dict(saved["model"])
    opt2.load_state_dict(saved["opt"])
    train(net, opt, steps=20)
    train(net2, opt2, steps=20)
    assert torch.equal(flat(net), flat(net2)) and not torch.equal(flat(net), flat(make_net()))
    if opt.has_evaluation_point:
        assert all(torch.equal(a, b) for a, b in zip(opt.evaluation_point(), opt2.evaluation_point()))


def test_evaluation_weights_swap_in_x_and_restore_y_and_buffers_exactly():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 3)).double()
    opt = create_optimizer("schedule_free_sgd", net.parameters(), lr=0.1)
    with opt.evaluation_weights(net) as m:  # before the first step: nothing to swap
        assert m is net
    for _ in range(5):
        step(net, opt)
    live = {k: v.clone() for k, v in net.state_dict().items()}
    seen = []
    with opt.evaluation_weights(net, recompute=lambda m: seen.append(m) or m[1].running_mean.fill_(7.0)):
        assert all(torch.equal(p, x) for p, x in zip(net.parameters(), opt.evaluation_point()))
        assert any(not torch.equal(p, live[k]) for k, p in net.named_parameters())
        assert seen == [net] and float(net[1].running_mean[0]) == 7.0
    assert all(torch.equal(v, live[k]) for k, v in net.state_dict().items())
    plain = create_optimizer("momentum", net.parameters(), lr=0.1)
    step(net, plain)
    with plain.evaluation_weights(net, recompute=lambda m: seen.append("called")):
        pass
    assert not plain.has_evaluation_point and plain.evaluation_point() is None and seen == [net]


W = [nn.Parameter(torch.zeros(2, 2))]


@pytest.mark.parametrize("call, match", [
    (lambda: create_optimizer("muon", W, head="first"), "head='first' must be one of: adam, muon"),
    (lambda: create_optimizer("muon", W, adjust_lr="rms"), "adjust_lr='rms'"),
    (lambda: create_optimizer("muon", W, ns_steps=0), r"ns_steps=0 must be a whole number in \[1, 100\)"),
    (lambda: create_optimizer("adan", W, betas=(0.9, 0.9)), r"betas=\(0.9, 0.9\) must be 3 numbers \(b1, b2, b3\)"),
    (lambda: create_optimizer("ademamix", W, alpha_warmup=1.5), "alpha_warmup=1.5 must be a whole number of steps"),
    (lambda: create_optimizer("lion", W, betas=(0.9, 1.0)), r"betas\[1\]=1.0 must be in \[0, 1\)"),
    (lambda: create_optimizer("adafactor", W, d=0.5), "d=0.5"),
    (lambda: create_optimizer("adafactor", W, beta2_decay=0.8), "beta2_decay=0.8 must be <= 0"),
    (lambda: create_optimizer("lars", W, trust_coefficient=0), "trust_coefficient=0 must be > 0"),
    (lambda: create_optimizer("schedule_free_sgd", W, momentum=1.0), r"b1 \(momentum\)=1.0 must be in \[0, 1\)"),
    (lambda: create_optimizer("nadam", W, momentum_decay=-1), "momentum_decay=-1"),
    (lambda: create_optimizer([{"schedule_free": {}}, {"scale_by_lr": {"lr": 0.1}}], W), "schedule_free must come after scale_by_lr"),
    (lambda: create_optimizer("muon", [{"params": W, "momentum": 0.9}]), "accepted: params, lr_mult, name"),
])
def test_bad_input_is_refused_in_one_line(call, match):
    with pytest.raises(TrainlabError, match=match) as e:
        call()
    assert "\n" not in str(e.value)


def test_scale_by_muon_refuses_a_vector_in_one_line():
    opt = create_optimizer([{"scale_by_muon": {}}, {"scale_by_lr": {"lr": 0.1}}], [nn.Parameter(torch.ones(3))])
    opt.param_groups[0]["params"][0].grad = torch.ones(3)
    with pytest.raises(TrainlabError, match=r"scale_by_muon got a tensor of shape \(3,\).*use the muon recipe"):
        opt.step()


def test_recipes_are_registered_with_their_formula():
    for name in NEWER:
        assert name in OPTIMIZERS and len(OPTIMIZERS._entries[name].description) > 30
