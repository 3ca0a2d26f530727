"""Shared test setup: keep every test away from the user's home and data folders."""
from __future__ import annotations

import os

import pytest
import torch

# Two cores on CI: one intra-op thread per test process keeps timings stable and results reproducible.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _one_thread():
    """Every test starts on one intra-op thread again. A test that trains in this process with
    `threads: 2`, or a search with one worker (it takes the usable cores), leaves torch on two;
    the tests after it then ran their small ops on two spinning OpenMP threads, several times
    slower on two busy cores (the style tests after test_search.py: 1 s alone, 22 s after it)."""
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """The user cache goes to a per-session temporary folder (datasets cache decoded arrays there)."""
    cache = tmp_path_factory.getbasetemp() / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setenv("MPLBACKEND", "Agg")
