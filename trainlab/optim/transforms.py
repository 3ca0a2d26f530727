"""Optimizers as composable gradient transformations (optax-style links and `chain`).

A link has `init(params) -> state` and `update(updates, state, params) -> (updates, state)`.
`chain(*links)` feeds each link's output to the next; the last one is normally
`scale_by_lr`, which negates, so the result is added to the parameters: p += update.

    >>> adam = chain(scale_by_adam(0.9, 0.999, 1e-8), scale_by_lr(1e-3))
    >>> adamw = chain(scale_by_adam(), add_decayed_weights(0.01), scale_by_lr(1e-3))

The link contract (state dicts, "_" hints, read-only updates) is documented in
trainlab.optim.base, with `GradientTransformation` and `chain` (re-exported here).

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

from ..registry import Registry
from .base import (  # noqa: F401  (GradientTransformation, chain, ... re-exported: the old import path)
    GradientTransformation, Scalars, State, Updates, _add_scaled, _add_scaled_, _each, _from_ratio, _nonneg,
    _positive, _times, _unit, _zeros, chain, global_norm, lr_at,
)
from ..errors import check

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

    def update(updates, state, params):
        m = state.pop("_mu", mu)  # this step's momentum (a torch scheduler may cycle it)
        v, a = state["momentum"], _each(m, lambda x: 1.0 - x) if ema else 1.0
        l2 = state.pop("_l2", 0.0)  # hint: the incoming updates are g and we add l2 * p here, in place
        has_l2 = any(l2) if isinstance(l2, list) else l2 != 0
        torch._foreach_mul_(v, m)
        _add_scaled_(v, updates, a)
        if has_l2:
            _add_scaled_(v, params, _times(a, l2, len(v)))
        if nesterov:  # look-ahead: g + mu v (torch's form)
            out = _add_scaled(updates, v, m)
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

    def ratio(updates, state, params):
        s = state["sum_sq"]
        torch._foreach_addcmul_(s, updates, updates)
        denom = torch._foreach_sqrt(s)
        torch._foreach_add_(denom, eps)
        return updates, denom, state

    return GradientTransformation(init, _from_ratio(ratio), "scale_by_adagrad",
                                  dict(eps=eps, initial_accumulator=initial_accumulator), ratio=ratio)


@TRANSFORMS.register("scale_by_rms", description="cache = d cache + (1-d) g^2; u = g / (sqrt(cache) + eps) (centered: cache - mean(g)^2)")
def scale_by_rms(decay: float = 0.99, eps: float = 1e-8, centered: bool = False) -> GradientTransformation:
    _unit("scale_by_rms decay", decay)
    _positive("scale_by_rms eps", eps)

    def init(params):
        state = {"sq_avg": _zeros(params)}
        if centered:
            state["grad_avg"] = _zeros(params)
        return state

    def ratio(updates, state, params):
        sq = state["sq_avg"]
        torch._foreach_mul_(sq, decay)
        torch._foreach_addcmul_(sq, updates, updates, value=1.0 - decay)
        if centered:  # variance instead of second moment: E[g^2] - E[g]^2
            ga = state["grad_avg"]
            torch._foreach_lerp_(ga, updates, 1.0 - decay)
            denom = torch._foreach_addcmul(sq, ga, ga, value=-1.0)
            torch._foreach_sqrt_(denom)
        else:
            denom = torch._foreach_sqrt(sq)
        torch._foreach_add_(denom, eps)
        return updates, denom, state

    return GradientTransformation(init, _from_ratio(ratio), "scale_by_rms", dict(decay=decay, eps=eps, centered=centered),
                                  ratio=ratio)


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

    def ratio(updates, state, params):
        state["count"] = t = state["count"] + 1
        m, v = state["mu"], state["nu"]
        # this step's betas (a torch scheduler may cycle b1); bias corrections use them, as torch does
        c1, c2 = state.pop("_b1", b1), state.pop("_b2", b2)
        torch._foreach_lerp_(m, updates, _each(c1, lambda b: 1.0 - b))  # m += (1-b1)(g - m)
        torch._foreach_mul_(v, c2)
        if isinstance(c2, list):
            torch._foreach_addcmul_(v, updates, updates, [1.0 - b for b in c2])
        else:
            torch._foreach_addcmul_(v, updates, updates, value=1.0 - c2)
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
        return m, denom, state  # m is state: read-only for the caller

    return GradientTransformation(init, _from_ratio(ratio), "scale_by_adam",
                                  dict(b1=b1, b2=b2, eps=eps, bias_correction=bias_correction), ratio=ratio)


def _add_weights(name: str, weight_decay: float, exclude_1d: bool) -> GradientTransformation:
    """u + wd * w. One implementation for coupled L2 and decoupled decay: the chain position differs."""
    _nonneg(f"{name} weight_decay", weight_decay)

    def init(params):
        return {}

    def update(updates, state, params):
        wd = state.pop("_wd", weight_decay)  # this step's value, from the optimizer's param groups
        if isinstance(wd, list):  # one per parameter (groups differ)
            return [u + w * p if w and (p.ndim > 1 or not exclude_1d) else u
                    for u, p, w in zip(updates, params, wd)], state
        if wd == 0:
            return updates, state
        if not exclude_1d:
            return torch._foreach_add(updates, params, alpha=wd), state
        # biases and norm scales (ndim <= 1) are left undecayed
        return [u + wd * p if p.ndim > 1 else u for u, p in zip(updates, params)], state

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

    def update(updates, state, params):
        # ChainOptimizer already measured the raw gradients' norm; reuse it when we clip them first
        norm = state.pop("_raw_norm", None)
        norm = global_norm(updates) if norm is None else norm
        coef = torch.clamp(max_norm / (norm + 1e-6), max=1.0)
        return torch._foreach_mul(updates, coef), state

    return GradientTransformation(init, update, "clip_by_global_norm", dict(max_norm=max_norm))


@TRANSFORMS.register("clip_by_value", description="g = clamp(g, -clip, clip) elementwise")
def clip_by_value(clip: float = 1.0) -> GradientTransformation:
    _positive("clip_by_value clip", clip)

    def init(params):
        return {}

    def update(updates, state, params):
        out = torch._foreach_clamp_min(updates, -clip)
        torch._foreach_clamp_max_(out, clip)
        return out, state

    return GradientTransformation(init, update, "clip_by_value", dict(clip=clip))


@TRANSFORMS.register("scale_by_lr", description="u = -lr * u; lr a float or a schedule step -> lr")
def scale_by_lr(lr: float | Callable[[int], float] = 0.01) -> GradientTransformation:
    """The learning-rate link; it negates, so the chain's output is added to the params.

    The hint `state["_lr_per_param"]` (set by ChainOptimizer for per-group lr) overrides lr.
    """
    if not callable(lr):
        _positive("lr", lr)

    def init(params):
        return {"count": 0}

    def update(updates, state, params):
        per_param = state.pop("_lr_per_param", None)
        if per_param is not None:
            out = torch._foreach_mul(updates, [-x for x in per_param])
        else:
            out = torch._foreach_mul(updates, -lr_at(lr, state["count"]))
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

    def update(updates, state, params):
        state["count"] += 1
        if state["count"] % k:
            return updates, state
        slow = state["slow"]
        fast = torch._foreach_add(params, updates)  # where the inner chain would put the weights
        torch._foreach_lerp_(slow, fast, float(alpha))  # slow += alpha (fast - slow)
        return torch._foreach_sub(slow, params), state  # p + (slow - p): the fast weights restart at slow

    return GradientTransformation(init, update, "lookahead", dict(k=k, alpha=alpha))


def create_link(name: str, **hp) -> GradientTransformation:
    """One link by registry name, with its hyperparameters checked.

    Example:
        >>> create_link("clip_by_global_norm", max_norm=1.0).name
        'clip_by_global_norm'
    """
    from ..nn import check_kwargs

    fn = TRANSFORMS.get(name)
    check_kwargs(f"transform {name!r}", fn, hp)
    return fn(**hp)


__all__ = [
    "TRANSFORMS", "GradientTransformation", "chain", "create_link", "global_norm", "lr_at",
    "scale_by_momentum", "scale_by_adagrad", "scale_by_rms", "scale_by_adam", "add_l2",
    "add_decayed_weights", "clip_by_global_norm", "clip_by_value", "scale_by_lr", "lookahead",
]
