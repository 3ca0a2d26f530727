"""Load: `compare` and `search` with 4 workers on a 2-core machine run to completion with
nothing lost; 4 search workers on one SQLite file never say "database is locked" and lose no
trial. The compare's runs must also equal, bit for bit, those of one worker (determinism across
--jobs). Moved here from tests/test_compare.py (numbers do not depend on jobs) and
tests/test_search.py (four workers on one SQLite study), and checked more strictly."""
from __future__ import annotations

import pytest

from fault_parallel import compare_many_workers, search_many_workers


@pytest.mark.slow
def test_compare_with_four_workers_loses_nothing_and_matches_one_worker(tmp_path, compare_reference):
    outcome = compare_many_workers(tmp_path, compare_reference, seeds=2, jobs=4)
    assert outcome.held, str(outcome)


@pytest.mark.slow
def test_search_with_four_workers_on_one_sqlite_file_loses_no_trial(tmp_path):
    outcome = search_many_workers(tmp_path, jobs=4, trials=8)
    assert outcome.held, str(outcome)
