"""Datasets as in-memory tensors with train / validation / test splits.

Images are uint8 (N, C, H, W) (convert batches with `to_float`), tabular features float32
(N, D); labels int64 (N,), or (N, H, W) masks for segmentation; regression targets float32
(N, T), with one name per target in `classes` (T model outputs); detection targets float32
(N, M, 5), each image's objects as rows (x1, y1, x2, y2, class) padded with class -1
(trainlab.data.detection).

Splits:
  * validation: a stratified `val_fraction` of the train split, drawn with the run's `seed`;
  * test: the official test split when the dataset has one (fashion-mnist, mnist, cifar10);
    otherwise (digits, spirals, moons, shapes, shapes-boxes, npz, csv, folder, coco, yolo) a stratified `test_fraction`
    (default 0.2) of all samples, carved with the fixed seed TEST_SEED so the test split
    never changes with the run's seed.

Example:
    >>> ds = load_dataset("digits", seed=0)
    >>> ds.input_shape, ds.num_classes, ds.train.x.dtype
    ((1, 8, 8), 10, torch.uint8)
"""
from __future__ import annotations

import importlib.util
import inspect
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..errors import TrainlabError
from . import detection, detection_files, download, formats, regression, synthetic, textures  # noqa: F401  (loaders register)
from .core import DATASETS, Dataset, Split

TEST_SEED = 1234  # fixed: carved-out test splits are the same for every run seed
USER_PREFIXES = ("npz", "csv", "folder", "coco", "yolo")


def list_datasets() -> list[str]:
    """Names `load_dataset` accepts as they are (user-data prefixes like npz:PATH excluded)."""
    return [n for n in DATASETS.list() if ":" not in n]


def load_dataset(name: str, *, val_fraction: float = 0.1, seed: int = 0, test_fraction: float = 0.2,
                 **kw) -> Dataset:
    """Load dataset `name` (see `trainlab list datasets`) with train/val/test splits.

    `kw` goes to the dataset (e.g. n=500 for spirals, mirror=URL for downloads);
    `test_fraction` is used only by datasets without an official test split.

    Example:
        >>> ds = load_dataset("spirals", n=300, val_fraction=0.2, seed=1)
        >>> len(ds.train) + len(ds.val) + len(ds.test)
        300
    """
    _check_fraction("val_fraction", val_fraction)
    _check_fraction("test_fraction", test_fraction)
    key, kw = _resolve(name, kw)
    raw = DATASETS.get(key)(**kw)
    x, y = raw["train"]
    if raw.get("test") is None:
        train_idx, test_idx = split_indices(y, test_fraction, TEST_SEED, what=f"{name} test split")
        test = (x[test_idx], y[test_idx])
        x, y = x[train_idx], y[train_idx]
    else:
        test = raw["test"]
    train_idx, val_idx = split_indices(y, val_fraction, seed, what=f"{name} validation split")
    return Dataset(name=name, train=_split(x[train_idx], y[train_idx]), val=_split(x[val_idx], y[val_idx]),
                   test=_split(*test), classes=list(raw["classes"]), task=raw.get("task", "classification"))


def split_indices(y: np.ndarray, fraction: float, seed: int, what: str = "split") -> tuple[np.ndarray, np.ndarray]:
    """(keep, take) sorted index arrays; `take` holds about fraction * n_c samples of each class c
    (round(fraction * n) in all, apportioned by largest remainder).

    Stratified for class labels (every class keeps at least one sample in `keep`);
    a plain random subset for segmentation masks and regression targets. Deterministic in `seed`.

    Example:
        >>> keep, take = split_indices(np.array([0, 0, 0, 0, 1, 1]), 0.5, seed=0)
        >>> np.bincount(np.array([0, 0, 0, 0, 1, 1])[take]).tolist()
        [2, 1]
    """
    rng = np.random.default_rng(seed)
    n = len(y)
    key = rng.random(n)
    if y.ndim > 1 or not np.issubdtype(y.dtype, np.integer):  # masks, real values: no class to stratify on
        take = np.sort(np.argsort(key, kind="stable")[: int(np.floor(fraction * n + 0.5))])
    else:
        order = np.lexsort((key, y))  # by class, random within class
        counts = np.bincount(y)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rank = np.arange(n) - starts[y[order]]  # position within its class
        n_take = _apportion(fraction * counts, int(np.floor(fraction * n + 0.5)), rng)
        n_take = np.minimum(n_take, np.maximum(counts - 1, 0))  # every class keeps one sample
        take = np.sort(order[rank < n_take[y[order]]])
    if len(take) == 0 or len(take) == n:
        raise TrainlabError(f"{what}: {n} samples are too few for a fraction of {fraction}; "
                            "use more data or a larger fraction")
    keep = np.setdiff1d(np.arange(n), take, assume_unique=True)
    return keep, take


