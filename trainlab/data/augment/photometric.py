"""Photometric ops: brightness, contrast, colour jitter, noise, blur, Sobel edges, cutout.
Each changes pixel values of the chosen samples only (others stay bit for bit); masks are untouched."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ...errors import TrainlabError
from .ops import PhotometricOp, _rand, _register


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

