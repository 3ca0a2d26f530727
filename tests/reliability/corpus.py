"""Bad input, as a corpus: configs, data files, archives, checkpoints, run folders, CLI arguments.

CASES holds every case, in this order (each module registers its own when imported); `refuse`
runs one and checks the refusal (corpus_base says what a clean refusal is)."""
from __future__ import annotations

import corpus_configs  # noqa: F401 - registers its cases; the order of these imports is the order of CASES
import corpus_data  # noqa: F401
import corpus_checkpoints  # noqa: F401 - archives and checkpoints
import corpus_runs  # noqa: F401 - run folders and CLI arguments
from corpus_base import CASES, Case, refuse

__all__ = ["CASES", "Case", "refuse"]
