"""Links of the newer element-wise optimizers, registered in TRANSFORMS beside the classic ones
(trainlab.optim.transforms): NAdam, RAdam, Adamax, Lion, Adan, AdEMAMix, Schedule-Free, and the
small links they need (a constant `scale`, Adan's proximal decay). The links that look at whole
tensors (Adafactor, Muon, the LAMB/LARS trust ratios) are in trainlab.optim.layerwise.

Each link keeps the contract of trainlab.optim.base: `init(params) -> state`,
`update(updates, state, params, hp) -> (updates, state)`; a preconditioner returns a pending
`Quotient(num, den)` where torch.optim divides in its last op, so the optimizer's step can do the same.

    >>> from trainlab.optim.transforms import add_decayed_weights, chain, scale_by_lr
    >>> lion = chain(scale_by_lion(0.9, 0.99), add_decayed_weights(0.1), scale_by_lr(1e-4))
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from ..errors import check
from .base import GradientTransformation, Quotient, _lrs, _nonneg, _positive, _unit, _zeros, value
from .transforms import TRANSFORMS


def _moments(state: dict, g: list, b1: float, b2: float) -> tuple[list, list]:
    """Adam's two moments, in place and with torch.optim's ops: m = lerp(m, g, 1-b1), v = b2 v + (1-b2) g^2."""
    m, v = state["mu"], state["nu"]
    torch._foreach_lerp_(m, g, 1.0 - b1)
    torch._foreach_mul_(v, b2)
    torch._foreach_addcmul_(v, g, g, value=1.0 - b2)
    return m, v


@TRANSFORMS.register("scale", description="u = factor * u (a constant, e.g. one part's lr relative to the rest)")
def scale(factor: float = 1.0) -> GradientTransformation:
    _nonneg("scale factor", factor)

    def init(params):
        return {}

    def update(updates, state, params, hp=None):
        return torch._foreach_mul(value(updates, params), float(factor)), state

    return GradientTransformation(init, update, "scale", dict(factor=factor))


@TRANSFORMS.register("scale_by_nadam", description=(
    "Adam's m, v; mu_t = b1 (1 - 0.5 * 0.96^(t psi)); u = ((1 - mu_t) / (1 - prod mu) g + "
    "mu_t+1 / (1 - prod mu * mu_t+1) m) / (sqrt(v_hat) + eps)"))
def scale_by_nadam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, momentum_decay: float = 4e-3) -> GradientTransformation:
    """NAdam (Dozat 2016, "Incorporating Nesterov Momentum into Adam") in torch.optim.NAdam's form:
    Nesterov's look-ahead applied to Adam's first moment, with the momentum warming up as
    mu_t = b1 (1 - 0.5 * 0.96^(t * momentum_decay))."""
    _unit("scale_by_nadam b1 (betas[0])", b1)
    _unit("scale_by_nadam b2 (betas[1])", b2)
    _positive("scale_by_nadam eps", eps)
    _nonneg("scale_by_nadam momentum_decay", momentum_decay)

    def init(params):
        return {"count": 0, "mu_product": 1.0, "mu": _zeros(params), "nu": _zeros(params)}

    def update(updates, state, params, hp=None):
        g = value(updates, params)
        state["count"] = t = state["count"] + 1
        m, v = _moments(state, g, b1, b2)
        mu, mu_next = (b1 * (1.0 - 0.5 * 0.96 ** (k * momentum_decay)) for k in (t, t + 1))
        # the product of the mu's, rounded to float32 at each step as torch.optim.NAdam keeps it (a float32
        # tensor): the same numbers as torch to ~1e-14 instead of ~1e-7
        state["mu_product"] = prod = float(torch.tensor(state["mu_product"], dtype=torch.float32) * mu)
        denom = torch._foreach_sqrt(v)
        torch._foreach_div_(denom, math.sqrt(1.0 - b2**t))
        torch._foreach_add_(denom, eps)
        num = torch._foreach_mul(g, (1.0 - mu) / (1.0 - prod))
        torch._foreach_add_(num, m, alpha=mu_next / (1.0 - prod * mu_next))
        return Quotient(num, denom), state

    return GradientTransformation(init, update, "scale_by_nadam", dict(b1=b1, b2=b2, eps=eps, momentum_decay=momentum_decay))


@TRANSFORMS.register("scale_by_radam", description=(
    "Adam's m, v; rho_t = rho_inf - 2 t b2^t / (1 - b2^t); u = r_t m_hat sqrt(1 - b2^t) / (sqrt(v) + eps) "
    "if rho_t > 5, else m_hat"))
def scale_by_radam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> GradientTransformation:
    """RAdam (Liu et al. 2020, "On the Variance of the Adaptive Learning Rate and Beyond") in
    torch.optim.RAdam's form: momentum SGD while the second moment's estimate is too young
    (rho_t <= 5), then Adam with the variance rectification
    r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))."""
    _unit("scale_by_radam b1 (betas[0])", b1)
    _unit("scale_by_radam b2 (betas[1])", b2)
    _positive("scale_by_radam eps", eps)
    rho_inf = 2.0 / (1.0 - b2) - 1.0

    def init(params):
        return {"count": 0, "mu": _zeros(params), "nu": _zeros(params)}

    def update(updates, state, params, hp=None):
        g = value(updates, params)
        state["count"] = t = state["count"] + 1
        m, v = _moments(state, g, b1, b2)
        c1, c2 = 1.0 - b1**t, 1.0 - b2**t
        rho = rho_inf - 2.0 * t * b2**t / c2
        if rho <= 5.0:  # too few steps for a trustworthy variance: bias-corrected momentum alone
            return torch._foreach_div(m, c1), state
        r = math.sqrt((rho - 4.0) * (rho - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho))
        denom = torch._foreach_sqrt(v)
        torch._foreach_add_(denom, eps)
        torch._foreach_mul_(denom, c1 / (r * math.sqrt(c2)))  # m / c1 * r sqrt(c2) / (sqrt(v) + eps)
        return Quotient(m, denom), state

    return GradientTransformation(init, update, "scale_by_radam", dict(b1=b1, b2=b2, eps=eps))


@TRANSFORMS.register("scale_by_adamax", description="m = EMA of g; u_inf = max(b2 u_inf, |g| + eps); u = m / ((1 - b1^t) u_inf)")
def scale_by_adamax(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> GradientTransformation:
    """Adamax (Kingma & Ba 2015, section 7.1): Adam with the infinity norm in place of the RMS."""
    _unit("scale_by_adamax b1 (betas[0])", b1)
    _unit("scale_by_adamax b2 (betas[1])", b2)
    _positive("scale_by_adamax eps", eps)

    def init(params):
        return {"count": 0, "mu": _zeros(params), "inf_norm": _zeros(params)}

    def update(updates, state, params, hp=None):
        g = value(updates, params)
        state["count"] = t = state["count"] + 1
        m, u = state["mu"], state["inf_norm"]
        torch._foreach_lerp_(m, g, 1.0 - b1)
        torch._foreach_mul_(u, b2)
        a = torch._foreach_abs(g)
        torch._foreach_add_(a, eps)
        torch._foreach_maximum_(u, a)
        return Quotient(m, torch._foreach_mul(u, 1.0 - b1**t)), state

    return GradientTransformation(init, update, "scale_by_adamax", dict(b1=b1, b2=b2, eps=eps))


@TRANSFORMS.register("scale_by_lion", description="u = sign(b1 m + (1-b1) g); then m = b2 m + (1-b2) g")
def scale_by_lion(b1: float = 0.9, b2: float = 0.99) -> GradientTransformation:
    """Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms", Algorithm 2): the
    sign of an interpolation between momentum and gradient, so every entry moves by exactly lr."""
    _unit("scale_by_lion b1 (betas[0])", b1)
    _unit("scale_by_lion b2 (betas[1])", b2)

    def init(params):
        return {"mu": _zeros(params)}

    def update(updates, state, params, hp=None):
        g, m = value(updates, params), state["mu"]
        c = torch._foreach_lerp(m, g, 1.0 - b1)
        torch._foreach_sign_(c)
        torch._foreach_lerp_(m, g, 1.0 - b2)  # the momentum moves after the step, with its own beta
        return c, state

    return GradientTransformation(init, update, "scale_by_lion", dict(b1=b1, b2=b2))


@TRANSFORMS.register("scale_by_adan", description=(
    "d = g - g_prev; m, v, n EMAs of g, d, (g + b2 d)^2; u = (m_hat + b2 v_hat) / (sqrt(n_hat) + eps)"))
def scale_by_adan(b1: float = 0.98, b2: float = 0.92, b3: float = 0.99, eps: float = 1e-8) -> GradientTransformation:
    """Adan (Xie et al. 2022, "Adan: Adaptive Nesterov Momentum Algorithm", Algorithm 1, with the
    authors' code's bias corrections and betas as 1 - the paper's): Nesterov momentum estimated from
    the gradient difference. At the first step g_prev = g (d = 0)."""
    for i, b in enumerate((b1, b2, b3)):
        _unit(f"scale_by_adan b{i + 1} (betas[{i}])", b)
    _positive("scale_by_adan eps", eps)

    def init(params):
        return {"count": 0, "mu": _zeros(params), "diff": _zeros(params), "nu": _zeros(params), "prev": _zeros(params)}

    def update(updates, state, params, hp=None):
        g = value(updates, params)
        state["count"] = t = state["count"] + 1
        m, v, n, prev = state["mu"], state["diff"], state["nu"], state["prev"]
        if t == 1:
            torch._foreach_copy_(prev, g)
        d = torch._foreach_sub(g, prev)
        torch._foreach_lerp_(m, g, 1.0 - b1)
        torch._foreach_lerp_(v, d, 1.0 - b2)
        w = torch._foreach_add(g, d, alpha=b2)
        torch._foreach_mul_(n, b3)
        torch._foreach_addcmul_(n, w, w, value=1.0 - b3)
        torch._foreach_copy_(prev, g)
        denom = torch._foreach_sqrt(n)
        torch._foreach_div_(denom, math.sqrt(1.0 - b3**t))
        torch._foreach_add_(denom, eps)
        num = torch._foreach_mul(m, 1.0 / (1.0 - b1**t))
        torch._foreach_add_(num, v, alpha=b2 / (1.0 - b2**t))
        return Quotient(num, denom), state

    return GradientTransformation(init, update, "scale_by_adan", dict(b1=b1, b2=b2, b3=b3, eps=eps))


@TRANSFORMS.register("add_proximal_decay", description="u = (u + wd w) / (1 + lr wd): w <- (w - lr u) / (1 + lr wd) (Adan's decay)")
def add_proximal_decay(weight_decay: float = 0.0, lr: float | Callable[[int], float] = 0.01,
                       exclude_1d: bool = False) -> GradientTransformation:
    """Decoupled decay in proximal form, as Adan applies it: the step w - lr u, then divided by
    1 + lr wd. Written as an update for scale_by_lr it is (u + wd w) / (1 + lr wd), so it needs the lr
    (the optimizer passes it in hp; `lr` is for a chain run on its own). To first order in lr wd it is
    add_decayed_weights."""
    _nonneg("add_proximal_decay weight_decay", weight_decay)

    def init(params):
        return {"count": 0}

    def update(updates, state, params, hp=None):
        wd = (hp or {}).get("weight_decay", weight_decay)
        lrs = _lrs(hp, lr, state["count"], len(params))
        state["count"] += 1
        wds = wd if isinstance(wd, list) else [wd] * len(params)
        if not any(wds):
            return updates, state
        u = value(updates, params)
        return [x if not w or (exclude_1d and p.ndim <= 1) else (x + w * p) / (1.0 + a * w)
                for x, p, w, a in zip(u, params, wds, lrs)], state

    return GradientTransformation(init, update, "add_proximal_decay", dict(weight_decay=weight_decay, lr=lr, exclude_1d=exclude_1d))


def _b3_at(t: int, b1: float, b3: float, warmup: int) -> float:
    """AdEMAMix's slow beta at step t: rises from b1 to b3 over `warmup` steps so that the EMA's half
    life grows linearly (Pagliardini et al. 2024, eq. for beta_3 scheduling); b3 without warmup."""
    if not warmup or b1 == 0 or b3 == 0:
        return b3
    f = min(t, warmup) / warmup
    return min(math.exp(math.log(b1) * math.log(b3) / ((1.0 - f) * math.log(b3) + f * math.log(b1))), b3)


@TRANSFORMS.register("scale_by_ademamix", description=(
    "m1 = EMA_b1(g), m2 = EMA_b3(g) (slow), v = EMA_b2(g^2); u = (m1_hat + alpha m2) / (sqrt(v_hat) + eps)"))
def scale_by_ademamix(b1: float = 0.9, b2: float = 0.999, b3: float = 0.9999, alpha: float = 5.0, eps: float = 1e-8,
                      alpha_warmup: int = 0, b3_warmup: int = 0) -> GradientTransformation:
    """AdEMAMix (Pagliardini, Ablin & Grangier 2024, "The AdEMAMix Optimizer: Better, Faster, Older",
    Algorithm 1): Adam's direction plus alpha times a much slower momentum m2 (not bias-corrected),
    which keeps weighing gradients thousands of steps old. alpha_warmup / b3_warmup (steps, 0 = none)
    ramp alpha linearly and b3 by the paper's half-life schedule, as the paper advises for large b3."""
    for i, b in enumerate((b1, b2, b3)):
        _unit(f"scale_by_ademamix b{i + 1} (betas[{i}])", b)
    _nonneg("scale_by_ademamix alpha", alpha)
    _positive("scale_by_ademamix eps", eps)
    for what, n in (("alpha_warmup", alpha_warmup), ("b3_warmup", b3_warmup)):
        check(isinstance(n, int) and not isinstance(n, bool) and n >= 0,
              f"scale_by_ademamix {what}={n!r} must be a whole number of steps >= 0 (0 = no warmup)")

    def init(params):
        return {"count": 0, "mu": _zeros(params), "slow": _zeros(params), "nu": _zeros(params)}

    def update(updates, state, params, hp=None):
        g = value(updates, params)
        state["count"] = t = state["count"] + 1
        m1, v = _moments(state, g, b1, b2)
        m2 = state["slow"]
        torch._foreach_lerp_(m2, g, 1.0 - _b3_at(t, b1, b3, b3_warmup))
        a = alpha * min(1.0, t / alpha_warmup) if alpha_warmup else alpha
        num = torch._foreach_mul(m1, 1.0 / (1.0 - b1**t))
        torch._foreach_add_(num, m2, alpha=a)
        denom = torch._foreach_sqrt(v)
        torch._foreach_div_(denom, math.sqrt(1.0 - b2**t))
        torch._foreach_add_(denom, eps)
        return Quotient(num, denom), state

    return GradientTransformation(init, update, "scale_by_ademamix", dict(
        b1=b1, b2=b2, b3=b3, alpha=alpha, eps=eps, alpha_warmup=alpha_warmup, b3_warmup=b3_warmup))


@TRANSFORMS.register("schedule_free", description=(
    "last link: z += s_t u; x = (1 - c) x + c z, c = lr_max^2 / sum lr_max^2; w = b x + (1 - b) z; evaluate at x"))
def schedule_free(b1: float = 0.9, lr: float | Callable[[int], float] = 0.01, b2: float = 0.0,
                  weight_lr_power: float = 2.0, r: float = 0.0) -> GradientTransformation:
    """Schedule-Free (Defazio et al. 2024, "The Road Less Scheduled", and the authors' reference
    code): no decaying schedule, an average instead. It goes LAST, after scale_by_lr, where the update
    u = -lr * direction is a step of the base sequence z. The weights are trained at
    y = b1 x + (1 - b1) z, where the gradient is taken; the answer is the average x, so score and save
    x (ChainOptimizer.evaluation_weights swaps it in; its state holds z and x).

    Per step t (per parameter, lr_t its lr, times sqrt(1 - b2^t) for the Adam form, b2 > 0):
        z += s_t u  (s_t = sqrt(1 - b2^t), or 1)    lr_max = max(lr_max, lr_t)
        c = t^r lr_max^p / sum_i i^r lr_max,i^p     x = (1 - c) x + c z     y = b1 x + (1 - b1) z
    With a warmup then a constant lr, lr_max is this step's lr: the paper's c = lr_t^2 / sum lr_i^2.
    `lr` is used only when the chain runs on its own; the optimizer passes each step's lr in hp.
    """
    _unit("schedule_free b1 (momentum)", b1)
    _unit("schedule_free b2", b2)
    _nonneg("schedule_free weight_lr_power", weight_lr_power)
    _nonneg("schedule_free r", r)

    def init(params):
        return {"count": 0, "z": [p.detach().clone() for p in params], "x": [p.detach().clone() for p in params],
                "lr_max": [-1.0] * len(params), "weight_sum": [0.0] * len(params)}

    def update(updates, state, params, hp=None):
        lrs = _lrs(hp, lr, state["count"], len(params))
        state["count"] = t = state["count"] + 1
        s = math.sqrt(1.0 - b2**t) if b2 else 1.0
        cs = []
        for i, a in enumerate(lrs):
            state["lr_max"][i] = top = max(state["lr_max"][i], a * s)
            weight = t**r * top**weight_lr_power
            state["weight_sum"][i] += weight
            cs.append(weight / state["weight_sum"][i] if state["weight_sum"][i] else 0.0)
        z, x = state["z"], state["x"]
        torch._foreach_add_(z, value(updates, params), alpha=s)
        torch._foreach_lerp_(x, z, cs)  # x += c (z - x)
        y = torch._foreach_lerp(z, x, b1)  # z + b1 (x - z) = b1 x + (1 - b1) z
        return torch._foreach_sub(y, params), state

    return GradientTransformation(init, update, "schedule_free", dict(
        b1=b1, lr=lr, b2=b2, weight_lr_power=weight_lr_power, r=r))


__all__ = ["add_proximal_decay", "scale", "scale_by_adamax", "scale_by_adan", "scale_by_ademamix", "scale_by_lion",
           "scale_by_nadam", "scale_by_radam", "schedule_free"]
