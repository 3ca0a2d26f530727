"""Optimizer trajectories on 2-D test functions: paths against closed forms and torch.optim,
the per-step records, seeded gradient noise, the test-function registry, the picture and the
`trainlab trajectories` command (one-line errors for bad input)."""
from __future__ import annotations

import csv
import math

import pytest
import torch
from PIL import Image

from trainlab.cli import main
from trainlab.errors import TrainlabError
from trainlab.optim.trajectory import FUNCTIONS, create_surface, descend, parse_spec, trajectory
from trainlab.report.surface import plot_trajectories


# ---------------------------------------------------------------- paths against references
@pytest.mark.parametrize("condition, lr", [(25.0, 0.05), (100.0, 0.019), (4.0, 0.3)])
def test_sgd_on_the_quadratic_is_the_closed_form(condition, lr):
    """0.5 (a x² + b y²): x_t = (1 - lr a)^t x_0 and y_t = (1 - lr b)^t y_0, coordinate by coordinate."""
    s = create_surface("ill_conditioned", condition=condition)
    path = trajectory(s, "sgd", steps=80, lr=lr)
    t = torch.arange(81, dtype=torch.float64)
    x0, y0 = s.start
    want = torch.stack([(1 - lr * 1.0) ** t * x0, (1 - lr * condition) ** t * y0], dim=1)
    torch.testing.assert_close(path, want, rtol=1e-12, atol=1e-300)
    assert path.dtype == torch.float64 and path.shape == (81, 2)


def _torch_path(surface, make_opt, steps):
    p = torch.nn.Parameter(torch.tensor(surface.start, dtype=torch.float64))
    opt = make_opt([p])
    out = [p.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        surface(p).backward()
        opt.step()
        out.append(p.detach().clone())
    return torch.stack(out)


@pytest.mark.parametrize("function, recipe, lr, reference", [
    ("ill_conditioned", "momentum", 0.05, lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9)),
    ("rosenbrock", "momentum", 1e-3, lambda ps: torch.optim.SGD(ps, lr=1e-3, momentum=0.9)),
    ("ill_conditioned", "nesterov", 0.02, lambda ps: torch.optim.SGD(ps, lr=0.02, momentum=0.9, nesterov=True)),
    ("beale", "adam", 0.05, lambda ps: torch.optim.Adam(ps, lr=0.05)),
    ("saddle", "rmsprop", 0.05, lambda ps: torch.optim.RMSprop(ps, lr=0.05)),
    ("saddle", "adagrad", 0.1, lambda ps: torch.optim.Adagrad(ps, lr=0.1)),
])
def test_paths_match_torch_optim(function, recipe, lr, reference):
    s = create_surface(function)
    ours = trajectory(s, recipe, steps=200, lr=lr)
    ref = _torch_path(s, reference, 200)
    assert (ref[-1] - ref[0]).norm() > 0.1  # the reference did travel
    torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-6)


def test_flat_api():
    import trainlab

    assert trainlab.trajectory is trajectory and trainlab.descend is descend


def test_a_chain_spec_walks_the_recipe_path_and_lr_overrides_its_lr_link():
    chain = [{"scale_by_momentum": {"mu": 0.9}}, {"scale_by_lr": {"lr": 0.5}}]
    torch.testing.assert_close(trajectory("ill_conditioned", chain, 50, lr=0.03),
                               trajectory("ill_conditioned", "momentum", 50, lr=0.03), rtol=0, atol=1e-12)
    assert descend("ill_conditioned", chain, 5).lr == 0.5  # without lr: the chain's own


# ---------------------------------------------------------------- records for claims
def test_records_are_loss_gradient_norm_and_step_length_of_the_points():
    s = create_surface("ill_conditioned")
    run = descend(s, "momentum", steps=40, lr=0.05)
    x, y = run.points[:, 0], run.points[:, 1]
    torch.testing.assert_close(run.loss, 0.5 * (x**2 + 25 * y**2))
    torch.testing.assert_close(run.grad_norm, torch.sqrt(x**2 + (25 * y) ** 2))  # |(a x, b y)|
    torch.testing.assert_close(run.step_length, (run.points[1:] - run.points[:-1]).norm(dim=1))
    assert run.loss.shape == (41,) and run.step_length.shape == (40,) and run.diverged_at is None
    rows = run.rows()
    assert len(rows) == 41 and rows[-1]["step_length"] is None
    assert rows[3]["x"] == float(x[3]) and rows[3]["step_length"] == float(run.step_length[3])


def test_adagrad_steps_keep_shrinking_rmsprop_steps_do_not():
    """Deck 001: Adagrad's effective lr only falls; RMSprop's leaky cache lets its steps grow again."""
    s = create_surface("ill_conditioned")
    ada = descend(s, "adagrad", steps=300, lr=0.05).step_length
    assert bool((ada[1:] <= ada[:-1]).all())  # non-increasing, every step
    assert float(ada[-1]) < 0.1 * float(ada[0])
    rms = descend(s, "rmsprop", steps=300, lr=0.05, decay=0.9).step_length
    assert float((rms[1:] / rms[:-1]).max()) > 1.5  # some step is much longer than the one before
    assert float(rms[-50:].mean()) > 0.5 * 0.05  # late steps stay about lr long: they do not die out


