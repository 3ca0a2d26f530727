"""Patch whitening: a fixed first convolution that decorrelates k x k patches (the speed-run
recipes' first layer, airbench's among them).

Fitted once on the (preprocessed) training images: with Sigma the covariance of their k x k
patches and Sigma = V diag(lambda) V^T, the filters are the rows of diag(1 / sqrt(lambda + eps)) V^T
and their negatives (so an activation after it keeps both signs): 2 * C * k * k output channels.
Not trained (the filters are a buffer, saved with the weights); `trainlab.build` fits every
PatchWhitening of a model right after the preprocessing, before the first step.

    >>> import torch
    >>> w = PatchWhitening(1, 2)
    >>> _ = w.fit(torch.randn(64, 1, 8, 8))
    >>> w(torch.zeros(3, 1, 8, 8)).shape
    torch.Size([3, 8, 8, 8])
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

MAX_PATCHES = 200_000  # a seeded sample of the training patches is plenty for a (C k^2)-dim covariance


class PatchWhitening(nn.Module):
    def __init__(self, in_channels: int, kernel_size: int = 2, eps: float = 5e-4, stride: int = 1):
        super().__init__()
        self.c, self.k, self.eps, self.stride = in_channels, kernel_size, eps, stride
        d = in_channels * kernel_size * kernel_size
        self.register_buffer("weight", torch.zeros(2 * d, in_channels, kernel_size, kernel_size))
        self.out_channels = 2 * d

    @torch.no_grad()
    def fit(self, x: torch.Tensor) -> "PatchWhitening":
        """Set the filters from training images x (N, C, H, W)."""
        k, d = self.k, self.c * self.k * self.k
        patches = F.unfold(x.float(), k).transpose(1, 2).reshape(-1, d).double()  # (N * L, C k k)
        if len(patches) > MAX_PATCHES:
            idx = torch.randperm(len(patches), generator=torch.Generator().manual_seed(0))[:MAX_PATCHES]
            patches = patches[idx]
        centred = patches - patches.mean(0)
        cov = centred.T @ centred / max(1, len(centred) - 1)
        lam, vec = torch.linalg.eigh(cov)  # ascending eigenvalues, eigenvectors in columns
        filters = (vec.T / torch.sqrt(lam.clamp_min(0) + self.eps)[:, None]).flip(0)  # strongest direction first
        self.weight.copy_(torch.cat([filters, -filters]).view(2 * d, self.c, k, k).to(self.weight.dtype))
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, 2 C k k, H / s, W / s)
        k, s = self.k, self.stride
        if s == 1:  # pad right/bottom: same size
            return F.conv2d(F.pad(x, (0, k - 1, 0, k - 1)), self.weight.to(x.dtype))
        # stride s: non-overlapping patches when s = k (a lossless "patchify" stem), pad to a multiple of s
        ph, pw = -x.shape[-2] % s, -x.shape[-1] % s
        return F.conv2d(F.pad(x, (0, pw + k - s, 0, ph + k - s)), self.weight.to(x.dtype), stride=s)

    def extra_repr(self) -> str:
        stride = f", stride={self.stride}" if self.stride != 1 else ""
        return f"{self.c}, kernel_size={self.k}{stride}, eps={self.eps} (fitted, not trained)"


def whitening_layers(model: nn.Module) -> list[PatchWhitening]:
    return [m for m in model.modules() if isinstance(m, PatchWhitening)]


def fit_whitening(model: nn.Module, x: torch.Tensor) -> int:
    """Fit every PatchWhitening in `model` on images x (what reaches the first layer); how many."""
    layers = whitening_layers(model)
    for m in layers:
        m.fit(x.to(m.weight.device))
    return len(layers)
