"""Geometric ops (flips, crops, zoom, shift, rotation, shear) as per-sample affine maps, and `warp`,
which applies a composed map to images (bilinear) and masks (nearest) with one `grid_sample`."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .ops import GeometricOp, _affine, _rand, _register


@_register("hflip", "mirror left-right (p only); changes the label of text and of left/right classes "
           "(a mirrored 2, 3, 7 or letter is not one); safe for clothes, animals, scenes")
class HFlip(GeometricOp):
    has_magnitude = False
    assumes = "hflip"

    def matrices(self, g, b, h, w):
        one = torch.ones(b, dtype=torch.float64)
        return _affine(-one, 0 * one, 0 * one, one)


@_register("vflip", "mirror top-bottom (p only); turns a 6 into a 9 on digits and puts objects upside down: "
           "rarely label-safe except for aerial, cell or texture images")
class VFlip(GeometricOp):
    has_magnitude = False
    assumes = "vflip"

    def matrices(self, g, b, h, w):
        one = torch.ones(b, dtype=torch.float64)
        return _affine(one, 0 * one, 0 * one, -one)


@_register("crop", "pad by magnitude pixels (zeros) and crop back at a random spot: integer shift in "
           "[-m, m] px per axis (default p=1, m=4); label-safe unless the object is pushed out")
class Crop(GeometricOp):
    p: float = 1.0
    magnitude: float = 4.0
    unit = "pixels of padding"

    def matrices(self, g, b, h, w):
        k = int(round(self.magnitude))
        shift = torch.randint(-k, k + 1, (2, b), generator=g).double()  # whole pixels: no interpolation blur
        one = torch.ones(b, dtype=torch.float64)
        return _affine(one, 0 * one, 0 * one, one, shift[0], shift[1])


@_register("resized_crop", "zoom by a factor in [1-m, 1+m] (m=0.25), >1 crops a random window and enlarges it, "
           "<1 shrinks the image into a random spot; strong zoom-in can cut the object out (label lost)")
class ResizedCrop(GeometricOp):
    magnitude: float = 0.25
    unit = "fraction of size"
    max_magnitude = 0.9

    def matrices(self, g, b, h, w):
        zoom = 1.0 + self.magnitude * _rand(g, b)
        room = (1.0 / zoom - 1.0).abs()  # how far the window centre may move, in half-sizes
        off = _rand(g, 2, b) * room
        inv = 1.0 / zoom
        return _affine(inv, 0 * inv, 0 * inv, inv, off[0] * (w / 2), off[1] * (h / 2))


@_register("translate", "shift by up to magnitude x size in each axis (fraction, m=0.1), continuous, zeros "
           "fill; label-safe for centred objects unless shifted out")
class Translate(GeometricOp):
    magnitude: float = 0.1
    unit = "fraction of size"
    max_magnitude = 1.0

    def matrices(self, g, b, h, w):
        t = _rand(g, 2, b) * self.magnitude
        one = torch.ones(b, dtype=torch.float64)
        return _affine(one, 0 * one, 0 * one, one, t[0] * w, t[1] * h)


@_register("rotate", "rotate by an angle uniform in [-m, m] degrees (m=15); large angles change labels "
           "(6 <-> 9 near 180, digits/text read wrong), small ones are safe for most objects")
class Rotate(GeometricOp):
    magnitude: float = 15.0
    unit = "degrees"
    max_magnitude = 180.0
    assumes = "rotation"
    assumes_above = 15.0  # degrees: small tilts keep even digits readable
    breaks_boxes = "a rotated object's box is not the rotated box's corners, and their enclosing box is loose"

    def matrices(self, g, b, h, w):
        a = torch.deg2rad(_rand(g, b) * self.magnitude)
        c, s = torch.cos(a), torch.sin(a)
        return _affine(c, -s, s, c)


@_register("shear", "shear x and y by angles uniform in [-m, m] degrees (m=10); slants like handwriting, "
           "label-safe when small; near 45+ degrees shapes stop being recognizable")
class Shear(GeometricOp):
    magnitude: float = 10.0
    unit = "degrees"
    max_magnitude = 60.0
    breaks_boxes = "a sheared box is a parallelogram; its enclosing box is loose"

    def matrices(self, g, b, h, w):
        t = torch.tan(torch.deg2rad(_rand(g, 2, b) * self.magnitude))
        one = torch.ones(b, dtype=torch.float64)
        return _affine(one, t[0], 0 * one, one) @ _affine(one, 0 * one, t[1], one)



# ---------------------------------------------------------------- applying the maps
def warp(x: torch.Tensor, mask: torch.Tensor | None, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Apply per-sample pixel-space maps `theta` (B, 3, 3), output -> input coordinates.

    Samples whose map is exactly the identity are left untouched (bit for bit).
    """
    b, c, h, w = x.shape
    eye = torch.eye(3, dtype=theta.dtype)
    moved = (theta != eye).flatten(1).any(1).nonzero().squeeze(1)
    if len(moved) == 0:
        return x, mask
    everyone = len(moved) == b
    idx = moved.to(x.device)
    grid = _sampling_grid(theta[moved].to(device=x.device, dtype=x.dtype), h, w)  # built on x.device
    src = x if everyone else x[idx]
    warped = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if everyone:
        out = warped
    else:
        out = x.clone()
        out[idx] = warped
    if mask is not None:
        src = (mask if everyone else mask[idx]).unsqueeze(1).to(x.dtype)
        m = F.grid_sample(src, grid, mode="nearest", padding_mode="zeros", align_corners=False).squeeze(1).round().long()
        if everyone:
            mask = m
        else:
            mask = mask.clone()
            mask[idx] = m
    return out, mask


def _sampling_grid(theta: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """grid_sample grid (M, H, W, 2) for pixel-space maps theta (M, 3, 3), on theta's device.

    Same as F.affine_grid(align_corners=False) after converting theta to normalized units,
    written as ONE matrix product (2M, 3) @ (3, HW): ~10x faster than affine_grid's batched
    matmul on CPU for small images. Returns a permuted view, which grid_sample accepts.
    """
    # centred pixel coordinates of output pixel centres: x_c = i + 0.5 - W/2
    xc = torch.arange(w, dtype=theta.dtype, device=theta.device) + (0.5 - w / 2)
    yc = torch.arange(h, dtype=theta.dtype, device=theta.device) + (0.5 - h / 2)
    gx, gy = torch.meshgrid(xc, yc, indexing="xy")  # (H, W) each
    base = torch.stack([gx.reshape(-1), gy.reshape(-1), torch.ones_like(gx).reshape(-1)])  # (3, HW)
    to_norm = theta.new_tensor([2.0 / w, 2.0 / h]).view(1, 2, 1)  # centred pixels -> [-1, 1]
    rows = (theta[:, :2] * to_norm).reshape(-1, 3)  # (2M, 3): x-row and y-row of each map
    return (rows @ base).view(-1, 2, h, w).permute(0, 2, 3, 1)  # (M, H, W, 2)

