"""Normalization and dropout layers.

Norms (registry NORMS, built by `create_norm(name, channels, conv)`):
  none  -> Identity
  batch -> BatchNorm1d/2d: batch statistics in training, running statistics in eval
  layer -> per-sample over features; for conv over (C, H, W) with per-channel affine = GroupNorm(1, C)
  group -> GroupNorm(groups, C), groups = largest divisor of C that is <= 32
`recompute_bn_stats(model, batches)` replaces batch norm's running averages by the mean and
variance over a whole data set (deck 000: "for validation & testing, we use mean and variance
from the entire dataset (not from a batch)").

Dropout: one implementation, `Dropout`, whose noise shape decides the variant:
  standard (each unit), spatial (whole channels of (B, C, H, W)), path (whole sample = a
  residual branch, "stochastic depth"). Two scaling modes, both with E[train output] = eval output:
  "inverted": training x * mask / (1-p), eval identity (what torch does);
  "classic" : training x * mask, eval x * (1-p) (the lecture's "scale at test time by p",
              where the lecture's p is the KEEP probability; ours is the DROP probability).

    >>> norm = create_norm("batch", 64)           # BatchNorm2d(64)
    >>> drop = create_dropout(0.5, mode="classic")
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import TrainlabError, check
from ..registry import Registry, check_kwargs

NORMS = Registry("norm")

# ---------------------------------------------------------------- normalization


def default_groups(channels: int, max_groups: int = 32) -> int:
    """Largest divisor of `channels` that is <= max_groups (32 for C=64, 24 for C=48, 5 for C=5... )."""
    return max(g for g in range(1, min(max_groups, channels) + 1) if channels % g == 0)


@NORMS.register("none", description="identity (no normalization)")
def none_norm(channels: int, conv: bool = True) -> nn.Module:
    return nn.Identity()


@NORMS.register(
    "batch",
    description="gamma (x - mean_B) / sqrt(var_B + eps) + beta; batch stats in train, running stats in eval",
)
def batch_norm(channels: int, conv: bool = True, eps: float = 1e-5, momentum: float = 0.1) -> nn.Module:
    # momentum here is torch's: running = (1 - momentum) * running + momentum * batch_stat
    check(0 <= momentum <= 1, f"batch norm momentum={momentum!r} must be in [0, 1]")
    check(eps > 0, f"batch norm eps={eps!r} must be > 0")
    return (nn.BatchNorm2d if conv else nn.BatchNorm1d)(channels, eps=eps, momentum=momentum)


@NORMS.register("layer", description="gamma (x - mean) / sqrt(var + eps) + beta over each sample's features (C,H,W)")
def layer_norm(channels: int, conv: bool = True, eps: float = 1e-5) -> nn.Module:
    check(eps > 0, f"layer norm eps={eps!r} must be > 0")
    # For images: statistics over (C, H, W) of one sample, affine per channel -> GroupNorm with 1 group.
    return nn.GroupNorm(1, channels, eps=eps) if conv else nn.LayerNorm(channels, eps=eps)


@NORMS.register("group", description="layer norm within each of G channel groups; G = largest divisor of C <= 32")
def group_norm(channels: int, conv: bool = True, groups: int | None = None, eps: float = 1e-5) -> nn.Module:
    g = default_groups(channels) if groups is None else groups
    check(isinstance(g, int) and g >= 1 and channels % g == 0, f"group norm groups={g!r} must divide channels={channels}")
    check(eps > 0, f"group norm eps={eps!r} must be > 0")
    return nn.GroupNorm(g, channels, eps=eps)


def create_norm(name: str, channels: int, conv: bool = True, **kw) -> nn.Module:
    """Normalization layer `name` for `channels` features (images if conv, vectors if not).

    Example:
        >>> create_norm("layer", 16).num_groups  # GroupNorm(1, 16): stats over (C, H, W)
        1
    """
    fn = NORMS.get(name)
    check_kwargs(f"norm {name!r}", fn, kw, skip=("channels", "conv"))
    check(isinstance(channels, int) and channels >= 1, f"norm {name!r} needs channels >= 1, got {channels!r}")
    return fn(channels, conv=conv, **kw)


def batch_norms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The BatchNorm layers of `model` that keep running statistics (BatchNorm1d/2d/3d)."""
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