def _apportion(exact: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """Integers summing to `total`, each floor(exact) or one more (largest remainders first, random ties)."""
    base = np.floor(exact)
    extra = int(total - base.sum())
    order = np.lexsort((rng.random(len(exact)), -(exact - base)))
    base[order[:max(extra, 0)]] += 1
    return base


def _split(x: np.ndarray, y: np.ndarray) -> Split:
    return Split(torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y)))


def _check_fraction(what: str, f: float) -> None:
    if not (isinstance(f, (int, float)) and 0.0 < f < 1.0):
        raise TrainlabError(f"{what}={f!r} must be a number strictly between 0 and 1, e.g. 0.1")


def _resolve(name: str, kw: dict) -> tuple[str, dict]:
    """Registry key and keyword arguments for `name`; user data 'npz:PATH' passes path=PATH."""
    if not isinstance(name, str) or not name:
        raise TrainlabError(f"dataset name {name!r} must be a non-empty string; see `trainlab list datasets`")
    key = name
    if ":" in name:
        prefix, path = name.split(":", 1)
        if prefix not in USER_PREFIXES or not path:
            raise TrainlabError(f"unknown dataset {name!r}: user data is npz:PATH, csv:PATH or folder:PATH, and "
                                "for detection coco:PATH (a COCO JSON file) or yolo:PATH (an image folder)")
        key, kw = f"{prefix}:PATH", {**kw, "path": Path(path).expanduser()}
    fn = DATASETS.get(key)
    params = inspect.signature(fn).parameters
    bad = [k for k in kw if k not in params]
    if bad:
        allowed = ", ".join(p for p in params if p != "path") or "none"
        raise TrainlabError(f"dataset {name!r} takes no option {', '.join(map(repr, bad))}; its options: {allowed}")
    return key, kw


