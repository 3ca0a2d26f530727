"""A trainlab optimizer under torch's LR schedulers and per-group hyperparameters, against torch.optim.

torch's schedulers read and write param_groups (lr, momentum, betas); the optimizer must
carry those keys and use what is written into them, exactly as torch.optim's do.
"""
import io

import pytest
import torch
from torch import nn

from trainlab.errors import TrainlabError
from trainlab.optim.recipes import create_optimizer
from trainlab.optim.schedules import create_schedule

STEPS = 40
X = torch.randn(32, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
Y = torch.randn(32, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
S = torch.optim.lr_scheduler


def make_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).double()


def flat(net) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in net.parameters()])


def run(make_opt, make_sched=None, steps=STEPS, groups=None, each_step=None):
    """Train a fresh net; returns (net, optimizer, [group hyperparameters seen at each step])."""
    net = make_net()
    opt = make_opt(groups(net) if groups else net.parameters())
    sched = make_sched(opt) if make_sched else None
    seen = []
    for t in range(steps):
        if each_step:
            each_step(opt, t)
        seen.append({k: v for k, v in opt.param_groups[0].items() if k in ("lr", "momentum", "betas")})
        opt.zero_grad()
        ((net(X) - Y) ** 2).mean().backward()
        opt.step()
        if sched:
            sched.step()
    return net, opt, seen


def assert_same(ours, ref):
    assert not torch.equal(flat(ref), flat(make_net()))  # the reference did move
    torch.testing.assert_close(flat(ours), flat(ref), rtol=1e-6, atol=1e-9)


# recipe -> (our hyperparameters, torch optimizer)
RECIPES = {
    "sgd": ({"lr": 0.1}, lambda p: torch.optim.SGD(p, lr=0.1)),
    "momentum": ({"lr": 0.05, "weight_decay": 0.01},
                 lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=0.01)),
    "nesterov": ({"lr": 0.05}, lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True)),
    "adam": ({"lr": 0.01, "weight_decay": 0.01}, lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.01)),
    "adamw": ({"lr": 0.01, "weight_decay": 0.1}, lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1)),
}
SCHEDULERS = {
    # OneCycleLR also cycles momentum (SGD) or beta1 (Adam) between 0.85 and 0.95; plain sgd has no momentum
    "onecycle": lambda name: lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=STEPS, cycle_momentum=name != "sgd"),
    "step": lambda name: lambda o: S.StepLR(o, step_size=7, gamma=0.5),
    "cosine": lambda name: lambda o: S.CosineAnnealingLR(o, T_max=STEPS, eta_min=1e-4),
}


@pytest.mark.parametrize("sched", sorted(SCHEDULERS))
@pytest.mark.parametrize("name", sorted(RECIPES))
def test_torch_scheduler_drives_trainlab_like_torch_optim(name, sched):
    hp, make_ref = RECIPES[name]
    ours, opt, seen = run(lambda p: create_optimizer(name, p, **hp), SCHEDULERS[sched](name))
    ref, ref_opt, ref_seen = run(make_ref, SCHEDULERS[sched](name))
    assert_same(ours, ref)
    lrs = [s["lr"] for s in seen]
    assert lrs == pytest.approx([s["lr"] for s in ref_seen], rel=1e-12) and len(set(lrs)) > 3  # the lr did change
    if sched == "onecycle" and name != "sgd":  # momentum / beta1 was cycled, and we saw the same values as torch
        key = "betas" if name.startswith("adam") else "momentum"
        ours_m = [s[key][0] if key == "betas" else s[key] for s in seen]
        assert ours_m == pytest.approx([s[key][0] if key == "betas" else s[key] for s in ref_seen], rel=1e-12)
        assert min(ours_m) == pytest.approx(0.85, abs=1e-3) and max(ours_m) == pytest.approx(0.95)


def test_param_groups_carry_torch_hyperparameters():
    w = [nn.Parameter(torch.zeros(2))]
    assert {"lr", "momentum", "weight_decay"} <= set(create_optimizer("nesterov", w, weight_decay=0.1).param_groups[0])
    g = create_optimizer("adamw", w, betas=(0.8, 0.99), weight_decay=0.05).param_groups[0]
    assert g["betas"] == (0.8, 0.99) and g["weight_decay"] == 0.05 and "momentum" not in g
    assert create_optimizer("rmsprop", w, momentum=0.5).defaults["momentum"] == 0.5
    assert "momentum" not in create_optimizer("sgd", w).defaults  # nothing to cycle: no key


