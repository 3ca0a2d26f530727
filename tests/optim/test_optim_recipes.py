"""Every optimizer recipe against its torch.optim counterpart, plus ChainOptimizer behaviour."""
import io

import pytest
import torch
from test_optim_modern import REFERENCED
from torch import nn

from trainlab.errors import TrainlabError
from trainlab.optim.optimizer import ChainOptimizer
from trainlab.optim.recipes import OPTIMIZERS, create_optimizer
from trainlab.optim.schedules import create_schedule

STEPS = 200  # the recipe-vs-torch comparisons
SHORT = 60  # other behaviour checks
X = torch.randn(64, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
Y = torch.randn(64, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # Tiny tensors gain nothing from intra-op threads, and on a busy 2-core machine a second
    # spinning OpenMP thread makes each step ~10x slower.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def make_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3)).double()


def loss_fn(net):
    return ((net(X) - Y) ** 2).mean()


def train(make_opt, steps=SHORT, net=None, after_step=None):
    net = net or make_net()
    opt = make_opt(net.parameters())
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(net).backward()
        opt.step()
        if after_step:
            after_step(opt)
    return net, opt


def flat(net):
    return torch.cat([p.detach().flatten() for p in net.parameters()])


def assert_same_training(ours, ref):
    a, b = flat(ours), flat(ref)
    assert not torch.equal(b, flat(make_net()))  # the reference did move
    torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-9)


# recipe -> (our hyperparameters, torch class, torch hyperparameters); with and without weight decay
T = torch.optim
CASES = {
    "sgd": [({"lr": 0.1}, T.SGD, {"lr": 0.1}), ({"lr": 0.1, "weight_decay": 0.01}, T.SGD, {"lr": 0.1, "weight_decay": 0.01})],
    "momentum": [({"lr": 0.05}, T.SGD, {"lr": 0.05, "momentum": 0.9}),
                 ({"lr": 0.05, "weight_decay": 0.01}, T.SGD, {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01})],
    "nesterov": [({"lr": 0.05}, T.SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
                 ({"lr": 0.05, "weight_decay": 0.01}, T.SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01})],
    "adagrad": [({"lr": 0.05}, T.Adagrad, {"lr": 0.05}),
                ({"lr": 0.05, "weight_decay": 0.01, "initial_accumulator": 0.1}, T.Adagrad,
                 {"lr": 0.05, "weight_decay": 0.01, "initial_accumulator_value": 0.1})],
    "rmsprop": [({"lr": 0.01}, T.RMSprop, {"lr": 0.01}),
                ({"lr": 0.01, "weight_decay": 0.01, "decay": 0.9}, T.RMSprop, {"lr": 0.01, "weight_decay": 0.01, "alpha": 0.9}),
                ({"lr": 0.01, "centered": True, "momentum": 0.5}, T.RMSprop, {"lr": 0.01, "centered": True, "momentum": 0.5})],
    "adam": [({"lr": 0.01}, T.Adam, {"lr": 0.01}),
             ({"lr": 0.01, "weight_decay": 0.01, "betas": (0.8, 0.99)}, T.Adam, {"lr": 0.01, "weight_decay": 0.01, "betas": (0.8, 0.99)})],
    "adamw": [({"lr": 0.01, "weight_decay": 0.0}, T.AdamW, {"lr": 0.01, "weight_decay": 0.0}),
              ({"lr": 0.01, "weight_decay": 0.1}, T.AdamW, {"lr": 0.01, "weight_decay": 0.1})],
}


def test_every_recipe_has_a_reference():
    # torch.optim here (CASES); the newer recipes against torch.optim or their papers in test_optim_modern.py
    assert set(OPTIMIZERS.list()) == set(CASES) | REFERENCED


@pytest.mark.parametrize("name, case", [(n, c) for n in sorted(CASES) for c in range(len(CASES[n]))])
def test_recipe_matches_torch(name, case):
    hp, cls, thp = CASES[name][case]
    ours, _ = train(lambda p: create_optimizer(name, p, **hp), steps=STEPS)
    ref, _ = train(lambda p: cls(p, foreach=True, **thp), steps=STEPS)
    assert_same_training(ours, ref)


def test_adamw_default_decay_matches_torch_default():
    ours, _ = train(lambda p: create_optimizer("adamw", p, lr=0.01), steps=50)
    ref, _ = train(lambda p: torch.optim.AdamW(p, lr=0.01), steps=50)  # torch's default wd 0.01
    assert_same_training(ours, ref)


def lecture_loop(net, update, steps=SHORT):
    """Run a hand-written update rule (the lecture's equations) on each parameter tensor."""
    state = [dict() for _ in net.parameters()]
    for t in range(1, steps + 1):
        net.zero_grad()
        loss_fn(net).backward()
        with torch.no_grad():
            for p, s in zip(net.parameters(), state):
                update(p, p.grad, s, t)
    return net


def test_adam_without_bias_correction_matches_lecture_equations():
    b1, b2, eps, lr = 0.9, 0.999, 1e-8, 0.01

    def update(x, dx, s, t):
        m = s["m"] = b1 * s.get("m", 0) + (1 - b1) * dx
        v = s["v"] = b2 * s.get("v", 0) + (1 - b2) * dx**2
        x -= lr * m / (torch.sqrt(v) + eps)

    ours, _ = train(lambda p: create_optimizer("adam", p, lr=lr, bias_correction=False), steps=STEPS)
    assert_same_training(ours, lecture_loop(make_net(), update, steps=STEPS))


def test_adam_with_bias_correction_matches_lecture_equations():
    b1, b2, eps, lr = 0.9, 0.999, 1e-8, 0.01

    def update(x, dx, s, t):
        m = s["m"] = b1 * s.get("m", 0) + (1 - b1) * dx
        v = s["v"] = b2 * s.get("v", 0) + (1 - b2) * dx**2
        x -= lr * (m / (1 - b1**t)) / (torch.sqrt(v / (1 - b2**t)) + eps)

    ours, _ = train(lambda p: create_optimizer("adam", p, lr=lr))
    assert_same_training(ours, lecture_loop(make_net(), update))


def decaying(t):  # a changing lr, where the momentum forms differ
    return 0.05 * 0.99**t


def test_velocity_form_is_the_lecture_momentum():
    mu = 0.9

    def update(x, dx, s, t):  # deck 001: v = mu v - lr dx; x += v
        v = s["v"] = mu * s.get("v", 0) - decaying(t - 1) * dx
        x += v

    ours, _ = train(lambda p: create_optimizer("momentum", p, lr=decaying, form="velocity"))
    assert_same_training(ours, lecture_loop(make_net(), update))
    # equal to torch's form for a constant lr, different when the lr changes
    const_v, _ = train(lambda p: create_optimizer("momentum", p, lr=0.05, form="velocity"))
    const_t, _ = train(lambda p: create_optimizer("momentum", p, lr=0.05))
    assert_same_training(const_v, const_t)
    torch_form, _ = train(lambda p: create_optimizer("momentum", p, lr=decaying))
    assert not torch.allclose(flat(ours), flat(torch_form), rtol=1e-6)


def test_ema_form_is_deck_003_momentum():
    mu, lr = 0.9, 0.1

    def update(x, dx, s, t):  # m = b1 m + (1 - b1) g; theta -= alpha m
        m = s["m"] = mu * s.get("m", 0) + (1 - mu) * dx
        x -= lr * m

    ours, _ = train(lambda p: create_optimizer("sgd", p, lr=lr, momentum=mu, form="ema"))
    assert_same_training(ours, lecture_loop(make_net(), update))


def test_schedule_lr_matches_torch_lambda_lr():
    f = create_schedule("exponential", lr=0.1, k=0.01)
    ours, opt = train(lambda p: create_optimizer("momentum", p, lr=f))

    net = make_net()
    ref_opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.LambdaLR(ref_opt, lambda t: f(t) / 0.1)
    train(lambda p: ref_opt, net=net, after_step=lambda o: sched.step())
    assert_same_training(ours, net)
    assert opt.stats["lr"] == pytest.approx(f(SHORT - 1))


def test_torch_lr_scheduler_drives_a_float_lr():
    net = make_net()
    opt = create_optimizer("adam", net.parameters(), lr=0.01)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=50, gamma=0.5)
    train(lambda p: opt, net=net, after_step=lambda o: sched.step())

    ref = make_net()
    ropt = torch.optim.Adam(ref.parameters(), lr=0.01)
    rsched = torch.optim.lr_scheduler.StepLR(ropt, step_size=50, gamma=0.5)
    train(lambda p: ropt, net=ref, after_step=lambda o: rsched.step())
    assert_same_training(net, ref)


