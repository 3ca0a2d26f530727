"""Schedules against closed forms and torch.optim.lr_scheduler; the `trainlab schedule` command."""
import math

import pytest
import torch

from trainlab.cli import main
from trainlab.errors import TrainlabError
from trainlab.optim.schedules import SCHEDULES, create_schedule

TS = [0, 0.5, 1, 2.5, 7, 10, 19.9, 20, 33, 50, 99, 100, 150]

# name -> (hyperparameters, closed form of t)
CLOSED = {
    "constant": ({"lr": 0.3}, lambda t: 0.3),
    "step": ({"lr": 0.1, "gamma": 0.5, "every": 10}, lambda t: 0.1 * 0.5 ** math.floor(t / 10)),
    "exponential": ({"lr": 0.1, "k": 0.05}, lambda t: 0.1 * math.exp(-0.05 * t)),
    "inverse_time": ({"lr": 0.1, "k": 0.5}, lambda t: 0.1 / (1 + 0.5 * t)),
    "cosine": ({"lr": 0.1, "total": 100, "lr_min": 0.001},
               lambda t: 0.001 + 0.099 * (1 + math.cos(math.pi * min(t, 100) / 100)) / 2),
    "cosine_restarts": ({"lr": 0.1, "cycle": 20, "lr_min": 0.001},
                        lambda t: 0.001 + 0.099 * (1 + math.cos(math.pi * (t % 20) / 20)) / 2),
    "onecycle": ({"lr": 1.0, "total": 100, "pct_start": 0.25, "div": 10, "final_div": 100},
                 lambda t: (0.1 + 0.9 * (1 - math.cos(math.pi * t / 25)) / 2) if t <= 25 else
                 (0.001 + 0.999 * (1 + math.cos(math.pi * (min(t, 100) - 25) / 75)) / 2)),
    "piecewise": ({"lr": 0.1, "boundaries": [10, 20], "factors": [1, 0.1, 0.01]},
                  lambda t: 0.1 if t < 10 else (0.01 if t < 20 else 0.001)),
}


def test_every_schedule_has_a_closed_form():
    assert set(SCHEDULES.list()) == set(CLOSED)


@pytest.mark.parametrize("name", sorted(CLOSED))
def test_matches_closed_form(name):
    hp, f = CLOSED[name]
    sched = create_schedule(name, **hp)
    for t in TS:
        assert sched(t) == pytest.approx(f(t), rel=1e-12, abs=1e-15), t


@pytest.mark.parametrize("name", sorted(CLOSED))
def test_warmup_composes_and_is_pure(name):
    hp, f = CLOSED[name]
    sched = create_schedule(name, warmup=4, **hp)
    expected = {t: f(t) * min(1.0, t / 4) for t in TS}
    # any order, any repetition gives the closed form: a pure function with no hidden counter
    for order in (TS, TS[::-1], TS[::2] + TS[1::2], [TS[5]] * 3 + TS):
        for t in order:
            assert sched(t) == pytest.approx(expected[t], rel=1e-12, abs=1e-15), (t, order)


def torch_lrs(make_sched, n):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = make_sched(opt)
    lrs = []
    for _ in range(n):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


@pytest.mark.parametrize(
    "name, hp, make",
    [
        ("step", {"lr": 0.1, "gamma": 0.3, "every": 7}, lambda o: torch.optim.lr_scheduler.StepLR(o, 7, 0.3)),
        ("exponential", {"lr": 0.1, "k": 0.05},
         lambda o: torch.optim.lr_scheduler.ExponentialLR(o, math.exp(-0.05))),
        ("cosine", {"lr": 0.1, "total": 40, "lr_min": 0.01},
         lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 40, eta_min=0.01)),
        ("piecewise", {"lr": 0.1, "boundaries": [10, 25], "factors": [1, 0.1, 0.01]},
         lambda o: torch.optim.lr_scheduler.MultiStepLR(o, [10, 25], 0.1)),
        ("cosine_restarts", {"lr": 0.1, "cycle": 10, "lr_min": 0.01},
         lambda o: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=10, eta_min=0.01)),
    ],
)
def test_matches_torch_schedulers_on_integer_steps(name, hp, make):
    sched = create_schedule(name, **hp)
    ref = torch_lrs(make, 41)
    assert [sched(t) for t in range(41)] == pytest.approx(ref, rel=1e-9)


def test_onecycle_endpoints():
    f = create_schedule("onecycle", lr=0.4, total=1000)  # pct_start 0.3, div 25, final_div 1e4
    assert f(0) == pytest.approx(0.4 / 25)
    assert f(300) == pytest.approx(0.4)
    assert f(1000) == pytest.approx(0.4 / 25 / 1e4)


@pytest.mark.parametrize(
    "name, hp, match",
    [
        ("cosin", {}, "did you mean 'cosine'"),
        ("cosine", {"lr0": 0.1}, "accepted: lr, total, lr_min, warmup"),
        ("step", {"lr": 0}, "lr=0 must be > 0"),
        ("step", {"gamma": 1.5}, "gamma"),
        ("exponential", {"k": -1}, "k=-1"),
        ("cosine", {"total": 0}, "total=0"),
        ("cosine", {"lr": 0.1, "lr_min": 0.2}, "lr_min"),
        ("onecycle", {"pct_start": 1.0}, "pct_start"),
        ("piecewise", {"boundaries": [1], "factors": [0.1]}, "len"),
        ("piecewise", {"boundaries": [5, 1], "factors": [0.1, 0.1, 0.1]}, "increasing"),
        ("constant", {"warmup": -1}, "warmup=-1"),
    ],
)
def test_bad_input(name, hp, match):
    with pytest.raises(TrainlabError, match=match):
        create_schedule(name, **hp)


def test_schedule_command_writes_png(tmp_path, capsys):
    out = tmp_path / "lr.png"
    rc = main(["schedule", "cosine", "--lr", "0.1", "--warmup", "2", "--epochs", "30", "--out", str(out)])
    assert rc == 0 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "cosine" in capsys.readouterr().out
    rc = main(["schedule", "piecewise", "--set", "boundaries=[10, 20]", "--set", "factors=[1, 0.1, 0.01]", "--lr", "0.1",
               "--steps", "30", "--log", "--out", str(tmp_path / "p.png")])
    assert rc == 0


@pytest.mark.parametrize("argv", [["cosine", "--set", "lr"], ["cosin"], ["cosine", "--set", "lr=1"],
                                  ["cosine", "--set", "lr0=0.1"], ["cosine", "--steps", "0"],
                                  ["cosine", "--set", "gamma=0.5"]])
def test_schedule_command_bad_input_exits_2(argv, tmp_path, capsys):
    assert main(["schedule", *argv, "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("trainlab schedule: error:") and "\n" not in err
