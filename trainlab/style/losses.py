"""The three terms of the style-transfer loss: content, style (Gram matrices) and total variation.
Both feature terms are relative errors, so their weights mean the same for any network or image size."""
from __future__ import annotations

import torch


def gram(f: torch.Tensor) -> torch.Tensor:
    """Gram matrix per image: (B, C, H, W) -> (B, C, C), G_ij = sum_p F_ip F_jp / (H W).

    Example:
        >>> gram(torch.ones(1, 2, 3, 3))
        tensor([[[1., 1.],
                 [1., 1.]]])
    """
    b, c, h, w = f.shape
    flat = f.reshape(b, c, h * w)  # (B, C, P)
    return torch.bmm(flat, flat.transpose(1, 2)) / (h * w)  # (B, C, C)


def content_loss(f: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """|f - target|^2 / |target|^2: relative squared error of a layer's activations."""
    return (f - target).pow(2).sum() / target.pow(2).sum().clamp_min(1e-12)


def style_loss(f: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """|G(f) - G_target|^2 / |G_target|^2: relative squared error of the Gram matrices."""
    return (gram(f) - target_gram).pow(2).sum() / target_gram.pow(2).sum().clamp_min(1e-12)


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    """Total variation: mean squared vertical + mean squared horizontal neighbour difference, x (B, C, H, W)."""
    return (x[:, :, 1:, :] - x[:, :, :-1, :]).pow(2).mean() + (x[:, :, :, 1:] - x[:, :, :, :-1]).pow(2).mean()
