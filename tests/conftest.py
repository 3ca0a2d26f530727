"""Shared test setup: keep every test away from the user's home and data folders."""
from __future__ import annotations

import os

import pytest
import torch

# Two cores on CI: one intra-op thread per test process keeps timings stable and results reproducible.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """The user cache goes to a per-session temporary folder (datasets cache decoded arrays there)."""
    cache = tmp_path_factory.getbasetemp() / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setenv("MPLBACKEND", "Agg")
