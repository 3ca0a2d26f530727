"""Runs of each task end to end: regression (poly + polyfit + mse) logs losses alone and fits
the least-squares polynomial; a hinge run's validation loss is the hinge loss; top-5 accuracy
appears with more than 5 classes and can be monitored. Checked against numbers computed here
from the saved weights, never against numbers copied from a run."""
import re

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import trainlab
from helpers import untimed
from trainlab.cli import main
from trainlab.data import to_float
from trainlab.training.losses import hinge
from trainlab.training.saved import load_saved, write_run_report

POLY = {"dataset": "poly", "dataset_options": {"n_train": 24}, "model": "polyfit", "model_options": {"degree": 3},
        "loss": "mse", "preprocessing": "none", "optimizer": "adam", "lr": 0.05, "epochs": 600, "eval_every": 150,
        "val_fraction": 0.25, "threads": 1}


def last_outputs(run, split):
    """The model of the run's last checkpoint on a split: (outputs, targets)."""
    p = load_saved(run, device="cpu", weights="last")
    s = getattr(p.data, split)
    with torch.no_grad():
        return p.model(p.preprocess(to_float(s.x))), s.y


def one_step_train_loss(settings, loss_of, tmp_path):
    """(logged train loss, loss_of(outputs, targets) by hand) of one full-batch step at a tiny lr:
    the weights barely move, so the logged loss is the one of the saved weights on the training split."""
    run = trainlab.train({**settings, "batch_size": 10_000, "epochs": 1, "lr": 1e-9, "optimizer": "sgd",
                          "runs_dir": str(tmp_path / "one-step")}, quiet=True, report=False)
    out, y = last_outputs(run, "train")
    return run.metrics[-1]["train_loss"], float(loss_of(out, y))


def test_regression_run_logs_losses_alone_and_fits_least_squares(tmp_path, capsys):
    run = trainlab.train({**POLY, "runs_dir": str(tmp_path / "runs")})
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("finished:"))
    assert re.fullmatch(r"finished: test loss \d\.\d{4}  \(best val_loss \d\.\d{4} at epoch \d+\)", line), line
    assert all(not any("acc" in k or "top5" in k for k in r) for r in run.metrics)
    assert all("train_loss" in r and "val_loss" in r for r in run.metrics)
    assert set(run.summary["test"]) == {"loss"}

    # the validation loss is the mean squared error of the last weights, computed here by hand
    out, y = last_outputs(run, "val")
    assert run.metrics[-1]["val_loss"] == pytest.approx(float(((out - y) ** 2).mean()), rel=1e-5)
    # and gradient descent reached the least-squares cubic of the training points
    out, y = last_outputs(run, "train")
    x = load_saved(run).data.train.x.double().numpy().ravel()
    coef = np.polynomial.polynomial.polyfit(x, y.double().numpy().ravel(), 3)
    best = float(np.mean((np.polynomial.polynomial.polyval(x, coef) - y.double().numpy().ravel()) ** 2))
    fitted = float(((out - y) ** 2).mean())
    assert best <= fitted <= best * 1.02 + 1e-4, (fitted, best)
    assert fitted < 0.1  # far below the variance of sin(pi x), 0.5: the curve was learned
    logged, by_hand = one_step_train_loss(POLY, lambda o, t: ((o - t) ** 2).mean(), tmp_path)
    assert logged == pytest.approx(by_hand, rel=1e-5)

    # plots: the curves figure has the loss panel alone (550-ish pixels wide; two panels are twice that)
    write_run_report(run)
    width = Image.open(run.path / "plots" / "curves.png").size[0]
    assert width < 700, width
    html = run.report.read_text()
    assert "<th>val_loss</th>" in html and "val_acc" not in html
    row = trainlab.load_runs(tmp_path / "runs", as_frame=False)[0]
    assert row["test_loss"] == run.summary["test"]["loss"] and "test_acc" not in row
    capsys.readouterr()
    assert main(["runs", str(tmp_path / "runs")]) == 0  # the table shows losses where there is no accuracy
    out = " ".join(capsys.readouterr().out.split())
    assert "val: validation loss at each run's best evaluation" in out and "test: test loss" in out and f"{run.summary['test']['loss']:.4f}" in out


def test_regression_run_interrupted_then_resumed_is_bit_identical(tmp_path, kill_and_resume):
    settings = {**POLY, "epochs": 60, "eval_every": 10, "runs_dir": str(tmp_path / "runs")}
    ref = trainlab.train({**settings, "name": "ref"}, quiet=True, report=False)
    done = kill_and_resume(settings, at_step=30)
    a, b = load_file(ref.latest_checkpoint()[0]), load_file(done.latest_checkpoint()[0])
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert untimed(done.metrics) == untimed(ref.metrics) and done.summary["test"] == ref.summary["test"]


