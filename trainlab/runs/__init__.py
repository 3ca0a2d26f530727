"""The run folder: what a run leaves on disk, written so a kill at any moment loses nothing
(`files`), the folder and its checkpoints (`folder`), and tables of many runs (`table`).

Layer: above data, nn, models, optim and distributed; below report and training, which write
and read run folders through it. Reopening a run for inference needs the build, so it lives
in trainlab.training.saved.
"""
from __future__ import annotations

from .files import (
                    MetricsLog,
                    environment,
                    load_state,
                    load_tensors,
                    read_json_object,
                    read_jsonl,
                    save_state,
                    save_tensors,
                    write_bytes,
                    write_json,
                    write_text,
)
from .folder import (
                    CKPT_RE,
                    IMPLIED,
                    NOT_ARM,
                    Checkpoints,
                    Run,
                    arm_hash,
                    iter_runs,
                    load_run,
                    new_run_dir,
)

__all__ = ["CKPT_RE", "IMPLIED", "NOT_ARM", "Checkpoints", "MetricsLog", "Run", "arm_hash", "environment", "iter_runs",
           "load_run", "load_state", "load_tensors", "new_run_dir", "read_json_object", "read_jsonl", "save_state",
           "save_tensors", "write_bytes", "write_json", "write_text"]
