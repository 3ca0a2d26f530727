"""Output for people: a rich Console that never hard-wraps a line in a pipe, and the formats of
times, epochs and scores that every table and progress line shares. A ground-floor module (rich
alone), so the command line can use it before anything heavy is imported.
"""
from __future__ import annotations

import math
import os
from typing import Any

from rich.console import Console


def make_console(**kw: Any) -> Console:
    """A rich Console for trainlab's output. On a terminal it wraps at the terminal's width (in a
    notebook, at rich's notebook width); in a pipe or a file it never wraps (a log line stays one greppable line) and tables take their
    natural width instead of being cut at 80 columns (unless COLUMNS asks for a width)."""
    console = Console(highlight=False, **kw)
    if console.is_terminal or console.is_jupyter or os.environ.get("COLUMNS"):  # a width asked for with COLUMNS is kept
        return console
    return Console(highlight=False, width=100_000, **kw)


# ---------------------------------------------------------------- formatting for people
def fmt_time(seconds: Any) -> str:
    """9.3s, 2m48s, 1h02m.

    >>> fmt_time(9.31), fmt_time(168.2), fmt_time(3725)
    ('9.3s', '2m48s', '1h02m')
    """
    if not isinstance(seconds, (int, float)) or math.isnan(seconds):
        return ""
    s = float(seconds)
    if s < 60:
        return f"{s:.1f}s"
    if s < 3600:
        return f"{int(s // 60)}m{int(s % 60):02d}s"
    return f"{int(s // 3600)}h{int(s % 3600 // 60):02d}m"


def fmt_epochs(e: Any) -> str:
    """8.0 -> '8'; 2.5 -> '2.5'."""
    if not isinstance(e, (int, float)):
        return ""
    return str(int(e)) if float(e).is_integer() else f"{e:g}"


def fmt_score(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, (int, float)) and not isinstance(v, bool) else ""