def test_polyfit_degree_and_l2_move_the_fit_as_deck_004_says(tmp_path):
    # deck 004: a high degree on few points fits the training points more closely than the truth
    # allows and does badly on new points (overfitting); a small lambda tames it; a large lambda
    # pulls the same model away from the points (underfitting)
    base = {**POLY, "dataset_options": {"n_train": 16}, "epochs": 2000, "eval_every": 500, "lr": 0.05,
            "runs_dir": str(tmp_path / "runs")}
    l2 = lambda lam: {"model_options": {"degree": 9}, "penalty": "l2", "penalty_strength": lam}  # noqa: E731
    train_mse, test_mse = {}, {}
    for name, kw in {"deg1": {"model_options": {"degree": 1}}, "deg9": {"model_options": {"degree": 9}},
                     "deg9_low": l2(1e-3), "deg9_high": l2(0.1)}.items():
        run = trainlab.train({**base, **kw, "name": name}, quiet=True, report=False)
        out, y = last_outputs(run, "train")
        train_mse[name], test_mse[name] = float(((out - y) ** 2).mean()), run.summary["test"]["loss"]
    assert train_mse["deg9"] < 0.04 < train_mse["deg1"]  # 0.04: the noise variance (0.2^2)
    assert train_mse["deg9_high"] > 2 * train_mse["deg9"]
    assert test_mse["deg9_low"] < min(test_mse["deg9"], test_mse["deg9_high"]) / 2  # low test error in the middle


def test_hinge_run_learns_and_its_validation_loss_is_the_hinge_loss(tmp_path):
    settings = {"dataset": "digits", "model": "mlp", "epochs": 2, "batch_size": 64, "threads": 1,
                "runs_dir": str(tmp_path / "runs")}
    run = trainlab.train({**settings, "loss": "hinge"}, quiet=True, report=False)
    ce = trainlab.train(settings, quiet=True, report=False)
    assert run.summary["test"]["acc"] > 0.85
    out, y = last_outputs(run, "val")
    assert run.metrics[-1]["val_loss"] == pytest.approx(float(hinge(out, y)), rel=1e-5)
    # by hand for one example: the sum over the other classes of max(0, f_j - f_y + 1)
    f, t = out[0].tolist(), int(y[0])
    assert float(hinge(out[:1], y[:1])) == pytest.approx(sum(max(0.0, f[j] - f[t] + 1) for j in range(10) if j != t),
                                                         rel=1e-5)
    assert run.metrics[-1]["val_loss"] != ce.metrics[-1]["val_loss"]  # the option took effect
    logged, by_hand = one_step_train_loss({**settings, "loss": "hinge"}, hinge, tmp_path)  # training used it too
    assert logged == pytest.approx(by_hand, rel=1e-5)


def test_top5_is_logged_reported_and_monitored(tmp_path, capsys):
    run = trainlab.train({"dataset": "digits", "model": "mlp", "epochs": 3, "batch_size": 64, "threads": 1,
                          "lr": 0.01, "monitor": "val_top5", "runs_dir": str(tmp_path / "runs")})
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("finished:"))
    assert re.search(r"test top-5 \d\.\d{4}  \(best val_top5 \d\.\d{4} at epoch [123]\)$", line), line
    rows = run.metrics
    assert all(r["val_acc"] <= r["val_top5"] <= 1 for r in rows)
    best = max(rows, key=lambda r: r["val_top5"])  # the first of the highest: ties are no improvement
    assert run.summary["best"]["step"] == best["step"] and run.summary["best"]["val_top5"] == best["val_top5"]
    assert run.summary["test"]["acc"] <= run.summary["test"]["top5"]
    out, y = last_outputs(run, "val")  # top-5 of the last weights against torch.topk
    want = (out.topk(5, 1).indices == y[:, None]).any(1).float().mean()
    assert rows[-1]["val_top5"] == pytest.approx(float(want))
    assert "<th>val_top5</th>" in run.report.read_text()


def test_regression_runs_compare_on_their_loss_and_refuse_ensembles(tmp_path):
    from trainlab.errors import TrainlabError
    from trainlab.experiments.compare import compare
    from trainlab.experiments.ensemble import load_member

    base = {**POLY, "epochs": 40, "eval_every": 20, "runs_dir": str(tmp_path / "runs")}
    c = compare(base, {"deg3": {}, "deg1": {"model_options": {"degree": 1}}}, seeds=2, jobs=1, name="fit")
    assert set(c.metrics()) == {"val_loss", "test_loss"}
    table = c.table()
    assert table["deg3"]["val_loss"]["n"] == 2 and table["deg3"]["test_loss"]["mean"] < table["deg1"]["test_loss"]["mean"]
    width = Image.open(c.folder / "plots" / "curves.png").size[0]  # the loss panel alone
    assert width < 700, width
    with pytest.raises(TrainlabError, match="is a regression run; ensembles here average class probabilities"):
        load_member(trainlab.load_run(c.folder / "deg3" / "seed-0"))