@pytest.mark.parametrize("name, cls, thp", [("momentum", torch.optim.SGD, {"momentum": 0.9}),
                                           ("adamw", torch.optim.AdamW, {"weight_decay": 0.1})])
def test_param_groups_lr_mult_matches_torch_groups(name, cls, thp):
    def groups(net, key, a, b):
        return [{"params": net[0].parameters(), key: a}, {"params": net[2].parameters(), key: b}]

    hp = {k: v for k, v in thp.items() if k != "momentum"}
    ours = make_net()
    train(lambda p: create_optimizer(name, groups(ours, "lr_mult", 0.1, 1.0), lr=0.05, **hp), net=ours, steps=50)
    ref = make_net()
    train(lambda p: cls(groups(ref, "lr", 0.005, 0.05), lr=0.05, **thp), net=ref, steps=50)
    assert_same_training(ours, ref)


def test_frozen_params_without_grad_are_untouched():
    def run(make):
        net = make_net()
        net[0].weight.requires_grad_(False)
        train(make, net=net)
        return net

    ours = run(lambda p: create_optimizer("adamw", p, lr=0.01, weight_decay=0.1))
    ref = run(lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1))
    assert torch.equal(ours[0].weight, make_net()[0].weight)
    assert_same_training(ours, ref)


def test_state_dict_round_trip_continues_bit_identically():
    make = lambda p: create_optimizer("adam", p, lr=0.01, clip_norm=1.0, weight_decay=1e-3)  # noqa: E731
    net, opt = train(make, steps=20)
    buf = io.BytesIO()
    torch.save({"model": net.state_dict(), "opt": opt.state_dict()}, buf)

    net2 = make_net()
    opt2 = make(net2.parameters())
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)
    net2.load_state_dict(ckpt["model"])
    opt2.load_state_dict(ckpt["opt"])
    train(lambda p: opt, net=net, steps=20)
    train(lambda p: opt2, net=net2, steps=20)
    assert torch.equal(flat(net), flat(net2))
    # and a stored state is independent of the live one
    assert opt2.state_dict()["state"]["step"] == 40


