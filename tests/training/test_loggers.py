"""The loggers (`loggers: [tensorboard, mlflow]`): what each tool reads back with its own reader
(TensorBoard's EventAccumulator, MLflow's MlflowClient) is metrics.csv, step for step and value for
value; a resumed run logs no row twice; a logger that fails mid-run warns once and the run goes
on; a logger whose package is missing is refused before any data loads."""
from __future__ import annotations

import csv
import errno
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from tensorboard.backend.event_processing.event_accumulator import HISTOGRAMS, SCALARS, TENSORS, EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2
from tensorboard.summary.writer import record_writer

import trainlab
from trainlab.errors import TrainlabError
from trainlab.training.loggers import flat_config

BASE = {"dataset": "digits", "model": "mlp", "epochs": 2, "eval_every": 6, "log_every": 3, "eval_at_start": True,
        "batch_size": 64}


def csv_columns(run) -> dict[str, list[tuple[int, float]]]:
    """metrics.csv as column -> [(step, value)] for the cells that hold a number."""
    rows = list(csv.DictReader((run.path / "metrics.csv").open()))
    return {col: [(int(r["step"]), float(r[col])) for r in rows if r[col] != ""] for col in rows[0] if col != "step"}


def tensorboard(run) -> EventAccumulator:
    ea = EventAccumulator(str(run.path / "tb"), size_guidance={SCALARS: 0, HISTOGRAMS: 0, TENSORS: 0})
    return ea.Reload()


def mlflow_run(run):
    ref = json.loads((run.path / "mlflow.json").read_text())
    client = MlflowClient(ref["tracking_uri"])
    return client, client.get_run(ref["run_id"])


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("loggers")  # one MLflow store for the module: created (migrated) once


@pytest.fixture(scope="module")
def logged(runs_dir):
    """A run with both loggers, diagnostics and its report: 2 epochs of an MLP on the digits."""
    return trainlab.train({**BASE, "loggers": ["tensorboard", "mlflow"], "diagnostics": True, "group": "study/arm-a",
                           "runs_dir": str(runs_dir), "name": "both"}, quiet=True)


def test_tensorboard_reads_back_every_row_of_metrics_csv(logged):
    ea = tensorboard(logged)
    columns = csv_columns(logged)
    assert {"train_loss", "val_acc", "lr", "grad_norm", "epoch"} <= set(columns)
    for col, cells in columns.items():
        got = [(e.step, e.value) for e in ea.Scalars(col)]
        # TensorBoard keeps scalars in float32: each value is metrics.csv's, rounded to float32, exactly
        assert got == [(step, float(np.float32(v))) for step, v in cells], col
    s = logged.summary
    assert ea.Scalars("final/test_acc")[0].value == np.float32(s["test"]["acc"])
    assert ea.Scalars("final/best_val_loss")[0].value == np.float32(s["best"]["val_loss"])
    # the resolved config as text; per-layer histograms at each evaluation (diagnostics: true)
    assert b"model: mlp" in ea.Tensors("config/text_summary")[0].tensor_proto.string_val[0]
    hist = ea.Tags()["histograms"]
    assert {t.split("/")[0] for t in hist} == {"weights", "gradients", "activations"}
    evals = [step for step, _ in columns["val_loss"]]
    assert [e.step for e in ea.Histograms(hist[0])] == evals
    # the HParams view: the session's hyperparameters are the resolved config
    content = ea.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    start = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    assert start.hparams["lr"].number_value == 0.05 and start.hparams["model"].string_value == "mlp"
    assert start.hparams["loggers"].string_value == '["tensorboard", "mlflow"]'