@torch.no_grad()
def recompute_bn_stats(model: nn.Module, batches) -> int:
    """Set every batch norm's running mean and variance to those of its inputs over all `batches`
    (the whole training set, say) instead of torch's exponential moving averages. Returns how many
    layers were set.

    `batches`: an iterable of input tensors (or tuples whose first item is the input), on the
    model's device and preprocessed as the model expects. Each layer's inputs are pooled exactly
    (per channel, float64, Chan's parallel mean/variance; variance unbiased, as torch's running_var),
    so a smaller last batch weighs by its examples. During the pass the batch norms are in training
    mode (they normalize with batch statistics, as in training) and every other module in eval mode
    (no dropout noise: the statistics the evaluated network sees); the modes are restored after.

    Example:
        >>> net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
        >>> recompute_bn_stats(net, [torch.randn(8, 3) for _ in range(5)])
        1
    """
    norms = batch_norms(model)
    if not norms:
        raise TrainlabError(f"recompute_bn_stats: {type(model).__name__} has no BatchNorm layer with running "
                            "statistics; build the model with norm='batch'")
    stats: dict[nn.Module, list] = {m: [0, None, None] for m in norms}  # n, mean, M2 per channel

    def pool(m, inputs):
        x = inputs[0].detach().double().transpose(0, 1).reshape(inputs[0].shape[1], -1)  # (C, B*spatial)
        n_b, mean_b = x.shape[1], x.mean(1)
        m2_b = ((x - mean_b[:, None]) ** 2).sum(1)
        n, mean, m2 = stats[m]
        if n == 0:
            stats[m] = [n_b, mean_b, m2_b]
        else:  # Chan et al.: merge (n, mean, M2) of two parts
            delta, total = mean_b - mean, n + n_b
            stats[m] = [total, mean + delta * n_b / total, m2 + m2_b + delta**2 * n * n_b / total]

    flags = {m: m.training for m in model.modules()}
    handles = [m.register_forward_pre_hook(pool) for m in norms]
    try:
        model.eval()
        for m in norms:
            m.reset_running_stats()
            m.train()
        for b in batches:
            model(b[0] if isinstance(b, (tuple, list)) else b)
    finally:
        for h in handles:
            h.remove()
        for m, flag in flags.items():
            m.training = flag
    short = [name for name, m in model.named_modules() if m in stats and stats[m][0] < 2]
    check(not short, f"recompute_bn_stats: batch norm {short[0] if short else ''!r} saw fewer than 2 values per "
                     "channel; pass batches of the training set that reach every batch norm")
    for m, (n, mean, m2) in stats.items():
        m.running_mean.copy_(mean)
        m.running_var.copy_(m2 / (n - 1))
    return len(norms)


# ---------------------------------------------------------------- dropout

MODES = ("inverted", "classic")


class Dropout(nn.Module):
    """Drop each unit with probability p (the DROP probability).

    mode="inverted": train x*m/(1-p), eval x.  mode="classic": train x*m, eval x*(1-p).

        >>> d = Dropout(0.5, mode="classic").eval()
        >>> d(torch.ones(3))
        tensor([0.5000, 0.5000, 0.5000])
    """

    def __init__(self, p: float = 0.5, mode: str = "inverted"):
        super().__init__()
        check(isinstance(p, (int, float)) and 0 <= p < 1, f"dropout p={p!r} must be in [0, 1) (probability of DROPPING a unit)")
        check(mode in MODES, f"dropout mode={mode!r} must be one of: {', '.join(MODES)}")
        self.p, self.mode = float(p), mode

    def noise_shape(self, x: torch.Tensor) -> tuple[int, ...]:
        """Shape of the keep mask, broadcast over x: here one draw per unit."""
        return tuple(x.shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        keep = 1.0 - self.p
        if not self.training or self.p == 0:
            return x * keep if (self.mode == "classic" and self.p > 0) else x
        if self.mode == "inverted" and type(self) is Dropout:
            return F.dropout(x, self.p, True)  # torch's fused kernel, same distribution
        mask = torch.empty(self.noise_shape(x), dtype=x.dtype, device=x.device).bernoulli_(keep)
        if self.mode == "inverted":
            mask.div_(keep)
        return x * mask

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode}"


