"""Batched data augmentation on float images (B, C, H, W) in [0, 1], with optional
segmentation masks (B, H, W) int64 moved by the same geometric transform.

Every op has a per-sample probability `p` and a `magnitude` in a documented unit; magnitude 0
is the identity. Random numbers come from the CPU `torch.Generator` you pass (so its state
can be checkpointed) and are moved to the batch's device. Consecutive geometric ops are
composed into one affine map per sample and applied with a single `grid_sample`
(bilinear for images, nearest for masks, zeros outside = background class 0).

Example:
    >>> aug = build_augmentation(["hflip", "crop:magnitude=4", "rotate:p=0.5:magnitude=15"])
    >>> g = torch.Generator().manual_seed(0)
    >>> x, _ = aug(torch.rand(8, 1, 28, 28), g)
    >>> x.shape
    torch.Size([8, 1, 28, 28])
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import ClassVar

import torch
import torch.nn.functional as F

from ..errors import TrainlabError
from ..registry import Registry

AUGMENTATIONS = Registry("augmentation")


@dataclass
class Op:
    """One augmentation: applied to each sample with probability `p`; strength `magnitude`."""

    p: float = 0.5
    magnitude: float = 0.0
    name: ClassVar[str] = ""
    unit: ClassVar[str] = ""  # what magnitude measures, for messages and the CLI
    geometric: ClassVar[bool] = False
    has_magnitude: ClassVar[bool] = True
    max_magnitude: ClassVar[float] = math.inf

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                raise TrainlabError(f"augmentation {self.name!r}: {f.name}={v!r} must be a finite number")
            setattr(self, f.name, float(v))
        if not 0.0 <= self.p <= 1.0:
            raise TrainlabError(f"augmentation {self.name!r}: p={self.p:g} must be a probability in [0, 1]")
        if self.magnitude < 0:
            raise TrainlabError(f"augmentation {self.name!r}: magnitude={self.magnitude:g} must be >= 0 ({self.unit})")
        if self.magnitude > self.max_magnitude:
            raise TrainlabError(f"augmentation {self.name!r}: magnitude={self.magnitude:g} must be at most "
                                f"{self.max_magnitude:g} ({self.unit})")
        if not self.has_magnitude and self.magnitude != 0:
            raise TrainlabError(f"augmentation {self.name!r} has no magnitude; set only p (probability)")

    def spec(self) -> dict:
        return {"name": self.name, **asdict(self)}

    def __str__(self) -> str:
        extra = "".join(f", {k}={v:g}" for k, v in asdict(self).items() if k not in ("p", "magnitude"))
        mag = f", {self.magnitude:g} {self.unit}" if self.has_magnitude else ""
        return f"{self.name}(p={self.p:g}{mag}{extra})"


class GeometricOp(Op):
    """Returns per-sample affine maps (B, 3, 3) in centred pixel units: output coord -> input coord."""

    geometric = True

    def matrices(self, g: torch.Generator, b: int, h: int, w: int) -> torch.Tensor:
        raise NotImplementedError


class PhotometricOp(Op):
    """Changes pixel values only; masks are left alone."""

    def apply(self, x: torch.Tensor, g: torch.Generator, on: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


def _rand(g: torch.Generator, *shape: int, lo: float = -1.0, hi: float = 1.0) -> torch.Tensor:
    """Uniform [lo, hi) on CPU in float64 (matrices are built on CPU, then moved)."""
    return torch.rand(*shape, generator=g, dtype=torch.float64) * (hi - lo) + lo


def _affine(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, d: torch.Tensor,
            tx: torch.Tensor | float = 0.0, ty: torch.Tensor | float = 0.0) -> torch.Tensor:
    """Stack per-sample [[a, b, tx], [c, d, ty], [0, 0, 1]] -> (B, 3, 3)."""
    m = torch.zeros(len(a), 3, 3, dtype=torch.float64)
    m[:, 0, 0], m[:, 0, 1], m[:, 0, 2] = a, b, tx
    m[:, 1, 0], m[:, 1, 1], m[:, 1, 2] = c, d, ty
    m[:, 2, 2] = 1.0
    return m


def _register(name: str, description: str):
    def deco(cls):
        cls.name = name
        return AUGMENTATIONS.register(name, description=description)(dataclass(cls))
    return deco


# ---------------------------------------------------------------- geometric ops
@_register("hflip", "mirror left-right (p only); changes the label of text and of left/right classes "
           "(a mirrored 2, 3, 7 or letter is not one); safe for clothes, animals, scenes")
class HFlip(GeometricOp):
    has_magnitude = False

    def matrices(self, g, b, h, w):
        one = torch.ones(b, dtype=torch.float64)
        return _affine(-one, 0 * one, 0 * one, one)


@_register("vflip", "mirror top-bottom (p only); turns a 6 into a 9 on digits and puts objects upside down: "
           "rarely label-safe except for aerial, cell or texture images")
class VFlip(GeometricOp):
    has_magnitude = False

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

    def matrices(self, g, b, h, w):
        t = torch.tan(torch.deg2rad(_rand(g, 2, b) * self.magnitude))
        one = torch.ones(b, dtype=torch.float64)
        return _affine(one, t[0], 0 * one, one) @ _affine(one, 0 * one, t[1], one)


# ---------------------------------------------------------------- photometric ops
def _per_sample(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return v.to(device=x.device, dtype=x.dtype).view(-1, 1, 1, 1)  # (B,) -> (B, 1, 1, 1)


@_register("brightness", "x + u m, u uniform in [-1, 1] per image (m=0.2, intensity in [0, 1]), clipped; "
           "shifts the mean intensity, label-safe")
class Brightness(PhotometricOp):
    magnitude: float = 0.2
    unit = "intensity (0..1)"
    max_magnitude = 1.0

    def apply(self, x, g, on):
        delta = _per_sample(_rand(g, len(x)) * self.magnitude, x) * on.view(-1, 1, 1, 1)
        return (x + delta).clamp_(0, 1)


@_register("contrast", "mean + f (x - mean), f = 1 + u m, u uniform in [-1, 1] per image (m=0.3, m <= 1), "
           "clipped; label-safe")
class Contrast(PhotometricOp):
    magnitude: float = 0.3
    unit = "fraction"
    max_magnitude = 1.0

    def apply(self, x, g, on):
        f = _per_sample(1.0 + _rand(g, len(x)) * self.magnitude, x)
        f = torch.where(on.view(-1, 1, 1, 1), f, torch.ones_like(f))
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        return torch.where(f != 1, (mean + f * (x - mean)).clamp_(0, 1), x)  # f = 1: exactly x


@_register("color_jitter", "RGB only: brightness +u1 m, contrast and saturation factors 1 + u m (u uniform "
           "[-1, 1], m=0.2); changes the label only when colour defines the class")
class ColorJitter(PhotometricOp):
    magnitude: float = 0.2
    unit = "fraction"
    max_magnitude = 1.0

    def apply(self, x, g, on):
        if x.shape[1] != 3:
            raise TrainlabError(f"augmentation 'color_jitter' needs RGB images (3 channels), got {x.shape[1]}; "
                                "use brightness/contrast for grayscale")
        u = _rand(g, 3, len(x)) * self.magnitude
        keep = on.view(-1, 1, 1, 1)
        bright = _per_sample(u[0], x) * keep
        contrast = torch.where(keep, _per_sample(1 + u[1], x), torch.ones_like(bright))
        sat = torch.where(keep, _per_sample(1 + u[2], x), torch.ones_like(bright))
        gray = (x * x.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)  # luma
        y = gray + sat * (x - gray)
        mean = y.mean(dim=(1, 2, 3), keepdim=True)
        out = (mean + contrast * (y - mean) + bright).clamp_(0, 1)
        return torch.where(keep & (self.magnitude > 0), out, x)  # untouched samples stay exactly x


@_register("noise", "x + m N(0, 1) per pixel (gaussian, m=0.05 standard deviation in intensity), clipped; "
           "label-safe at small m")
class Noise(PhotometricOp):
    magnitude: float = 0.05
    unit = "std of intensity (0..1)"

    def apply(self, x, g, on):
        idx = on.nonzero().squeeze(1)  # draw noise only for the chosen samples (randn dominates the cost)
        if len(idx) == 0 or self.magnitude == 0:
            return x
        n = torch.randn((len(idx), *x.shape[1:]), generator=g).to(device=x.device, dtype=x.dtype)
        out = x.clone()
        out[idx] = torch.add(x[idx], n, alpha=self.magnitude).clamp_(0, 1)
        return out


@_register("blur", "gaussian blur with sigma uniform in [0, m] pixels per image (m=1); label-safe unless "
           "fine detail defines the class")
class Blur(PhotometricOp):
    magnitude: float = 1.0
    unit = "pixels (max sigma)"
    max_magnitude = 5.0

    def apply(self, x, g, on):
        sigma = _rand(g, len(x), lo=0.0, hi=1.0) * self.magnitude * on.cpu()  # 0 for samples left alone
        blurred = gaussian_blur(x, sigma, radius=max(1, math.ceil(3 * self.magnitude)))
        return torch.where(on.view(-1, 1, 1, 1) & (self.magnitude > 0), blurred, x)


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor, radius: int) -> torch.Tensor:
    """Blur each image of (B, C, H, W) with its own gaussian, sigma (B,) in pixels (0 = unchanged).

    Separable kernel exp(-k^2 / 2 sigma^2) for k in [-radius, radius], normalized; edges replicated.

    Example:
        >>> gaussian_blur(torch.rand(2, 1, 8, 8), torch.tensor([0.0, 1.0]), radius=3).shape
        torch.Size([2, 1, 8, 8])
    """
    b, c, h, w = x.shape
    k = torch.arange(-radius, radius + 1, dtype=torch.float64)
    wts = torch.exp(-(k**2) / (2 * sigma.double().clamp_min(1e-6).view(-1, 1) ** 2))  # sigma ~0 -> delta
    wts = (wts / wts.sum(1, keepdim=True)).to(device=x.device, dtype=x.dtype)  # (B, 2r+1)
    wts = wts.repeat_interleave(c, 0)  # one kernel per (sample, channel) group
    y = F.pad(x.reshape(1, b * c, h, w), (radius,) * 4, mode="replicate")
    y = F.conv2d(y, wts.view(b * c, 1, 1, -1), groups=b * c)  # along rows
    y = F.conv2d(y, wts.view(b * c, 1, -1, 1), groups=b * c)  # along columns
    return y.view(b, c, h, w)


@_register("sobel", "blend (1-a) x + a E, a = m (m=1), E the Sobel gradient magnitude sqrt(gx^2 + gy^2) "
           "scaled to max 1 per image: keeps edges, drops texture and colour")
class Sobel(PhotometricOp):
    magnitude: float = 1.0
    unit = "blend fraction"
    max_magnitude = 1.0

    def apply(self, x, g, on):
        edge = sobel_magnitude(x)
        edge = edge / edge.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)  # max 1 per image
        a = self.magnitude * on.to(x.dtype).view(-1, 1, 1, 1)
        return torch.where(a > 0, (1 - a) * x + a * edge, x)


def sobel_magnitude(x: torch.Tensor) -> torch.Tensor:
    """sqrt(gx^2 + gy^2) per channel with 3x3 Sobel kernels, edges replicated; (B, C, H, W) -> same.

    Example:
        >>> sobel_magnitude(torch.zeros(1, 1, 5, 5)).abs().max()
        tensor(0.)
    """
    b, c, h, w = x.shape
    kx = x.new_tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])  # d/dx, smoothed along y
    k = torch.stack([kx, kx.T]).unsqueeze(1).repeat(c, 1, 1, 1)  # (2C, 1, 3, 3): gx, gy per channel
    grad = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k, groups=c).view(b, c, 2, h, w)
    return grad.pow(2).sum(2).sqrt()


@_register("cutout", "random erasing: a square of side m x size (m=0.25) at a random centre (may overlap the "
           "border) set to `value` (0); hides part of the object, masks unchanged")
class Cutout(PhotometricOp):
    magnitude: float = 0.25
    value: float = 0.0
    unit = "fraction of size"
    max_magnitude = 1.0

    def apply(self, x, g, on):
        b, c, h, w = x.shape
        side = self.magnitude * min(h, w)  # pixels
        centre = _rand(g, 2, b, lo=0.0, hi=1.0) * torch.tensor([[h], [w]], dtype=torch.float64)  # (2, B) pixels
        cy, cx = (_per_sample(v, x).view(-1, 1, 1) for v in centre)
        ys = torch.arange(h, device=x.device, dtype=x.dtype).view(1, -1, 1) + 0.5  # pixel centres
        xs = torch.arange(w, device=x.device, dtype=x.dtype).view(1, 1, -1) + 0.5
        box = ((ys - cy).abs() < side / 2) & ((xs - cx).abs() < side / 2) & on.view(-1, 1, 1)  # (B, H, W)
        return torch.where(box.unsqueeze(1), torch.full_like(x, self.value), x)


# ---------------------------------------------------------------- composition
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


class Augmentation:
    """A sequence of ops applied in order to whole batches.

    Example:
        >>> aug = build_augmentation(["rotate:p=1:magnitude=30"])
        >>> x, m = aug(torch.rand(2, 1, 8, 8), torch.Generator().manual_seed(0),
        ...            mask=torch.zeros(2, 8, 8, dtype=torch.long))
        >>> m.shape
        torch.Size([2, 8, 8])
    """

    def __init__(self, ops: list[Op]):
        self.ops = list(ops)

    def __bool__(self) -> bool:
        return bool(self.ops)

    def __len__(self) -> int:
        return len(self.ops)

    def __repr__(self) -> str:
        return "Augmentation(" + ", ".join(map(str, self.ops)) + ")"

    def specs(self) -> list[dict]:
        """The ops as plain dicts (for configs); `build_augmentation(aug.specs())` rebuilds it."""
        return [op.spec() for op in self.ops]

    def __call__(self, x: torch.Tensor, generator: torch.Generator,
                 mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        _check_inputs(x, generator, mask)
        b, _, h, w = x.shape
        pending = None  # composed geometric maps (B, 3, 3) not yet applied
        for op in self.ops:
            on = torch.rand(b, generator=generator) < op.p  # (B,) CPU bool; drawn for every op
            if op.geometric:
                m = torch.where(on.view(-1, 1, 1), op.matrices(generator, b, h, w), torch.eye(3, dtype=torch.float64))
                pending = m if pending is None else pending @ m  # apply earlier op last: in = T1 T2 out
                continue
            if pending is not None:
                x, mask = warp(x, mask, pending)
                pending = None
            x = op.apply(x, generator, on.to(x.device))
        if pending is not None:
            x, mask = warp(x, mask, pending)
        return x, mask


def _check_inputs(x, g, mask) -> None:
    if not (isinstance(x, torch.Tensor) and x.dim() == 4 and x.is_floating_point()):
        got = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise TrainlabError(f"augmentation needs float images (B, C, H, W) in [0, 1], got {got}; "
                            "use to_float on uint8 images (tabular data cannot be augmented)")
    if not isinstance(g, torch.Generator) or g.device.type != "cpu":
        raise TrainlabError("augmentation needs a CPU torch.Generator, e.g. torch.Generator().manual_seed(seed)")
    if mask is not None and (mask.shape != (x.shape[0], *x.shape[2:]) or mask.dtype != torch.int64):
        raise TrainlabError(f"augmentation mask must be int64 (B, H, W) = {(x.shape[0], *x.shape[2:])}, "
                            f"got {mask.dtype} {tuple(mask.shape)}")


def parse_op_spec(s: str) -> dict:
    """'rotate:p=0.5:magnitude=15' -> {'name': 'rotate', 'p': 0.5, 'magnitude': 15.0}.

    A bare number is the magnitude: 'rotate:15'. Values are checked by `build_augmentation`.

    Example:
        >>> parse_op_spec("crop:p=1:magnitude=4")
        {'name': 'crop', 'p': 1.0, 'magnitude': 4.0}
    """
    parts = [t.strip() for t in str(s).strip().split(":")]
    if not parts[0]:
        raise TrainlabError(f"augmentation spec {s!r} has no op name; write e.g. 'rotate:p=0.5:magnitude=15'")
    out: dict = {"name": parts[0]}
    for t in parts[1:]:
        key, eq, val = t.partition("=")
        key, val = (key.strip(), val.strip()) if eq else ("magnitude", key.strip())
        try:
            out[key] = float(val)
        except ValueError:
            raise TrainlabError(f"augmentation spec {s!r}: {key}={val!r} is not a number; "
                                "write e.g. 'rotate:p=0.5:magnitude=15'") from None
    return out


def build_augmentation(specs: list[str | dict] | None) -> Augmentation:
    """Validated `Augmentation` from specs ('name:key=value...' strings or dicts with 'name').

    Unknown ops or options, p outside [0, 1] and out-of-range magnitudes raise TrainlabError.

    Example:
        >>> build_augmentation(["hflip", {"name": "noise", "magnitude": 0.1}])
        Augmentation(hflip(p=0.5), noise(p=0.5, 0.1 std of intensity (0..1)))
    """
    ops = []
    for spec in specs or []:
        d = parse_op_spec(spec) if isinstance(spec, str) else dict(spec)
        name = d.pop("name", None)
        cls = AUGMENTATIONS.get(name)
        known = {f.name for f in fields(cls)}
        bad = [k for k in d if k not in known]
        if bad:
            raise TrainlabError(f"augmentation {name!r} has no option {', '.join(map(repr, bad))}; "
                                f"options: {', '.join(sorted(known))}")
        ops.append(cls(**d))
    return Augmentation(ops)