# ---------------------------------------------------------------- decoded-array cache
def cached_arrays(name: str, sources: list[Path], decode: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Arrays decoded from `sources`, cached as .npy in CACHE/name/decoded (atomic writes).

    The cache is reused only while every source file keeps its path, size and mtime.
    An unwritable cache folder is skipped silently (decoding still works).
    """
    folder = download.cache_dir() / name / "decoded"
    sig = [[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for p in sources]
    meta = folder / "meta.json"
    try:
        info = json.loads(meta.read_text())
        if info["sources"] == sig:
            return {k: np.load(folder / f"{k}.npy", allow_pickle=False) for k in info["arrays"]}
    except (OSError, ValueError, KeyError):
        pass
    arrays = decode()
    try:
        for k, a in arrays.items():
            download.save_npy(folder / f"{k}.npy", a)
        text = json.dumps({"sources": sig, "arrays": list(arrays), "written": time.time()}).encode()
        download.atomic_write(meta, lambda f: f.write(text))
    except OSError:
        pass
    return arrays


# ---------------------------------------------------------------- built-in datasets
IDX_FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
FASHION_SHA256 = dict(zip(IDX_FILES, [
    "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
]))
MNIST_SHA256 = dict(zip(IDX_FILES, [
    "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
]))
FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com"
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist"  # the mirror torchvision uses; yann.lecun.com refuses bots
CIFAR_URL = "https://www.cs.toronto.edu/~kriz"
CIFAR_FILE, CIFAR_SHA256 = "cifar-10-python.tar.gz", "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _idx_dataset(name: str, sums: dict[str, str], url: str, classes: list[str], mirror: str | None,
                 how_to: str) -> dict:
    folder = download.ensure_files(name, sums, url, mirror=mirror, how_to=how_to)
    paths = [folder / f for f in IDX_FILES]

    def decode() -> dict[str, np.ndarray]:
        tx, ty = formats.read_idx_pair(paths[0], paths[1])
        vx, vy = formats.read_idx_pair(paths[2], paths[3])
        return {"train_x": tx, "train_y": ty, "test_x": vx, "test_y": vy}

    a = cached_arrays(name, paths, decode)
    return {"train": (a["train_x"], a["train_y"]), "test": (a["test_x"], a["test_y"]), "classes": classes}


@DATASETS.register("fashion-mnist", description="Zalando clothing, 1x28x28 gray, 10 classes, 60k train + 10k test "
                   "(Debian dataset-fashion-mnist, $TRAINLAB_DATA or download)")
def fashion_mnist(mirror: str | None = None) -> dict:
    return _idx_dataset("fashion-mnist", FASHION_SHA256, FASHION_URL, FASHION_CLASSES, mirror,
                        "or install the Debian package dataset-fashion-mnist")


@DATASETS.register("mnist", description="handwritten digits, 1x28x28 gray, 10 classes, 60k train + 10k test "
                   "(downloaded once, or $TRAINLAB_DATA/mnist)")
def mnist(mirror: str | None = None) -> dict:
    return _idx_dataset("mnist", MNIST_SHA256, MNIST_URL, [str(d) for d in range(10)], mirror,
                        f"files from {MNIST_URL}")


@DATASETS.register("cifar10", description="tiny photos, 3x32x32 RGB, 10 classes, 50k train + 10k test "
                   "(python tarball, downloaded once, or $TRAINLAB_DATA/cifar10)")
def cifar10(mirror: str | None = None) -> dict:
    folder = download.ensure_files("cifar10", {CIFAR_FILE: CIFAR_SHA256}, CIFAR_URL, mirror=mirror,
                                   how_to=f"from {CIFAR_URL}/{CIFAR_FILE}")
    tar = folder / CIFAR_FILE
    a = cached_arrays("cifar10", [tar], lambda: formats.read_cifar10(tar))
    classes = [str(c) for c in a["classes"]] if "classes" in a else CIFAR_CLASSES
    return {"train": (a["train_x"], a["train_y"]), "test": (a["test_x"], a["test_y"]), "classes": classes}


@DATASETS.register("digits", description="scikit-learn 8x8 digits (1797), values 0..16 scaled to 0..255, "
                   "1x8x8, 10 classes; no download; test = fixed 20%")
def digits() -> dict:
    # scikit-learn's own file (64 pixel values and the label per row), read without importing
    # scikit-learn: the import takes 1-3 s, paid by every notebook kernel and test process
    spec = importlib.util.find_spec("sklearn")
    csv = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz" if spec and spec.origin else None
    if csv is not None and csv.is_file():
        rows = np.loadtxt(csv, delimiter=",", dtype=np.float64)  # (1797, 65)
        images, target = rows[:, :64].reshape(-1, 8, 8), rows[:, 64]
    else:  # another scikit-learn layout: its loader
        from sklearn.datasets import load_digits  # lazy: scikit-learn takes 1-3 s to import, for this one loader

        d = load_digits()
        images, target = d.images, d.target
    x = np.round(images * (255.0 / 16.0)).astype(np.uint8)[:, None]  # (N, 1, 8, 8)
    return {"train": (x, target.astype(np.int64)), "test": None, "classes": [str(c) for c in range(10)]}


@DATASETS.register("spirals", description="2-D spiral arms (n=1500, classes=3, noise=0.2, data_seed=0); "
                   "angle 4(k+r)+noise, point r(sin, cos); test = fixed 20%")
def spirals_dataset(n: int = 1500, classes: int = 3, noise: float = 0.2, data_seed: int = 0) -> dict:
    _check_count("spirals", n, 10)
    x, y = synthetic.spirals(n=n, classes=classes, noise=noise, seed=data_seed)
    return {"train": (x, y), "test": None, "classes": [f"arm{k}" for k in range(classes)]}


@DATASETS.register("moons", description="2-D two interleaving half circles (n=1000, noise=0.1, data_seed=0); "
                   "test = fixed 20%")
def moons_dataset(n: int = 1000, noise: float = 0.1, data_seed: int = 0) -> dict:
    _check_count("moons", n, 10)
    x, y = synthetic.moons(n=n, noise=noise, seed=data_seed)
    return {"train": (x, y), "test": None, "classes": ["upper", "lower"]}


@DATASETS.register("shapes", description="segmentation: 1x32x32 images (channels=1|3, size=32, n=2000) with "
                   "per-pixel masks: background, circle, square, triangle; test = fixed 20%")
def shapes_dataset(n: int = 2000, size: int = 32, channels: int = 1, max_shapes: int = 3, data_seed: int = 0) -> dict:
    _check_count("shapes", n, 10)
    if channels not in (1, 3) or size < 8:
        raise TrainlabError(f"shapes: channels={channels} must be 1 or 3 and size={size} at least 8")
    x, y = synthetic.shapes(n=n, size=size, channels=channels, max_shapes=max_shapes, seed=data_seed)
    return {"train": (x, y), "test": None, "classes": synthetic.SHAPE_CLASSES, "task": "segmentation"}


@DATASETS.register("npz:PATH", description="your arrays: x (N,H,W)|(N,H,W,C)|(N,C,H,W) uint8 or (N,D) float, "
                   "y labels (N,) or masks (N,H,W); test = fixed 20%")
def npz_dataset(path: Path) -> dict:
    d = formats.read_npz(path)
    return {"train": (d["x"], d["y"]), "test": None, "classes": d["classes"], "task": d["task"]}


@DATASETS.register("csv:PATH", description="your table: label column (first, or named 'label') + numeric columns "
                   "(pixel* columns -> square gray images); test = fixed 20%")
def csv_dataset(path: Path) -> dict:
    d = formats.read_csv(path)
    return {"train": (d["x"], d["y"]), "test": None, "classes": d["classes"]}


@DATASETS.register("folder:PATH", description="your images: one sub-folder per class of PNG/JPEG, resized to the "
                   "most common size (or size=(H, W)); test = fixed 20%")
def folder_dataset(path: Path, size: tuple[int, int] | None = None) -> dict:
    d = formats.read_folder(path, size=size)
    return {"train": (d["x"], d["y"]), "test": None, "classes": d["classes"]}


def _check_count(name: str, n: int, low: int) -> None:
    if not isinstance(n, int) or n < low:
        raise TrainlabError(f"{name}: n={n!r} must be an integer of at least {low}")


# ---------------------------------------------------------------- symmetries of the classes
# Augmentation ops declare the symmetry they assume (`Op.assumes`); datasets declare which ones their
# classes have, so a run can warn before training on flipped 6s labelled 6 (lecture: "think twice").
SYMMETRIES = {"hflip": "left-right mirror symmetry", "vflip": "vertical-flip symmetry",
              "rotation": "rotation symmetry beyond 15 degrees"}  # tilts up to 15 degrees count as safe


@dataclass(frozen=True)
class Symmetry:
    """The SYMMETRIES a dataset's classes have (`kept`); for each one they lack, the classes it
    endangers, in words for a warning "... which the X classes lack (...)" (`at_risk`)."""

    kept: frozenset[str]
    at_risk: dict[str, str]


_DIGITS = Symmetry(frozenset(), {
    "hflip": "2, 3, 4, 5, 6, 7 and 9 mirrored read as no digit; only 0, 1 and 8 survive",
    "vflip": "upside down, 6 and 9 swap, 2 and 5 come close, and 3, 4 and 7 read as no digit",
    "rotation": "6 and 9 swap near 180 degrees; turned sideways, 1, 4 and 7 read as no digit"})
_PHOTOS = "airplane, ship, horse, truck and the rest are photographed upright"
# Built-in datasets only. User data (npz:, csv:, folder:) declares nothing: unknown, so no warning.
# spirals and moons are 2-D points (None): image augmentations do not apply to them at all.
DATASET_SYMMETRIES: dict[str, Symmetry | None] = {
    "digits": _DIGITS,
    "mnist": _DIGITS,
    "fashion-mnist": Symmetry(frozenset({"hflip"}), {  # a mirrored shoe or shirt is still one
        "vflip": "ankle boot, sneaker, sandal, bag and dress always stand upright: upside down they match no "
                 "test image",
        "rotation": "trouser, dress, ankle boot and sneaker always stand upright: turned sideways they match no "
                    "test image"}),
    "cifar10": Symmetry(frozenset({"hflip"}), {  # a mirrored cat is a cat
        "vflip": f"{_PHOTOS}: sky above, ground below", "rotation": _PHOTOS}),
    "shapes": Symmetry(frozenset(SYMMETRIES), {}),  # circles, squares, triangles at random angles; masks move too
    "shapes-boxes": Symmetry(frozenset(SYMMETRIES), {}),  # the same shapes; boxes move with flips and crops
    "textures": Symmetry(frozenset(SYMMETRIES), {}),  # patterns at random angles, centres and phases
    "spirals": None,
    "moons": None,
    "poly": None,
}


def dataset_symmetry(name: str) -> Symmetry | None:
    """The declared symmetries of dataset `name`; None when unknown (user data) or not images."""
    return DATASET_SYMMETRIES.get(name)