class SpatialDropout(Dropout):
    """Drop whole channels: one draw per (sample, channel) of (B, C, *spatial)."""

    def noise_shape(self, x: torch.Tensor) -> tuple[int, ...]:
        return tuple(x.shape[:2]) + (1,) * (x.ndim - 2)


class DropPath(Dropout):
    """Stochastic depth: drop a residual branch for a whole sample; use as x + DropPath(p)(branch(x))."""

    def noise_shape(self, x: torch.Tensor) -> tuple[int, ...]:
        return (x.shape[0],) + (1,) * (x.ndim - 1)


DROPOUT_KINDS = {"standard": Dropout, "spatial": SpatialDropout, "path": DropPath}

# For `trainlab list dropouts`: the variants (noise shapes) and the scaling modes, with their formulas.
# p is the DROP probability, m ~ Bernoulli(1 - p) the keep mask.
DROPOUTS = Registry("dropout variant")
DROPOUTS.register("standard", fn=Dropout, description="y = x * m, m ~ Bernoulli(1-p) per unit, p = drop probability; the lecture's dropout")
DROPOUTS.register("spatial", fn=SpatialDropout,
                  description="y = x * m, one m per (sample, channel) of (B, C, H, W): drops whole feature maps")
DROPOUTS.register("path", fn=DropPath, description="y = x + m * branch(x), one m per sample: drops a residual "
                                                   "branch (stochastic depth)")
DROPOUT_MODES = Registry("dropout mode")


def create_dropout(p: float, kind: str = "standard", mode: str = "inverted") -> nn.Module:
    """Dropout layer; p = 0 gives nn.Identity().

    Example:
        >>> create_dropout(0.2, kind="spatial")
        SpatialDropout(p=0.2, mode=inverted)
    """
    check(kind in DROPOUT_KINDS, f"dropout kind={kind!r} must be one of: {', '.join(DROPOUT_KINDS)}")
    check(mode in MODES, f"dropout mode={mode!r} must be one of: {', '.join(MODES)}")
    check(isinstance(p, (int, float)) and 0 <= p < 1, f"dropout p={p!r} must be in [0, 1) (probability of DROPPING)")
    if p == 0:
        return nn.Identity()
    return DROPOUT_KINDS[kind](p, mode=mode)


def set_dropout_mode(model: nn.Module, mode: str) -> int:
    """Set `mode` ("inverted" or "classic") on every trainlab Dropout in `model` (standard,
    spatial and path); returns how many there are, so a caller can refuse a mode that
    would change nothing (0: the model has no dropout).

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 4), create_dropout(0.5))
        >>> set_dropout_mode(net, "classic"), net[1].mode
        (1, 'classic')
    """
    check(mode in MODES, f"dropout mode={mode!r} must be one of: {', '.join(MODES)} "
                         "(inverted: train x*m/(1-p), eval x; classic: train x*m, eval x*(1-p))")
    drops = [m for m in model.modules() if isinstance(m, Dropout)]
    for m in drops:
        m.mode = mode
    return len(drops)


DROPOUT_MODES.register("inverted", fn=lambda model: set_dropout_mode(model, "inverted"),
                       description="train: x * m / (1-p); eval: x (torch's; no test-time cost)")
DROPOUT_MODES.register("classic", fn=lambda model: set_dropout_mode(model, "classic"),
                       description="train: x * m; eval: x * (1-p) (the lecture's test-time scaling by the keep probability)")


__all__ = ["NORMS", "create_norm", "batch_norms", "recompute_bn_stats", "Dropout", "SpatialDropout", "DropPath", "create_dropout", "default_groups",
           "set_dropout_mode", "MODES", "DROPOUT_KINDS", "DROPOUTS", "DROPOUT_MODES"]
