"""Downloads against a local HTTP server (checksums, interruptions, offline) and the CIFAR-10 reader."""
from __future__ import annotations

import gzip
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures_data import IDX_NAMES, idx_bytes, sha256, write_cifar_tar

from trainlab.data import datasets as dsmod
from trainlab.data import download, load_dataset
from trainlab.errors import TrainlabError


def no_partial_files(folder: Path) -> bool:
    return not folder.exists() or not [p for p in folder.rglob("*") if p.name.endswith(".part")]


def idx_payloads(n_train=30, n_test=10) -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (n_train, 28, 28)), np.arange(n_train) % 10,
              rng.integers(0, 256, (n_test, 28, 28)), np.arange(n_test) % 10]
    return {name: gzip.compress(idx_bytes(a.astype(np.uint8))) for name, a in zip(IDX_NAMES, arrays)}


def test_download_writes_checked_file(tmp_path, http_server):
    http_server.files = {"a.bin": b"x" * 200_000}
    dest = download.download(f"{http_server.url}/a.bin", tmp_path / "a.bin", sha256(b"x" * 200_000), progress=False)
    assert dest.read_bytes() == b"x" * 200_000 and no_partial_files(tmp_path)


def test_checksum_mismatch_leaves_nothing(tmp_path, http_server):
    http_server.files = {"a.bin": b"tampered"}
    with pytest.raises(TrainlabError, match="checksum mismatch") as e:
        download.download(f"{http_server.url}/a.bin", tmp_path / "a.bin", sha256(b"original"), progress=False)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "a.bin").exists() and no_partial_files(tmp_path)


def test_interrupted_download_leaves_nothing(tmp_path, http_server):
    http_server.files = {"a.bin": b"y" * 100_000}
    http_server.truncate = {"a.bin"}
    with pytest.raises(TrainlabError, match="a.bin") as e:
        download.download(f"{http_server.url}/a.bin", tmp_path / "a.bin", sha256(b"y" * 100_000), progress=False)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "a.bin").exists() and no_partial_files(tmp_path)


def test_download_refuses_to_overwrite(tmp_path, http_server):
    (tmp_path / "a.bin").write_bytes(b"mine")
    http_server.files = {"a.bin": b"theirs"}
    with pytest.raises(TrainlabError, match="refusing to overwrite"):
        download.download(f"{http_server.url}/a.bin", tmp_path / "a.bin", sha256(b"theirs"), progress=False)
    assert (tmp_path / "a.bin").read_bytes() == b"mine"


def test_dataset_downloads_from_mirror_then_uses_cache(data_env, http_server, monkeypatch):
    payloads = idx_payloads()
    http_server.files = dict(payloads)
    monkeypatch.setattr(dsmod, "MNIST_SHA256", {k: sha256(v) for k, v in payloads.items()})
    monkeypatch.setenv("TRAINLAB_MIRROR", http_server.url)
    ds = load_dataset("mnist", val_fraction=0.2)
    cache = data_env / "xdg" / "trainlab" / "mnist"
    assert sorted(p.name for p in cache.glob("*.gz")) == sorted(IDX_NAMES)
    assert len(ds.train) + len(ds.val) == 30 and len(ds.test) == 10
    http_server.files = {}  # offline now: the second load must not need the server
    again = load_dataset("mnist", val_fraction=0.2)
    assert torch.equal(again.test.x, ds.test.x)


def test_mirror_argument_and_bad_checksum(data_env, http_server):
    http_server.files = idx_payloads()  # not the official bytes: the official SHA-256 must reject them
    with pytest.raises(TrainlabError, match="checksum mismatch") as e:
        load_dataset("fashion-mnist", mirror=http_server.url)
    assert "dataset-fashion-mnist" in str(e.value) and "\n" not in str(e.value)
    assert no_partial_files(data_env / "xdg")
    assert not list((data_env / "xdg" / "trainlab" / "fashion-mnist").glob("*.gz"))


def test_offline_error_says_how_to_get_the_data(data_env, monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("TRAINLAB_MIRROR", f"http://127.0.0.1:{port}")
    with pytest.raises(TrainlabError) as e:
        load_dataset("fashion-mnist")
    msg = str(e.value)
    assert "could not download" in msg and "TRAINLAB_DATA" in msg and "dataset-fashion-mnist" in msg
    assert "\n" not in msg


def test_search_order_and_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TRAINLAB_DATA", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("TRAINLAB_CACHE", raising=False)
    dirs = download.search_dirs("mnist")
    assert dirs == [tmp_path / "mine" / "mnist", download.SYSTEM_DIR / "mnist", tmp_path / "xdg" / "trainlab" / "mnist"]
    monkeypatch.setenv("TRAINLAB_CACHE", str(tmp_path / "c"))
    assert download.cache_dir() == tmp_path / "c"


# ---------------------------------------------------------------- CIFAR-10
def test_cifar10_from_tarball(data_env):
    write_cifar_tar(data_env / "data" / "cifar10" / "cifar-10-python.tar.gz", n=8)
    ds = load_dataset("cifar10", val_fraction=0.25)
    assert ds.input_shape == (3, 32, 32) and ds.classes[0] == "airplane" and ds.num_classes == 10
    assert len(ds.train) + len(ds.val) == 40 and len(ds.test) == 8
    assert ds.train.x.dtype == torch.uint8


def test_cifar10_reader_matches_written_arrays(tmp_path):
    import pickle
    import tarfile

    from trainlab.data.formats import read_cifar10

    path = tmp_path / "c.tar.gz"
    write_cifar_tar(path, n=4, seed=3)
    with tarfile.open(path) as tar:
        raw = pickle.loads(tar.extractfile("cifar-10-batches-py/test_batch").read(), encoding="bytes")
    out = read_cifar10(path)
    assert np.array_equal(out["test_x"], raw[b"data"].reshape(-1, 3, 32, 32))
    assert out["test_y"].tolist() == raw[b"labels"] and out["train_x"].shape == (20, 3, 32, 32)


def test_cifar10_malicious_pickle_is_refused(data_env):
    sentinel = data_env / "pwned"
    write_cifar_tar(data_env / "data" / "cifar10" / "cifar-10-python.tar.gz", evil_target=sentinel)
    with pytest.raises(TrainlabError, match="refusing to unpickle posix.system|refusing to unpickle os.system"):
        load_dataset("cifar10")
    assert not sentinel.exists()


@pytest.mark.parametrize("kw", [{"extra_member": "../escape.txt"}, {"extra_member": "/tmp/abs.txt"},
                                {"symlink": True}])
def test_cifar10_escaping_members_are_refused(data_env, kw):
    write_cifar_tar(data_env / "data" / "cifar10" / "cifar-10-python.tar.gz", **kw)
    with pytest.raises(TrainlabError, match="unsafe member"):
        load_dataset("cifar10")
    assert not (data_env / "escape.txt").exists()


def test_cifar10_truncated_archive(data_env):
    path = data_env / "data" / "cifar10" / "cifar-10-python.tar.gz"
    write_cifar_tar(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(TrainlabError, match="truncated or corrupt|cannot"):
        load_dataset("cifar10")
    assert path.stat().st_size == len(data) // 2  # the user's file is left as it is
