"""SIGKILL at chosen points of a run, a compare, a search and a DDP job, then what a user does
next (`trainlab resume`, the same compare again, the surviving search worker, `resume --nproc 2`):
nothing lost, nothing trained twice, and the final weights of an uninterrupted run, bit for bit.
bench/faults.py runs 20 single-run kills at random points; these are one or two of each kind."""
from __future__ import annotations

import pytest

from fault_kills import kill_and_resume
from fault_parallel import kill_compare, kill_ddp_rank, kill_search_worker


# events are counted from the first complete checkpoint (step 7); a run has 113 steps after it,
# 5 or 6 checkpoint events per checkpoint, 3 validations and a test score, a report of a few files
@pytest.mark.parametrize("phase, nth", [
    ("step", 40),        # the forward of step 47, between two checkpoints
    ("checkpoint", 16),  # weights written, not yet fsynced and renamed into place
    ("checkpoint", 19),  # latest.json half-written
    ("eval", 4),         # the final test score, after the last checkpoint
    ("report", 2),       # a plot half-written: the training had ended
])
def test_sigkill_then_resume_ends_bit_for_bit(tmp_path, reference, phase, nth):
    outcome = kill_and_resume(tmp_path, reference[1], phase, nth)
    assert outcome.held, str(outcome)


@pytest.mark.slow
def test_sigkill_of_a_compare_then_again_trains_each_run_once(tmp_path, compare_reference):
    """Moved here from tests/test_compare.py, now also checked against an uninterrupted compare."""
    outcome = kill_compare(tmp_path, compare_reference, seeds=2, finished_first=1, jobs=2, rerun_jobs=1)
    assert outcome.held, str(outcome)


@pytest.mark.slow
def test_sigkill_of_one_of_two_search_workers_mid_trial_loses_no_trial(tmp_path):
    """Moved here from tests/test_search.py."""
    outcome = kill_search_worker(tmp_path)
    assert outcome.held, str(outcome)


@pytest.mark.slow
def test_a_killed_ddp_rank_ends_the_job_and_resume_finishes_it_bit_for_bit(tmp_path):
    """Moved here from tests/test_distributed.py: the killed job says one line, resume on 2 processes
    is bit for bit, resume on 1 is correct and says it is not bit for bit."""
    from fault_parallel import ddp_reference
    from faultlib import call

    from trainlab.runs import load_run

    want = ddp_reference(tmp_path / "whole")
    outcome = kill_ddp_rank(tmp_path / "cut", want, rank=1, keep=tmp_path / "cut-on-one")
    assert outcome.held, str(outcome)
    code, out, err = call(["resume", str(tmp_path / "cut-on-one")])
    assert code == 0 and "not bit for bit" in out, err
    assert load_run(tmp_path / "cut-on-one").summary["test"]["acc"] > 0.8