def test_mlflow_reads_back_params_metrics_tags_and_artifacts(logged, runs_dir):
    client, r = mlflow_run(logged)
    for col, cells in csv_columns(logged).items():  # float64 in MLflow's store: exactly metrics.csv's values
        assert sorted((m.step, m.value) for m in client.get_metric_history(r.info.run_id, col)) == cells, col
    assert r.data.metrics["test_acc"] == logged.summary["test"]["acc"]
    assert r.data.params == {k: str(v) for k, v in flat_config(logged.config).items()}
    assert r.info.status == "FINISHED" and r.info.run_name == "arm-a/both"
    assert client.get_experiment(r.info.experiment_id).name == "study"  # the group's head; the arm is a tag
    assert {k: r.data.tags[k] for k in ("group", "arm", "seed", "status")} == {
        "group": "study/arm-a", "arm": "arm-a", "seed": "0", "status": "finished"}
    files = {a.path for a in client.list_artifacts(r.info.run_id)} | {
        a.path for d in ("plots", "weights") for a in client.list_artifacts(r.info.run_id, d)}
    assert {"report.html", "metrics.csv", "plots/curves.png", "weights/best.safetensors"} <= files
    # the default store and its artifacts live in the runs folder
    assert (runs_dir / "mlflow.db").is_file() and (runs_dir / "mlflow-artifacts").is_dir()


def test_a_resumed_run_logs_no_row_twice(runs_dir, kill_and_resume):
    # killed at the evaluation of step 24: rows up to step 21 are logged, the checkpoint is at step 12
    run = kill_and_resume({**BASE, "loggers": ["tensorboard", "mlflow"], "checkpoint_every": 12,
                           "runs_dir": str(runs_dir)}, at_step=24)
    ea, (client, r) = tensorboard(run), mlflow_run(run)
    for col, cells in csv_columns(run).items():
        assert [(e.step, e.value) for e in ea.Scalars(col)] == [(s, float(np.float32(v))) for s, v in cells], col
        assert sorted((m.step, m.value) for m in client.get_metric_history(r.info.run_id, col)) == cells, col
    assert r.info.status == "FINISHED"


def test_a_logger_that_fails_mid_run_warns_once_and_the_run_goes_on(logged, runs_dir, monkeypatch, capfd):
    writes = {"n": 0}
    real_write = record_writer.RecordWriter.write

    def disk_fills_up(self, data):  # TensorBoard's event file: the disk is full after a few records
        writes["n"] += 1
        if writes["n"] > 6:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, data)

    batches = {"n": 0}
    real_batch = MlflowClient.log_batch

    def server_goes_away(self, *args, **kw):  # MLflow: the tracking server stops answering mid-run
        batches["n"] += 1
        if batches["n"] > 2:
            raise ConnectionError("Connection refused")
        return real_batch(self, *args, **kw)

    monkeypatch.setattr(record_writer.RecordWriter, "write", disk_fills_up)
    monkeypatch.setattr(MlflowClient, "log_batch", server_goes_away)
    run = trainlab.train({**BASE, "loggers": ["tensorboard", "mlflow"], "runs_dir": str(runs_dir), "name": "failing"},
                         quiet=True, report=False)
    err = capfd.readouterr().err
    assert run.summary["status"] == "finished" and "acc" in run.summary["test"]
    assert [r["step"] for r in run.metrics] == [r["step"] for r in logged.metrics]  # every row in the run folder
    warnings = [line for line in err.splitlines() if "logger failed" in line]
    assert len(warnings) == 2, err
    assert any("tensorboard logger failed" in w and "No space left" in w for w in warnings)
    assert any("mlflow logger failed" in w and "Connection refused" in w for w in warnings)


@pytest.mark.parametrize("logger", ["tensorboard", "mlflow"])
def test_a_logger_without_its_package_is_one_line_before_any_data_loads(logger, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, logger, None)  # "not installed"
    missing = {**BASE, "dataset": f"npz:{tmp_path}/no-such-file.npz", "loggers": [logger], "runs_dir": str(tmp_path)}
    with pytest.raises(TrainlabError, match=rf"needs the {logger} package.*pip install -e '\.\[{logger}\]'"):
        trainlab.train(missing, quiet=True)
    from trainlab.cli import main

    assert main(["train", "--set", f"dataset=npz:{tmp_path}/no-such-file.npz", "--set", f"loggers=[{logger}]",
                 "--set", f"runs_dir={tmp_path}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"pip install -e '.[{logger}]'" in err[0]
    assert not any(tmp_path.iterdir())  # nothing written
