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

from pathlib import Path

from ..errors import TrainlabError
from ..experiments import ensemble as ens
from ..runs import iter_runs
from ..runs.files import write_json


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
    p.add_argument("--storage", metavar="URL", help="with --train: train the members through the queue at URL "
                   "(`trainlab worker --storage URL` elsewhere; their folders must be shared with this machine)")
    p.add_argument("--samples", type=int, default=20, help="with --mc-dropout: masks to average (default 20)")
    p.add_argument("--vote", action="store_true", help="majority vote instead of averaging probabilities")
    p.add_argument("--out", help="folder for ensemble.json and the plot (default: beside the members)")


def run(args) -> int:
    if sum(bool(x) for x in (args.runs, args.group, args.train, args.snapshots, args.mc_dropout)) != 1:
        raise TrainlabError("give the members one way: RUN..., --group, --train, --snapshots or --mc-dropout")
    if not args.train and (args.members != 5 or args.jobs is not None or args.sets or args.storage):
        raise TrainlabError("--members, --jobs, --set and --storage choose how --train trains the runs; give --train "
                            "CONFIG with them")
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
        group = (ens.train_members(args.train, args.members, args.sets, args.jobs, args.storage) if args.train else
                 Path(args.group) if args.group else None)
        paths = [r.path for r in iter_runs(group)] if group is not None else [Path(r) for r in args.runs]
        if group is not None and not paths:
            raise TrainlabError(f"no runs below {str(group)!r}; pass a folder of trained runs")
        print(f"ensemble of {len(paths)} members (predictions cached in each run's predictions/)", flush=True)
        res = ens.ensemble(paths, vote=args.vote)
        out = Path(args.out or ((group / "ensemble") if group is not None else paths[0].parent / "ensemble"))
    written, png = ens.write(res, out, args.vote)
    e, mm, b, g = res["ensemble"], res["mean_member"], res["best_member"], res["gain"]
    loss = f"loss {e['loss']:.4f}" if e["loss"] is not None else "no loss (a vote gives classes, not probabilities)"
    print(f"members: test acc {mm['acc']:.4f} mean (std {mm['std_acc']:.4f}), best on validation "
          f"{b['name']} {b['acc']:.4f}\nensemble ({res['combine']}): test acc {e['acc']:.4f}  {loss} "
          f"(mean member loss {mm['loss']:.4f})\ngain over the mean member {g['acc']:+.4f} (95% CI "
          f"{g['ci'][0]:+.4f} to {g['ci'][1]:+.4f}, {g['ci_method']}); over the best {g['over_best']:+.4f}\n"
          f"written: {written}, {png}")
    return 0
