"""Ensembles (lecture decks 000 and 001: "about 2% better"), measured.

Members are runs (the seeds of a compare arm, or any list), the checkpoints one run kept along a
cyclic schedule (snapshot ensembles), or sampled dropout masks of one run (dropout as an
ensemble, against weight scaling). Each member's softmax probabilities on the validation and
test splits are computed once and cached in its run folder (`predictions/`), so re-analysis is
instant. The ensemble averages probabilities (or takes a majority vote); it is reported against
the mean member and the best member (chosen on validation), with the gain's 95% CI from a
paired bootstrap over test examples, and accuracy against ensemble size 1..K.

    >>> res = trainlab.ensemble(["runs/a/seed-0", "runs/a/seed-1", "runs/a/seed-2"])   # doctest: +SKIP
    >>> res["ensemble"]["acc"] - res["mean_member"]["acc"], res["gain"]["ci"]           # doctest: +SKIP
"""
from __future__ import annotations

import hashlib
import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from safetensors import safe_open
from scipy import stats

from ..errors import TrainlabError
from . import spec
from .compare import run_experiment
from .plots import plot_size
from ..models import load_weights
from ..nn.layers import Dropout
from ..runs import Run, load_run, load_tensors, save_tensors, write_json
from ..training.evaluation import autocast, batches
from ..training.saved import load_saved
from ..training.tta import predict as tta_predict

SAME_DATA = ("dataset", "dataset_options", "classes", "val_fraction", "data_seed")


@dataclass
class Member:
    name: str
    probs: dict[str, torch.Tensor]  # split -> (N, K) softmax probabilities
    y: dict[str, torch.Tensor]  # split -> (N,) labels


