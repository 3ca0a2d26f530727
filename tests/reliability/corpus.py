"""Bad input, as a corpus: configs, data files, archives, checkpoints, run folders, CLI arguments.

Each case builds its input in a fresh folder (the working directory while it runs) and names the
words the one-line refusal must contain: the input (a key, a file, a flag) and the fix. `refuse`
runs `trainlab ARGV` and checks exit code 2, exactly that one line on stderr and nothing on
stdout, no traceback, no pickle payload run (it would create MARKER), and the folder's tree
hashed the same before and after: nothing already on disk changed and nothing new was left.
"""
from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import pickle
import shutil
import tarfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from faultlib import Outcome, call, lines, run_script, tree_changes, tree_hash

MARKER = "MARKER"  # a payload that runs would create this file in the case's folder
RUN = "runs/r"  # where cases that need one find an interrupted run (a copy of the template)


class Payload:
    """Unpickling this runs code: exec() that creates the marker file (harmless, and detectable)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('code ran')",)


@dataclass
class Case:
    id: str
    kind: str  # config | data | archive | checkpoint | run | cli
    build: Callable[[Path], tuple[list[str], list[str]]]  # folder -> (argv, words the line must hold)
    needs_run: bool = False
    wrong: tuple[str, ...] = ()  # words the line must not hold: a diagnosis that blames the wrong thing


CASES: list[Case] = []


def case(kind: str, needs_run: bool = False, wrong: tuple[str, ...] = ()):
    def add(fn):
        CASES.append(Case(fn.__name__.replace("_", "-"), kind, fn, needs_run, wrong))
        return fn

    return add


def _yaml(d: Path, text: str | bytes, name: str = "c.yaml") -> str:
    p = d / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return name


TRAIN = ["--set", "dataset=digits", "--set", "model=mlp", "--set", "epochs=1"]


# ---------------------------------------------------------------- configs
@case("config")
def config_unknown_key(d):
    return ["train", _yaml(d, "dataset: digits\nmodel: mlp\ndropuot: 0.5\n")], ["'dropuot'", "did you mean 'dropout'"]


@case("config")
def config_wrong_type(d):
    return ["train", _yaml(d, "dataset: digits\nmodel: mlp\nepochs: three\n")], ["c.yaml", "'epochs'", "three"]


@case("config")
def config_out_of_range(d):
    return ["train", _yaml(d, "dataset: digits\nmodel: mlp\nlr: -0.1\n")], ["c.yaml", "'lr'", "greater than 0"]


@case("config")
def config_fraction_out_of_range(d):
    return ["train", _yaml(d, "dataset: digits\nval_fraction: 1.5\n")], ["'val_fraction'", "less than 1"]


@case("config")
def config_list_not_mapping(d):
    return ["train", _yaml(d, "- dataset: digits\n- model: mlp\n")], ["c.yaml", "mapping of key: value"]


@case("config")
def config_scalar_not_mapping(d):
    return ["train", _yaml(d, "digits\n")], ["c.yaml", "mapping of key: value"]


@case("config")
def config_empty_file(d):  # the overrides keep a regression cheap: it would train digits, not the default
    return ["train", _yaml(d, ""), *TRAIN], ["c.yaml", "is empty"]


@case("config")
def config_binary_file(d):
    return ["train", _yaml(d, bytes(range(256)) * 4)], ["c.yaml", "not valid YAML"]


@case("config")
def config_broken_yaml(d):
    return ["train", _yaml(d, "dataset: digits\naugment: [hflip, crop\n")], ["c.yaml", "not valid YAML", "line"]


@case("config")
def config_duplicate_key(d):
    return ["train", _yaml(d, "dataset: digits\nlr: 0.1\nlr: 0.2\n")], ["c.yaml", "duplicate key 'lr'"]


@case("config")
def config_unknown_model(d):
    return ["train", _yaml(d, "dataset: digits\nmodel: resnet9000\n")], ["resnet9000", "choose one of"]


@case("config")
def config_option_that_does_nothing(d):
    return ["train", _yaml(d, "dataset: digits\nmodel: mlp\npenalty: l2\n")], ["penalty", "penalty_strength"]


@case("config")
def config_missing_file(d):
    return ["train", "nowhere.yaml"], ["nowhere.yaml", "not found"]


@case("config")
def config_nested_not_mapping(d):
    return ["train", _yaml(d, "dataset: digits\nmodel: mlp\nmodel_options: 5\n")], ["'model_options'", "dictionary"]


# ---------------------------------------------------------------- data files
def _npz(d: Path, name: str = "d.npz", **arrays) -> str:
    with open(d / name, "wb") as f:
        np.savez(f, **arrays)
    return name


def _images(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 8, 8), dtype=np.uint8), np.arange(n) % 3


def _train_on(dataset: str) -> list[str]:
    return ["train", "--set", f"dataset={dataset}", "--set", "model=mlp", "--set", "epochs=1"]


@case("data")
def npz_truncated(d):
    x, y = _images()
    name = _npz(d, x=x, y=y)
    data = (d / name).read_bytes()
    (d / name).write_bytes(data[: len(data) // 2])
    return _train_on(f"npz:{name}"), ["d.npz", "numpy.savez"]


@case("data")
def npz_object_array_that_would_unpickle(d):
    x, _ = _images()
    y = np.empty(60, dtype=object)
    y[:] = [Payload(d / MARKER)] * 60
    return _train_on(f"npz:{_npz(d, x=x, y=y)}"), ["d.npz", "numpy.savez"]


@case("data")
def npz_without_labels(d):
    return _train_on(f"npz:{_npz(d, x=_images()[0])}"), ["d.npz", "'x' and 'y'"]


@case("data")
def npz_mislabeled_counts(d):
    x, y = _images()
    return _train_on(f"npz:{_npz(d, x=x, y=y[:50])}"), ["d.npz", "x has 60 rows but y has 50"]


@case("data")
def npz_empty(d):
    return _train_on(f"npz:{_npz(d, x=np.zeros((0, 8, 8), np.uint8), y=np.zeros(0, np.int64))}"), ["d.npz", "too few"]


@case("data")
def npz_nan_features(d):
    x = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    x[7, 2] = np.nan
    return _train_on(f"npz:{_npz(d, x=x, y=np.arange(60) % 3)}"), ["d.npz", "NaN"]


@case("data")
def npz_nan_pixels(d):
    x = np.random.default_rng(0).random((60, 8, 8)).astype(np.float32)
    x[3, 4, 4] = np.nan
    return _train_on(f"npz:{_npz(d, x=x, y=np.arange(60) % 3)}"), ["d.npz", "uint8"]


@case("data")
def npz_fractional_labels(d):
    x, _ = _images()
    return _train_on(f"npz:{_npz(d, x=x, y=np.linspace(0, 1, 60))}"), ["d.npz", "labels must be integers"]


@case("data")
def npz_missing_file(d):
    return _train_on("npz:absent.npz"), ["absent.npz", "does not exist"]


def _csv(d: Path, text: str | bytes) -> str:
    (d / "d.csv").write_bytes(text if isinstance(text, bytes) else text.encode())
    return "d.csv"


CSV_ROWS = "label,a,b,c\n" + "".join(f"{i % 3},{i},{i * 2},{i % 7}\n" for i in range(60))


@case("data")
def csv_ragged_row(d):
    return _train_on("csv:" + _csv(d, CSV_ROWS + "1,2\n")), ["d.csv", "line 62", "ragged"]


@case("data")
def csv_text_in_a_number_column(d):
    return _train_on("csv:" + _csv(d, CSV_ROWS + "1,2,x,4\n")), ["d.csv", "'x' is not a number"]


@case("data")
def csv_nan_values(d):
    return _train_on("csv:" + _csv(d, CSV_ROWS + "1,2,nan,4\n")), ["d.csv", "NaN"]


@case("data")
def csv_empty(d):
    return _train_on("csv:" + _csv(d, "")), ["d.csv", "is empty"]


@case("data")
def csv_binary(d):
    return _train_on("csv:" + _csv(d, bytes(range(128, 256)) * 8)), ["d.csv", "cannot read"]


def _png(path: Path, value: int) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8), value, np.uint8)).save(path)


@case("data")
def folder_corrupt_image(d):
    for c in ("cat", "dog"):
        for i in range(6):
            _png(d / "imgs" / c / f"{i}.png", 40 * i)
    (d / "imgs" / "dog" / "3.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    return _train_on("folder:imgs"), ["3.png", "remove or replace it"]


@case("data")
def folder_one_class(d):
    for i in range(6):
        _png(d / "imgs" / "cat" / f"{i}.png", 40 * i)
    return _train_on("folder:imgs"), ["imgs", "at least two class sub-folders"]


@case("data")
def folder_without_images(d):
    (d / "imgs" / "cat").mkdir(parents=True)
    (d / "imgs" / "cat" / "notes.txt").write_text("no images here")
    return _train_on("folder:imgs"), ["imgs", "own sub-folder"]


def idx_bytes(a: np.ndarray, magic: int | None = None) -> bytes:
    """IDX encoding of a uint8 array: 0x00 0x00 0x08 ndim, big-endian dims, data."""
    magic = magic if magic is not None else 0x800 + a.ndim
    return magic.to_bytes(4, "big") + b"".join(int(n).to_bytes(4, "big") for n in a.shape) + a.tobytes()


IDX = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
       "t10k-labels-idx1-ubyte.gz"]


def _mnist(d: Path, edit: Callable[[dict[str, bytes]], None]) -> list[str]:
    """MNIST-like IDX files in $TRAINLAB_DATA/mnist (used as they are: no checksum), `edit`ed."""
    rng = np.random.default_rng(0)
    raw = {IDX[0]: idx_bytes(rng.integers(0, 256, (40, 28, 28), dtype=np.uint8)),
           IDX[1]: idx_bytes((np.arange(40) % 10).astype(np.uint8)),
           IDX[2]: idx_bytes(rng.integers(0, 256, (20, 28, 28), dtype=np.uint8)),
           IDX[3]: idx_bytes((np.arange(20) % 10).astype(np.uint8))}
    edit(raw)
    folder = d / "data" / "mnist"
    folder.mkdir(parents=True)
    for name, data in raw.items():
        (folder / name).write_bytes(gzip.compress(data) if not data.startswith(b"RAW") else data[3:])
    return _train_on("mnist")


@case("data")
def idx_truncated(d):
    def cut(raw):
        raw[IDX[0]] = raw[IDX[0]][:-100]
    return _mnist(d, cut), ["train-images-idx3-ubyte.gz", "truncated"]


@case("data")
def idx_labels_in_place_of_images(d):
    def swap(raw):
        raw[IDX[0]] = raw[IDX[1]]
    return _mnist(d, swap), ["train-images-idx3-ubyte.gz", "magic number 2049", "right file"]


@case("data")
def idx_mislabeled_counts(d):
    def drop(raw):
        raw[IDX[1]] = idx_bytes((np.arange(30) % 10).astype(np.uint8))
    return _mnist(d, drop), ["train-images-idx3-ubyte.gz", "30 labels", "do not belong together"]


@case("data")
def idx_not_gzip(d):
    def garble(raw):
        raw[IDX[2]] = b"RAW" + b"this is not gzip data at all" * 4
    return _mnist(d, garble), ["t10k-images-idx3-ubyte.gz", "download again"]


# ---------------------------------------------------------------- archives
def _cifar(d: Path, *, member: str | None = None, link: bool = False, payload: bool = False,
           truncate: bool = False) -> list[str]:
    """A cifar-10-python.tar.gz in $TRAINLAB_DATA/cifar10 (used as it is: no checksum), with one flaw."""
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            batch = {b"labels": [int(v) for v in rng.integers(0, 10, 4)],
                     b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8)}
            data = pickle.dumps(Payload(d / MARKER) if payload and name == "data_batch_2" else batch, protocol=2)
            add(f"cifar-10-batches-py/{name}", data)
        if member:
            add(member, b"escaped")
        if link:
            info = tarfile.TarInfo("cifar-10-batches-py/batches.meta")
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
    data = buf.getvalue()
    folder = d / "data" / "cifar10"
    folder.mkdir(parents=True)
    (folder / "cifar-10-python.tar.gz").write_bytes(data[: len(data) // 2] if truncate else data)
    return _train_on("cifar10")


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
    return _cifar(d, payload=True), ["data_batch_2", "refusing to unpickle", "exec"]


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


# ---------------------------------------------------------------- run folders
@case("run", needs_run=True)
def run_without_config(d):
    (d / RUN / "config.yaml").unlink()
    return ["resume", RUN], [RUN, "no config.yaml", "trainlab train"]


@case("run", needs_run=True)
def run_without_checkpoint_pointer(d):
    (d / RUN / "checkpoints" / "latest.json").unlink()
    return ["resume", RUN], [RUN, "no checkpoint yet", "trainlab train"]


@case("run", needs_run=True)
def run_without_preprocessing(d):
    (d / RUN / "checkpoints" / "preprocess.safetensors").unlink()
    return ["evaluate", RUN], ["preprocess.safetensors", "not found"]


@case("run", needs_run=True)
def run_summary_hand_edited_to_bad_json(d):
    (d / RUN / "summary.json").write_text("{status: running,}")
    return ["resume", RUN], ["summary.json", "not valid JSON"]


@case("run", needs_run=True)
def run_summary_hand_edited_to_a_list(d):
    (d / RUN / "summary.json").write_text("[\"running\"]")
    return ["resume", RUN], ["summary.json", "not a JSON object"]


@case("run", needs_run=True)
def run_summary_hand_edited_to_finished(d):
    s = json.loads((d / RUN / "summary.json").read_text())
    (d / RUN / "summary.json").write_text(json.dumps({**s, "status": "finished"}))
    return ["resume", RUN], [RUN, "already ended", "trainlab train"]


@case("run", needs_run=True)
def run_config_hand_edited_wrong_type(d):
    cfg = d / RUN / "config.yaml"
    cfg.write_text(cfg.read_text().replace("epochs: 1\n", "epochs: many\n"))
    return ["resume", RUN], ["config.yaml", "'epochs'"]


@case("run", needs_run=True)
def run_config_not_a_mapping(d):
    (d / RUN / "config.yaml").write_text("- just\n- a list\n")
    return ["evaluate", RUN], ["config.yaml", "not a mapping"]


@case("run")
def run_folder_missing(d):
    return ["resume", "runs/nothing-here"], ["runs/nothing-here", "not found", "trainlab runs"]


@case("run", needs_run=True)
def compare_from_a_run_folder(d):
    return ["compare", "--from", RUN], [RUN, "not a compare folder"]


@case("run", needs_run=True)
def compare_from_a_garbled_experiment(d):
    (d / "runs" / "experiment.json").write_text("{\"arms\": [")
    return ["compare", "--from", "runs"], ["experiment.json", "not valid JSON"]


@case("run", needs_run=True)
def runs_sorted_by_an_unknown_column(d):
    return ["runs", "runs", "--sort", "val_accc"], ["--sort 'val_accc'", "choose one of"]


# ---------------------------------------------------------------- CLI arguments
@case("cli")
def cli_unknown_command(d):
    return ["trian"], ["'trian'", "trainlab --help"]


@case("cli")
def cli_unknown_option(d):
    return ["train", "--epochs", "3"], ["--epochs", "trainlab train --help"]


@case("cli")
def cli_missing_argument(d):
    return ["resume"], ["run", "trainlab resume --help"]


@case("cli")
def cli_choice_not_offered(d):
    return ["evaluate", "runs/x", "--split", "validation"], ["'validation'", "trainlab evaluate --help"]


@case("cli")
def cli_not_a_number(d):
    return ["compare", "c.yaml", "--jobs", "two"], ["'two'", "trainlab compare --help"]


@case("cli")
def cli_set_without_equals(d):
    return ["train", "--set", "lr"], ["--set 'lr'", "key=value"]


@case("cli")
def cli_set_unknown_key(d):
    return ["train", "--set", "lrr=0.1"], ["'lrr'", "did you mean 'lr'"]


@case("cli")
def cli_set_wrong_type(d):
    return ["train", *TRAIN, "--set", "batch_size=big"], ["'batch_size'", "big"]


@case("cli")
def cli_seeds_zero(d):
    return ["compare", _yaml(d, "dataset: digits\nmodel: mlp\n"), "--arm", "a:", "--seeds", "0"], ["--seeds 0", ">= 1"]


@case("cli")
def cli_nproc_zero(d):
    return ["train", *TRAIN, "--nproc", "0"], ["--nproc 0", "at least 1"]


@case("cli")
def cli_unknown_sampler(d):
    return ["search", _yaml(d, "dataset: digits\nmodel: mlp\n"), _yaml(d, "lr: {log_uniform: [0.01, 0.3]}\n", "s.yaml"),
            "--sampler", "bayes"], ["--sampler 'bayes'", "choose one of"]


# ---------------------------------------------------------------- running a case
@contextlib.contextmanager
def _inside(folder: Path, env: dict[str, str]):
    old_cwd, old_env = os.getcwd(), {k: os.environ.get(k) for k in env}
    os.chdir(folder)
    os.environ.update(env)
    try:
        yield
    finally:
        os.chdir(old_cwd)
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def refuse(c: Case, folder: Path, template: Path | None, *, script: bool = False) -> Outcome:
    """Run case `c` in folder/<id> (`template`: an interrupted run, copied in when the case needs
    one); the refusal must be clean (see the module's docstring)."""
    d = folder / c.id
    d.mkdir(parents=True)
    if c.needs_run:
        shutil.copytree(template, d / RUN)
    env = {"TRAINLAB_DATA": str(d / "data"), "TRAINLAB_CACHE": str(folder.parent / f"{folder.name}-cache")}
    what = f"{c.kind}: {c.id}"
    with _inside(d, env):
        argv, words = c.build(d)
        before = tree_hash(d)
        try:
            code, out, err = run_script(argv, cwd=d, env=env) if script else call(argv)
        except Exception:  # noqa: BLE001 - a traceback is the finding
            return Outcome(False, what, "traceback: " + traceback.format_exc().strip().splitlines()[-1])
        after = tree_hash(d)
    errs = lines(err)
    problems = []
    if code != 2:
        problems.append(f"exit code {code}")
    if len(errs) != 1 or lines(out):
        problems.append(f"{len(errs)} lines on stderr and {len(lines(out))} on stdout")
    if "Traceback" in out + err:
        problems.append("a traceback")
    missing = [w for w in words if w not in err]
    if missing:
        problems.append(f"the line lacks {missing}")
    blamed = [w for w in c.wrong if w in err]
    if blamed:
        problems.append(f"the line blames the wrong thing: {blamed}")
    if (d / MARKER).exists():
        problems.append("the pickle payload ran")
    if before != after:
        problems.append("files changed: " + tree_changes(before, after))
    line = errs[0] if len(errs) == 1 else err.strip()
    return Outcome(not problems, what, "; ".join(problems) + f" [{line[-300:]}]" if problems else "")
