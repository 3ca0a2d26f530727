"""Divergence: a NaN injected into the loss, into one parameter's gradient (the loss stays
finite), or into the input batch at a given step. The run must stop at that step and name it,
keep the last good checkpoint (equal to the uninterrupted run's at that step) and write no later
one, mark summary.json `diverged`, and exit with code 1. And the real thing: a learning rate far
too high."""
from __future__ import annotations

import pytest

from fault_divergence import diverge, diverge_naturally


@pytest.mark.parametrize("where, step", [("loss", 31), ("gradient", 45), ("input", 58)])
def test_a_nan_stops_the_run_at_its_step_and_keeps_the_last_good_checkpoint(tmp_path, reference, where, step):
    outcome = diverge(tmp_path, reference[0], where, step)
    assert outcome.held, str(outcome)


def test_a_learning_rate_far_too_high_is_caught(tmp_path):
    outcome = diverge_naturally(tmp_path, lr=1e6, seed=0)
    assert outcome.held, str(outcome)