def _weights_key(path: Path) -> str:
    st = path.stat()
    return hashlib.sha256(f"{path.name}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:16]


@torch.no_grad()
def predict_probabilities(parts, split: str, dropout_samples: int = 0, seed: int = 0) -> torch.Tensor:
    """Softmax probabilities of a split, with the run's own test-time augmentation (`tta`), as its
    recorded scores were; with dropout_samples > 0, the mean over sampled masks."""
    s = getattr(parts.data, split)
    model = parts.model.eval()
    drops = [m for m in model.modules() if isinstance(m, (Dropout, torch.nn.Dropout))]
    if dropout_samples:
        if not drops:
            raise TrainlabError(f"run {parts.cfg.name!r} has no dropout layer: dropout as an ensemble needs one "
                                "(train with dropout > 0)")
        for m in drops:
            m.train()
        torch.manual_seed(seed)
    tta = parts.cfg.tta

    def scores(x: torch.Tensor) -> torch.Tensor:  # logits, or log mean softmax over the tta views
        return tta_predict(model, x, tta) if tta else model(x)

    out = []
    for x, _ in batches(parts, s.x, parts.cfg.eval_batch_size):
        with autocast(parts):
            if dropout_samples:
                p = sum(torch.softmax(scores(x).float(), 1) for _ in range(dropout_samples)) / dropout_samples
            else:
                p = torch.softmax(scores(x).float(), 1)
        out.append(p.cpu())
    for m in drops:
        m.eval()
    return torch.cat(out)


def load_member(run: Run, weights: Path | None = None, dropout_samples: int = 0, name: str | None = None) -> Member:
    """A member's probabilities on val and test, from the cache in its run folder or computed once."""
    wpath = weights or (run.ckpt_dir / "best.safetensors" if (run.ckpt_dir / "best.safetensors").is_file()
                        else run.latest_checkpoint()[0])
    tta = list(run.config.get("tta") or [])  # the views its scores were computed over
    tag = f"{wpath.stem}" + (f"-mc{dropout_samples}" if dropout_samples else "") + "".join(f"-{t}" for t in tta)
    cache = run.path / "predictions" / f"{tag}.safetensors"
    key = _weights_key(wpath)
    if cache.is_file():
        with safe_open(str(cache), "pt") as f:
            fresh = (f.metadata() or {}).get("weights") == key
        if fresh:
            t = load_tensors(cache)
            return Member(name or run.name, {s: t[f"{s}_probs"] for s in ("val", "test")},
                          {s: t[f"{s}_y"] for s in ("val", "test")})
    parts = load_saved(run, device="cpu")
    if parts.data.task != "classification":
        raise TrainlabError(f"run {str(run.path)!r} is a {parts.data.task} run; ensembles here average class "
                            "probabilities of classification runs")
    if weights is not None:
        load_weights(parts.model, load_tensors(weights), str(weights))
    probs = {s: predict_probabilities(parts, s, dropout_samples) for s in ("val", "test")}
    ys = {s: getattr(parts.data, s).y.clone() for s in ("val", "test")}
    save_tensors(cache, {**{f"{s}_probs": p for s, p in probs.items()}, **{f"{s}_y": y for s, y in ys.items()}},
                 {"weights": key})
    return Member(name or run.name, probs, ys)


def check_same_data(runs: list[Run]) -> None:
    first = runs[0].config
    for r in runs[1:]:
        cfg = r.config
        diff = [k for k in SAME_DATA if cfg.get(k) != first.get(k)]
        if diff:
            raise TrainlabError(f"run {str(r.path)!r} differs from {str(runs[0].path)!r} in {diff[0]} "
                                f"({cfg.get(diff[0])!r} vs {first.get(diff[0])!r}); ensemble members must see the same data")


def _acc(p: torch.Tensor, y: torch.Tensor) -> float:
    return float((p.argmax(1) == y).double().mean())


def _nll(p: torch.Tensor, y: torch.Tensor) -> float:
    return float(-torch.log(p.gather(1, y[:, None]).clamp_min(1e-12)).double().mean())


def _vote(ps: list[torch.Tensor]) -> torch.Tensor:
    """Majority vote of the members' classes as one-hot 'probabilities'; ties go to the larger mean probability."""
    k = ps[0].shape[1]
    votes = sum(torch.nn.functional.one_hot(p.argmax(1), k).double() for p in ps)
    return votes + 1e-6 * (sum(ps) / len(ps)).double()


def analyse(members: list[Member], vote: bool = False, seed: int = 0) -> dict[str, Any]:
    """Ensemble against mean and best member on the test split; the gain's CI; accuracy vs size."""
    if len(members) < 2:
        raise TrainlabError(f"an ensemble needs at least 2 members, got {len(members)}")
    y = members[0].y["test"]
    for m in members[1:]:
        if not torch.equal(m.y["test"], y):
            raise TrainlabError(f"member {m.name!r} was scored on other test examples; members must share the data")
    P = [m.probs["test"] for m in members]
    accs = np.array([_acc(p, y) for p in P])
    losses = np.array([_nll(p, y) for p in P])
    val_accs = np.array([_acc(m.probs["val"], m.y["val"]) for m in members])
    best = int(np.argmax(val_accs))  # chosen on validation, reported on test

    def ens_acc(idx) -> float:
        ps = [P[int(i)] for i in np.atleast_1d(idx)]
        return _acc(_vote(ps) if vote else sum(ps) / len(ps), y)

    combined = _vote(P) if vote else sum(P) / len(P)
    ens_hit = (combined.argmax(1) == y).double().numpy()
    res: dict[str, Any] = {
        "members": [{"name": m.name, "val_acc": float(v), "test_acc": float(a), "test_loss": float(lo)}
                    for m, v, a, lo in zip(members, val_accs, accs, losses)],
        "combine": "vote" if vote else "mean probability",
        # a vote gives classes, not probabilities: it has no loss of its own
        "ensemble": {"acc": float(ens_hit.mean()), "loss": None if vote else _nll(combined, y)},
        "mean_member": {"acc": float(accs.mean()), "loss": float(losses.mean()), "std_acc": float(accs.std(ddof=1))},
        "best_member": {"name": members[best].name, "acc": float(accs[best]), "loss": float(losses[best])},
    }
    # The gain's CI: a paired bootstrap over test examples of (ensemble right) - (mean member right),
    # for these members. Resampling the members instead would give a resampled ensemble of fewer
    # distinct members, biased below the estimate (and undefined for 2 members).
    member_hit = np.mean([(p.argmax(1) == y).double().numpy() for p in P], axis=0)
    diff = ens_hit - member_hit
    g = float(diff.mean())
    boot = stats.bootstrap((diff,), np.mean, n_resamples=999, method="percentile",
                           random_state=np.random.default_rng(seed))
    ci = [float(boot.confidence_interval.low), float(boot.confidence_interval.high)]
    res["gain"] = {"acc": g, "ci": ci, "over_best": res["ensemble"]["acc"] - res["best_member"]["acc"],
                   "ci_method": "paired bootstrap over test examples"}
    rng = np.random.default_rng(seed)
    curve = []
    for k in range(1, len(P) + 1):
        combos = list(itertools.combinations(range(len(P)), k))
        if len(combos) > 50:
            combos = [tuple(rng.choice(len(P), k, replace=False)) for _ in range(50)]
        a = [ens_acc(np.array(c)) for c in combos]
        curve.append({"size": k, "mean": float(np.mean(a)), "min": float(np.min(a)), "max": float(np.max(a)),
                      "subsets": len(combos)})
    res["size_curve"] = curve
    return res


def ensemble(runs: list[str | Path], vote: bool = False) -> dict[str, Any]:
    """Average the members' probabilities (or vote) on the test split; see `analyse`."""
    loaded = [load_run(r) for r in runs]
    check_same_data(loaded)
    return analyse([load_member(r, name=n) for r, n in zip(loaded, member_names([r.path for r in loaded]))],
                   vote=vote)


def member_names(paths: list[Path]) -> list[str]:
    """Names that say which run each member is: the path below the members' common folder, and at
    least the arm folder and the run ("dropout/seed-3", not "seed-3").

    >>> member_names([Path("runs/x/none/seed-0"), Path("runs/x/drop/seed-0")])
    ['none/seed-0', 'drop/seed-0']
    """
    resolved = [Path(p).resolve() for p in paths]
    common = Path(os.path.commonpath(resolved)) if len(resolved) > 1 else resolved[0].parent
    if any(p == common for p in resolved):
        common = common.parent
    common = common.parent if all(p.parent == common for p in resolved) else common
    return [str(p.relative_to(common)) for p in resolved]


def snapshots(run: str | Path, vote: bool = False) -> dict[str, Any]:
    """A snapshot ensemble: the checkpoints one run kept (keep_every along a cosine_restarts schedule)."""
    r = load_run(run)
    steps = r.checkpoints.steps()
    if len(steps) < 2:
        raise TrainlabError(f"run {str(r.path)!r} kept {len(steps)} checkpoint(s); a snapshot ensemble needs 2 or "
                            "more: train with schedule cosine_restarts and keep_every set to the cycle's steps")
    return analyse([load_member(r, r.checkpoints.paths(s)[0], name=f"step {s}") for s in steps], vote=vote)


def mc_dropout(run: str | Path, samples: int = 20) -> dict[str, Any]:
    """Dropout as an ensemble: the mean over `samples` sampled masks against weight scaling (one pass)."""
    if samples < 2:
        raise TrainlabError(f"--samples {samples} must be >= 2")
    r = load_run(run)
    scaled, sampled = load_member(r, name="weight scaling"), load_member(r, dropout_samples=samples,
                                                                           name=f"{samples} dropout masks")
    y = scaled.y["test"]
    out = {"weight_scaling": {"acc": _acc(scaled.probs["test"], y), "loss": _nll(scaled.probs["test"], y)},
           "mc_dropout": {"acc": _acc(sampled.probs["test"], y), "loss": _nll(sampled.probs["test"], y),
                          "samples": samples}}
    # paired by example: the accuracy difference with its CI (a bootstrap over test examples)

    hit_s = (sampled.probs["test"].argmax(1) == y).double().numpy()
    hit_w = (scaled.probs["test"].argmax(1) == y).double().numpy()
    boot = stats.bootstrap((hit_s - hit_w,), np.mean, n_resamples=999, method="percentile",
                           random_state=np.random.default_rng(0))
    out["gain"] = {"acc": out["mc_dropout"]["acc"] - out["weight_scaling"]["acc"],
                   "ci": [float(boot.confidence_interval.low), float(boot.confidence_interval.high)]}
    return out


def train_members(config: str | Path, members: int, sets: Sequence[str] = (), jobs: int | None = None,
                  storage: str | None = None) -> Path:
    """Train `members` seeds of `config` (a compare of one arm, resumable: the same call again trains
    only what is missing) and return the folder of their runs. With `storage` the members go through
    the queue there; their weights must then be in this machine's folder (a runs folder the workers
    share), and a member whose folder is elsewhere is named in one line."""
    if members < 2:
        raise TrainlabError(f"--members {members} must be >= 2")
    exp = spec.from_cli(str(config), [["members:"]], list(sets), members, f"ensemble-{Path(config).stem}", None)
    c = run_experiment(exp, jobs=jobs, storage=storage)
    for seed, r in sorted(c.runs["members"].items()):
        here = exp.folder / "members" / f"seed-{seed}"
        if not (here / "checkpoints").is_dir():
            raise TrainlabError(f"member seed {seed} trained on {r.get('host', 'another machine')} in "
                                f"{r['path']}, not in {str(here)!r}: an ensemble needs its members' weights here; "
                                "give the workers a runs folder this machine shares (--runs-dir), or copy it there")
    return exp.folder / "members"


def write(res: dict[str, Any], out: Path, vote: bool = False) -> tuple[Path, Path]:
    """ensemble.json and the accuracy-against-size plot in `out`; their paths."""
    tag = "_vote" if vote else ""
    write_json(out / f"ensemble{tag}.json", res)
    return out / f"ensemble{tag}.json", plot_size(res, out / f"ensemble_size{tag}.png")