def test_adam_bias_correction_sets_the_first_step_length():
    """Step 1: m = (1-b1) g, v = (1-b2) g². Corrected, each coordinate moves lr (a sign step); uncorrected,
    (1-b1) / sqrt(1-b2) = 3.16 times that."""
    lr = 0.05
    on = descend("ill_conditioned", "adam", steps=3, lr=lr, eps=1e-12).step_length
    off = descend("ill_conditioned", "adam", steps=3, lr=lr, eps=1e-12, bias_correction=False).step_length
    assert float(on[0]) == pytest.approx(lr * math.sqrt(2), rel=1e-9)
    assert float(off[0]) == pytest.approx(lr * math.sqrt(2) * 0.1 / math.sqrt(0.001), rel=1e-9)


def test_gradient_noise_is_seeded_and_shared_across_optimizers():
    s = create_surface("ill_conditioned")
    lr, noise = 0.05, 0.3
    run = descend(s, "sgd", 30, lr, noise=noise, seed=7)
    # by hand: x_{t+1} = x_t - lr (grad f(x_t) + noise * z_t), z_t from the seeded generator
    g, x, want = torch.Generator().manual_seed(7), torch.tensor(s.start, dtype=torch.float64), []
    for _ in range(31):
        want.append(x.clone())
        x = x - lr * (torch.tensor([1.0, 25.0], dtype=torch.float64) * x + noise * torch.randn(2, generator=g, dtype=torch.float64))
    torch.testing.assert_close(run.points, torch.stack(want), rtol=1e-12, atol=1e-12)
    assert torch.equal(run.points, descend(s, "sgd", 30, lr, noise=noise, seed=7).points)
    assert not torch.equal(run.points, descend(s, "sgd", 30, lr, noise=noise, seed=8).points)
    assert not torch.equal(run.points, descend(s, "sgd", 30, lr).points)
    # grad_norm is of the true gradient, not the noisy one
    torch.testing.assert_close(run.grad_norm, torch.sqrt(run.points[:, 0] ** 2 + (25 * run.points[:, 1]) ** 2))


def test_divergence_is_recorded_and_the_rest_is_nan():
    run = descend("rosenbrock", "sgd", steps=50, lr=0.01)
    assert run.diverged_at is not None and 0 < run.diverged_at < 50
    assert torch.isnan(run.points[run.diverged_at:]).all() and torch.isfinite(run.points[: run.diverged_at]).all()
    assert torch.isnan(run.loss[run.diverged_at:]).all()


# ---------------------------------------------------------------- the registry of test functions
@pytest.mark.parametrize("name", FUNCTIONS.list())
def test_every_function_has_its_minimum_where_it_says(name):
    s = create_surface(name)
    for m in s.minima:
        p = torch.tensor(m, dtype=torch.float64, requires_grad=True)
        value = s(p)
        value.backward()
        assert float(value.detach()) == pytest.approx(s.min_value, abs=1e-12)
        assert float(p.grad.norm()) < 1e-9  # a stationary point
    x_lo, x_hi, y_lo, y_hi = s.window
    xs, ys = torch.meshgrid(torch.linspace(x_lo, x_hi, 201, dtype=torch.float64),
                            torch.linspace(y_lo, y_hi, 201, dtype=torch.float64), indexing="xy")
    assert float(s.f(xs, ys).min()) >= s.min_value - 1e-12  # nothing in the window is lower
    assert all(x_lo < mx < x_hi and y_lo < my < y_hi for mx, my in s.minima)
    assert x_lo < s.start[0] < x_hi and y_lo < s.start[1] < y_hi
    assert float(s(torch.tensor(s.start, dtype=torch.float64))) > s.min_value  # the start is not a minimum


def test_function_options_and_bad_ones():
    s = create_surface("ill_conditioned", condition=100)
    assert float(s(torch.tensor([1.0, 1.0]))) == 0.5 * (1 + 100) and s.label == "ill_conditioned(condition=100)"
    assert create_surface("rosenbrock", a=2.0).minima == ((2.0, 4.0),)
    with pytest.raises(TrainlabError, match="condition=0.5 must be >= 1"):
        create_surface("ill_conditioned", condition=0.5)
    with pytest.raises(TrainlabError, match="unknown hyperparameter 'conditon'.*did you mean 'condition'"):
        create_surface("ill_conditioned", conditon=10)
    with pytest.raises(TrainlabError, match="unknown test function 'rosenbrok'.*did you mean 'rosenbrock'"):
        create_surface("rosenbrok")


def test_parse_spec():
    assert parse_spec("sgd") == ("sgd", {})
    assert parse_spec("adam:lr=1e-3:betas=[0.9, 0.99]") == ("adam", {"lr": 0.001, "betas": [0.9, 0.99]})
    assert parse_spec("sgd:momentum=0.9:nesterov=true:form=ema") == (
        "sgd", {"momentum": 0.9, "nesterov": True, "form": "ema"})
    for bad, words in [(":lr=1", "has no name"), ("sgd:lr", "expected key=value"), ("sgd:lr=1:lr=2", "twice")]:
        with pytest.raises(TrainlabError, match=words):
            parse_spec(bad)


