"""Small datasets generated from a seed: 2-D spirals and moons, and `shapes` segmentation images.

All draws come from `numpy.random.default_rng(seed)`, so the same arguments give the same
arrays on every machine.

Example:
    >>> x, y = spirals(n=300, classes=3, seed=0)
    >>> x.shape, x.dtype, sorted(set(y.tolist()))
    ((300, 2), dtype('float32'), [0, 1, 2])
"""
from __future__ import annotations

import numpy as np

SHAPE_CLASSES = ["background", "circle", "square", "triangle"]


def spirals(n: int = 1500, classes: int = 3, noise: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`classes` interleaved spiral arms in 2-D (the CS231n toy set), n points in total.

    Arm k: radius r in [0, 1], angle t = 4 (k + r) + noise * N(0, 1); point r (sin t, cos t).
    """
    rng = np.random.default_rng(seed)
    per = np.full(classes, n // classes)
    per[: n % classes] += 1
    y = np.repeat(np.arange(classes), per)
    r = np.concatenate([np.linspace(0.0, 1.0, m) for m in per])  # radius per point, 0..1 along each arm
    t = 4.0 * (y + r) + noise * rng.standard_normal(n)  # angle in radians
    x = np.stack([r * np.sin(t), r * np.cos(t)], axis=1)
    return x.astype(np.float32), y.astype(np.int64)


def moons(n: int = 1000, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (like sklearn's make_moons), plus N(0, noise^2) jitter."""
    rng = np.random.default_rng(seed)
    n0 = n - n // 2
    t0, t1 = rng.uniform(0, np.pi, n0), rng.uniform(0, np.pi, n // 2)
    upper = np.stack([np.cos(t0), np.sin(t0)], 1)
    lower = np.stack([1 - np.cos(t1), 0.5 - np.sin(t1)], 1)
    x = np.concatenate([upper, lower]) + noise * rng.standard_normal((n, 2))
    y = np.repeat([0, 1], [n0, n // 2])
    return x.astype(np.float32), y.astype(np.int64)


def shapes(n: int = 2000, size: int = 32, channels: int = 1, max_shapes: int = 3,
           seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, channels, size, size) uint8 with 1..max_shapes circles/squares/triangles and
    per-pixel masks (n, size, size) int64: 0 background, 1 circle, 2 square, 3 triangle.

    Shapes drawn later cover earlier ones (the mask shows the visible one). Squares and
    triangles are randomly rotated; intensity is noisy so the task is not a threshold.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5  # pixel centres, (H, W)
    img = rng.uniform(0, 70, (n, channels, 1, 1)) * np.ones((1, 1, size, size))  # dark background
    mask = np.zeros((n, size, size), dtype=np.int64)
    count = rng.integers(1, max_shapes + 1, n)
    for slot in range(max_shapes):
        kind = rng.integers(1, 4, n)  # 1 circle, 2 square, 3 triangle
        cx, cy = rng.uniform(0.2, 0.8, (2, n)) * size
        r = rng.uniform(0.12, 0.24, n) * size  # half-size in pixels
        angle = rng.uniform(0, 2 * np.pi, n)
        color = rng.uniform(120, 255, (n, channels))
        if channels == 3:  # saturated colours: scale one random channel down
            color[np.arange(n), rng.integers(0, 3, n)] *= rng.uniform(0.1, 0.6, n)
        inside = _inside(kind, xx - cx[:, None, None], yy - cy[:, None, None], r, angle)
        inside &= (slot < count)[:, None, None]  # (n, H, W)
        mask[inside] = np.broadcast_to(kind[:, None, None], inside.shape)[inside]
        img = np.where(inside[:, None], color[:, :, None, None], img)
    img = img + rng.normal(0, 10, img.shape)  # sensor noise, in 0..255 units
    return np.clip(np.round(img), 0, 255).astype(np.uint8), mask


def _inside(kind, dx, dy, r, angle) -> np.ndarray:
    """Boolean (n, H, W): is each pixel (offset dx, dy from the centre) inside shape `kind`."""
    r, c, s = r[:, None, None], np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    u, v = c * dx + s * dy, -s * dx + c * dy  # rotated coordinates
    circle = dx**2 + dy**2 <= r**2
    square = (np.abs(u) <= 0.85 * r) & (np.abs(v) <= 0.85 * r)  # 0.85: similar area to the circle
    tri = np.ones_like(circle)
    for k in range(3):  # equilateral triangle: inside three half-planes, inradius r / 2
        a = 2 * np.pi * k / 3
        tri &= u * np.cos(a) + v * np.sin(a) <= 0.5 * r * 1.2
    k = kind[:, None, None]
    return np.where(k == 1, circle, np.where(k == 2, square, tri))