def test_stats_report_lr_and_pre_clip_grad_norm():
    net = make_net()
    opt = create_optimizer("sgd", net.parameters(), lr=0.1, clip_norm=1e-3)
    loss_fn(net).backward()
    expected = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in net.parameters()]))
    opt.step()
    assert isinstance(opt.stats["grad_norm"], torch.Tensor) and opt.stats["grad_norm"].ndim == 0
    torch.testing.assert_close(opt.stats["grad_norm"], expected)
    assert opt.stats["lr"] == 0.1 and float(expected) > 1e-3
    frozen_body = create_optimizer("sgd", [{"params": net[0].parameters(), "lr_mult": 0.0},
                                           {"params": net[2].parameters()}], lr=0.1)
    frozen_body.step()
    assert frozen_body.stats["lr"] == 0.1


def test_clipped_recipe_matches_torch_clip_then_step():
    ours, _ = train(lambda p: create_optimizer("momentum", p, lr=0.05, clip_norm=0.05))
    net = make_net()
    ref = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    for _ in range(SHORT):
        ref.zero_grad()
        loss_fn(net).backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 0.05)
        ref.step()
    assert_same_training(ours, net)


def test_chain_spec_equals_recipe():
    spec = [{"clip_by_global_norm": {"max_norm": 0.5}}, "scale_by_adam", {"scale_by_lr": {"lr": 0.01}}]
    a, _ = train(lambda p: create_optimizer(spec, p), steps=50)
    b, _ = train(lambda p: create_optimizer("adam", p, lr=0.01, clip_norm=0.5), steps=50)
    assert torch.equal(flat(a), flat(b))


