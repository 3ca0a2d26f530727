"""Ensembles, measured: average members' softmax probabilities (or vote) on the test split.

    trainlab ensemble --group runs/compare-x/none              # the seeds of one arm
    trainlab ensemble runs/a runs/b runs/c --vote
    trainlab ensemble --train configs/cnn-fashion.yaml --members 5 --jobs 2
    trainlab ensemble --snapshots runs/NAME                    # checkpoints one run kept (keep_every)
    trainlab ensemble --mc-dropout runs/NAME --samples 20      # dropout masks vs weight scaling

Reports ensemble accuracy and loss against the mean member and the best member (chosen on
validation), the gain with a 95% CI (a paired bootstrap over test examples), and writes ensemble.json and a plot
of accuracy against ensemble size into the output folder.
"""
from __future__ import annotations

NAME = "ensemble"
HELP = "ensemble runs (seeds, snapshots or dropout masks): gain over the mean and best member, with a CI"
ORDER = 11


def add_arguments(p) -> None:
    p.add_argument("runs", nargs="*", help="member run folders")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--group", help="every run below this folder is a member (e.g. runs/<experiment>/<arm>)")
    src.add_argument("--train", metavar="CONFIG", help="train --members seeds of this config first (resumable)")
    src.add_argument("--snapshots", metavar="RUN", help="a snapshot ensemble of the checkpoints one run kept")
    src.add_argument("--mc-dropout", metavar="RUN", help="dropout as an ensemble: sampled masks vs weight scaling")
    p.add_argument("--members", type=int, default=5, help="with --train: how many seeds (default 5)")
    p.add_argument("--jobs", type=int, default=None, help="with --train: runs at once (default: measured, as in compare)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", help="with --train")
    p.add_argument("--samples", type=int, default=20, help="with --mc-dropout: masks to average (default 20)")
    p.add_argument("--vote", action="store_true", help="majority vote instead of averaging probabilities")
    p.add_argument("--out", help="folder for ensemble.json and the plot (default: beside the members)")


def run(args) -> int:
    from pathlib import Path

    from ..errors import TrainlabError
    from ..experiments import ensemble as ens
    from ..runs.files import write_json
    from ..runs import iter_runs

    if sum(bool(x) for x in (args.runs, args.group, args.train, args.snapshots, args.mc_dropout)) != 1:
        raise TrainlabError("give the members one way: RUN..., --group, --train, --snapshots or --mc-dropout")
    if not args.train and (args.members != 5 or args.jobs is not None or args.sets):
        raise TrainlabError("--members, --jobs and --set choose the runs --train trains; give --train CONFIG with them")
    if not args.mc_dropout and args.samples != 20:
        raise TrainlabError("--samples sets how many dropout masks --mc-dropout averages; give --mc-dropout RUN")
    if args.mc_dropout and args.vote:
        raise TrainlabError("--mc-dropout averages probabilities over masks; --vote does not apply to it")
    if args.mc_dropout:
        res = ens.mc_dropout(args.mc_dropout, args.samples)
        out = Path(args.out or Path(args.mc_dropout) / "ensemble")
        write_json(out / "mc_dropout.json", res)
        w, m, g = res["weight_scaling"], res["mc_dropout"], res["gain"]
        print(f"weight scaling: test acc {w['acc']:.4f}  loss {w['loss']:.4f}\n"
              f"{m['samples']} dropout masks: test acc {m['acc']:.4f}  loss {m['loss']:.4f}\n"
              f"gain {g['acc']:+.4f} (95% CI {g['ci'][0]:+.4f} to {g['ci'][1]:+.4f}, bootstrap over test examples)\n"
              f"written: {out / 'mc_dropout.json'}")
        return 0
    if args.snapshots:
        res, out = ens.snapshots(args.snapshots, vote=args.vote), Path(args.out or Path(args.snapshots) / "ensemble")
    else:
        if args.train:
            from ..experiments import spec
            from ..experiments.compare import run_experiment

            if args.members < 2:
                raise TrainlabError(f"--members {args.members} must be >= 2")
            exp = spec.from_cli(args.train, [["members:"]], args.sets, args.members,
                                f"ensemble-{Path(args.train).stem}", None)
            run_experiment(exp, jobs=args.jobs)
            group = exp.folder / "members"
        else:
            group = Path(args.group) if args.group else None
        paths = [r.path for r in iter_runs(group)] if group is not None else [Path(r) for r in args.runs]
        if group is not None and not paths:
            raise TrainlabError(f"no runs below {str(group)!r}; pass a folder of trained runs")
        print(f"ensemble of {len(paths)} members (predictions cached in each run's predictions/)", flush=True)
        res = ens.ensemble(paths, vote=args.vote)
        out = Path(args.out or ((group / "ensemble") if group is not None else paths[0].parent / "ensemble"))
    tag = "_vote" if args.vote else ""
    write_json(out / f"ensemble{tag}.json", res)
    png = plot_size(res, out / f"ensemble_size{tag}.png")
    e, mm, b, g = res["ensemble"], res["mean_member"], res["best_member"], res["gain"]
    loss = f"loss {e['loss']:.4f}" if e["loss"] is not None else "no loss (a vote gives classes, not probabilities)"
    print(f"members: test acc {mm['acc']:.4f} mean (std {mm['std_acc']:.4f}), best on validation "
          f"{b['name']} {b['acc']:.4f}\nensemble ({res['combine']}): test acc {e['acc']:.4f}  {loss} "
          f"(mean member loss {mm['loss']:.4f})\ngain over the mean member {g['acc']:+.4f} (95% CI "
          f"{g['ci'][0]:+.4f} to {g['ci'][1]:+.4f}, {g['ci_method']}); over the best {g['over_best']:+.4f}\n"
          f"written: {out / f'ensemble{tag}.json'}, {png}")
    return 0


def plot_size(res, path):
    from ..report.plots import save_figure, plt

    cv = res["size_curve"]
    k = [c["size"] for c in cv]
    fig, ax = plt.subplots(figsize=(6, 3.8))
    ax.plot(k, [c["mean"] for c in cv], "-o", color="#d62728", label="ensemble (mean over member subsets)")
    ax.fill_between(k, [c["min"] for c in cv], [c["max"] for c in cv], color="#d62728", alpha=0.15,
                    label="min to max over subsets")
    ax.axhline(res["mean_member"]["acc"], color="#1f77b4", ls="--", label="mean member")
    ax.axhline(res["best_member"]["acc"], color="#2ca02c", ls=":", label="best member (chosen on validation)")
    ax.set_xlabel("ensemble size")
    ax.set_ylabel("test accuracy")
    ax.set_xticks(k)
    ax.set_title(f"ensemble ({res['combine']}): gain {res['gain']['acc']:+.4f} over the mean member", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
