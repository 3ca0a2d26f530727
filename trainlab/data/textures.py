"""`textures`: colour texture images generated from a seed, for training a style network.

Style transfer needs a network whose filters respond to colour, orientation, frequency and
local pattern; with no pretrained weights available, a small VGG trained to tell these
textures apart learns exactly such filters. Eight classes, 3x32x32 uint8:

  stripes   parallel bands at a random angle and period (soft to hard edges)
  checks    a rotated checkerboard
  dots      discs on a rotated lattice
  waves     stripes bent by a sine wave
  rings     concentric circles around a random centre
  zigzag    stripes bent by a triangle wave
  grid      thin lines on a rotated lattice
  blotches  thresholded low-pass noise (irregular patches)

Each image mixes two random colours (sometimes a third as a diagonal gradient) through the
pattern's mask, plus pixel noise. All draws come from `numpy.random.default_rng(data_seed)`.

    >>> x, y = textures(n=16, size=32, seed=0)
    >>> x.shape, x.dtype, sorted(set(y.tolist()))[:3]
    ((16, 3, 32, 32), dtype('uint8'), [0, 1, 2])
"""
from __future__ import annotations

import numpy as np

from ..errors import TrainlabError
from .core import DATASETS

TEXTURE_CLASSES = ["stripes", "checks", "dots", "waves", "rings", "zigzag", "grid", "blotches"]


def _colors(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 3) RGB in [0, 1]: random hue, mostly saturated, random brightness."""
    h = rng.uniform(0, 1, n)
    s = rng.uniform(0.3, 1.0, n)
    v = rng.uniform(0.25, 1.0, n)
    k = (np.array([5.0, 3.0, 1.0])[None] + h[:, None] * 6) % 6  # HSV -> RGB, vectorized
    return v[:, None] - v[:, None] * s[:, None] * np.clip(np.minimum(k, 4 - k), 0, 1)


def _masks(kind: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """(n, size, size) pattern masks in [0, 1] for class ids `kind` (n,)."""
    n = len(kind)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)  # (H, W) pixel coordinates
    theta = rng.uniform(0, np.pi, n)[:, None, None]
    period = rng.uniform(4.0, 12.0, n)[:, None, None]  # pixels
    phase = rng.uniform(0, 2 * np.pi, n)[:, None, None]
    sharp = np.exp(rng.uniform(np.log(2), np.log(30), n))[:, None, None]  # soft (2) to hard (30) edges
    u = xx * np.cos(theta) + yy * np.sin(theta)  # (n, H, W): rotated coordinates
    v = -xx * np.sin(theta) + yy * np.cos(theta)
    w = 2 * np.pi / period
    amp = rng.uniform(0.15, 0.5, n)[:, None, None] * period * 2  # bend amplitude, pixels
    bend_w = 2 * np.pi / rng.uniform(8.0, 24.0, n)[:, None, None]

    def soft(t, i):  # signed pattern value -> mask in [0, 1]
        return 1 / (1 + np.exp(-np.clip(sharp[i] * t, -50, 50)))

    tri = 2 * np.abs(((v * bend_w / (2 * np.pi)) % 1) - 0.5) - 0.5  # triangle wave in [-0.5, 0.5]
    cu, cv = (u / period) % 1 - 0.5, (v / period) % 1 - 0.5  # position within the lattice cell
    cx, cy = rng.uniform(0, size, (2, n))[:, :, None, None]
    radius = rng.uniform(0.2, 0.38, n)[:, None, None]
    line = rng.uniform(0.08, 0.2, n)[:, None, None]
    out = np.empty((n, size, size))
    for k in range(len(TEXTURE_CLASSES)):
        i = np.flatnonzero(kind == k)
        if len(i) == 0:
            continue
        if k == 0:  # stripes
            m = soft(np.sin(w[i] * u[i] + phase[i]), i)
        elif k == 1:  # checks
            m = soft(np.sin(w[i] * u[i] + phase[i]) * np.sin(w[i] * v[i]) * 2, i)
        elif k == 2:  # dots
            m = soft((radius[i] - np.hypot(cu[i], cv[i])) * 8, i)
        elif k == 3:  # waves
            m = soft(np.sin(w[i] * (u[i] + amp[i] * np.sin(bend_w[i] * v[i])) + phase[i]), i)
        elif k == 4:  # rings
            r = np.hypot(xx - cx[i], yy - cy[i])
            m = soft(np.sin(w[i] * r + phase[i]), i)
        elif k == 5:  # zigzag
            m = soft(np.sin(w[i] * (u[i] + amp[i] * tri[i]) + phase[i]), i)
        elif k == 6:  # grid
            m = soft((line[i] - np.minimum(np.abs(cu[i]), np.abs(cv[i]))) * 8, i)
        else:  # blotches: low-pass noise, thresholded at its median
            f = np.fft.fftfreq(size)
            rad = np.hypot(f[:, None], f[None, :])  # (H, W) cycles per pixel
            cut = (1.0 / period[i])  # (m, 1, 1)
            spec = np.fft.fft2(rng.standard_normal((len(i), size, size))) * np.exp(-(rad / cut) ** 2)
            z = np.fft.ifft2(spec).real
            z = (z - np.median(z, axis=(1, 2), keepdims=True)) / (z.std(axis=(1, 2), keepdims=True) + 1e-8)
            m = soft(z, i)
        out[i] = m
    return out


def textures(n: int = 6000, size: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, 3, size, size) uint8 and labels (n,) int64, classes balanced (n // 8 each, rest spread)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % len(TEXTURE_CLASSES)
    rng.shuffle(y)
    mask = _masks(y, size, rng)[:, None]  # (n, 1, H, W)
    c0, c1, c2 = (_colors(rng, n)[:, :, None, None] for _ in range(3))  # (n, 3, 1, 1) each
    yy, xx = np.mgrid[0:size, 0:size] / max(size - 1, 1)
    grad = ((xx + yy) / 2)[None, None] * (rng.uniform(0, 1, n) < 0.3)[:, None, None, None]  # a third colour, sometimes
    background = c0 * (1 - grad) + c2 * grad
    img = background * (1 - mask) + c1 * mask  # (n, 3, H, W) in [0, 1]
    img = img + rng.normal(0, rng.uniform(0, 0.06, n)[:, None, None, None], img.shape)  # pixel noise
    return np.clip(np.round(img * 255), 0, 255).astype(np.uint8), y.astype(np.int64)


@DATASETS.register("textures", description="colour textures (stripes, checks, dots, waves, rings, zigzag, grid, "
                   "blotches), 3x32x32 (n=6000, size=32, data_seed=0); for style networks; test = fixed 20%")
def textures_dataset(n: int = 6000, size: int = 32, data_seed: int = 0) -> dict:
    if not isinstance(n, int) or n < 16:
        raise TrainlabError(f"textures: n={n!r} must be an integer of at least 16")
    if not isinstance(size, int) or size < 8:
        raise TrainlabError(f"textures: size={size!r} must be an integer of at least 8")
    x, y = textures(n=n, size=size, seed=data_seed)
    return {"train": (x, y), "test": None, "classes": list(TEXTURE_CLASSES)}
