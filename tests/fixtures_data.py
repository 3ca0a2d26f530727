"""Writers of small data files in the real formats, and a local HTTP server's handler, for the data
tests and the reliability corpus (plain functions, no pytest: bench/faults.py imports them too; the
fixtures built on them are in conftest.py)."""
from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import tarfile
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import numpy as np

IDX_NAMES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


def idx_bytes(a: np.ndarray, magic: int | None = None) -> bytes:
    """IDX encoding of a uint8 array: 0x00 0x00 0x08 ndim, big-endian dims, data."""
    magic = magic if magic is not None else 0x800 + a.ndim
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in a.shape)
    return header + a.astype(np.uint8).tobytes()


def write_idx_set(folder: Path, n_train: int = 40, n_test: int = 20, seed: int = 0) -> dict[str, np.ndarray]:
    """Four gzipped IDX files like MNIST's (28x28 images, labels 0..9); returns the arrays."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train_x": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_y": (np.arange(n_train) % 10).astype(np.uint8),
        "test_x": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_y": (np.arange(n_test) % 10).astype(np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, key in zip(IDX_NAMES, ["train_x", "train_y", "test_x", "test_y"]):
        (folder / name).write_bytes(gzip.compress(idx_bytes(arrays[key])))
    return arrays


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Evil:
    """Unpickling this runs os.system: the restricted unpickler must refuse it."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.target}",))


def cifar_batch(n: int, rng) -> bytes:
    d = {b"batch_label": b"fixture", b"labels": [int(v) for v in rng.integers(0, 10, n)],
         b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"filenames": [b"x.png"] * n}
    return pickle.dumps(d, protocol=2)


def write_cifar_tar(path: Path, n: int = 6, *, evil_target: Path | None = None, extra_member: str | None = None,
                    symlink: bool = False, seed: int = 0) -> None:
    """A cifar-10-python.tar.gz with 5 train batches + test batch of n images each."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        for i in range(1, 6):
            data = pickle.dumps(Evil(evil_target), protocol=2) if (evil_target and i == 3) else cifar_batch(n, rng)
            add(f"cifar-10-batches-py/data_batch_{i}", data)
        add("cifar-10-batches-py/test_batch", cifar_batch(n, rng))
        names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
        add("cifar-10-batches-py/batches.meta", pickle.dumps({b"label_names": [s.encode() for s in names]}, protocol=2))
        if extra_member:
            add(extra_member, b"escape")
        if symlink:
            info = tarfile.TarInfo("cifar-10-batches-py/link")
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)


class _Handler(BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    truncate: set[str] = set()  # paths answered with a full Content-Length but half the body

    def do_GET(self):  # noqa: N802 (http.server API)
        data = self.files.get(self.path.lstrip("/"))
        if data is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.path.lstrip("/") in self.truncate:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data)

    def log_message(self, *args):  # keep test output quiet
        pass
