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
