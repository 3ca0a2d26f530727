"""The newer optimizer recipes, registered in OPTIMIZERS beside sgd ... adamw (trainlab.optim.recipes):
each a chain of small links, sharing them where the algebra is shared (as adam and adamw share
scale_by_adam): LAMB is adam's direction with a trust ratio, Schedule-Free AdamW is RMSprop's
preconditioner under the schedule_free link, LARS is SGD with momentum and a local lr.

Every recipe takes weight_decay, coupled (L2 into the gradient) or decoupled (w *= 1 - lr wd) as
its method defines, clip_norm / clip_value (on the raw gradient, first) and exclude_1d (biases and
norm scales are not decayed; LAMB and LARS also leave them out of the trust ratio).

    >>> import torch
    >>> w = torch.nn.Parameter(torch.ones(3, 3))
    >>> opt = create_optimizer("lion", [w], lr=1e-4, weight_decay=0.1)    # doctest: +SKIP
"""
from __future__ import annotations

from typing import Any

from ..errors import check
from .base import GradientTransformation
from .layerwise import scale_by_adafactor, scale_by_lars, scale_by_muon, scale_by_trust_ratio, split_matrices
from .modern import (
    add_proximal_decay,
    scale,
    scale_by_adamax,
    scale_by_adan,
    scale_by_ademamix,
    scale_by_lion,
    scale_by_nadam,
    scale_by_radam,
    schedule_free,
)
from .recipes import LR, OPTIMIZERS, _clips, _lr
from .transforms import add_decayed_weights, add_l2, chain, scale_by_adam, scale_by_lr, scale_by_momentum, scale_by_rms

Clip = float | None


def _betas(betas: Any, n: int = 2) -> tuple[float, ...]:
    check(isinstance(betas, (tuple, list)) and len(betas) == n,
          f"betas={betas!r} must be {n} numbers ({', '.join(f'b{i + 1}' for i in range(n))})")
    for i, b in enumerate(betas):
        check(isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1, f"betas[{i}]={b!r} must be in [0, 1)")
    return tuple(float(b) for b in betas)


def _with_decay(direction: GradientTransformation, weight_decay: float, exclude_1d: bool,
                decoupled: bool) -> list[GradientTransformation]:
    """Coupled L2 goes before the direction (into the gradient), decoupled decay after it."""
    if decoupled:
        return [direction, add_decayed_weights(weight_decay, exclude_1d)]
    return [add_l2(weight_decay, exclude_1d), direction]


@OPTIMIZERS.register("nadam", description="adam with Nesterov's look-ahead: w -= lr ((1-mu_t) g / (1 - prod mu) + "
                     "mu_t+1 m / (1 - prod mu mu_t+1)) / (sqrt(v_hat) + eps); wd coupled")
def nadam(lr: LR = 2e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, momentum_decay: float = 4e-3,
          weight_decay: float = 0.0, decoupled: bool = False, clip_norm: Clip = None, clip_value: Clip = None,
          exclude_1d: bool = False) -> GradientTransformation:
    """NAdam (torch.optim.NAdam); weight_decay is coupled L2 unless decoupled=True (NAdamW)."""
    b1, b2 = _betas(betas)
    links = _with_decay(scale_by_nadam(b1, b2, eps, momentum_decay), weight_decay, exclude_1d, decoupled)
    return chain(*_clips(clip_norm, clip_value), *links, scale_by_lr(_lr(lr)))


@OPTIMIZERS.register("radam", description="adam with its variance rectified: w -= lr r_t m_hat sqrt(1-b2^t) / (sqrt(v) + eps) "
                     "once rho_t > 5, w -= lr m_hat before; wd coupled")
def radam(lr: LR = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
          decoupled: bool = False, clip_norm: Clip = None, clip_value: Clip = None, exclude_1d: bool = False) -> GradientTransformation:
    """RAdam (torch.optim.RAdam); weight_decay is coupled L2 unless decoupled=True (RAdamW)."""
    b1, b2 = _betas(betas)
    links = _with_decay(scale_by_radam(b1, b2, eps), weight_decay, exclude_1d, decoupled)
    return chain(*_clips(clip_norm, clip_value), *links, scale_by_lr(_lr(lr)))


