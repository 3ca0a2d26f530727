"""The lecture claims: each claim the five decks make about a technique, as an experiment that ends
in a verdict (supported, refuted or inconclusive) with its numbers and a picture.

Each claim is one module in this package that calls `register(__file__, Claim(...))`; this file
imports them all, so `CLAIMS` (a Registry) lists every claim and a new one is one new file.

    >>> from trainlab.experiments.claims import CLAIMS
    >>> len(CLAIMS) >= 30
    True
"""
from __future__ import annotations

import difflib
import importlib
import pkgutil

from ...errors import TrainlabError
from .base import CLAIMS, Claim

INFRASTRUCTURE = {"base", "arms", "plots", "engine", "page", "results", "disagreements"}


def get(claim_id: str) -> Claim:
    if claim_id not in CLAIMS:
        close = difflib.get_close_matches(claim_id, CLAIMS.list(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise TrainlabError(f"unknown claim {claim_id!r}{hint}; `trainlab claims list` shows them all")
    return CLAIMS.get(claim_id)


def every() -> list[Claim]:
    """Every claim, in id order."""
    return [e.fn for e in CLAIMS.entries()]


def ordered() -> list[Claim]:
    """Every claim, by deck and then id."""
    return sorted(every(), key=lambda c: (c.deck, c.id))


for _m in pkgutil.iter_modules(__path__):  # each claim module registers its claims (base.register) when imported
    if _m.name not in INFRASTRUCTURE:
        importlib.import_module(f"{__name__}.{_m.name}")
