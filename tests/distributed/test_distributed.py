"""Distributed data parallel (torch.distributed, gloo on CPU): the semantics the README promises,
checked against one process, and the failures a user meets (a killed rank, bad input)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import trainlab
from trainlab.runs import load_run
from trainlab.runs.files import load_tensors

# no dropout, no augmentation: one process and two must compute the same thing up to float order.
# clip_norm is small enough to clip every step, so clipping by a rank's own norm would show.
MLP = ["dataset=digits", "model=mlp", "dropout=0.0", "epochs=2", "batch_size=64", "clip_norm=0.5", "eval_every=10"]
BN = ["dataset=digits", "model=convnet", "norm=batch", "epochs=1", "batch_size=64", "lr=0.05", "eval_every=10"]


def cli(*args: str, cwd: Path, check: bool = True, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "trainlab", *args], cwd=cwd, capture_output=True, text=True,
                         timeout=300, env={**os.environ, **(env or {})}, **kw)
    if check:
        assert out.returncode == 0, out.stderr[-3000:]
    return out


def sets(values: list[str]) -> list[str]:
    return [a for v in values for a in ("--set", v)]


def launch_here(*args: str) -> int:
    """`trainlab ARGS` (a `--nproc` job) from this process: the same launcher and ranks as `cli`,
    without starting another interpreter only to launch them (two seconds of imports each time)."""
    import signal

    from trainlab.cli import main

    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)}
    try:
        return main(list(args))
    finally:  # torchrun's agent takes these over and leaves them so
        for s, h in handlers.items():
            signal.signal(s, h)


def final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_tensors(load_run(run_dir).latest_checkpoint()[0])


def single(tmp_path: Path, values: list[str], name: str) -> Path:
    return trainlab.train({}, overrides=values + [f"runs_dir={tmp_path}", f"name={name}"], quiet=True,
                          report=False).path


def max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()  # saved without DDP's `module.` prefix
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a if a[k].is_floating_point())


@pytest.fixture(scope="module")
def two(tmp_path_factory) -> Path:
    """The MLP run on 2 processes through the console script, shared by the tests that compare with it
    (with TensorBoard's logger, which rank 0 alone writes)."""
    folder = tmp_path_factory.mktemp("two")
    cli("train", *sets(MLP + [f"runs_dir={folder}", "loggers=[tensorboard]"]), "--name", "two", "--nproc", "2",
        "--quiet", cwd=folder)
    return folder / "two"


def test_two_processes_match_one_process_with_the_global_batch(tmp_path, two):
    ref = single(tmp_path, MLP, "one")
    assert max_diff(final_weights(ref), final_weights(two)) < 1e-5
    rows1, rows2 = load_run(ref).metrics, load_run(two).metrics
    assert [r["step"] for r in rows1] == [r["step"] for r in rows2] == [10, 20, 30, 40]
    for r1, r2 in zip(rows1, rows2):  # all-reduced: the rows one process logs
        for k in ("train_loss", "train_acc", "val_loss", "val_acc", "grad_norm", "lr"):
            assert r2[k] == pytest.approx(r1[k], rel=1e-5, abs=1e-7), k
    env = load_run(two).env
    assert env["distributed"] == {"world_size": 2, "backend": "gloo"}
    # one run folder, written by rank 0 alone, and one TensorBoard event file (rank 0's), holding its rows
    assert sorted(p.name for p in two.parent.iterdir() if p.is_dir()) == ["two"]
    events = list((two / "tb").iterdir())
    assert len(events) == 1 and events[0].name.startswith("events.out.tfevents."), events
    assert [e.step for e in EventAccumulator(str(two / "tb")).Reload().Scalars("val_loss")] == [10, 20, 30, 40]
    # weights load into a single-process model
    assert trainlab.evaluate(two)["acc"] == pytest.approx(load_run(two).summary["test"]["acc"])


def test_sync_bn_matches_one_process_and_per_rank_bn_does_not(tmp_path):
    ref = final_weights(single(tmp_path, BN, "one"))
    assert launch_here("train", *sets(BN + [f"runs_dir={tmp_path}", "sync_bn=true"]), "--name", "sync", "--nproc", "2",
                       "--quiet") == 0
    assert launch_here("train", *sets(BN + [f"runs_dir={tmp_path}"]), "--name", "local", "--nproc", "2", "--quiet") == 0
    synced, local = max_diff(ref, final_weights(tmp_path / "sync")), max_diff(ref, final_weights(tmp_path / "local"))
    assert synced < 1e-4
    assert local > 100 * synced  # per-rank statistics of 32 examples are another computation


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_nodes_on_localhost_give_the_two_process_result(tmp_path, two):
    values = sets(MLP + [f"runs_dir={tmp_path}"])
    port = free_port()
    node = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
            "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "t",
            "-m", "trainlab", "train", *values, "--name", "nodes", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(node, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["nodes"]  # rank 0 alone writes
    a, b = final_weights(two), final_weights(tmp_path / "nodes")
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("args, says", [
    (["--set", "dist_backend=nccl", "--nproc", "2"], "dist_backend: nccl needs CUDA GPUs"),
    (["--set", "batch_size=65", "--nproc", "2"], "batch_size 65 does not divide among 2 processes"),
    (["--set", "sync_bn=true"], "sync_bn: true takes effect only in a distributed run"),
    (["--set", "dist_backend=gloo"], "dist_backend: gloo takes effect only in a distributed run"),
])
def test_bad_distributed_input_is_one_line_and_exit_2(tmp_path, capsys, args, says):
    from trainlab.cli import main

    if "nccl" in " ".join(args) and torch.cuda.is_available():
        pytest.skip("this machine has CUDA: nccl is a valid request here")
    assert main(["train", "--set", "dataset=digits", "--set", "model=mlp", "--set", f"runs_dir={tmp_path}",
                 *args]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], lines
    assert not any(tmp_path.iterdir())  # nothing was started, nothing written


def test_sync_bn_on_a_model_without_batch_norm_is_refused(tmp_path, capfd):
    code = launch_here("train", *sets(MLP + [f"runs_dir={tmp_path}", "sync_bn=true"]), "--nproc", "2")
    err = capfd.readouterr().err  # the launcher's line and anything the ranks wrote
    assert code == 2
    assert "sync_bn: true does nothing: 'mlp' has no batch norm" in err
    assert "Traceback" not in err
