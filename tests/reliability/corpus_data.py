"""Bad input, as a corpus: data files (npz, csv, image folders, IDX files: truncated, mislabeled,
empty, NaN pixels, object arrays that would unpickle)."""
from __future__ import annotations

import gzip
from pathlib import Path
from typing import Callable

import numpy as np

from corpus_base import MARKER, Payload, case, train_on
from fixtures_data import IDX_NAMES, idx_bytes  # tests/fixtures_data.py, shared with the data tests


# ---------------------------------------------------------------- data files
def _npz(d: Path, name: str = "d.npz", **arrays) -> str:
    with open(d / name, "wb") as f:
        np.savez(f, **arrays)
    return name


def _images(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 8, 8), dtype=np.uint8), np.arange(n) % 3


@case("data")
def npz_truncated(d):
    x, y = _images()
    name = _npz(d, x=x, y=y)
    data = (d / name).read_bytes()
    (d / name).write_bytes(data[: len(data) // 2])
    return train_on(f"npz:{name}"), ["d.npz", "numpy.savez"]


@case("data")
def npz_object_array_that_would_unpickle(d):
    x, _ = _images()
    y = np.empty(60, dtype=object)
    y[:] = [Payload(d / MARKER)] * 60
    return train_on(f"npz:{_npz(d, x=x, y=y)}"), ["d.npz", "numpy.savez"]


@case("data")
def npz_without_labels(d):
    return train_on(f"npz:{_npz(d, x=_images()[0])}"), ["d.npz", "'x' and 'y'"]


@case("data")
def npz_mislabeled_counts(d):
    x, y = _images()
    return train_on(f"npz:{_npz(d, x=x, y=y[:50])}"), ["d.npz", "x has 60 rows but y has 50"]


@case("data")
def npz_empty(d):
    return train_on(f"npz:{_npz(d, x=np.zeros((0, 8, 8), np.uint8), y=np.zeros(0, np.int64))}"), ["d.npz", "too few"]


@case("data")
def npz_nan_features(d):
    x = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    x[7, 2] = np.nan
    return train_on(f"npz:{_npz(d, x=x, y=np.arange(60) % 3)}"), ["d.npz", "NaN"]


@case("data")
def npz_nan_pixels(d):
    x = np.random.default_rng(0).random((60, 8, 8)).astype(np.float32)
    x[3, 4, 4] = np.nan
    return train_on(f"npz:{_npz(d, x=x, y=np.arange(60) % 3)}"), ["d.npz", "uint8"]


@case("data")
def npz_fractional_labels(d):
    x, _ = _images()
    return train_on(f"npz:{_npz(d, x=x, y=np.linspace(0, 1, 60))}"), ["d.npz", "labels must be integers"]


@case("data")
def npz_missing_file(d):
    return train_on("npz:absent.npz"), ["absent.npz", "does not exist"]


def _csv(d: Path, text: str | bytes) -> str:
    (d / "d.csv").write_bytes(text if isinstance(text, bytes) else text.encode())
    return "d.csv"


CSV_ROWS = "label,a,b,c\n" + "".join(f"{i % 3},{i},{i * 2},{i % 7}\n" for i in range(60))


@case("data")
def csv_ragged_row(d):
    return train_on("csv:" + _csv(d, CSV_ROWS + "1,2\n")), ["d.csv", "line 62", "ragged"]


@case("data")
def csv_text_in_a_number_column(d):
    return train_on("csv:" + _csv(d, CSV_ROWS + "1,2,x,4\n")), ["d.csv", "'x' is not a number"]


@case("data")
def csv_nan_values(d):
    return train_on("csv:" + _csv(d, CSV_ROWS + "1,2,nan,4\n")), ["d.csv", "NaN"]


@case("data")
def csv_empty(d):
    return train_on("csv:" + _csv(d, "")), ["d.csv", "is empty"]


@case("data")
def csv_binary(d):
    return train_on("csv:" + _csv(d, bytes(range(128, 256)) * 8)), ["d.csv", "cannot read"]


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
    return train_on("folder:imgs"), ["3.png", "remove or replace it"]


@case("data")
def folder_one_class(d):
    for i in range(6):
        _png(d / "imgs" / "cat" / f"{i}.png", 40 * i)
    return train_on("folder:imgs"), ["imgs", "at least two class sub-folders"]


@case("data")
def folder_without_images(d):
    (d / "imgs" / "cat").mkdir(parents=True)
    (d / "imgs" / "cat" / "notes.txt").write_text("no images here")
    return train_on("folder:imgs"), ["imgs", "own sub-folder"]


def _mnist(d: Path, edit: Callable[[dict[str, bytes]], None]) -> list[str]:
    """MNIST-like IDX files in $TRAINLAB_DATA/mnist (used as they are: no checksum), `edit`ed."""
    rng = np.random.default_rng(0)
    raw = {IDX_NAMES[0]: idx_bytes(rng.integers(0, 256, (40, 28, 28), dtype=np.uint8)),
           IDX_NAMES[1]: idx_bytes((np.arange(40) % 10).astype(np.uint8)),
           IDX_NAMES[2]: idx_bytes(rng.integers(0, 256, (20, 28, 28), dtype=np.uint8)),
           IDX_NAMES[3]: idx_bytes((np.arange(20) % 10).astype(np.uint8))}
    edit(raw)
    folder = d / "data" / "mnist"
    folder.mkdir(parents=True)
    for name, data in raw.items():
        (folder / name).write_bytes(gzip.compress(data) if not data.startswith(b"RAW") else data[3:])
    return train_on("mnist")


@case("data")
def idx_truncated(d):
    def cut(raw):
        raw[IDX_NAMES[0]] = raw[IDX_NAMES[0]][:-100]
    return _mnist(d, cut), ["train-images-idx3-ubyte.gz", "truncated"]


@case("data")
def idx_labels_in_place_of_images(d):
    def swap(raw):
        raw[IDX_NAMES[0]] = raw[IDX_NAMES[1]]
    return _mnist(d, swap), ["train-images-idx3-ubyte.gz", "magic number 2049", "right file"]


@case("data")
def idx_mislabeled_counts(d):
    def drop(raw):
        raw[IDX_NAMES[1]] = idx_bytes((np.arange(30) % 10).astype(np.uint8))
    return _mnist(d, drop), ["train-images-idx3-ubyte.gz", "30 labels", "do not belong together"]


@case("data")
def idx_not_gzip(d):
    def garble(raw):
        raw[IDX_NAMES[2]] = b"RAW" + b"this is not gzip data at all" * 4
    return _mnist(d, garble), ["t10k-images-idx3-ubyte.gz", "download again"]
