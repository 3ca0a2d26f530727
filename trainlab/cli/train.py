"""Train a model from a YAML config, with `--set key=value` overrides.

Writes a run folder (config, metrics, checkpoints, plots, report.html) under runs_dir.
Run `trainlab train --help-config` for every key with its default and unit.
"""
from __future__ import annotations

from ..config import config_help, load_config
from ..distributed import check
from ..distributed.launch import launch
from ..training.run import train


def add_arguments(p) -> None:
    p.add_argument("config", nargs="?", help="YAML config, e.g. configs/default.yaml (omit to use the defaults)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key (repeatable), e.g. --set lr=0.01 --set optimizer=adam")
    p.add_argument("--name", help="run folder name (never reuses an existing one)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--help-config", action="store_true", help="list every config key with its default and exit")
    p.add_argument("--nproc", type=int, metavar="N",
                   help="train on N processes with DDP (through torch.distributed.run, as torchrun would); "
                        "batch_size stays the global batch")


def run(args) -> int:
    if args.help_config:
        print(config_help())
        return 0
    overrides = list(args.overrides) + ([f"name={args.name}"] if args.name else [])
    cfg = load_config(args.config, overrides)
    if args.nproc is not None:  # checked here, once, before any process starts

        check(cfg, args.nproc)
        argv = ["train"] + ([args.config] if args.config else []) + [a for o in overrides for a in ("--set", o)]
        return launch(args.nproc, argv + (["--quiet"] if args.quiet else []))
    result = train(cfg, quiet=args.quiet)
    if result is None:  # a rank other than 0 of a distributed run: rank 0 reports
        return 0
    return 1 if result.summary.get("status") == "diverged" else 0
