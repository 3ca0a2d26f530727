"""Plain helpers shared by the layers' tests (no pytest here; the fixtures built on them are in conftest.py)."""
from __future__ import annotations

TIMED = ("time", "images_per_s", "elapsed")  # wall-clock columns: measured, never equal between two runs


def untimed(rows: list[dict]) -> list[dict]:
    """Metrics rows without their wall-clock columns, for comparing two runs' rows exactly."""
    return [{k: v for k, v in r.items() if k not in TIMED} for r in rows]


class Killed(Exception):
    """Raised from a run's evaluation hook: the run stops there as a SIGKILL would stop it."""
