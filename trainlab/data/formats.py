"""Readers for the file formats trainlab loads: IDX (MNIST family), the CIFAR-10 python
tarball, and user data (npz, csv, image folders). Each returns numpy arrays and raises
TrainlabError with one line naming the file and the fix on anything malformed.

Example:
    >>> read_idx(Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")).shape  # doctest: +SKIP
    (10000, 28, 28)
"""
from __future__ import annotations

import csv
import gzip
import io
import pickle
import sys
import tarfile
import zlib
from collections import Counter
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import TrainlabError

# ---------------------------------------------------------------- IDX (MNIST, Fashion-MNIST)
IDX_MAGIC = {1: 2049, 3: 2051}  # number of dims -> magic number for unsigned-byte IDX files


def read_idx(path: Path, ndim: int | None = None) -> np.ndarray:
    """Decode a (gzipped) IDX file of unsigned bytes into a uint8 array.

    Checks the magic number (2049 labels, 2051 images) and that the payload size matches the header.
    """
    try:
        raw = gzip.open(path).read() if str(path).endswith(".gz") else Path(path).read_bytes()
    except (OSError, EOFError, zlib.error) as e:
        raise TrainlabError(f"cannot read {path}: {e} (truncated or corrupt; delete it and download again)") from None
    if len(raw) < 8:
        raise TrainlabError(f"{path} is too short to be an IDX file ({len(raw)} bytes); replace it with the original")
    magic = int.from_bytes(raw[:4], "big")
    dims = raw[3]
    if raw[:3] != b"\x00\x00\x08" or dims not in IDX_MAGIC or (ndim is not None and dims != ndim):
        want = IDX_MAGIC.get(ndim, "2049 or 2051") if ndim else "2049 or 2051"
        raise TrainlabError(f"{path} has IDX magic number {magic}, expected {want}; is it the right file?")
    header = 4 + 4 * dims
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    if len(raw) != header + int(np.prod(shape)):
        raise TrainlabError(
            f"{path} holds {len(raw) - header} data bytes but its header says {shape} "
            f"({int(np.prod(shape))}); the file is truncated or corrupt, replace it"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def read_idx_pair(images: Path, labels: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 1, H, W) uint8 and labels (N,) int64 from two IDX files, counts checked."""
    x, y = read_idx(images, 3), read_idx(labels, 1)
    if len(x) != len(y):
        raise TrainlabError(f"{images.name} has {len(x)} images but {labels.name} has {len(y)} labels; "
                            "the files do not belong together")
    return x[:, None].copy(), y.astype(np.int64)


# ---------------------------------------------------------------- CIFAR-10 python tarball
class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles only plain containers and numpy arrays: no code runs from a data file."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("_codecs", "encode"),  # how Python 3 writes bytes at pickle protocol 2: str -> bytes, nothing more
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise TrainlabError(f"refusing to unpickle {module}.{name} from {self.source}: only numpy arrays "
                                "and plain containers are allowed; the file is not a genuine CIFAR batch")
        return super().find_class(module, name)


def safe_unpickle(data: bytes, source: str) -> object:
    """`pickle.loads` that only rebuilds dicts/lists/str/bytes/numbers and numpy arrays."""
    u = _RestrictedUnpickler(io.BytesIO(data), encoding="latin1")
    u.source = source
    try:
        return u.load()
    except TrainlabError:
        raise
    except Exception as e:
        raise TrainlabError(f"cannot unpickle {source}: {type(e).__name__}: {e}; the file is corrupt") from None


def _check_member(tar_path: Path, m: tarfile.TarInfo) -> None:
    p = PurePosixPath(m.name)
    if p.is_absolute() or ".." in p.parts or m.issym() or m.islnk() or m.isdev():
        raise TrainlabError(f"{tar_path} has an unsafe member {m.name!r} (absolute path, '..', link or device); "
                            "refusing to use this archive, get it from the official address")


def _batch(obj: object, source: str) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR batch dict -> images (N, 3, 32, 32) uint8, labels (N,) int64."""
    d = {(k.decode() if isinstance(k, bytes) else k): v for k, v in obj.items()} if isinstance(obj, dict) else {}
    data, labels = d.get("data"), d.get("labels")
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == 3072
            and isinstance(labels, (list, np.ndarray)) and len(labels) == len(data)):
        raise TrainlabError(f"{source} is not a CIFAR-10 batch (expected a dict with uint8 'data' (N, 3072) "
                            "and N 'labels'); replace the archive")
    y = np.asarray(labels, dtype=np.int64)
    if y.size and (y.min() < 0 or y.max() > 9):
        raise TrainlabError(f"{source} has labels outside 0..9; replace the archive")
    return data.reshape(-1, 3, 32, 32), y


