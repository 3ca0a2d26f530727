"""Decks 000/001: model ensembles: "train multiple independent models; at test time average their
results. Enjoy 2% extra performance".

Eight MLPs on 3,000 Fashion-MNIST images (digits where it is not installed), seeds 0..7, so
single models make mistakes to average away (on digits they reach 96% and agree on most
errors); `trainlab.ensemble` averages their probabilities on the test split.
Judged on the gain over the mean member, with its paired bootstrap CI over test examples: supported when the
CI's lower end is above 0; refuted when its upper end is below 0. The deck's "2%" is reported, not
required. Swapped: the gain's sign is flipped (the ensemble's and the mean member's accuracy
exchange).
"""
from __future__ import annotations

from ..compare import compare
from ..ensemble import ensemble
from .arms import configured
from .base import INCONCLUSIVE, REFUTED, SUPPORTED, Claim, Verdict, register
from .plots import figure, save_figure

BASE = {"dataset": "fashion-mnist", "fallback_dataset": "digits", "train_subset": 3000, "model": "mlp",
        "optimizer": "adam", "lr": 0.001, "batch_size": 32, "epochs": 8, "threads": 1}


def run(settings, ctx) -> dict:
    c = compare(configured(BASE, settings), {"member": {}}, seeds=settings["members"], jobs=ctx.jobs, name=ctx.experiment(),
                runs_dir=str(ctx.folder), quiet=ctx.quiet, storage=ctx.storage, enqueue_only=ctx.enqueue_only)
    if c is None:  # enqueued only: the numbers come when workers have run them
        return None
    res = ensemble([r["path"] for _, r in sorted(c.runs["member"].items())])
    return {"ensemble": res["ensemble"]["acc"], "mean_member": res["mean_member"]["acc"],
            "members": [m["test_acc"] for m in res["members"]], "gain": res["gain"]["acc"], "ci": res["gain"]["ci"],
            "size_curve": res["size_curve"]}


def judge(data):
    g, (lo, hi) = data["gain"], data["ci"]
    because = (f"ensemble of {len(data['members'])} test acc {data['ensemble']:.4f} vs mean member "
               f"{data['mean_member']:.4f}: gain {100 * g:+.2f} points (95% CI {100 * lo:+.2f} to {100 * hi:+.2f}; "
               f"the deck says about +2)")
    v = SUPPORTED if lo > 0 else REFUTED if hi < 0 else INCONCLUSIVE
    return Verdict(v, because, "paired bootstrap CI (over test examples) of the ensemble's gain over the mean member excludes 0",
                   {"gain": g, "ci": [lo, hi]})


def swap(data):
    return {**data, "gain": -data["gain"], "ci": [-data["ci"][1], -data["ci"][0]],
            "ensemble": data["mean_member"], "mean_member": data["ensemble"]}


def plot(data, path):
    fig, (ax,) = figure(1, 6)
    sizes = [c["size"] for c in data["size_curve"]]
    ax.fill_between(sizes, [c["min"] for c in data["size_curve"]], [c["max"] for c in data["size_curve"]], alpha=0.2,
                    label="range over subsets")
    ax.plot(sizes, [c["mean"] for c in data["size_curve"]], marker="o", label="mean over subsets")
    ax.scatter([1] * len(data["members"]), data["members"], color="black", s=12, zorder=3, label="members")
    ax.set_xlabel("ensemble size"), ax.set_ylabel("test accuracy"), ax.legend(fontsize=8), ax.grid(alpha=0.3)
    ax.set_title(f"averaging members: gain {100 * data['gain']:+.2f} points", fontsize=11)
    save_figure(fig, path)


register(__file__, Claim(
    id="ensemble-adds-accuracy", deck="001", topic="model ensembles",
    text="Model ensembles: 1. train multiple independent models; 2. at test time average their results. "
         "Enjoy 2% extra performance",
    measures="test accuracy of the averaged probabilities of 8 MLPs against the mean member, with a bootstrap CI",
    why="3,000 Fashion-MNIST images leave single models at about 83% with errors that differ between seeds",
    caveat="members that make the same mistakes (same seed, same data order) gain nothing; the size of the gain "
           "depends on the data (2% is the deck's ImageNet-era figure)",
    run=run, judge=judge, plot=plot, swap=swap, quick={"members": 8},
    full={"members": 10, "set": {"fallback_dataset": None, "train_subset": 10000}},
    full_why="10 members, each on 10,000 Fashion-MNIST images and never the digits stand-in: the deck's setting of "
             "independent models on a real task"))
