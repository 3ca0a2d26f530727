"""Optimizers as composable gradient transformations (optax-style links and `chain`).

A link has `init(params) -> state` and `update(updates, state, params, hp) -> (updates, state)`,
where `hp` holds this step's values of the hyperparameters something outside drives (the lr,
a scheduler's momentum). `chain(*links)` feeds each link's output to the next; the last one is
normally `scale_by_lr`, which negates, so the result is added to the parameters: p += update.

    >>> adam = chain(scale_by_adam(0.9, 0.999, 1e-8), scale_by_lr(1e-3))
    >>> adamw = chain(scale_by_adam(), add_decayed_weights(0.01), scale_by_lr(1e-3))

The link contract (hp, state dicts, read-only updates, the pending forms Quotient and
PlusWeights) is documented in trainlab.optim.base, with `GradientTransformation` and `chain`.

Coupled L2 vs decoupled weight decay: `add_l2(wd)` placed BEFORE the preconditioner adds
wd*w to the gradient (= the gradient of the penalty (wd/2) sum w^2); `add_decayed_weights(wd)`
placed AFTER it adds wd*w to the final direction (AdamW, Loshchilov & Hutter). The
formula is the same, only the position differs. For plain SGD (no momentum/preconditioner)
both give p -= lr*(g + wd*p): identical, and equal to L2 penalty strength wd/2 (torch's
`weight_decay`). With momentum they differ slightly (decay is not accumulated in the
velocity). For adaptive methods (Adagrad, RMSprop, Adam) they differ a lot: coupled decay
is divided by sqrt(v), so weights with large gradients are barely decayed; decoupled
decay shrinks every weight by the same fraction lr*wd per step.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from ..errors import check
from ..registry import Registry, check_kwargs
from .base import (
    GradientTransformation,
    PlusWeights,
    Quotient,
    _add_scaled,
    _add_scaled_,
    _each,
    _nonneg,
    _positive,
    _times,
    _unit,
    _zeros,
    chain,
    global_norm,
    lr_at,
    value,
)

TRANSFORMS = Registry("transform")


# ---------------------------------------------------------------- links


@TRANSFORMS.register("scale_by_momentum", description="v = mu v + g; u = v (nesterov: u = g + mu v; ema: v = mu v + (1-mu) g)")
def scale_by_momentum(mu: float = 0.9, nesterov: bool = False, ema: bool = False) -> GradientTransformation:
    """Heavy-ball momentum in torch's form (v = mu v + g), or the EMA form of deck 003
    (m = mu m + (1-mu) g, which is the torch form scaled by (1-mu)).

    Put it AFTER scale_by_lr to get deck 001's form v = mu v - lr g; x += v, which equals
    torch's for a constant lr and differs when the lr changes (old velocity keeps its old lr).
    """
    _unit("scale_by_momentum mu", mu)

    def init(params):
        return {"momentum": _zeros(params)}

    def update(updates, state, params, hp=None):
        m = (hp or {}).get("mu", mu)  # this step's momentum (a torch scheduler may cycle it)
        v, a = state["momentum"], _each(m, lambda x: 1.0 - x) if ema else 1.0
        # coupled L2 still pending (g + l2 p): both terms go into the buffer, one after the other
        l2 = updates.wd if isinstance(updates, PlusWeights) and not updates.decoupled else 0.0
        g = value(updates.u, params) if isinstance(updates, PlusWeights) and not updates.decoupled else \
            value(updates, params)
        has_l2 = any(l2) if isinstance(l2, list) else l2 != 0
        torch._foreach_mul_(v, m)
        _add_scaled_(v, g, a)
        if has_l2:
            _add_scaled_(v, params, _times(a, l2, len(v)))
        if nesterov:  # look-ahead: g + mu v (torch's form)
            out = _add_scaled(g, v, m)
            if has_l2:
                _add_scaled_(out, params, l2)
            return out, state
        return v, state  # read-only for later links

    return GradientTransformation(init, update, "scale_by_momentum", dict(mu=mu, nesterov=nesterov, ema=ema))


@TRANSFORMS.register("scale_by_adagrad", description="cache += g^2; u = g / (sqrt(cache) + eps)")
def scale_by_adagrad(eps: float = 1e-10, initial_accumulator: float = 0.0) -> GradientTransformation:
    _positive("scale_by_adagrad eps", eps)
    _nonneg("scale_by_adagrad initial_accumulator", initial_accumulator)

    def init(params):
        return {"sum_sq": _zeros(params, initial_accumulator)}

    def update(updates, state, params, hp=None):
        g, s = value(updates, params), state["sum_sq"]
        torch._foreach_addcmul_(s, g, g)
        denom = torch._foreach_sqrt(s)
        torch._foreach_add_(denom, eps)
        return Quotient(g, denom), state

    return GradientTransformation(init, update, "scale_by_adagrad", dict(eps=eps, initial_accumulator=initial_accumulator))


@TRANSFORMS.register("scale_by_rms", description="cache = d cache + (1-d) g^2; u = g / (sqrt(cache) + eps) (centered: cache - mean(g)^2)")
def scale_by_rms(decay: float = 0.99, eps: float = 1e-8, centered: bool = False) -> GradientTransformation:
    _unit("scale_by_rms decay", decay)
    _positive("scale_by_rms eps", eps)

    def init(params):
        state = {"sq_avg": _zeros(params)}
        if centered:
            state["grad_avg"] = _zeros(params)
        return state

    def update(updates, state, params, hp=None):
        g, sq = value(updates, params), state["sq_avg"]
        torch._foreach_mul_(sq, decay)
        torch._foreach_addcmul_(sq, g, g, value=1.0 - decay)
        if centered:  # variance instead of second moment: E[g^2] - E[g]^2
            ga = state["grad_avg"]
            torch._foreach_lerp_(ga, g, 1.0 - decay)
            denom = torch._foreach_addcmul(sq, ga, ga, value=-1.0)
            torch._foreach_sqrt_(denom)
        else:
            denom = torch._foreach_sqrt(sq)
        torch._foreach_add_(denom, eps)
        return Quotient(g, denom), state

    return GradientTransformation(init, update, "scale_by_rms", dict(decay=decay, eps=eps, centered=centered))


@TRANSFORMS.register(
    "scale_by_adam",
    description="m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; u = m_hat / (sqrt(v_hat) + eps), hat = /(1-b^t)",
)
def scale_by_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, bias_correction: bool = True) -> GradientTransformation:
    """Adam's direction; bias_correction=False is the lecture's plain form m / (sqrt(v) + eps)."""
    _unit("scale_by_adam b1 (betas[0])", b1)
    _unit("scale_by_adam b2 (betas[1])", b2)
    _positive("scale_by_adam eps", eps)

    def init(params):
        return {"count": 0, "mu": _zeros(params), "nu": _zeros(params)}

    def update(updates, state, params, hp=None):
        g = value(updates, params)
        state["count"] = t = state["count"] + 1
        m, v = state["mu"], state["nu"]
        # this step's betas (a torch scheduler may cycle b1); bias corrections use them, as torch does
        c1, c2 = (hp or {}).get("b1", b1), (hp or {}).get("b2", b2)
        torch._foreach_lerp_(m, g, _each(c1, lambda b: 1.0 - b))  # m += (1-b1)(g - m)
        torch._foreach_mul_(v, c2)
        if isinstance(c2, list):
            torch._foreach_addcmul_(v, g, g, [1.0 - b for b in c2])
        else:
            torch._foreach_addcmul_(v, g, g, value=1.0 - c2)
        c1, c2 = (_each(c1, lambda b: 1.0 - b**t), _each(c2, lambda b: 1.0 - b**t)) if bias_correction else (1.0, 1.0)
        # m_hat / (sqrt(v_hat) + eps) = m / (c1 sqrt(v) / sqrt(c2) + c1 eps): folding the
        # corrections into the denominator saves a pass over m.
        denom = torch._foreach_sqrt(v)
        if isinstance(c1, list) or isinstance(c2, list):
            n = len(m)
            c1s, c2s = (c if isinstance(c, list) else [c] * n for c in (c1, c2))
            torch._foreach_mul_(denom, [a / math.sqrt(b) for a, b in zip(c1s, c2s)])
            torch._foreach_add_(denom, [a * eps for a in c1s])
        else:
            torch._foreach_mul_(denom, c1 / math.sqrt(c2))
            torch._foreach_add_(denom, c1 * eps)
        return Quotient(m, denom), state  # m is state: read-only for the caller

    return GradientTransformation(init, update, "scale_by_adam", dict(b1=b1, b2=b2, eps=eps,
                                                                       bias_correction=bias_correction))


def _add_weights(name: str, weight_decay: float, exclude_1d: bool) -> GradientTransformation:
    """u + wd * w. One implementation for coupled L2 and decoupled decay: the chain position differs.
    Without exclude_1d the sum is left pending (`PlusWeights`), for momentum's buffer or the step."""
    _nonneg(f"{name} weight_decay", weight_decay)
    decoupled = name == "add_decayed_weights"

    def init(params):
        return {}

    def update(updates, state, params, hp=None):
        wd = (hp or {}).get("weight_decay", weight_decay)  # this step's value, from the optimizer's param groups
        if not isinstance(wd, list) and wd == 0:
            return updates, state
        if not exclude_1d:
            return PlusWeights(updates, wd, decoupled), state
        u, wd = value(updates, params), wd if isinstance(wd, list) else [wd] * len(params)
        # biases and norm scales (ndim <= 1) are left undecayed
        return [x + w * p if w and p.ndim > 1 else x for x, p, w in zip(u, params, wd)], state

    return GradientTransformation(init, update, name, dict(weight_decay=weight_decay, exclude_1d=exclude_1d))


