"""The `trainlab` command: argument parsing only, each command's work a Python function users can
call too (its module's `run` calls it and prints the result).

Each other module in `trainlab/cli/` is one subcommand: it defines `add_arguments(parser)` and
`run(args) -> int`, and is listed in COMMANDS with its line of help. Only the command asked for is
imported (`trainlab --help` imports none, so it answers at once). Bad input raises
`TrainlabError`, printed here as one line with exit code 2 and no traceback.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from pathlib import Path

from ..errors import TrainlabError

COMMANDS = {  # name: its one line in `trainlab --help`, in the order listed there
    "train": "train from a config (YAML) and write a run folder with curves and a report",
    "resume": "continue an interrupted run from its last checkpoint",
    "evaluate": "report a run's metrics on a split (test by default) with a confusion-matrix picture",
    "runs": "list runs (status, model, dataset, epochs, best validation and test scores, time)",
    "report": "draw a run's plots and HTML report from its folder",
    "claims": "the lecture claims as experiments with verdicts: list, run, report",
    "compare": "compare arms (config overrides) across seeds: mean, CI, paired tests, dot plots, report",
    "ensemble": "ensemble runs (seeds, snapshots or dropout masks): gain over the mean and best member, with a CI",
    "search": "hyperparameter search (grid, random, TPE, GP) on Optuna, with pruning and shared storage",
    "worker": "work on the queued runs of a storage (compare, claims, ensembles, searches), on any machine",
    "queue": "what a storage's queue holds: experiments, runs waiting, running (on which worker), done, failed",
    "finetune": "start a new run from a trained run's weights: new classes/data, frozen early layers, smaller "
                "backbone lr",
    "stylize": "neural style transfer: optimize an image to keep one image's content in another's style",
    "summary": "show a model's layers, output shapes, parameters (trainable / non-trainable), MACs and receptive "
               "fields",
    "list": "list the kinds, or one kind's names with their formulas: models, optimizers, dropouts, ...",
    "lr-find": "find a learning rate: loss against an exponentially growing lr, with suggestions and a plot",
    "schedule": "plot a learning-rate schedule (lr against epoch) as a run with these settings would use it",
    "trajectories": "draw optimizers' paths on a 2-D loss surface's contours (sgd vs momentum vs adam, ...) to a PNG",
    "augment": "preview augmentations on a dataset as a PNG grid (originals on top, augmented below)",
}

# a module named `list` (or `queue`, a stdlib name) would shadow the builtin (or confuse readers) in this
# package's namespace; a module name cannot have a dash
MODULES = {"list": "listing", "queue": "queue_status", "lr-find": "lr_find"}


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors, like every other refusal: the problem and where to look
    (its usage block would bury the line; `--help` shows it)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; `command`'s module is imported and adds its arguments (the others stay unread)."""
    parser = Parser(
        prog="trainlab",
        description="Train neural networks with classic techniques and see what each one does.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, line in COMMANDS.items():
        if name != command:
            sub.add_parser(name, help=line, description=line)
            continue
        mod = importlib.import_module(f"{__name__}.{MODULES.get(name, name)}")  # only the command asked for
        p = sub.add_parser(name, help=line, description=(mod.__doc__ or line).strip(),
                           formatter_class=argparse.RawDescriptionHelpFormatter)  # the examples keep their lines
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(next((a for a in argv if not a.startswith("-")), None))
    args, extra = parser.parse_known_args(argv)
    if extra:  # said by the command they were given to, which lists what it takes
        parser.exit(2, f"trainlab {args.command}: error: unrecognized arguments: {' '.join(extra)}; "
                       f"see `trainlab {args.command} --help`\n")
    try:
        return int(args._run(args) or 0)
    except TrainlabError as e:
        line = f"trainlab {args.command}: error: {e}"
        if os.environ.get("TRAINLAB_ERROR_DIR"):  # a rank of `--nproc`'s job: the launcher says it, once
            Path(os.environ["TRAINLAB_ERROR_DIR"], f"rank-{os.environ.get('RANK', '0')}").write_text(line)
        else:
            print(line, file=sys.stderr)
        return 2
    except Exception:
        if not os.environ.get("TRAINLAB_ERROR_DIR"):
            raise
        # a rank of `--nproc`'s job: the launcher decides what to show (a peer's death makes the
        # survivors fail too; their tracebacks would only bury it)
        Path(os.environ["TRAINLAB_ERROR_DIR"], f"crash-{os.environ.get('RANK', '0')}").write_text(traceback.format_exc())
        return 1
    except KeyboardInterrupt:
        print(f"trainlab {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
