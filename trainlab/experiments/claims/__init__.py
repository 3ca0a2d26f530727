"""The lecture claims: each claim the five decks make about a technique, as an experiment that ends
in a verdict (supported, refuted or inconclusive) with its numbers and a picture.

Each claim is one module in this package that calls `register(Claim(...))`; this file imports
them all, so `CLAIMS` lists every claim and a new one is one new file.

    >>> from trainlab.experiments.claims import CLAIMS
    >>> len(CLAIMS) >= 30
    True
"""
from __future__ import annotations

import importlib
import pkgutil

from ...errors import TrainlabError
from .base import Claim

INFRASTRUCTURE = {"base", "arms", "plots", "engine", "page"}
CLAIMS: dict[str, Claim] = {}


def register(claim: Claim) -> Claim:
    import sys

    claim.source = sys._getframe(1).f_globals.get("__file__", "")  # its module: an edit there reruns it
    if claim.id in CLAIMS:
        raise KeyError(f"claim {claim.id!r} registered twice")
    if claim.deck not in ("000", "001", "002", "003", "004"):
        raise ValueError(f"claim {claim.id!r}: deck {claim.deck!r} is not one of 000..004")
    CLAIMS[claim.id] = claim
    return claim


def get(claim_id: str) -> Claim:
    if claim_id not in CLAIMS:
        import difflib

        close = difflib.get_close_matches(claim_id, list(CLAIMS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise TrainlabError(f"unknown claim {claim_id!r}{hint}; `trainlab claims list` shows them all")
    return CLAIMS[claim_id]


def ordered() -> list[Claim]:
    """Every claim, by deck and then id."""
    return sorted(CLAIMS.values(), key=lambda c: (c.deck, c.id))


for _m in pkgutil.iter_modules(__path__):
    if _m.name not in INFRASTRUCTURE:
        importlib.import_module(f"{__name__}.{_m.name}")