def test_lr_schedule_spec_dict():
    a, _ = train(lambda p: create_optimizer("sgd", p, lr={"name": "step", "lr": 0.1, "every": 20}), steps=50)
    b, _ = train(lambda p: create_optimizer("sgd", p, lr=lambda t: 0.1 * 0.5 ** (t // 20)), steps=50)
    assert torch.equal(flat(a), flat(b))


def test_is_a_torch_optimizer_and_zero_grad():
    net = make_net()
    opt = create_optimizer("sgd", net.parameters(), lr=0.1)
    assert isinstance(opt, ChainOptimizer) and isinstance(opt, torch.optim.Optimizer)
    loss_fn(net).backward()
    opt.zero_grad()
    assert all(p.grad is None for p in net.parameters())


@pytest.mark.parametrize("name, cls, thp", [("momentum", torch.optim.SGD, {"lr": 0.05, "momentum": 0.9}),
                                           ("adam", torch.optim.Adam, {"lr": 0.01})])
def test_step_with_closure_matches_torch(name, cls, thp):
    """step(closure) returns the closure's loss and steps with the gradients the closure computed."""
    def run(make):
        net = make_net()
        opt = make(net.parameters())
        losses = []
        for _ in range(10):
            for p in net.parameters():  # stale gradients: a step that reads them before the closure is wrong
                p.grad = torch.full_like(p, 100.0)

            def closure():
                opt.zero_grad()
                loss = loss_fn(net)
                loss.backward()
                return loss

            with torch.no_grad():
                expected = float(loss_fn(net))  # the loss at the parameters before this step
            loss = opt.step(closure)
            assert float(loss.detach()) == expected
            losses.append(float(loss.detach()))
        return net, losses

    ours, our_losses = run(lambda p: create_optimizer(name, p, lr=thp["lr"]))
    ref, ref_losses = run(lambda p: cls(p, **thp))
    assert_same_training(ours, ref)
    assert our_losses == pytest.approx(ref_losses, rel=1e-9) and our_losses[-1] < our_losses[0]


def test_same_seed_same_numbers():
    a, _ = train(lambda p: create_optimizer("adam", p, lr=0.01), steps=30)
    b, _ = train(lambda p: create_optimizer("adam", p, lr=0.01), steps=30)
    assert torch.equal(flat(a), flat(b))


W = [nn.Parameter(torch.zeros(2))]


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: create_optimizer("adamm", W), "did you mean 'adam'"),
        (lambda: create_optimizer("sgd", W, lr=0), "lr=0 must be > 0"),
        (lambda: create_optimizer("sgd", W, lr=-1.0), "lr=-1.0"),
        (lambda: create_optimizer("sgd", W, momentum=1.0), r"momentum=1.0 must be in \[0, 1\)"),
        (lambda: create_optimizer("momentum", W, momentum=-0.1), "momentum=-0.1"),
        (lambda: create_optimizer("adam", W, betas=(0.9, 1.0)), r"betas\[1\]=1.0"),
        (lambda: create_optimizer("adam", W, betas=(1.5, 0.9)), r"betas\[0\]=1.5"),
        (lambda: create_optimizer("adam", W, eps=0), "eps=0 must be > 0"),
        (lambda: create_optimizer("rmsprop", W, decay=1.0), "decay=1.0"),
        (lambda: create_optimizer("adagrad", W, eps=-1e-8), "eps"),
        (lambda: create_optimizer("adam", W, beta1=0.9), "unknown hyperparameter 'beta1'.*accepted: lr, betas"),
        (lambda: create_optimizer("sgd", W, nesterov=True), "nesterov"),
        (lambda: create_optimizer("sgd", W, form="lecture"), "form"),
        (lambda: create_optimizer("sgd", W, weight_decay=-1), "weight_decay=-1"),
        (lambda: create_optimizer("sgd", W, clip_norm=0), "max_norm=0"),
        (lambda: create_optimizer([{"scale_by_adam": {}}], W), "no learning-rate link"),
        (lambda: create_optimizer([{"scale_by_adam": {"beta": 0.9}}, "scale_by_lr"], W), "accepted: b1, b2"),
        (lambda: create_optimizer(["scale_by_adams", "scale_by_lr"], W), "did you mean 'scale_by_adam'"),
        (lambda: create_optimizer([], W), "non-empty list"),
        (lambda: create_optimizer(["scale_by_lr"], W, lr=0.1), "inside the chain"),
        (lambda: create_optimizer("sgd", []), "no parameters"),
        (lambda: create_optimizer("sgd", [{"params": W, "momentum": 0.9}]), "accepted: params, lr_mult"),
        (lambda: create_optimizer("sgd", [{"params": W, "lr_mult": -1}]), "lr_mult=-1"),
        (lambda: create_optimizer("sgd", W, lr={"lr": 0.1}), "needs a 'name'"),
    ],
)
def test_bad_input_raises_one_line(call, match):
    with pytest.raises(TrainlabError, match=match) as e:
        call()
    assert "\n" not in str(e.value)