@OPTIMIZERS.register("adamax", description="m = EMA of g; u = max(b2 u, |g| + eps); w -= lr m / ((1 - b1^t) u); wd coupled")
def adamax(lr: LR = 2e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
           clip_norm: Clip = None, clip_value: Clip = None, exclude_1d: bool = False) -> GradientTransformation:
    """Adamax (torch.optim.Adamax): Adam with an infinity norm; weight_decay is coupled L2."""
    b1, b2 = _betas(betas)
    return chain(*_clips(clip_norm, clip_value), add_l2(weight_decay, exclude_1d), scale_by_adamax(b1, b2, eps),
                 scale_by_lr(_lr(lr)))


@OPTIMIZERS.register("adafactor", description="factored v (row x col means of g^2); w -= max(eps2, RMS(w)) "
                     "min(lr, 1/sqrt t) clip_d(g / sqrt(v)); wd decoupled (w *= 1 - lr wd)")
def adafactor(lr: LR = 1e-2, beta2_decay: float = -0.8, eps1: float | None = None, eps2: float = 1e-3, d: float = 1.0,
              weight_decay: float = 0.0, clip_norm: Clip = None, clip_value: Clip = None,
              exclude_1d: bool = False) -> GradientTransformation:
    """Adafactor (torch.optim.Adafactor): lr is the largest relative step, min(lr, 1/sqrt(t)) times
    each tensor's RMS; weight_decay is decoupled, w *= 1 - lr wd, as torch does."""
    lr = _lr(lr)
    return chain(*_clips(clip_norm, clip_value), scale_by_adafactor(lr, beta2_decay, eps1, eps2, d),
                 add_decayed_weights(weight_decay, exclude_1d), scale_by_lr(lr))


MUON_HEADS = {"adam": "others", "muon": "matrices"}


@OPTIMIZERS.register("muon", description="matrices and conv filters: w -= lr (NS5(nesterov momentum) sqrt(max(1, rows/cols)) "
                     "+ wd w); biases, norms and the head: adam at lr * adam_lr_mult, wd decoupled")
def muon(lr: LR = 0.02, momentum: float = 0.95, nesterov: bool = True, ns_steps: int = 5, adjust_lr: str = "original",
         head: str = "adam", adam_lr_mult: float = 0.05, betas: tuple[float, float] = (0.9, 0.95), eps: float = 1e-8,
         weight_decay: float = 0.0, clip_norm: Clip = None, clip_value: Clip = None,
         exclude_1d: bool = False) -> GradientTransformation:
    """Muon for the hidden matrices, Adam for the rest, as Muon's authors use it.

    The split is by shape, made at the first step: tensors with ndim >= 2 (linear weights, conv
    filters, flattened to (out, in*k*k)) get Muon (scale_by_muon: torch.optim.Muon's update); the
    others (biases, norm scales) get Adam with betas/eps at lr * adam_lr_mult (default 0.05: Adam at
    1e-3 beside Muon at 0.02). head="adam" (the default) also gives the LAST matrix, the classifier
    head in trainlab's models (and in any model whose parameters end with it), to Adam: the common
    practice for the output layer (and embeddings); head="muon" keeps it on Muon. Weight decay is
    decoupled for both parts, w *= 1 - lr_part wd, with each part's own lr (torch.optim.Muon for the
    matrices, torch.optim.AdamW for the rest). Momentum, betas and weight decay live inside the split,
    so param groups and torch schedulers may set only lr_mult (and the lr) for this recipe.
    """
    check(head in MUON_HEADS, f"muon head={head!r} must be one of: {', '.join(MUON_HEADS)} (which part trains the last matrix)")
    b1, b2 = _betas(betas)
    matrices = chain(scale_by_muon(momentum, nesterov, ns_steps, adjust_lr=adjust_lr),
                     add_decayed_weights(weight_decay, exclude_1d))
    others = chain(scale_by_adam(b1, b2, eps), add_decayed_weights(weight_decay, exclude_1d), scale(adam_lr_mult))
    return chain(*_clips(clip_norm, clip_value), split_matrices(matrices, others, MUON_HEADS[head]), scale_by_lr(_lr(lr)))


