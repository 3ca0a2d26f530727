"""The documentation site builds with `mkdocs build --strict`: a broken link, a page missing from the
nav or an API reference to a name that does not exist fails here. And every name of the flat API
(`trainlab.<name>`) resolves, so the site's API reference and users' scripts find what they name."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import trainlab

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(trainlab._API))
def test_every_public_name_resolves(name):
    assert getattr(trainlab, name) is not None


def test_the_site_builds_strict_with_the_api_reference(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "NO_MKDOCS_2_WARNING": "1"}
    out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    assert 'id="trainlab.optim.recipes.create_optimizer"' in api  # the reference was generated, not left empty
    assert "torch.optim" in api[api.index('id="trainlab.optim.recipes.create_optimizer"'):]  # and its docstring
    for page in ("techniques", "experiments", "claims", "loggers", "notebooks", "api"):
        assert (tmp_path / "site" / page / "index.html").is_file(), page
