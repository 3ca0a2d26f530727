"""Bad input, as a corpus (tests/reliability/corpus*.py): 73 cases across configs, data files,
archives, checkpoints, run folders and CLI arguments. Each must be refused with exit code 2 and
one line naming the input and the fix, no traceback, no pickle payload run, and nothing on disk
changed. In this process (a traceback would surface here as an exception), and a few through
the console script a user runs."""
from __future__ import annotations

import pytest

from corpus import CASES, refuse

assert len(CASES) >= 40 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_refused_in_one_line_with_nothing_changed(tmp_path, interrupted_run, case):
    outcome = refuse(case, tmp_path, interrupted_run)
    assert outcome.held, str(outcome)


@pytest.mark.parametrize("case_id", ["checkpoint-state-is-a-malicious-pickle", "cli-unknown-command"])
def test_the_console_script_refuses_without_a_traceback(tmp_path, interrupted_run, case_id):
    outcome = refuse(next(c for c in CASES if c.id == case_id), tmp_path, interrupted_run, script=True)
    assert outcome.held, str(outcome)