@pytest.mark.parametrize("kw, words", [
    ({"lr": 0.0}, "lr=0.0 must be > 0"), ({"lr": -1.0}, "lr=-1.0 must be > 0"),
    ({"lr": 0.1, "steps": 0}, "steps=0 must be an integer >= 1"),
    ({"lr": 0.1, "noise": -0.1}, "noise=-0.1 must be >= 0"),
    ({"lr": 0.1, "start": (1.0,)}, "must be a point"),
    ({"lr": 0.1, "optimizer": "adamm"}, "unknown optimizer 'adamm'.*did you mean 'adam'"),
    ({"lr": 0.1, "momentun": 0.5}, "unknown hyperparameter 'momentun'"),
])
def test_descend_refuses_bad_input(kw, words):
    kw = {"optimizer": "sgd", "steps": 5, **kw}
    with pytest.raises(TrainlabError, match=words):
        descend("ill_conditioned", **kw)


# ---------------------------------------------------------------- picture and command
def test_plot_writes_a_png_and_refuses_mixed_functions(tmp_path):
    runs = [descend("saddle", o, 60, 0.05) for o in ("sgd", "adam")]
    out = plot_trajectories(runs, tmp_path / "sub" / "saddle.png", title="saddle")
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size[0] > 1000 and im.size[1] > 400
    with pytest.raises(TrainlabError, match="same test function"):
        plot_trajectories(runs + [descend("beale", "sgd", 5, 1e-3)], tmp_path / "x.png")


def test_window_widens_for_paths_that_leave_it_but_not_for_exploding_ones():
    from trainlab.report.surface import _window

    s = create_surface("ill_conditioned")  # window x in [-5, 5], y in [-1.6, 1.6]
    wide = descend(s, "sgd", 50, 0.05, start=(-7.0, 2.0))  # starts outside, converges
    exploding = descend(s, "sgd", 50, 0.09)  # 1 - 0.09 * 25 = -1.25: y grows without bound
    x_lo, x_hi, y_lo, y_hi = _window(s, [wide, exploding])
    assert x_lo < -7.0 and y_hi > 2.0 and x_hi == 5.0 and y_lo == -1.6
    assert _window(s, [exploding]) == s.window


def test_command_writes_the_picture_and_the_records(tmp_path, capsys):
    out, table = tmp_path / "traj.png", tmp_path / "traj.csv"
    code = main(["trajectories", "--function", "ill_conditioned:condition=100", "--opt", "sgd", "momentum",
                 "--opt", "adam:lr=0.1", "--lr", "0.019", "--steps", "60", "--out", str(out), "--csv", str(table)])
    printed = capsys.readouterr().out
    assert code == 0 and out.stat().st_size > 10_000
    assert f"wrote {out}" in printed and "momentum (lr=0.019)" in printed and "adam:lr=0.1 (lr=0.1)" in printed
    rows = list(csv.DictReader(table.open()))
    assert len(rows) == 3 * 61 and {r["optimizer"] for r in rows} == {"sgd", "momentum", "adam:lr=0.1"}
    sgd = [r for r in rows if r["optimizer"] == "sgd"]
    assert float(sgd[1]["x"]) == pytest.approx(-4 * (1 - 0.019))  # the records are the path
    momentum_end = next(r for r in rows if r["optimizer"] == "momentum" and r["t"] == "60")
    assert float(momentum_end["loss"]) < float(sgd[-1]["loss"]) / 5  # deck 001: momentum fixes the crawl


@pytest.mark.parametrize("argv, words", [
    (["--function", "rosenbrok"], "unknown test function 'rosenbrok' (did you mean 'rosenbrock'?)"),
    (["--function", "ill_conditioned:condition=0.5"], "condition=0.5 must be >= 1"),
    (["--opt", "sgd", "adamm"], "unknown optimizer 'adamm' (did you mean 'adam'?)"),
    (["--opt", "sgd:mu=0.9"], "unknown hyperparameter 'mu'"),
    (["--opt", "sgd:lr"], "expected key=value"),
    (["--opt", "sgd", "sgd"], "given twice"),
    (["--lr", "0"], "--lr 0 must be > 0"),
    (["--lr", "-0.1"], "--lr -0.1 must be > 0"),
    (["--opt", "sgd:lr=0"], "lr=0 must be > 0"),
    (["--steps", "0"], "--steps 0 must be >= 1"),
    (["--noise", "-1"], "--noise -1 must be >= 0"),
    (["--out", "picture.jpg"], "must end in .png"),
])
def test_command_bad_input_is_one_line_exit_2(argv, words, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["trajectories", "--lr", "0.05", *argv] if "--lr" not in argv else ["trajectories", *argv])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and words in lines[0], err
    assert lines[0].startswith("trainlab trajectories: error:")
    assert not list(tmp_path.iterdir())  # nothing written