def read_cifar10(tar_path: Path) -> dict[str, np.ndarray]:
    """Read train/test arrays straight from cifar-10-python.tar.gz (nothing extracted to disk).

    Every member name is checked first: absolute paths, '..' and links are refused.
    """
    try:
        with tarfile.open(tar_path, "r:gz") as tar:
            members = tar.getmembers()
            for m in members:
                _check_member(tar_path, m)
            files = {PurePosixPath(m.name).name: m for m in members if m.isfile()}
            needed = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
            missing = [n for n in needed if n not in files]
            if missing:
                raise TrainlabError(f"{tar_path} lacks {', '.join(missing)}; is it cifar-10-python.tar.gz?")
            parts = {n: _batch(safe_unpickle(tar.extractfile(files[n]).read(), f"{tar_path}:{n}"), n) for n in needed}
            classes = None
            if "batches.meta" in files:
                meta = safe_unpickle(tar.extractfile(files["batches.meta"]).read(), f"{tar_path}:batches.meta")
                if isinstance(meta, dict):
                    names = meta.get("label_names", meta.get(b"label_names"))
                    if isinstance(names, list) and len(names) == 10:
                        classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise TrainlabError(f"cannot read {tar_path}: {e} (truncated or corrupt; delete it and download again)") from None
    train = [parts[f"data_batch_{i}"] for i in range(1, 6)]
    out = {"train_x": np.concatenate([b[0] for b in train]), "train_y": np.concatenate([b[1] for b in train]),
           "test_x": parts["test_batch"][0], "test_y": parts["test_batch"][1]}
    if classes:
        out["classes"] = np.array(classes)
    return out


# ---------------------------------------------------------------- user data
def encode_labels(raw: np.ndarray, source: str) -> tuple[np.ndarray, list[str]]:
    """Map labels to 0..K-1 (sorted unique values) and return class names as strings.

    Integer labels already 0..K-1 keep their values; others (a -1, or gaps) are mapped in sorted
    order, and the mapping is printed (stderr), since a class id then means another number.
    """
    raw = np.asarray(raw)
    if raw.dtype.kind == "f":
        if not np.all(np.isfinite(raw)) or not np.all(raw == np.round(raw)):
            raise TrainlabError(f"{source}: labels must be integers or names, found non-integer numbers")
        raw = raw.astype(np.int64)
    values, y = np.unique(raw, return_inverse=True)
    if values.dtype.kind in "iu" and not np.array_equal(values, np.arange(len(values))):
        shown = ", ".join(f"{v} -> {i}" for i, v in enumerate(values[:10])) + (", ..." if len(values) > 10 else "")
        print(f"trainlab: {source}: labels are not 0..K-1; mapped to {len(values)} classes in sorted order: {shown}",
              file=sys.stderr, flush=True)
    return y.reshape(raw.shape).astype(np.int64), [str(v) for v in values]


