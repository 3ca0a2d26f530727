"""Regenerate the two example images of `trainlab stylize` (deterministic, numpy + Pillow only).

    .venv/bin/python assets/make_assets.py     # writes assets/content.png and assets/style.png

content.png: a simple scene of flat shapes (sky, sun, hills, a house, a tree), 128x128.
style.png:   a colourful, painting-like swirl of bold brush strokes, 128x128.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

HERE = Path(__file__).resolve().parent


def content(size: int = 128) -> Image.Image:
    s = size / 128
    yy = np.linspace(0, 1, size)[:, None, None]
    sky = (1 - yy) * np.array([90, 150, 230]) + yy * np.array([200, 225, 250])  # blue to pale, top to bottom
    img = Image.fromarray(np.broadcast_to(sky, (size, size, 3)).astype(np.uint8))
    d = ImageDraw.Draw(img)
    d.ellipse([96 * s, 10 * s, 118 * s, 32 * s], fill=(255, 210, 60))  # sun
    x = np.arange(size + 1)
    hill = 82 * s + 8 * s * np.sin(x / size * 2 * np.pi * 1.2 + 0.6)  # ground line
    d.polygon([(0, size)] + [(float(i), float(h)) for i, h in zip(x, hill)] + [(size, size)], fill=(70, 150, 60))
    d.rectangle([22 * s, 58 * s, 62 * s, 92 * s], fill=(200, 60, 50))  # house
    d.polygon([(16 * s, 60 * s), (42 * s, 36 * s), (68 * s, 60 * s)], fill=(110, 60, 40))  # roof
    d.rectangle([36 * s, 72 * s, 47 * s, 92 * s], fill=(80, 50, 30))  # door
    d.rectangle([50 * s, 64 * s, 58 * s, 72 * s], fill=(240, 240, 200))  # window
    d.rectangle([88 * s, 64 * s, 95 * s, 100 * s], fill=(100, 65, 35))  # trunk
    d.ellipse([74 * s, 36 * s, 110 * s, 72 * s], fill=(30, 110, 45))  # crown
    return img


def style(size: int = 128, seed: int = 3) -> Image.Image:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size  # (H, W) in [0, 1)
    # a flow field: two vortices plus a wave; strokes follow it
    v = np.zeros((size, size))
    for cx, cy, k in ((0.3, 0.35, 1.0), (0.72, 0.7, -1.0)):
        r = np.hypot(xx - cx, yy - cy) + 1e-3
        theta = np.arctan2(yy - cy, xx - cx)  # sin(theta + ...) is continuous across the branch cut
        v += 1.6 * np.sin(theta + k * 14 * r) * np.exp(-r / 0.3) + 10 * r * np.exp(-r / 0.5)
    v += 2.0 * np.sin(6 * xx + 3 * np.sin(5 * yy))
    noise = rng.standard_normal((size, size))
    bands = (v * 2.2 + 0.15 * noise) % 5  # which of 5 paint colours
    palette = np.array([[20, 40, 120], [40, 110, 200], [250, 210, 40], [240, 120, 30], [240, 240, 220]], float)
    i = np.floor(bands).astype(int)
    t = bands - i
    img = palette[i] * (1 - t[..., None] ** 4) + palette[(i + 1) % 5] * t[..., None] ** 4  # mostly flat strokes
    img += 25 * rng.standard_normal((size, size, 1)) * (np.sin(140 * (xx + yy)) > 0)[..., None]  # bristle marks
    out = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    return out.filter(ImageFilter.SMOOTH)


if __name__ == "__main__":
    content().save(HERE / "content.png", optimize=True)
    style().quantize(48, dither=Image.Dither.NONE).save(HERE / "style.png", optimize=True)
    for name in ("content.png", "style.png"):
        print(name, (HERE / name).stat().st_size, "bytes")
