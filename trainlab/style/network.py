"""The default style network: a small VGG trained once on the synthetic `textures` set (recipe
STYLE_NET) and cached in the user cache folder; or any trainlab run of a conv net."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from .. import runs as rf
from ..data.download import cache_dir
from ..errors import TrainlabError
from ..training.run import train
from ..training.saved import load_saved

# The default style network: the same recipe as configs/stylize-vgg-textures.yaml (a test checks).
STYLE_NET: dict[str, Any] = {
    "dataset": "textures",
    "model": "vgg11",
    "model_options": {"width": 0.25, "hidden": 128},
    "dropout": 0.0,
    "preprocessing": "standardize_channel",
    "augment": ["hflip"],
    "optimizer": "adam",
    "lr": 0.003,
    "schedule": "onecycle",
    "epochs": 8,
    "batch_size": 64,
    "seed": 0,
}


def style_net_dir() -> Path:
    """Where the default style network is cached: <user cache>/trainlab/style-net/<recipe hash>."""
    key = hashlib.sha256(json.dumps(STYLE_NET, sort_keys=True).encode()).hexdigest()[:10]
    return cache_dir() / "style-net" / f"vgg11-textures-{key}"


def _finished(path: Path) -> bool:
    s = path / "summary.json"
    try:
        return (path / "checkpoints" / "best.safetensors").is_file() and \
            json.loads(s.read_text()).get("status") in ("finished", "early_stopped")
    except (OSError, ValueError):
        return False


def default_style_run(quiet: bool = False) -> rf.Run:
    """The cached default style network; trained (2-3 minutes on 2 cores) on first use."""
    final = style_net_dir()
    if _finished(final):
        return rf.load_run(final)
    if not quiet:
        print(f"no --run given: training the default style network once (vgg11 x0.25 on the synthetic textures "
              f"set, {STYLE_NET['epochs']} epochs, 2-3 minutes on 2 cores); cached in {final}", flush=True)
    final.parent.mkdir(parents=True, exist_ok=True)
    run = train({**STYLE_NET, "runs_dir": str(final.parent), "name": f".tmp-{final.name}-{os.getpid()}"},
                quiet=quiet)
    if run.summary.get("status") not in ("finished", "early_stopped"):
        raise TrainlabError(f"training the default style network failed ({run.summary.get('status')}); "
                            f"see {run.path}, or pass --run with your own conv-net run")
    try:
        os.replace(run.path, final)  # atomic; a concurrent first use may have won the race
    except OSError:
        shutil.rmtree(run.path, ignore_errors=True)
        if not _finished(final):
            raise TrainlabError(f"cannot cache the style network in {str(final)!r}; check that folder") from None
    if not quiet:
        print(f"style network cached: {final}", flush=True)
    return rf.load_run(final)


def load_style_net(run: str | Path | rf.Run | None = None, quiet: bool = False):
    """(model in eval mode, fitted preprocessing, Run) of `run`, or of the default style network.

    Read-only use of someone's run: config keys this version no longer knows are ignored.
    """
    r = default_style_run(quiet) if run is None else (run if isinstance(run, rf.Run) else rf.load_run(run))
    p = load_saved(r)
    return p.model, p.preprocess, r
