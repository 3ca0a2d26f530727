"""Reading and writing the images of style transfer: RGB float (1, 3, H, W) in [0, 1] <-> PNG/JPEG,
and the content | style | result panel."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .. import runs as rf
from ..errors import TrainlabError
from ..report.plots import plt, save_figure


def load_image(path: str | Path, size: int | None = None) -> torch.Tensor:
    """A PNG/JPEG (any mode) as RGB float (1, 3, H, W) in [0, 1], resized so its longer side is `size`."""
    p = Path(path)
    if not p.is_file():
        raise TrainlabError(f"image {str(p)!r} not found; pass a PNG or JPEG file")
    try:
        with Image.open(p) as im:
            im.load()
            img = im.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise TrainlabError(f"image {str(p)!r} is not a readable image ({type(e).__name__}); "
                            "pass a PNG or JPEG file") from None
    if size is not None:
        w, h = img.size
        s = size / max(w, h)
        img = img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.LANCZOS)

    a = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy())  # (H, W, 3)
    return a.permute(2, 0, 1)[None].float().div(255.0).contiguous()  # (1, 3, H, W)


def save_image(x: torch.Tensor, path: str | Path) -> Path:
    """(1, 3, H, W) or (3, H, W) in [0, 1] -> PNG (atomic write)."""
    x = x.detach().cpu().reshape(-1, *x.shape[-2:]) if x.dim() == 4 else x.detach().cpu()
    a = (x.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG", optimize=True)
    rf.write_bytes(Path(path), buf.getvalue())
    return Path(path)


def save_panel(content: torch.Tensor, style: torch.Tensor, result: torch.Tensor, path: str | Path,
               title: str = "") -> Path:
    """Side-by-side figure: content | style | result."""
    fig, axes = plt.subplots(1, 3, figsize=(9.6, 3.6), dpi=100)
    for ax, img, name in zip(axes, (content, style, result), ("content", "style", "result")):
        ax.imshow(img.detach().cpu()[0].clamp(0, 1).permute(1, 2, 0).numpy(), interpolation="lanczos")
        ax.set_title(name)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, Path(path), dpi=100)