@OPTIMIZERS.register("lion", description="w -= lr (sign(b1 m + (1-b1) g) + wd w); m = b2 m + (1-b2) g; wd decoupled")
def lion(lr: LR = 1e-4, betas: tuple[float, float] = (0.9, 0.99), weight_decay: float = 0.0, clip_norm: Clip = None,
         clip_value: Clip = None, exclude_1d: bool = False) -> GradientTransformation:
    """Lion (Chen et al. 2023): every entry moves by +-lr; its authors use an lr 3-10x smaller and a
    weight decay 3-10x larger than AdamW's."""
    b1, b2 = _betas(betas)
    return chain(*_clips(clip_norm, clip_value), scale_by_lion(b1, b2), add_decayed_weights(weight_decay, exclude_1d),
                 scale_by_lr(_lr(lr)))


@OPTIMIZERS.register("adan", description="w <- (w - lr (m_hat + b2 v_hat) / (sqrt(n_hat) + eps)) / (1 + lr wd); "
                     "v EMA of g - g_prev, n EMA of (g + b2 (g - g_prev))^2")
def adan(lr: LR = 1e-3, betas: tuple[float, float, float] = (0.98, 0.92, 0.99), eps: float = 1e-8,
         weight_decay: float = 0.0, no_prox: bool = False, clip_norm: Clip = None, clip_value: Clip = None,
         exclude_1d: bool = False) -> GradientTransformation:
    """Adan (Xie et al. 2022, the authors' code): weight decay is decoupled in proximal form,
    w <- (w - lr u) / (1 + lr wd); no_prox=True decays as AdamW does, w *= 1 - lr wd."""
    b1, b2, b3 = _betas(betas, 3)
    lr = _lr(lr)
    decay = add_decayed_weights(weight_decay, exclude_1d) if no_prox else add_proximal_decay(weight_decay, lr, exclude_1d)
    return chain(*_clips(clip_norm, clip_value), scale_by_adan(b1, b2, b3, eps), decay, scale_by_lr(lr))


@OPTIMIZERS.register("ademamix", description="w -= lr ((m1_hat + alpha m2) / (sqrt(v_hat) + eps) + wd w); m2 a slow "
                     "EMA (b3) of g; wd decoupled")
def ademamix(lr: LR = 1e-3, betas: tuple[float, float, float] = (0.9, 0.999, 0.9999), alpha: float = 5.0,
             eps: float = 1e-8, alpha_warmup: int = 0, b3_warmup: int = 0, weight_decay: float = 0.0,
             clip_norm: Clip = None, clip_value: Clip = None, exclude_1d: bool = False) -> GradientTransformation:
    """AdEMAMix (Pagliardini et al. 2024): AdamW plus alpha times a slow momentum (b3). alpha_warmup,
    b3_warmup: steps over which alpha and b3 ramp up (0: none); the paper sets both to the run's length."""
    b1, b2, b3 = _betas(betas, 3)
    return chain(*_clips(clip_norm, clip_value), scale_by_ademamix(b1, b2, b3, alpha, eps, alpha_warmup, b3_warmup),
                 add_decayed_weights(weight_decay, exclude_1d), scale_by_lr(_lr(lr)))


