"""`train(config) -> Run` and `resume(run) -> Run`: set a run up, then hand it to the loop.

setup (`build`: data, preprocessing, model, loss, penalty, optimizer, schedule) -> one loop:
slice a batch, augment, preprocess, forward, loss + penalty, backward, step (the optimizer
chain clips and records the gradient norm), log, evaluate, early-stop check, checkpoint ->
finish (best weights back, test score, summary, report). Everything a resumed run needs is
one `TrainState` in the checkpoint, so a run killed at any point and resumed ends with the
same weights, bit for bit, on CPU.

    >>> run = trainlab.train({"dataset": "digits", "model": "mlp", "epochs": 3})  # doctest: +SKIP
    >>> run.summary["test"]["acc"]                                              # doctest: +SKIP
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from .. import distributed
from .. import runs as rf
from ..config import Config, as_config
from ..distributed.launch import RUN_FILE
from ..errors import TrainlabError
from ..models import load_weights
from .build import Training, build
from .checks import run_config
from .ema import make_ema
from .loop import OnEval, fit
from .lr_find import RULE, LRFind, draw, lr_find
from .precision import choose
from .state import EarlyStopping, TrainState
from .swa import make_swa


def train(config: Config | dict | str | Path, *, quiet: bool = False, overrides: list[str] | None = None,
          data=None, on_eval: OnEval | None = None, report: bool = True, score_test: bool = True) -> rf.Run:
    """Train from a config (a Config, a dict, or a YAML path) and return the finished Run.

    data: a Dataset to train on instead of loading `dataset` (the config's selection still applies).
    on_eval(row): called at every evaluation; a true result stops the run (status "stopped"), and a
    string result is recorded as the reason (summary "message", shown by `trainlab runs`).
    report=False: no plots or HTML (`trainlab report RUN` draws them later from the folder).
    score_test=False: leave the test split alone (a search scores it once, for its best trial only).

    >>> run = train({"dataset": "digits", "model": "mlp", "epochs": 2}, quiet=True)  # doctest: +SKIP
    """
    cfg = as_config(config, overrides)
    with distributed.joined(cfg) as world:  # one process, or this rank's place in a torchrun job
        found = None
        if cfg.lr == "find":  # the range test first, from its own copy of the initial weights: the valley is the lr
            found = lr_find(cfg, data=data, quiet=quiet)
            cfg = cfg.model_copy(update={"lr": found.lr})
            if not quiet:
                print(f"lr: find -> {found.lr:.4g} (the {RULE} suggestion; steepest {found.steepest:.4g})", flush=True)
        parts = build(cfg, data=data, world=world)
        asked = {"lr": "find"} if found is not None else {}  # of what was asked for: `lr: find` and
        arm = rf.arm_hash({**parts.cfg.resolved(), **asked})  # `precision: auto` stay one arm
        measured = None
        if parts.cfg.precision == "auto":  # measured here, on this machine: the saved config says what ran
            chosen, measured = world.agree(choose(parts))  # every rank runs what rank 0 measured
            parts.cfg = parts.cfg.model_copy(update={"precision": chosen})
        cfg = parts.cfg  # resolved: the dataset may have fallen back, recipe defaults are filled in
        run = new_run(parts, arm, measured, found) if world.main else None  # only rank 0 writes
        return fit(parts, run, new_state(parts), resumed=False, quiet=quiet or not world.main, on_eval=on_eval,
                   report=report, score_test=score_test)


def new_run(parts: Training, arm: str, measured: dict[str, Any] | None, found: LRFind | None = None) -> rf.Run:
    """The run folder, with the resolved config, the environment and the fitted preprocessing; with
    `lr: find`, the range test too (lr_find.json, plots/lr_find.png, and its suggestions in
    summary.json), while config.yaml holds the lr it chose: the saved config runs the same run."""
    cfg, world = parts.cfg, parts.world
    name = cfg.name or f"{cfg.model}-{cfg.dataset.split(':')[-1].split('/')[-1]}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = rf.new_run_dir(cfg.runs_dir, name, cfg.group)
    if os.environ.get(RUN_FILE):  # `--nproc`'s launcher names the folder if the job fails
        Path(os.environ[RUN_FILE]).write_text(str(run_dir))
    resolved = cfg.resolved()
    resolved["name"] = run_dir.name
    rf.write_text(run_dir / "config.yaml", yaml.safe_dump(resolved, sort_keys=False))
    env = rf.environment(cfg.seed, str(parts.device), torch.get_num_threads())
    env["distributed"] = {"world_size": world.size, "backend": world.backend}
    rf.write_json(run_dir / "env.json", {**env, "precision": measured or {"chosen": cfg.precision}})
    rf.save_tensors(run_dir / "checkpoints" / "preprocess.safetensors", parts.preprocess.state_dict())
    summary = {"status": "running", "arm": arm, "group": cfg.group, "tags": cfg.tags}
    if found is not None:
        rf.write_json(run_dir / "lr_find.json", found.to_dict())
        draw(found, run_dir / "plots" / "lr_find.png", title=f"lr: find for {run_dir.name}")
        summary["lr_find"] = found.summary()
    rf.write_json(run_dir / "summary.json", summary)
    return rf.Run(run_dir)


def resume(run_path: str | Path, *, quiet: bool = False, on_eval: OnEval | None = None, report: bool = True,
           score_test: bool = True) -> rf.Run:
    """Continue an interrupted run from its newest checkpoint.

    A distributed run resumes under torchrun (or `trainlab resume RUN --nproc N`): bit for bit with
    the world size it was written by; with another, correctly but not bit for bit. Every rank
    reads the run folder, so on several machines it must be on a filesystem they share."""
    run = rf.load_run(run_path)
    status = run.summary.get("status")
    if status in ("finished", "early_stopped", "stopped"):
        raise TrainlabError(f"run {str(run.path)!r} already ended ({status}); start a new run with `trainlab train`")
    weights_path, state_path = run.latest_checkpoint()
    cfg = run_config(run)
    with distributed.joined(cfg) as world:
        parts = build(cfg, world=world)
        parts.preprocess.load_state_dict(rf.load_tensors(run.ckpt_dir / "preprocess.safetensors"))
        load_weights(parts.model, rf.load_tensors(weights_path), str(weights_path))
        st = new_state(parts)
        try:
            state = rf.load_state(state_path)
            if "live_weights" in state:  # schedule-free: the weights file holds x; training resumes at y
                load_weights(parts.model, state["live_weights"], str(state_path))
            st.load_state_dict(state)
        except TrainlabError:
            raise  # already one clear line (a corrupt or unsafe file, another optimizer chain): not a config change
        except (KeyError, ValueError, RuntimeError) as e:
            raise TrainlabError(f"checkpoint state {str(state_path)!r} does not match the run ({e}); "
                                "the run's config changed since the checkpoint was written") from None
        was = len(state.get("ranks") or [None])
        if was != world.size and world.main and not quiet:
            print(f"trainlab: resuming a run written by {was} process(es) on {world.size}: same data order, but "
                  "other augmentation and dropout draws, so not bit for bit what it would have been")
        return fit(parts, run if world.main else None, st, resumed=True, quiet=quiet or not world.main,
                   on_eval=on_eval, report=report, score_test=score_test)


def new_state(p: Training) -> TrainState:
    es = EarlyStopping(p.cfg.monitor, p.cfg.patience, p.cfg.min_delta)
    scaler = torch.amp.GradScaler(p.device.type) if p.cfg.precision == "fp16" else None
    return TrainState(seed=p.cfg.seed, optimizer=p.optimizer, device=p.device, early=es,
                      rank=p.world.rank, scaler=scaler,
                      ema=make_ema(p.model, p.cfg.ema, p.cfg.ema_every, p.cfg.ema_warmup),
                      swa=make_swa(p.model, p.cfg.swa))