@TRANSFORMS.register("add_l2", description="u = g + wd w, before the preconditioner (coupled L2 = grad of (wd/2) sum w^2)")
def add_l2(weight_decay: float = 0.0, exclude_1d: bool = False) -> GradientTransformation:
    return _add_weights("add_l2", weight_decay, exclude_1d)


@TRANSFORMS.register("add_decayed_weights", description="u = u + wd w, after the preconditioner (decoupled, AdamW)")
def add_decayed_weights(weight_decay: float = 0.0, exclude_1d: bool = False) -> GradientTransformation:
    return _add_weights("add_decayed_weights", weight_decay, exclude_1d)


@TRANSFORMS.register("clip_by_global_norm", description="g = g * min(1, max_norm / (||g||_2 + 1e-6)), norm over all params")
def clip_by_global_norm(max_norm: float = 1.0) -> GradientTransformation:
    """Same formula as torch.nn.utils.clip_grad_norm_ (including its 1e-6), without a host sync."""
    _positive("clip_by_global_norm max_norm", max_norm)

    def init(params):
        return {}

    def update(updates, state, params, hp=None):
        u = value(updates, params)
        coef = torch.clamp(max_norm / (global_norm(u) + 1e-6), max=1.0)
        return torch._foreach_mul(u, coef), state

    return GradientTransformation(init, update, "clip_by_global_norm", dict(max_norm=max_norm))


