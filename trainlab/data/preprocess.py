"""Input normalization (lecture deck 002), fitted on the TRAIN split only, applied to float
batches in [0, 1]: images (B, C, H, W) or tabular (B, D), on any device.

"Per channel" below means per index of dim 1: channel C for images, feature D for tables.
A preprocessor's fitted state is a dict of tensors only, so it saves in safetensors.

Example:
    >>> pre = create_preprocessing("standardize_channel").fit(torch.rand(100, 3, 8, 8))
    >>> y = pre(torch.rand(4, 3, 8, 8))
    >>> sorted(pre.state_dict())
    ['mean', 'std']
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import TrainlabError
from ..registry import Registry

PREPROCESSING = Registry("preprocessing")


class Preprocessor:
    """Base: `fit(x_train) -> self`, `__call__(x) -> x'`, tensor-only `state_dict`."""

    name = "none"
    stats: tuple[str, ...] = ()  # names of the fitted tensors

    def __init__(self):
        self._state: dict[str, torch.Tensor] = {}
        self._moved: dict[tuple, dict[str, torch.Tensor]] = {}  # state copies per (device, dtype)

    def fit(self, x_train: torch.Tensor) -> "Preprocessor":
        _check_batch(x_train, self.name)
        self._state = {k: v.float().contiguous() for k, v in self._fit(x_train).items()}
        self._moved = {}
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        _check_batch(x, self.name)
        if self.stats and not self._state:
            raise TrainlabError(f"preprocessing {self.name!r} is not fitted; call .fit(train_x) first")
        key = (x.device, x.dtype)
        if key not in self._moved:  # copy the statistics to the batch's device once, not every batch
            self._moved[key] = {k: v.to(device=x.device, dtype=x.dtype) for k, v in self._state.items()}
        return self._apply(x, self._moved[key])

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.clone() for k, v in self._state.items()}

    def load_state_dict(self, d: dict[str, torch.Tensor]) -> None:
        missing = [k for k in self.stats if k not in d]
        if missing:
            raise TrainlabError(f"preprocessing {self.name!r} state lacks {', '.join(missing)}; "
                                "the checkpoint was saved with another preprocessing")
        self._state = {k: d[k].float().cpu().contiguous() for k in self.stats}
        self._moved = {}

    def _fit(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {}

    def _apply(self, x: torch.Tensor, s: dict[str, torch.Tensor]) -> torch.Tensor:
        return x

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _check_batch(x: torch.Tensor, name: str) -> None:
    if not (isinstance(x, torch.Tensor) and x.is_floating_point() and x.dim() in (2, 4)):
        got = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise TrainlabError(f"preprocessing {name!r} needs a float batch (B, C, H, W) or (B, D), got {got}; "
                            "convert images with to_float first")


def _per_channel_shape(x: torch.Tensor) -> tuple[int, ...]:
    return (1, -1) + (1,) * (x.dim() - 2)  # broadcast a (C,) vector over (B, C, H, W) or (B, D)


def _reduce_dims(x: torch.Tensor) -> list[int]:
    return [0] + list(range(2, x.dim()))  # every dim but 1


CHUNK = 4096  # samples per float64 block: exact-enough sums without a float64 copy of the whole set


def _moments(x: torch.Tensor, per_channel: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and population std (float64) over all values, or per index of dim 1, in chunks."""
    dims = _reduce_dims(x) if per_channel else list(range(x.dim()))
    count = x.numel() // (x.shape[1] if per_channel else 1)
    total, sq = 0.0, 0.0
    for c in x.split(CHUNK):  # one pass; float64 keeps E[x^2] - E[x]^2 accurate for data in [0, 1]
        c = c.double()
        total, sq = total + c.sum(dim=dims), sq + c.pow(2).sum(dim=dims)
    mean = total / count
    return mean, (sq / count - mean**2).clamp_min(0).sqrt()


@PREPROCESSING.register("none", description="x (unchanged)")
class Identity(Preprocessor):
    name = "none"


@PREPROCESSING.register("minmax", description="(x - min_c) / (max_c - min_c), min/max per channel (images) or "
                        "feature (tables) over the train split")
class MinMax(Preprocessor):
    name, stats = "minmax", ("min", "scale")

    def _fit(self, x):
        lo, hi = x.amin(dim=_reduce_dims(x)).double(), x.amax(dim=_reduce_dims(x)).double()  # exact in float32
        span = hi - lo
        return {"min": lo, "scale": torch.where(span > 0, 1.0 / span, torch.ones_like(span))}  # constant -> shift only

    def _apply(self, x, s):
        shape = _per_channel_shape(x)
        return (x - s["min"].view(shape)) * s["scale"].view(shape)


@PREPROCESSING.register("standardize", description="(x - mean) / std, one global mean and std over all train "
                        "values (deck 002: data -= mean; data /= std)")
class Standardize(Preprocessor):
    name, stats = "standardize", ("mean", "std")
    eps = 1e-8

    def _fit(self, x):
        mean, std = _moments(x, per_channel=False)
        return {"mean": mean.reshape(1), "std": std.reshape(1).clamp_min(self.eps)}

    def _apply(self, x, s):
        return (x - s["mean"]) / s["std"]


@PREPROCESSING.register("standardize_channel", description="(x - mean_c) / std_c, per channel (images) or "
                        "feature (tables) over the train split")
class StandardizeChannel(Preprocessor):
    name, stats = "standardize_channel", ("mean", "std")
    eps = 1e-8

    def _fit(self, x):
        mean, std = _moments(x, per_channel=True)
        return {"mean": mean, "std": std.clamp_min(self.eps)}

    def _apply(self, x, s):
        shape = _per_channel_shape(x)
        return (x - s["mean"].view(shape)) / s["std"].view(shape)


