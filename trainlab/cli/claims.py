"""The lecture claims: list them, run them (each ends in a verdict with numbers and a picture),
and write the catalogue's HTML page.

    trainlab claims list
    trainlab claims run                    # the whole catalogue, quick settings
    trainlab claims run bn-higher-lr relu-faster-than-tanh --full
    trainlab claims report                 # runs/claims/report.html and claims.json
    trainlab claims run --full --storage postgresql://u:p@host/db --enqueue-only   # then workers, then:
    trainlab claims run --full --storage postgresql://u:p@host/db                  # works too, and gathers

Through a queue (--storage), the claims' training runs are taken by `trainlab worker --storage URL`
on every machine; give the workers a runs folder this machine shares (the claims read the runs'
weights and curves from their folders).
"""
from __future__ import annotations

from rich.table import Table

from ..console import make_console
from ..errors import TrainlabError
from ..experiments.claims import get, ordered
from ..experiments.claims.engine import run_claims
from ..experiments.claims.page import write_page


def add_arguments(p) -> None:
    p.add_argument("action", choices=["list", "run", "report"], help="list the claims, run them, or write the page")
    p.add_argument("ids", nargs="*", metavar="ID", help="claims to run (default: all); see `trainlab claims list`")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_const", const="quick", dest="mode",
                      help="few seeds and epochs: the whole catalogue in about 15 minutes on 2 cores (default)")
    mode.add_argument("--full", action="store_const", const="full", dest="mode",
                      help="more seeds and epochs: firmer verdicts")
    p.add_argument("--jobs", type=int, help="training processes at once (default: measured from the cores)")
    p.add_argument("--dir", default="runs/claims", help="where results and the page go (default runs/claims)")
    p.add_argument("--storage", metavar="URL", help="run the claims' training through the queue at URL (shared with "
                   "`trainlab worker --storage URL` on other machines)")
    p.add_argument("--enqueue-only", action="store_true", help="with --storage: enqueue every claim's runs and stop")


def run(args) -> int:
    if args.enqueue_only and not args.storage:
        raise TrainlabError("--enqueue-only puts the runs in a queue; give it with --storage URL")
    if args.action != "run" and (args.mode or args.jobs is not None or args.storage
                                 or (args.ids and args.action == "report")):
        raise TrainlabError(f"claims {args.action} takes no {'claim ids, ' if args.action == 'report' else ''}"
                            "--quick/--full, --jobs or --storage; they belong to `trainlab claims run`")
    if args.action == "list":
        return list_claims([get(i) for i in args.ids] if args.ids else ordered(), detail=bool(args.ids))

    if args.action == "run":
        if args.jobs is not None and args.jobs < 1:
            raise TrainlabError(f"--jobs {args.jobs} must be >= 1")
        for i in args.ids:
            get(i)  # every id checked before anything runs
        run_claims(args.ids, args.mode or "quick", args.dir, args.jobs, storage=args.storage,
                   enqueue_only=args.enqueue_only)
    page = write_page(args.dir)
    print(f"report: {page}")
    return 0


def list_claims(claims, detail: bool = False) -> int:
    """A table (id, deck, topic, the claim); with ids given, each claim in full."""
    console = make_console()
    if detail:
        for c in claims:
            console.print(f"[bold]{c.id}[/bold]  deck {c.deck}, {c.topic}\n  claim:     {c.text}\n"
                          f"  measured:  {c.measures}\n  why these settings: {c.why}\n  caveat:    {c.caveat}\n"
                          f"  run it:    trainlab claims run {c.id}\n", highlight=False)
        return 0
    t = Table(title=f"{len(claims)} lecture claims (`trainlab claims list ID` for one in full)")
    t.add_column("id", no_wrap=True)
    t.add_column("deck", no_wrap=True)
    t.add_column("topic", max_width=22)
    t.add_column("claim, in the deck's words", overflow="fold")
    for c in claims:
        t.add_row(c.id, c.deck, c.topic, c.text)
    console.print(t)
    return 0
