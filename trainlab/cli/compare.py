"""Compare techniques across seeds, with statistics: arms of overrides on one base config.

    trainlab compare configs/mlp-digits.yaml --arm none: --arm dropout: dropout=0.5 --seeds 5 --jobs 2
    trainlab compare experiments/dropout-digits.yaml          # an experiment file (arms, seeds, base)
    trainlab compare --from runs/compare-mlp-digits           # re-analyse the run folders, no training
    trainlab compare experiments/dropout-digits.yaml --storage postgresql://u:p@host/db   # through the queue
    trainlab compare --from-storage URL --name compare-x      # gather a queued experiment's analysis

Runs land in runs/<name>/<arm>/seed-<k>; the same command again skips finished runs and resumes
interrupted ones. With --storage the runs go through a queue (Optuna's RDB storage) that workers on
other machines share (`trainlab worker --storage URL`); this command works on them too, shows every
worker's runs ending, waits for the last and analyses the summaries the storage holds. Prints per arm the mean, std and 95% CI of each final metric and, against the
baseline (the first arm unless --baseline), a paired t-test and Wilcoxon test by seed; writes
results.csv, results.json, plots and report.html in the experiment folder.
"""
from __future__ import annotations

from rich.table import Table

from ..config import read_yaml
from ..console import make_console
from ..errors import TrainlabError
from ..experiments import spec
from ..experiments.compare import Comparison, run_experiment


def add_arguments(p) -> None:
    p.add_argument("config", nargs="?", help="base config (YAML), or an experiment file with `arms:`")
    p.add_argument("--arm", action="append", nargs="+", default=[], metavar="NAME: [KEY=VALUE",
                   help="an arm: its name, a colon, then its overrides, e.g. --arm dropout: dropout=0.5 (repeatable)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override the base config for every arm (repeatable)")
    p.add_argument("--seeds", type=int, default=None, help="seeds per arm (default 5, or the experiment file's)")
    p.add_argument("--jobs", type=int, default=None, help="runs at once, one thread each (default: measured: workers when runs are long enough to pay for their start-up)")
    p.add_argument("--name", help="experiment folder name (default compare-<config>)")
    p.add_argument("--baseline", help="the arm the others are compared with (default: the first)")
    p.add_argument("--from", dest="from_", metavar="FOLDER", help="re-analyse an experiment folder, train nothing")
    p.add_argument("--storage", metavar="URL", help="run through the queue at URL (sqlite:///PATH or "
                   "postgresql://...), shared with `trainlab worker --storage URL` on other machines")
    p.add_argument("--enqueue-only", action="store_true", help="with --storage: enqueue the runs and stop")
    p.add_argument("--from-storage", metavar="URL", help="gather the analysis of experiment --name from the queue "
                   "at URL, train nothing")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def run(args) -> int:
    if args.enqueue_only and not args.storage:
        raise TrainlabError("--enqueue-only puts the runs in a queue; give it with --storage URL")
    if args.from_storage:
        given = [f for f, v in (("a config", args.config), ("--arm", args.arm), ("--set", args.sets), ("--from", args.from_),
                                ("--storage", args.storage)) if v]
        if given or not args.name:
            raise TrainlabError("--from-storage gathers an experiment already in the queue: give --name NAME and "
                                + (f"drop {given[0]}" if given else "nothing else"))
        c = Comparison.from_queue(args.from_storage, args.name)
        c.write()
    elif args.from_:
        given = [f for f, v in (("a config", args.config), ("--arm", args.arm), ("--set", args.sets),
                                ("--seeds", args.seeds), ("--jobs", args.jobs), ("--name", args.name)) if v]
        if given:
            raise TrainlabError(f"--from re-analyses an experiment folder without training; drop {given[0]} "
                                "(--baseline may be given to compare against another arm)")
        c = Comparison.load(args.from_)
        if args.baseline:
            c.paired(args.baseline)  # an unknown arm is refused here, before anything is written
            c.spec["baseline"] = args.baseline
        c.write()
    else:
        if not args.config:
            raise TrainlabError("give a base config (or an experiment file), e.g. "
                                "trainlab compare configs/mlp-digits.yaml --arm none: --arm dropout: dropout=0.5")
        if args.seeds is not None and args.seeds < 1:
            raise TrainlabError(f"--seeds {args.seeds} must be >= 1 (5 is a good start)")
        if "arms" in read_yaml(args.config):
            if args.arm:
                raise TrainlabError(f"{args.config!r} is an experiment file with its own arms; drop --arm")
            exp = spec.from_yaml(args.config, seeds=args.seeds, name=args.name, sets=args.sets, baseline=args.baseline)
        else:
            if not args.arm:
                raise TrainlabError("give the arms to compare, e.g. --arm none: --arm dropout: dropout=0.5")
            exp = spec.from_cli(args.config, args.arm, args.sets, args.seeds or 5, args.name, args.baseline)
        c = run_experiment(exp, jobs=args.jobs, quiet=args.quiet, storage=args.storage,
                           enqueue_only=args.enqueue_only)
        if c is None:  # only enqueued
            return 0
    print_results(c)
    return 0


def print_results(c) -> None:
    metrics = c.metrics()
    console = make_console()
    console.print(f"{c.spec['name']}: mean ± std [95% t-interval], n seeds; validation scores are at each run's best "
                  f"evaluation by its monitor ({', '.join(c.monitors()) or 'val_loss'}), test scores of those weights")
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("arm", no_wrap=True)
    for m in metrics:
        table.add_column(m, justify="right")
    for arm, t in c.table().items():
        table.add_row(arm + (" *" if arm == c.baseline else ""),
                      *[f"{t[m]['mean']:.4f} ± {t[m]['std']:.4f}\n[{t[m]['ci'][0]:.4f}, {t[m]['ci'][1]:.4f}] n={t[m]['n']}"
                        for m in metrics])
    console.print(table)
    for arm in c.runs:
        if c.diverged(arm):
            console.print(f"{arm}: {c.diverged(arm)} run(s) diverged, counted at their best evaluation before it "
                          "(at chance when they diverged before any)")
    for arm, p in c.paired().items():
        for m in metrics:
            if m.startswith("val_") and m != "val_loss" or m == "val_loss" and len(metrics) <= 2:
                note = f"; {p[m]['wilcoxon_note']}" if p[m].get("wilcoxon_note") else ""
                console.print(f"{arm} vs {c.baseline}: {p[m]['verdict']} (Wilcoxon p={p[m]['p_wilcoxon']:.3g}{note}, "
                              f"d_z={p[m]['d_z']:.2f})")
    console.print(f"report: {c.folder / 'report.html'}  (results.csv, results.json, plots/)")