@TRANSFORMS.register("clip_by_value", description="g = clamp(g, -clip, clip) elementwise")
def clip_by_value(clip: float = 1.0) -> GradientTransformation:
    _positive("clip_by_value clip", clip)

    def init(params):
        return {}

    def update(updates, state, params, hp=None):
        out = torch._foreach_clamp_min(value(updates, params), -clip)
        torch._foreach_clamp_max_(out, clip)
        return out, state

    return GradientTransformation(init, update, "clip_by_value", dict(clip=clip))


@TRANSFORMS.register("scale_by_lr", description="u = -lr * u; lr a float or a schedule step -> lr")
def scale_by_lr(lr: float | Callable[[int], float] = 0.01) -> GradientTransformation:
    """The learning-rate link; it negates, so the chain's output is added to the params.

    hp["lr"] (ChainOptimizer passes each parameter's lr: its group's lr times lr_mult) overrides lr;
    without it, lr is the float, or the schedule at this link's step count.
    """
    if not callable(lr):
        _positive("lr", lr)

    def init(params):
        return {"count": 0}

    def update(updates, state, params, hp=None):
        given, u = (hp or {}).get("lr"), value(updates, params)
        if isinstance(given, list):
            out = torch._foreach_mul(u, [-x for x in given])
        else:
            out = torch._foreach_mul(u, -(given if given is not None else lr_at(lr, state["count"])))
        state["count"] += 1
        return out, state

    return GradientTransformation(init, update, "scale_by_lr", dict(lr=lr))


@TRANSFORMS.register("lookahead", description="last link: every k steps slow += alpha (fast - slow), fast = slow (Zhang et al. 2019)")
def lookahead(k: int = 5, alpha: float = 0.5) -> GradientTransformation:
    """Lookahead (Zhang et al. 2019) around the links before it, which make the fast weights' steps.

    It goes LAST, after scale_by_lr, where an update is a step of the weights: p_fast = p + u. Every
    k-th step the slow weights (state, starting at the initial weights) move alpha of the way to the
    fast ones, and the update returned resets the fast weights to them: u = slow - p. Between syncs
    the inner updates pass through. Its state (slow, count) is in the optimizer's state_dict.

        >>> opt_chain = chain(scale_by_momentum(0.9), scale_by_lr(0.1), lookahead(k=5, alpha=0.5))
    """
    check(isinstance(k, int) and not isinstance(k, bool) and k >= 1, f"lookahead k={k!r} must be an integer >= 1")
    check(isinstance(alpha, (int, float)) and 0 < alpha <= 1, f"lookahead alpha={alpha!r} must be in (0, 1]")

    def init(params):
        return {"count": 0, "slow": [p.detach().clone() for p in params]}

    def update(updates, state, params, hp=None):
        state["count"] += 1
        if state["count"] % k:
            return updates, state
        slow = state["slow"]
        fast = torch._foreach_add(params, value(updates, params))  # where the inner chain would put the weights
        torch._foreach_lerp_(slow, fast, float(alpha))  # slow += alpha (fast - slow)
        return torch._foreach_sub(slow, params), state  # p + (slow - p): the fast weights restart at slow

    return GradientTransformation(init, update, "lookahead", dict(k=k, alpha=alpha))


def create_link(name: str, **hp) -> GradientTransformation:
    """One link by registry name, with its hyperparameters checked.

    Example:
        >>> create_link("clip_by_global_norm", max_norm=1.0).name
        'clip_by_global_norm'
    """
    fn = TRANSFORMS.get(name)
    check_kwargs(f"transform {name!r}", fn, hp)
    return fn(**hp)


__all__ = [
    "TRANSFORMS", "GradientTransformation", "chain", "create_link", "global_norm", "lr_at",
    "scale_by_momentum", "scale_by_adagrad", "scale_by_rms", "scale_by_adam", "add_l2",
    "add_decayed_weights", "clip_by_global_norm", "clip_by_value", "scale_by_lr", "lookahead",
]