def test_load_state_dict_from_another_recipe_fails_clearly():
    net, opt = train(lambda p: create_optimizer("adam", p, lr=0.01), steps=2)
    other = create_optimizer("momentum", net.parameters(), lr=0.1)
    with pytest.raises(TrainlabError, match="same recipe"):
        other.load_state_dict(opt.state_dict())


# ---- the fused fast path against the plain chain, for every recipe and every option that changes its plan
# Every registry entry at its defaults, plus the variants that take other paths (momentum
# forms, rmsprop with momentum, adam with decoupled decay). A new recipe is covered the day
# it is registered.
FUSED_RECIPES = [(n, {}) for n in OPTIMIZERS.list()] + [
    ("sgd", {"momentum": 0.5, "form": "ema"}),
    ("sgd", {"momentum": 0.5, "form": "velocity"}),  # lr before momentum: the plain chain path
    ("rmsprop", {"momentum": 0.5, "centered": True}),
    ("adam", {"decoupled": True}),
]
STEP_LAST = ("lars", "schedule_free_sgd", "schedule_free_adamw")  # chains with a link after scale_by_lr
DECAYS = {"wd0": {"weight_decay": 0.0}, "wd": {"weight_decay": 0.05},
          "wd_exclude_1d": {"weight_decay": 0.05, "exclude_1d": True}}
CLIPS = {"noclip": {}, "clip_norm": {"clip_norm": 0.05}, "clip_value": {"clip_value": 0.02}}  # both bind here
SHAPES = [(4, 3), (4,), (2, 4), (2,)]  # two layers' weights and biases: 1-d tensors for exclude_1d
START = [torch.randn(s, generator=torch.Generator().manual_seed(i), dtype=torch.float64) for i, s in enumerate(SHAPES)]
TARGET = [torch.randn(s, generator=torch.Generator().manual_seed(10 + i), dtype=torch.float64) for i, s in enumerate(SHAPES)]


def tiny_params(grouped: bool, frozen: bool):
    """Fresh copies of START and their param groups (layer 1 at lr_mult 0.1 when grouped)."""
    ps = [nn.Parameter(t.clone()) for t in START]
    if frozen:
        ps[0].requires_grad_(False)  # never gets a .grad: the optimizer must skip it
    if grouped:
        return ps, [{"params": ps[:2], "lr_mult": 0.1}, {"params": ps[2:]}]
    return ps, [{"params": ps}]


def tiny_step(ps):
    """Set .grad to the gradient of sum (p - T)^2 / 2 + 0.05 p^4 (no autograd: fast and exact)."""
    for p, t in zip(ps, TARGET):
        if p.requires_grad:
            p.grad = p.detach() - t + 0.2 * p.detach() ** 3


