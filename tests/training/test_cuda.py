"""The GPU path (runs where CUDA is present; CPU machines, CI among them, have nothing to run here).

The loop keeps its running sums on the device and reads them, with the finiteness check, only
when it logs a row: the number of host synchronisations must not grow with the number of steps.
"""
import warnings

import pytest
import torch

import trainlab

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")


def count_syncs(tmp_path, name, batch_size):
    cfg = {"dataset": "digits", "model": "mlp", "epochs": 1, "batch_size": batch_size, "device": "cuda",
           "runs_dir": str(tmp_path), "name": name}
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run = trainlab.train(cfg, quiet=True, report=False)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    syncs = [w for w in caught if "synchroniz" in str(w.message).lower()]
    return run, syncs


@cuda
def test_no_host_sync_per_step(tmp_path):
    a, syncs_a = count_syncs(tmp_path, "few", 128)  # 10 steps, one evaluation
    b, syncs_b = count_syncs(tmp_path, "many", 16)  # 80 steps, one evaluation
    assert len(a.metrics) == len(b.metrics) == 1
    assert syncs_a  # the debug mode does see syncs (reading the row), so a count can grow
    where = sorted({f"{w.filename.rsplit('/', 1)[-1]}:{w.lineno}" for w in syncs_b})
    assert len(syncs_b) == len(syncs_a), where  # the same rows: the same syncs, however many steps


@cuda
def test_cuda_run_matches_its_own_rerun_and_trains(tmp_path):
    cfg = {"dataset": "digits", "model": "convnet", "epochs": 2, "batch_size": 64, "device": "cuda",
           "runs_dir": str(tmp_path), "augment": ["crop:magnitude=1"]}
    run = trainlab.train(cfg, quiet=True, report=False)
    assert run.summary["status"] == "finished" and run.summary["test"]["acc"] > 0.5
    assert run.env["device"].startswith("cuda") and run.env["cuda"]


@cuda
def test_ddp_on_cuda_uses_nccl_and_matches_one_process(tmp_path):
    """torchrun with nccl on the GPUs there are (1 or 2 ranks); the weights match one process."""
    import subprocess
    import sys

    from trainlab.runs.files import load_tensors

    n = min(2, torch.cuda.device_count())
    values = ["dataset=digits", "model=mlp", "dropout=0.0", "epochs=1", "batch_size=64", "device=cuda",
              f"runs_dir={tmp_path}"]
    one = trainlab.train({}, overrides=values + ["name=one"], quiet=True, report=False)
    out = subprocess.run([sys.executable, "-m", "trainlab", "train", *[a for v in values for a in ("--set", v)],
                          "--name", "ddp", "--nproc", str(n), "--quiet"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    ddp = trainlab.load_run(tmp_path / "ddp")
    assert ddp.env["distributed"] == {"world_size": n, "backend": "nccl"}
    a, b = load_tensors(one.latest_checkpoint()[0]), load_tensors(ddp.latest_checkpoint()[0])
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-4


@cuda
def test_fp16_on_cuda_trains_with_a_grad_scaler(tmp_path):
    cfg = {"dataset": "digits", "model": "convnet", "epochs": 2, "batch_size": 64, "device": "cuda",
           "runs_dir": str(tmp_path), "precision": "fp16"}
    run = trainlab.train(cfg, quiet=True, report=False)
    assert run.summary["test"]["acc"] > 0.5 and "fp16_scale" in run.metrics[-1]
