"""The `trainlab` command: a thin argument layer over the Python API.

Each other module in `trainlab/cli/` is one subcommand: it defines NAME, HELP,
`add_arguments(parser)` and `run(args) -> int`. Bad input raises
`TrainlabError`, printed here as one line with exit code 2 and no traceback.
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from ..errors import TrainlabError


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors, like every other refusal: the problem and where to look
    (its usage block would bury the line; `--help` shows it)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="trainlab",
        description="Train neural networks with classic techniques and see what each one does.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    mods = [importlib.import_module(f"{__name__}.{m.name}") for m in pkgutil.iter_modules(__path__)]
    for mod in sorted((m for m in mods if hasattr(m, "run")), key=lambda m: getattr(m, "ORDER", 100)):
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=(mod.__doc__ or mod.HELP).strip())
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # said by the command they were given to, which lists what it takes
        parser.exit(2, f"trainlab {args.command}: error: unrecognized arguments: {' '.join(extra)}; "
                       f"see `trainlab {args.command} --help`\n")
    try:
        return int(args._run(args) or 0)
    except TrainlabError as e:
        line = f"trainlab {args.command}: error: {e}"
        if os.environ.get("TRAINLAB_ERROR_DIR"):  # a rank of `--nproc`'s job: the launcher says it, once
            from pathlib import Path

            Path(os.environ["TRAINLAB_ERROR_DIR"], f"rank-{os.environ.get('RANK', '0')}").write_text(line)
        else:
            print(line, file=sys.stderr)
        return 2
    except Exception:
        if not os.environ.get("TRAINLAB_ERROR_DIR"):
            raise
        import traceback  # a rank of `--nproc`'s job: the launcher decides what to show (a peer's death
        from pathlib import Path  # makes the survivors fail too; their tracebacks would only bury it)

        Path(os.environ["TRAINLAB_ERROR_DIR"], f"crash-{os.environ.get('RANK', '0')}").write_text(traceback.format_exc())
        return 1
    except KeyboardInterrupt:
        print(f"trainlab {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