@OPTIMIZERS.register("lamb", description="u = m_hat / (sqrt(v_hat) + eps) + wd w; w -= lr ||w|| / ||u|| u per tensor")
def lamb(lr: LR = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-6, weight_decay: float = 0.0,
         clip_norm: Clip = None, clip_value: Clip = None, exclude_1d: bool = False) -> GradientTransformation:
    """LAMB (You et al. 2019): AdamW's update rescaled per tensor to the weights' norm (trust ratio);
    exclude_1d leaves biases and norm scales out of both the decay and the ratio."""
    b1, b2 = _betas(betas)
    return chain(*_clips(clip_norm, clip_value), scale_by_adam(b1, b2, eps), add_decayed_weights(weight_decay, exclude_1d),
                 scale_by_trust_ratio(0.0, exclude_1d), scale_by_lr(_lr(lr)))


@OPTIMIZERS.register("lars", description="v = mu v + lr eta ||w|| / (||g|| + wd ||w||) (g + wd w); w -= v, per tensor")
def lars(lr: LR = 0.1, momentum: float = 0.9, trust_coefficient: float = 1e-3, eps: float = 0.0, weight_decay: float = 0.0,
         clip_norm: Clip = None, clip_value: Clip = None, exclude_1d: bool = False) -> GradientTransformation:
    """LARS (You, Gitman & Ginsburg 2017, Algorithm 1): momentum SGD with a local lr per tensor; the
    weight decay is coupled, inside the local lr; the global lr enters the velocity (v = mu v + lr ...)."""
    check(isinstance(momentum, (int, float)) and 0 <= momentum < 1, f"momentum={momentum!r} must be in [0, 1)")
    return chain(*_clips(clip_norm, clip_value), scale_by_lars(trust_coefficient, weight_decay, eps, exclude_1d),
                 scale_by_lr(_lr(lr)), scale_by_momentum(momentum))


@OPTIMIZERS.register("schedule_free_sgd", description="z -= lr (g(y) + wd y); x = (1-c) x + c z, c = lr_max^2 / sum lr_max^2; "
                     "y = mu x + (1-mu) z; evaluated at x")
def schedule_free_sgd(lr: LR = 1.0, momentum: float = 0.9, weight_decay: float = 0.0, weight_lr_power: float = 2.0,
                      r: float = 0.0, clip_norm: Clip = None, clip_value: Clip = None,
                      exclude_1d: bool = False) -> GradientTransformation:
    """Schedule-Free SGD (Defazio et al. 2024): use a constant lr (with warmup_epochs); the model
    trains at y and is evaluated, kept and saved at the average x (ChainOptimizer.evaluation_weights,
    which trainlab's loop uses). weight_decay is coupled L2 at y."""
    lr = _lr(lr)
    return chain(*_clips(clip_norm, clip_value), add_l2(weight_decay, exclude_1d), scale_by_lr(lr),
                 schedule_free(momentum, lr, 0.0, weight_lr_power, r))


@OPTIMIZERS.register("schedule_free_adamw", description="z -= lr_t (g / (sqrt(v) + eps) + wd y), lr_t = lr sqrt(1-b2^t); "
                     "x = (1-c) x + c z, c = lr_max^2 / sum lr_max^2; y = b1 x + (1-b1) z; evaluated at x")
def schedule_free_adamw(lr: LR = 2.5e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                        weight_decay: float = 0.0, weight_lr_power: float = 2.0, r: float = 0.0, clip_norm: Clip = None,
                        clip_value: Clip = None, exclude_1d: bool = False) -> GradientTransformation:
    """Schedule-Free AdamW (Defazio et al. 2024): RMSprop's preconditioner (scale_by_rms) and
    decoupled decay at y, under the schedule_free link (b1 interpolates y between x and z; Adam's
    bias correction scales the step and the averaging weights). Evaluated at x, as schedule_free_sgd."""
    b1, b2 = _betas(betas)
    lr = _lr(lr)
    return chain(*_clips(clip_norm, clip_value), scale_by_rms(b2, eps), add_decayed_weights(weight_decay, exclude_1d),
                 scale_by_lr(lr), schedule_free(b1, lr, b2, weight_lr_power, r))


__all__ = ["adafactor", "adamax", "adan", "ademamix", "lamb", "lars", "lion", "muon", "nadam", "radam",
           "schedule_free_adamw", "schedule_free_sgd"]