def test_onecycle_with_momentum_refuses_plain_sgd_like_it_should():
    opt = create_optimizer("sgd", [nn.Parameter(torch.zeros(2))], lr=0.1)
    with pytest.raises(ValueError, match="momentum or beta1"):
        S.OneCycleLR(opt, max_lr=0.1, total_steps=10)


def split_groups(net, **per_group):
    """Weights and biases as two groups; per_group values are (weights' value, biases' value)."""
    ws = [p for p in net.parameters() if p.ndim > 1]
    bs = [p for p in net.parameters() if p.ndim <= 1]
    return [{"params": ws, **{k: v[0] for k, v in per_group.items()}},
            {"params": bs, **{k: v[1] for k, v in per_group.items()}}]


@pytest.mark.parametrize("name, hp, make_ref, per_group", [
    ("momentum", {"lr": 0.05}, lambda g: torch.optim.SGD(g, lr=0.05, momentum=0.9),
     {"weight_decay": (0.05, 0.0), "momentum": (0.9, 0.5)}),
    ("nesterov", {"lr": 0.05, "weight_decay": 0.01}, lambda g: torch.optim.SGD(g, lr=0.05, momentum=0.9, nesterov=True,
                                                                                weight_decay=0.01),
     {"momentum": (0.8, 0.95)}),
    ("adam", {"lr": 0.01}, lambda g: torch.optim.Adam(g, lr=0.01),
     {"betas": ((0.9, 0.999), (0.5, 0.9)), "weight_decay": (0.1, 0.0)}),
    ("adamw", {"lr": 0.01}, lambda g: torch.optim.AdamW(g, lr=0.01),
     {"weight_decay": (0.1, 0.0)}),
])
def test_per_group_hyperparameters_match_torch_groups(name, hp, make_ref, per_group):
    ours, _, _ = run(lambda g: create_optimizer(name, g, **hp), groups=lambda n: split_groups(n, **per_group))
    ref, _, _ = run(make_ref, groups=lambda n: split_groups(n, **per_group))
    assert_same(ours, ref)
    uniform, _, _ = run(lambda g: create_optimizer(name, g, **hp))
    assert not torch.allclose(flat(uniform), flat(ours), rtol=1e-6)  # the group values made a difference


@pytest.mark.parametrize("name, make_ref, key, value", [
    ("momentum", lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9), "momentum", 0.3),
    ("adam", lambda p: torch.optim.Adam(p, lr=0.05), "betas", (0.6, 0.9)),
    ("adamw", lambda p: torch.optim.AdamW(p, lr=0.05), "weight_decay", 0.5),
    ("sgd", lambda p: torch.optim.SGD(p, lr=0.05), "lr", 0.2),
])
def test_writing_a_group_hyperparameter_by_hand_takes_effect(name, make_ref, key, value):
    def write(opt, t):
        if t == 15:
            for g in opt.param_groups:
                g[key] = value

    ours, _, _ = run(lambda p: create_optimizer(name, p, lr=0.05), each_step=write)
    ref, _, _ = run(make_ref, each_step=write)
    assert_same(ours, ref)


def test_bad_group_hyperparameters_raise_one_line():
    w = [nn.Parameter(torch.zeros(2))]
    for call, match in [
        (lambda: create_optimizer("adam", [{"params": w, "betas": (0.9, 1.0)}]), r"betas\[1\]=1.0"),
        (lambda: create_optimizer("momentum", [{"params": w, "momentum": 1.5}]), "momentum=1.5"),
        (lambda: create_optimizer("adamw", [{"params": w, "weight_decay": -1}]), "weight_decay=-1"),
        (lambda: create_optimizer("sgd", [{"params": w, "momentum": 0.9}]), "no single scale_by_momentum link"),
        (lambda: create_optimizer("sgd", [{"params": w, "lr": 0.1}]), "use lr_mult"),
    ]:
        with pytest.raises(TrainlabError, match=match) as e:
            call()
        assert "\n" not in str(e.value)


# ---- a schedule (callable lr) owns the lr


