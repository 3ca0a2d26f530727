"""Where dataset files live, and how they get there: lookup, checked download, atomic writes.

Lookup order for a dataset NAME (first folder holding every needed file wins):
    1. $TRAINLAB_DATA/NAME            (your own copy)
    2. /usr/share/datasets/NAME       (Debian packages, e.g. dataset-fashion-mnist)
    3. CACHE/NAME                     (earlier downloads)
CACHE is $TRAINLAB_CACHE, else $XDG_CACHE_HOME/trainlab, else ~/.cache/trainlab.
Missing files are downloaded into CACHE/NAME from the official address, or from
$TRAINLAB_MIRROR (a base URL; the file name is appended) when set. Downloads are
checked against SHA-256 sums and written atomically (temp file + rename), so an
interrupted or corrupt download never leaves a partial file behind.

Example:
    >>> folder = ensure_files("fashion-mnist", FILES, base_url)   # doctest: +SKIP
"""
from __future__ import annotations

import hashlib
import io
import os
import tempfile
import urllib.request
from pathlib import Path
from typing import Callable

import numpy as np
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from ..errors import TrainlabError

SYSTEM_DIR = Path("/usr/share/datasets")
CHUNK = 1 << 16  # bytes read per network call


def cache_dir() -> Path:
    """The user cache folder for downloads and decoded arrays (not created here)."""
    if os.environ.get("TRAINLAB_CACHE"):
        return Path(os.environ["TRAINLAB_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "trainlab"


def search_dirs(name: str) -> list[Path]:
    """Folders searched, in order, for the raw files of dataset `name`."""
    dirs = []
    if os.environ.get("TRAINLAB_DATA"):
        dirs.append(Path(os.environ["TRAINLAB_DATA"]).expanduser() / name)
    dirs += [SYSTEM_DIR / name, cache_dir() / name]
    return dirs


def find_files(name: str, files: list[str]) -> Path | None:
    """First search folder that holds every file in `files`, else None."""
    for d in search_dirs(name):
        if all((d / f).is_file() for f in files):
            return d
    return None


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def atomic_write(dest: Path, write: Callable[[io.BufferedWriter], None]) -> None:
    """Call `write(f)` on a temp file next to `dest`, then rename it over `dest`.

    A crash or Ctrl-C mid-write leaves no partial `dest` (the temp file is removed).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_npy(dest: Path, array: np.ndarray) -> None:
    """Write `array` as .npy atomically."""
    atomic_write(dest, lambda f: np.save(f, array, allow_pickle=False))


def mirror_url(base_url: str, filename: str, mirror: str | None = None) -> str:
    base = mirror or os.environ.get("TRAINLAB_MIRROR") or base_url
    return f"{base.rstrip('/')}/{filename}"


def download(url: str, dest: Path, sha256: str, *, progress: bool = True, timeout: float = 30.0) -> Path:
    """Download `url` to `dest`, checking its SHA-256; atomic, never leaves a partial file.

    Example:
        >>> download("http://127.0.0.1:8000/a.gz", Path("/tmp/a.gz"), "ab12...")  # doctest: +SKIP
    """
    if dest.exists():
        raise TrainlabError(f"refusing to overwrite existing file {dest}; move it away or delete it yourself")

    def write(f) -> None:
        h = hashlib.sha256()
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            total = int(resp.headers.get("Content-Length") or 0)
            with _progress(dest.name, total, progress) as advance:
                got = 0
                while block := resp.read(CHUNK):
                    f.write(block)
                    h.update(block)
                    got += len(block)
                    advance(len(block))
        if total and got != total:
            raise TrainlabError(f"download of {url} stopped after {got} of {total} bytes; run again to retry")
        if h.hexdigest() != sha256:
            raise TrainlabError(
                f"checksum mismatch for {url} (sha256 {h.hexdigest()[:16]}..., expected {sha256[:16]}...); "
                "the file is corrupt or the mirror serves something else, retry or use another mirror"
            )

    try:
        atomic_write(dest, write)
    except TrainlabError:
        raise
    except Exception as e:  # URLError, OSError, http.client.IncompleteRead, RemoteDisconnected, ...
        raise TrainlabError(f"could not download {url}: {_reason(e)}") from None
    return dest


def ensure_files(name: str, files: dict[str, str], base_url: str, *, mirror: str | None = None,
                 how_to: str = "", progress: bool = True) -> Path:
    """Folder holding every file in `files` ({filename: sha256}), downloading what is missing.

    Files already in a search folder are used as they are (Debian and user copies may be
    recompressed, so only downloads are checksummed; readers check the content itself).
    """
    found = find_files(name, list(files))
    if found is not None:
        return found
    target = cache_dir() / name
    for fname, digest in files.items():
        if (target / fname).is_file():
            continue
        url = mirror_url(base_url, fname, mirror)
        try:
            download(url, target / fname, digest, progress=progress)
        except TrainlabError as e:
            hint = f"; {how_to}" if how_to else ""
            raise TrainlabError(
                f"{name}: {e} (get the data offline: put {', '.join(files)} in $TRAINLAB_DATA/{name}{hint})"
            ) from None
    return target


def _reason(e: BaseException) -> str:
    reason = getattr(e, "reason", None) or e
    return " ".join(f"{type(e).__name__}: {reason}".split())  # one line


class _progress:
    """A rich progress bar for one download (silent when disabled or size unknown)."""

    def __init__(self, label: str, total: int, enabled: bool):
        self.label, self.total, self.enabled = label, total, enabled and total > 0
        self._bar = None

    def __enter__(self):
        if not self.enabled:
            return lambda n: None
    
        self._bar = Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                             TransferSpeedColumn(), transient=True)
        self._bar.start()
        task = self._bar.add_task(f"downloading {self.label}", total=self.total)
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()
