"""The `trainlab` command: a thin argument layer over the Python API.

Each module in `trainlab/commands/` is one subcommand: it defines NAME, HELP,
`add_arguments(parser)` and `run(args) -> int`. Bad input raises
`TrainlabError`, printed here as one line with exit code 2 and no traceback.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import commands
from .errors import TrainlabError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trainlab",
        description="Train neural networks with classic techniques and see what each one does.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    mods = [importlib.import_module(f"{commands.__name__}.{m.name}") for m in pkgutil.iter_modules(commands.__path__)]
    for mod in sorted((m for m in mods if hasattr(m, "run")), key=lambda m: getattr(m, "ORDER", 100)):
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=(mod.__doc__ or mod.HELP).strip())
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except TrainlabError as e:
        print(f"trainlab {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"trainlab {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
