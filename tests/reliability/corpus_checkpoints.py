"""Bad input, as a corpus: archives (a member escaping the target folder, a pickle that runs code)
and the checkpoints of an interrupted run (truncated, malicious pickles, from another model)."""
from __future__ import annotations

import json
import pickle
from pathlib import Path

from corpus_base import MARKER, RUN, Payload, case, train_on
from fixtures_data import write_cifar_tar  # tests/fixtures_data.py, shared with the data tests


# ---------------------------------------------------------------- archives
def _cifar(d: Path, *, member: str | None = None, link: bool = False, payload: bool = False,
           truncate: bool = False) -> list[str]:
    """A cifar-10-python.tar.gz in $TRAINLAB_DATA/cifar10 (used as it is: no checksum), with one flaw:
    a `member` escaping the folder, a symlink member, a pickle payload in data_batch_3, or cut in half."""
    path = d / "data" / "cifar10" / "cifar-10-python.tar.gz"
    write_cifar_tar(path, n=4, evil_target=d / MARKER if payload else None, extra_member=member, symlink=link)
    if truncate:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return train_on("cifar10")


@case("archive")
def archive_member_escaping_the_folder(d):
    return _cifar(d, member="../../escaped.txt"), ["cifar-10-python.tar.gz", "unsafe member", "'../../escaped.txt'"]


@case("archive")
def archive_absolute_member(d):
    return _cifar(d, member="/tmp/escaped.txt"), ["cifar-10-python.tar.gz", "unsafe member"]


@case("archive")
def archive_symlink_member(d):
    return _cifar(d, link=True), ["cifar-10-python.tar.gz", "unsafe member", "link"]


@case("archive")
def archive_pickle_that_runs_code(d):
    return _cifar(d, payload=True), ["data_batch_3", "refusing to unpickle", "system"]


@case("archive")
def archive_truncated(d):
    return _cifar(d, truncate=True), ["cifar-10-python.tar.gz", "truncated or corrupt"]


# ---------------------------------------------------------------- checkpoints (of an interrupted run)
def _latest(d: Path) -> tuple[Path, Path]:
    ckpt = d / RUN / "checkpoints"
    step = json.loads((ckpt / "latest.json").read_text())["step"]
    return ckpt / f"ckpt-{step:08d}.safetensors", ckpt / f"ckpt-{step:08d}.pt"


# A state file that cannot be read is a damaged file, not a config that changed since it was written.
NOT_THE_CONFIG = ("config changed",)


@case("checkpoint", needs_run=True)
def checkpoint_truncated_safetensors(d):
    w, _ = _latest(d)
    w.write_bytes(w.read_bytes()[:100])
    return ["resume", RUN], [w.name, "corrupt", "another checkpoint"]


@case("checkpoint", needs_run=True, wrong=NOT_THE_CONFIG)
def checkpoint_state_truncated(d):
    _, s = _latest(d)
    s.write_bytes(s.read_bytes()[: s.stat().st_size // 2])
    return ["resume", RUN], [s.name, "corrupt", "earlier checkpoint"]


@case("checkpoint", needs_run=True, wrong=NOT_THE_CONFIG)
def checkpoint_state_is_a_malicious_pickle(d):
    _, s = _latest(d)
    s.write_bytes(pickle.dumps(Payload(d / MARKER)))
    return ["resume", RUN], [s.name, "unsafe to load"]


@case("checkpoint", needs_run=True, wrong=NOT_THE_CONFIG)
def checkpoint_state_is_a_torch_save_of_code(d):
    import torch

    _, s = _latest(d)
    torch.save({"step": 3, "evil": Payload(d / MARKER)}, s)
    return ["resume", RUN], [s.name, "unsafe to load"]


@case("checkpoint", needs_run=True, wrong=NOT_THE_CONFIG)
def checkpoint_state_is_not_a_checkpoint(d):
    _, s = _latest(d)
    s.write_bytes(b"not a checkpoint")
    return ["resume", RUN], [s.name, "corrupt"]


@case("checkpoint", needs_run=True)
def checkpoint_weights_are_zeros(d):
    w, _ = _latest(d)
    w.write_bytes(b"\x00" * 10)
    return ["resume", RUN], [w.name, "corrupt"]


@case("checkpoint", needs_run=True)
def checkpoint_from_another_model(d):
    import torch
    from safetensors.torch import save_file

    import trainlab

    w, _ = _latest(d)
    torch.manual_seed(0)
    other = trainlab.create_model("mlp", in_shape=(1, 8, 8), num_classes=10, depth=1, width=48)
    save_file({k: v.contiguous() for k, v in other.state_dict().items()}, str(w))
    return ["resume", RUN], [w.name, "does not fit the model", "config the checkpoint was trained with"]


@case("checkpoint", needs_run=True)
def best_weights_truncated(d):
    best = d / RUN / "checkpoints" / "best.safetensors"
    best.write_bytes(best.read_bytes()[:-64])
    return ["evaluate", RUN], ["best.safetensors", "corrupt"]


@case("checkpoint", needs_run=True)
def checkpoint_pointer_garbled(d):
    (d / RUN / "checkpoints" / "latest.json").write_text("{\"step\": ")
    return ["resume", RUN], ["latest.json", "corrupt", "remove it"]


@case("checkpoint", needs_run=True)
def checkpoint_pointer_to_a_missing_step(d):
    (d / RUN / "checkpoints" / "latest.json").write_text("{\"step\": 999}")
    return ["resume", RUN], ["ckpt-00000999", "not found"]
