"""Ensembles: probabilities averaged as defined, cached once per member, snapshots and dropout masks."""
import pytest
import torch

import trainlab
from trainlab.cli import main
from trainlab.errors import TrainlabError
from trainlab.experiments.ensemble import Member, analyse, ensemble, mc_dropout, snapshots

BASE = {"dataset": "digits", "model": "mlp", "epochs": 2, "batch_size": 64, "threads": 1,
        "model_options": {"depth": 1, "width": 32}}


def member(name, probs, y):
    p = torch.tensor(probs, dtype=torch.float32)
    return Member(name, {"val": p, "test": p}, {"val": torch.tensor(y), "test": torch.tensor(y)})


def test_analyse_against_hand_counts():
    y = [0, 1, 1, 0]
    a = member("a", [[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.4, 0.6]], y)  # right on 0, 2: acc 0.5
    b = member("b", [[0.4, 0.6], [0.3, 0.7], [0.45, 0.55], [0.9, 0.1]], y)  # right on 1, 2, 3: acc 0.75
    c = member("c", [[0.7, 0.3], [0.55, 0.45], [0.3, 0.7], [0.6, 0.4]], y)  # right on 0, 2, 3: acc 0.75
    res = analyse([a, b, c])
    # mean probabilities: [0.667,0.333] [0.483,0.517] [0.317,0.683] [0.633,0.367] -> all four right
    assert res["ensemble"]["acc"] == 1.0
    assert res["mean_member"]["acc"] == pytest.approx((0.5 + 0.75 + 0.75) / 3)
    assert res["best_member"]["name"] == "b"  # first of the best on validation
    assert res["gain"]["acc"] == pytest.approx(1.0 - 2.0 / 3)
    curve = res["size_curve"]
    assert [c["size"] for c in curve] == [1, 2, 3] and curve[0]["mean"] == pytest.approx(2 / 3)
    assert curve[-1]["mean"] == 1.0 and curve[1]["subsets"] == 3
    vote = analyse([a, b, c], vote=True)  # votes per example: 0:[a,c]->0 ok, 1:[b]... -> 1 wrong, 2: ok, 3:[b,c] ok
    assert vote["ensemble"]["acc"] == 0.75
    with pytest.raises(TrainlabError, match="at least 2 members"):
        analyse([a])


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    root = tmp_path_factory.mktemp("ens")
    return [trainlab.train({**BASE, "seed": s, "runs_dir": str(root), "group": "g", "name": f"seed-{s}"},
                           quiet=True, report=False) for s in range(3)]


def test_ensemble_of_runs_matches_a_hand_average_and_is_cached(seeds):
    res = ensemble([r.path for r in seeds])
    assert [m["test_acc"] for m in res["members"]] == pytest.approx([r.summary["test"]["acc"] for r in seeds])
    data = trainlab.load_dataset("digits")
    probs = []
    for r in seeds:  # the reference: each model's softmax on the standardized test split
        from trainlab.data import to_float
        from trainlab.training.saved import load_saved

        p = load_saved(r)
        with torch.no_grad():
            probs.append(torch.softmax(p.model(p.preprocess(to_float(data.test.x))), 1))
    ref = float(((sum(probs) / 3).argmax(1) == data.test.y).double().mean())
    assert res["ensemble"]["acc"] == pytest.approx(ref)
    cache = seeds[0].path / "predictions" / "best.safetensors"
    stamp = cache.stat().st_mtime_ns
    assert ensemble([r.path for r in seeds]) == res and cache.stat().st_mtime_ns == stamp  # read, not recomputed


def test_cli_group_and_members_on_other_data_refused(seeds, tmp_path, capsys):
    assert main(["ensemble", "--group", str(seeds[0].path.parent), "--out", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "ensemble.json").is_file() and (tmp_path / "o" / "ensemble_size.png").is_file()
    assert "gain over the mean member" in capsys.readouterr().out
    other = trainlab.train({**BASE, "classes": [0, 1, 2], "runs_dir": str(tmp_path)}, quiet=True, report=False)
    assert main(["ensemble", str(seeds[0].path), str(other.path)]) == 2
    err = capsys.readouterr().err
    assert "differs" in err and "classes" in err and len(err.strip().splitlines()) == 1


def test_snapshot_ensemble_uses_the_kept_checkpoints(tmp_path):
    run = trainlab.train({**BASE, "epochs": 4, "runs_dir": str(tmp_path), "schedule": "cosine_restarts",
                          "schedule_options": {"cycle": 1}, "keep_every": 20}, quiet=True, report=False)
    res = snapshots(run.path)
    assert [m["name"] for m in res["members"]] == ["step 20", "step 40", "step 60", "step 80"]
    one = trainlab.train({**BASE, "runs_dir": str(tmp_path)}, quiet=True, report=False)
    with pytest.raises(TrainlabError, match="kept 1 checkpoint"):
        snapshots(one.path)


def test_dropout_as_an_ensemble(tmp_path):
    run = trainlab.train({**BASE, "dropout": 0.5, "runs_dir": str(tmp_path)}, quiet=True, report=False)
    res = mc_dropout(run.path, samples=5)
    assert res["weight_scaling"]["acc"] == pytest.approx(run.summary["test"]["acc"])  # weight scaling = plain eval
    assert res["mc_dropout"]["samples"] == 5 and 0 < res["mc_dropout"]["acc"] <= 1
    lo, hi = res["gain"]["ci"]
    assert lo <= res["gain"]["acc"] <= hi
    plain = trainlab.train({**BASE, "runs_dir": str(tmp_path)}, quiet=True, report=False)
    with pytest.raises(TrainlabError, match="no dropout layer"):
        mc_dropout(plain.path, samples=5)