@PREPROCESSING.register("gcn", description="global contrast normalization per sample: "
                        "s (x - mean(x)) / max(eps, sqrt(lam + mean((x - mean(x))^2))), s=1, lam=0, eps=1e-8")
class GCN(Preprocessor):
    """Goodfellow et al., Deep Learning 12.2.1.1. Nothing to fit: statistics are per sample."""

    name = "gcn"

    def __init__(self, scale: float = 1.0, lam: float = 0.0, eps: float = 1e-8):
        super().__init__()
        if scale <= 0 or lam < 0 or eps <= 0:
            raise TrainlabError(f"gcn: scale={scale} and eps={eps} must be > 0 and lam={lam} >= 0")
        self.scale, self.lam, self.eps = scale, lam, eps

    def _apply(self, x, s):
        dims = list(range(1, x.dim()))  # all of one sample
        centered = x - x.mean(dim=dims, keepdim=True)
        contrast = (self.lam + centered.pow(2).mean(dim=dims, keepdim=True)).sqrt()
        return self.scale * centered / contrast.clamp_min(self.eps)


@PREPROCESSING.register("lcn", description="local contrast normalization (Jarrett 2009): v = x - G*x, "
                        "x' = v / max(mean(sigma), sigma), sigma = sqrt(G*v^2), G a gaussian window (size 9, sigma 2)")
class LCN(Preprocessor):
    """Per pixel: subtract the gaussian-weighted local mean (over the window and all channels),
    divide by the local standard deviation, floored at its mean over the image. Images only."""

    name = "lcn"

    def __init__(self, size: int = 9, sigma: float = 2.0, eps: float = 1e-8):
        super().__init__()
        if size < 1 or size % 2 == 0 or sigma <= 0:
            raise TrainlabError(f"lcn: size={size} must be an odd positive integer and sigma={sigma} > 0")
        self.size, self.sigma, self.eps = size, sigma, eps

    def fit(self, x_train):
        _check_image(x_train)
        return super().fit(x_train)

    def _apply(self, x, s):
        _check_image(x)
        mean = self._local_mean(x)
        v = x - mean
        sigma = self._local_mean(v * v).clamp_min(0).sqrt()  # (B, 1, H, W)
        floor = sigma.mean(dim=(2, 3), keepdim=True)
        return v / torch.maximum(sigma, floor).clamp_min(self.eps)

    def _local_mean(self, x: torch.Tensor) -> torch.Tensor:
        """Gaussian-weighted mean over a size x size window and all channels -> (B, 1, H, W)."""
        k = torch.arange(self.size, device=x.device, dtype=x.dtype) - self.size // 2
        g = torch.exp(-(k**2) / (2 * self.sigma**2))
        g = g / g.sum()
        m = x.mean(dim=1, keepdim=True)
        pad = self.size // 2
        m = F.pad(m, (pad, pad, pad, pad), mode="replicate")  # edges: repeat border pixels
        m = F.conv2d(m, g.view(1, 1, 1, -1))  # separable: rows then columns
        return F.conv2d(m, g.view(1, 1, -1, 1))


def _check_image(x: torch.Tensor) -> None:
    if x.dim() != 4:
        raise TrainlabError(f"preprocessing 'lcn' needs images (B, C, H, W), got shape {tuple(x.shape)}; "
                            "use gcn or standardize for tabular data")


@PREPROCESSING.register("zca", description="ZCA whitening: (x - mu) W, W = U diag(1/sqrt(lambda + eps)) U^T "
                        "from the train covariance U diag(lambda) U^T (eps=0.01)")
class ZCA(Preprocessor):
    """Decorrelates input dimensions while staying close to the original image (W symmetric)."""

    name, stats = "zca", ("mean", "whiten")
    max_dim = 4096  # a (D, D) matrix: 3072 for CIFAR-10 is 36 MB

    def __init__(self, eps: float = 1e-2):
        super().__init__()
        if eps <= 0:
            raise TrainlabError(f"zca: eps={eps} must be > 0 (it regularizes small eigenvalues)")
        self.eps = eps

    def _fit(self, x):
        flat = x.reshape(len(x), -1)  # (N, D)
        if flat.shape[1] > self.max_dim:
            raise TrainlabError(f"zca: inputs of {flat.shape[1]} values exceed {self.max_dim}; "
                                "use standardize_channel or smaller images")
        n = len(flat)
        mu = sum(c.double().sum(0) for c in flat.split(CHUNK)) / n
        cov = sum((c.double() - mu).T @ (c.double() - mu) for c in flat.split(CHUNK)) / n  # (D, D) float64
        lam, u = torch.linalg.eigh(cov)
        w = (u * (lam.clamp_min(0) + self.eps).rsqrt()) @ u.T
        return {"mean": mu, "whiten": w}

    def _apply(self, x, s):
        flat = x.reshape(len(x), -1)
        return ((flat - s["mean"]) @ s["whiten"]).reshape(x.shape)


def create_preprocessing(name: str, **kw) -> Preprocessor:
    """A fresh (unfitted) preprocessor; `kw` are its options (e.g. eps=0.1 for zca).

    Example:
        >>> create_preprocessing("zca", eps=0.1)
        ZCA()
    """
    cls = PREPROCESSING.get(name)
    try:
        return cls(**kw)
    except TypeError:
        raise TrainlabError(f"preprocessing {name!r} does not take {', '.join(kw)}") from None