def images_to_nchw(x: np.ndarray, source: str) -> np.ndarray:
    """(N,H,W), (N,H,W,C) or (N,C,H,W) uint8 -> (N,C,H,W); C must be 1 or 3."""
    if x.ndim == 3:
        return x[:, None]
    if x.shape[1] in (1, 3) and x.shape[-1] not in (1, 3):
        return x
    if x.shape[-1] in (1, 3):
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    raise TrainlabError(f"{source}: image array of shape {x.shape} has no channel axis of size 1 or 3; "
                        "save x as (N,H,W), (N,H,W,C) or (N,C,H,W) with C in {{1, 3}}")


def read_npz(path: Path) -> dict:
    """User arrays from an .npz: x (images uint8 or (N, D) features), y (labels or (N,H,W) masks)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise TrainlabError(f"npz file {path} does not exist; check the path after 'npz:'") from None
    except Exception as e:
        raise TrainlabError(f"cannot read {path} as .npz: {type(e).__name__}: {e}; save it with numpy.savez") from None
    if "x" not in arrays or "y" not in arrays:
        raise TrainlabError(f"{path} must hold arrays named 'x' and 'y' (found: {', '.join(arrays) or 'none'}); "
                            "save it with numpy.savez(path, x=..., y=...)")
    x, y = arrays["x"], arrays["y"]
    if len(x) != len(y):
        raise TrainlabError(f"{path}: x has {len(x)} rows but y has {len(y)}; they must match")
    if x.ndim == 2:
        if x.dtype.kind not in "fiu":
            raise TrainlabError(f"{path}: x features must be numbers, found dtype {x.dtype}")
        bad = np.flatnonzero(~np.isfinite(x).all(axis=1)) if x.dtype.kind == "f" else []
        if len(bad):  # one NaN feature makes every loss NaN: the run would diverge at its first step
            raise TrainlabError(f"{path}: x has NaN or infinite features in {len(bad)} rows (the first is row "
                                f"{bad[0]}); fill or drop them before training")
        x, task = x.astype(np.float32), "classification"
    elif x.ndim in (3, 4):
        if x.dtype != np.uint8:
            raise TrainlabError(f"{path}: image array x must be uint8 0..255, found {x.dtype}; "
                                "convert with (x * 255).round().astype('uint8')")
        x = images_to_nchw(x, str(path))
        task = "segmentation" if y.ndim == 3 else "classification"
    else:
        raise TrainlabError(f"{path}: x of shape {x.shape} is neither (N, D) features nor images")
    if task == "segmentation":
        if y.shape != (x.shape[0], *x.shape[2:]):
            raise TrainlabError(f"{path}: mask array y {y.shape} must be (N, H, W) matching x {x.shape}")
        if y.dtype.kind not in "iu" or y.min() < 0:
            raise TrainlabError(f"{path}: masks must hold class indices 0..K-1")
        y = y.astype(np.int64)
        classes = [str(c) for c in range(int(y.max()) + 1)]
    else:
        if y.ndim != 1:
            raise TrainlabError(f"{path}: y must be (N,) labels or (N, H, W) masks, found shape {y.shape}")
        y, classes = encode_labels(y, str(path))
    if "classes" in arrays and len(arrays["classes"]) == len(classes):
        classes = [str(c) for c in arrays["classes"]]
    return {"x": x, "y": y, "classes": classes, "task": task}


def read_csv(path: Path) -> dict:
    """Rows of `label, f1, f2, ...` (label = first column, or the one named 'label').

    A header row is detected when its cells are not numbers. Columns named pixel* with
    a square count of 0..255 integers are read as grayscale images (N, 1, S, S).
    """
    try:
        with open(path, newline="") as f:
            rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    except FileNotFoundError:
        raise TrainlabError(f"csv file {path} does not exist; check the path after 'csv:'") from None
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise TrainlabError(f"cannot read {path} as CSV: {e}") from None
    if not rows:
        raise TrainlabError(f"{path} is empty; it needs a label column and numeric feature columns")
    header = None if all(_is_number(c) for c in rows[0][1:]) else [c.strip() for c in rows[0]]
    body = rows[1:] if header else rows
    width = len(rows[0])
    lower = [h.lower() for h in header] if header else []
    label_col = lower.index("label") if "label" in lower else 0
    if width < 2 or not body:
        raise TrainlabError(f"{path} needs at least one data row with a label and one feature column")
    labels, feats = [], np.empty((len(body), width - 1), dtype=np.float64)
    for i, r in enumerate(body):
        line = i + (2 if header else 1)
        if len(r) != width:
            raise TrainlabError(f"{path} line {line} has {len(r)} cells, expected {width}; fix the ragged row")
        labels.append(r[label_col].strip())
        cells = r[:label_col] + r[label_col + 1:]
        for j, c in enumerate(cells):
            try:
                feats[i, j] = float(c)
            except ValueError:
                col = header[j if j < label_col else j + 1] if header else j + 1 + (j >= label_col)
                raise TrainlabError(f"{path} line {line}, column {col!r}: {c!r} is not a number; "
                                    "feature cells must be numeric") from None
    if not np.all(np.isfinite(feats)):
        raise TrainlabError(f"{path} has NaN or infinite feature values; fill or drop them")
    lab = np.array(labels)
    y, classes = encode_labels(lab.astype(np.float64) if all(_is_number(v) for v in labels) else lab, str(path))
    names = [h for k, h in enumerate(lower) if k != label_col]
    side = int(round(np.sqrt(feats.shape[1])))
    if (names and all(n.startswith("pixel") for n in names) and side * side == feats.shape[1]
            and np.all((feats >= 0) & (feats <= 255) & (feats == np.round(feats)))):
        x = feats.astype(np.uint8).reshape(-1, 1, side, side)
    else:
        x = feats.astype(np.float32)
    return {"x": x, "y": y, "classes": classes, "task": "classification"}


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}


def read_folder(path: Path, size: tuple[int, int] | None = None) -> dict:
    """One sub-folder per class of PNG/JPEG images -> uint8 (N, C, H, W).

    C is 1 when every image is grayscale, else 3 (RGB). Images whose size differs from
    `size` (default: the most common size in the folder) are resized (bilinear).
    """

    if not path.is_dir():
        raise TrainlabError(f"image folder {path} does not exist; check the path after 'folder:'")
    class_dirs = sorted(d for d in path.iterdir() if d.is_dir() and not d.name.startswith("."))
    files = {d.name: sorted(f for f in d.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES) for d in class_dirs}
    files = {k: v for k, v in files.items() if v}
    if not files:
        raise TrainlabError(f"{path} holds no class sub-folders with .png/.jpg images; "
                            "put each class's images in its own sub-folder")
    if len(files) < 2:
        raise TrainlabError(f"{path} has images for only one class ({next(iter(files))}); "
                            "classification needs at least two class sub-folders")
    images, labels = [], []
    for k, (cls, paths) in enumerate(files.items()):
        for p in paths:
            try:
                with Image.open(p) as im:
                    im.load()
                    images.append(im.copy())
            except (UnidentifiedImageError, OSError) as e:
                raise TrainlabError(f"cannot read image {p}: {e}; remove or replace it") from None
            labels.append(k)
    gray = all(im.mode in ("L", "1", "I;16", "I") for im in images)
    if size is None:
        size = Counter((im.height, im.width) for im in images).most_common(1)[0][0]
    h, w = int(size[0]), int(size[1])
    arrs = []
    for im in images:
        im = im.convert("L" if gray else "RGB")
        if (im.height, im.width) != (h, w):
            im = im.resize((w, h), Image.BILINEAR)
        arrs.append(np.asarray(im, dtype=np.uint8))
    x = np.stack(arrs)
    return {"x": images_to_nchw(x, str(path)), "y": np.array(labels, dtype=np.int64),
            "classes": list(files), "task": "classification"}


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False