def test_schedule_lr_shows_in_param_groups_each_step():
    f = create_schedule("cosine", lr=0.1, total=STEPS)
    _, opt, seen = run(lambda g: create_optimizer("momentum", g, lr=f),
                       groups=lambda n: [{"params": n[0].parameters(), "lr_mult": 0.1}, {"params": n[2].parameters()}])
    # before step t (t = 0, 1, ...), group 0 shows the lr step t-1 used; the optimizer writes f(t) as it steps
    assert [s["lr"] for s in seen[1:]] == pytest.approx([0.1 * f(t) for t in range(STEPS - 1)])
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.1 * f(STEPS - 1), f(STEPS - 1)])


def test_writing_lr_when_a_schedule_owns_it_raises():
    f = create_schedule("step", lr=0.1, every=10)
    w = nn.Parameter(torch.ones(2))
    opt = create_optimizer("adam", [w], lr=f)
    w.grad = torch.ones(2)
    opt.step()
    opt.param_groups[0]["lr"] = 0.5
    with pytest.raises(TrainlabError, match=r"param_groups\[0\]\['lr'\] was changed.*float lr") as e:
        opt.step()
    assert "\n" not in str(e.value)
    with pytest.raises(TrainlabError, match="set_lr.*schedule"):
        opt.set_lr(0.1)
    opt2 = create_optimizer("momentum", [w], lr=f)
    S.OneCycleLR(opt2, max_lr=0.1, total_steps=10)  # writes the lr at construction
    with pytest.raises(TrainlabError, match="float lr"):
        opt2.step()


def test_schedule_survives_state_dict_round_trip_and_lr_mult_change():
    f = create_schedule("exponential", lr=0.1, k=0.05)
    net, opt, _ = run(lambda g: create_optimizer("adam", g, lr=f), steps=10)
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    buf.seek(0)
    opt2 = create_optimizer("adam", net.parameters(), lr=f)
    opt2.load_state_dict(torch.load(buf, weights_only=True))
    opt2.param_groups[0]["lr_mult"] = 0.5  # lr_mult is read when the schedule writes the lr: allowed
    net(X).sum().backward()
    opt2.step()
    assert opt2.param_groups[0]["lr"] == pytest.approx(0.5 * f(10))


def test_torch_scheduler_state_round_trips_with_the_optimizer():
    """OneCycleLR's beta1 lives in param_groups: a checkpoint restores it with the optimizer."""
    hp, make_ref = RECIPES["adam"]
    full, _, _ = run(lambda p: create_optimizer("adam", p, **hp), SCHEDULERS["onecycle"]("adam"))

    net = make_net()
    opt = create_optimizer("adam", net.parameters(), **hp)
    sched = SCHEDULERS["onecycle"]("adam")(opt)

    def steps(n):
        for _ in range(n):
            opt.zero_grad()
            ((net(X) - Y) ** 2).mean().backward()
            opt.step()
            sched.step()

    steps(STEPS // 2)
    buf = io.BytesIO()
    torch.save({"opt": opt.state_dict(), "sched": sched.state_dict(), "net": net.state_dict()}, buf)
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)
    net = make_net()
    net.load_state_dict(ckpt["net"])
    opt = create_optimizer("adam", net.parameters(), **hp)
    sched = SCHEDULERS["onecycle"]("adam")(opt)
    opt.load_state_dict(ckpt["opt"])
    sched.load_state_dict(ckpt["sched"])
    steps(STEPS - STEPS // 2)
    torch.testing.assert_close(flat(net), flat(full), rtol=1e-12, atol=1e-14)


def test_ema_momentum_per_group_matches_the_lecture_equations():
    """Per-group momentum and weight decay reach the EMA form too (no torch reference: hand-written)."""
    lr, mus, wds = 0.1, (0.9, 0.5), (0.05, 0.0)
    ours, _, _ = run(lambda g: create_optimizer("sgd", g, lr=lr, momentum=0.7, form="ema"),
                     groups=lambda n: split_groups(n, momentum=mus, weight_decay=wds))
    net = make_net()
    groups = split_groups(net, momentum=mus, weight_decay=wds)
    bufs = {}
    for _ in range(STEPS):
        net.zero_grad()
        ((net(X) - Y) ** 2).mean().backward()
        with torch.no_grad():
            for g in groups:
                for p in g["params"]:  # m = mu m + (1 - mu)(g + wd p); p -= lr m  (deck 003 with coupled L2)
                    m = bufs[p] = g["momentum"] * bufs.get(p, 0) + (1 - g["momentum"]) * (p.grad + g["weight_decay"] * p)
                    p -= lr * m
    assert_same(ours, net)