@pytest.mark.parametrize("frozen", [False, True], ids=["all", "frozen"])
@pytest.mark.parametrize("grouped", [False, True], ids=["1group", "lr_mult"])
@pytest.mark.parametrize("clip", sorted(CLIPS))
@pytest.mark.parametrize("decay", sorted(DECAYS))
@pytest.mark.parametrize("name, variant", FUSED_RECIPES, ids=[f"{n}{'-' + '-'.join(map(str, v.values())) if v else ''}"
                                                            for n, v in FUSED_RECIPES])
def test_optimizer_fast_path_equals_the_plain_chain(name, variant, decay, clip, grouped, frozen, steps=20):
    """ChainOptimizer's step (the last update applied in one op per pending form: add_ with alpha,
    addcdiv_, decoupled decay as a shrink) gives the chain's own result (up to rounding).

    The reference runs the recipe's chain itself (tx.init / tx.update, every pending form evaluated,
    then p += u): no ChainOptimizer, so no fused application. Per-group lr reaches it through
    scale_by_lr's `hp`; frozen parameters are simply not in its list.
    """
    hp = {"lr": 0.05, **variant, **DECAYS[decay], **CLIPS[clip]}
    ours, groups = tiny_params(grouped, frozen)
    opt = create_optimizer(name, groups, **hp)
    # the fused application is really taken, except where a link follows the lr (velocity-form momentum, lars,
    # schedule-free): there the step adds the chain's update as it is
    assert opt._applies_lr == (variant.get("form") != "velocity" and name not in STEP_LAST)
    for _ in range(steps):
        tiny_step(ours)
        opt.step()

    ref, ref_groups = tiny_params(grouped, frozen)
    tx = OPTIMIZERS.get(name)(**hp)
    pairs = [(p, g.get("lr_mult", 1.0)) for g in ref_groups for p in g["params"] if p.requires_grad]
    ps, lrs = [p for p, _ in pairs], [hp["lr"] * m for _, m in pairs]
    # the lr goes to the lr link and to every link built with an lr of its own (Adafactor, Schedule-Free, Adan's decay)
    lr_keys = [f"{i}:{link.name}" for i, link in enumerate(tx.links) if "lr" in link.hp]
    state = tx.init(ps)
    for _ in range(steps):
        tiny_step(ref)
        with torch.no_grad():
            u, state = tx.update([p.grad for p in ps], state, ps, {k: {"lr": lrs} for k in lr_keys} if grouped else None)
            torch._foreach_add_(ps, u)

    a, b, s0 = (torch.cat([p.detach().flatten() for p in x]) for x in (ours, ref, START))
    assert not torch.equal(b, s0)  # the reference did move
    torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)  # centered rms amplifies rounding to ~1e-11
    if frozen:
        assert torch.equal(ours[0], START[0])


def test_exclude_1d_matches_torch_groups_without_decay_for_biases():
    def groups(net):
        return [{"params": [p for p in net.parameters() if p.ndim > 1]},
                {"params": [p for p in net.parameters() if p.ndim <= 1], "weight_decay": 0.0}]

    ours, _ = train(lambda p: create_optimizer("adamw", p, lr=0.01, weight_decay=0.1, exclude_1d=True))
    ref = make_net()
    train(lambda p: torch.optim.AdamW(groups(ref), lr=0.01, weight_decay=0.1), net=ref)
    assert_same_training(ours, ref)
    decays_biases, _ = train(lambda p: create_optimizer("adamw", p, lr=0.01, weight_decay=0.1))
    assert not torch.allclose(flat(decays_biases), flat(ours), rtol=1e-6)


def test_add_param_group_after_steps_matches_torch():
    def run(make):
        net = make_net()
        opt = make([{"params": net[0].parameters()}])
        for i in range(SHORT):
            if i == 10:
                opt.add_param_group({"params": list(net[2].parameters())})
            opt.zero_grad()
            loss_fn(net).backward()
            opt.step()
        return net

    # momentum: no step counter (Adam's bias correction counts chain steps here, per-param steps in torch)
    ours = run(lambda g: create_optimizer("momentum", g, lr=0.05, weight_decay=0.01))
    ref = run(lambda g: torch.optim.SGD(g, lr=0.05, momentum=0.9, weight_decay=0.01))
    assert_same_training(ours, ref)
