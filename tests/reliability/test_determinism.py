"""Determinism on CPU: the same config and seed give the same run, metrics and weights bit for
bit, again and again (bench/faults.py: 10 times, half of them in fresh processes). Across
`compare --jobs` settings: tests/reliability/test_load.py compares 4 workers with 1."""
from __future__ import annotations

from faultlib import repeat_identical


def test_the_same_config_and_seed_give_the_same_run(tmp_path, reference):
    outcomes = repeat_identical(tmp_path, reference[1], n=2)
    assert all(o.held for o in outcomes), "; ".join(map(str, outcomes))
