"""Links that look at whole tensors, not single entries, registered in TRANSFORMS: Adafactor's
factored second moment, Muon's orthogonalised momentum, and the layer-wise trust ratios of LAMB and
LARS; plus `split_matrices`, the combinator that gives matrices (and conv filters) to one chain and
the other tensors to another (the `muon` recipe: Muon for matrices, Adam for the rest).

    >>> from trainlab.optim.transforms import add_decayed_weights, chain, scale_by_adam, scale_by_lr
    >>> lamb = chain(scale_by_adam(), add_decayed_weights(0.01), scale_by_trust_ratio(), scale_by_lr(1e-3))
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch import Tensor

from ..errors import check
from .base import GradientTransformation, _lrs, _nonneg, _positive, _unit, value
from .transforms import TRANSFORMS


# ---------------------------------------------------------------- Adafactor


@TRANSFORMS.register("scale_by_adafactor", description=(
    "v ~ row x col EMAs of g^2 (factored for ndim >= 2), b2_t = 1 - t^decay; u = g / sqrt(v), clipped to "
    "RMS d; step = max(eps2, RMS(w)) min(lr, 1/sqrt t) u"))
def scale_by_adafactor(lr: float | Callable[[int], float] = 1e-2, beta2_decay: float = -0.8, eps1: float | None = None,
                       eps2: float = 1e-3, d: float = 1.0) -> GradientTransformation:
    """Adafactor (Shazeer & Stern 2018) in torch.optim.Adafactor's form: the second moment of a
    matrix kept as its row and column means (O(R + C) memory), no first moment, updates clipped to
    RMS <= d, and a relative step: each tensor moves by max(eps2, RMS(w)) * min(lr, 1/sqrt(t)) times
    the clipped direction. The lr therefore enters before scale_by_lr; this link returns that step
    divided by lr (scale_by_lr multiplies it back), and gets each step's lr in hp from the optimizer.
    eps1 (None: the dtype's machine epsilon) floors the variance estimate; 1-d tensors are not factored.
    """
    check(isinstance(beta2_decay, (int, float)) and beta2_decay <= 0, f"scale_by_adafactor beta2_decay={beta2_decay!r} must be <= 0")
    check(eps1 is None or (isinstance(eps1, (int, float)) and eps1 >= 0), f"scale_by_adafactor eps1={eps1!r} must be >= 0 or None")
    _nonneg("scale_by_adafactor eps2", eps2)
    check(isinstance(d, (int, float)) and d >= 1, f"scale_by_adafactor d={d!r} (the update's RMS clip) must be >= 1")

    def init(params):
        def factors(p):  # (row, col): the means over the last and next-to-last dims, or the full variance for 1-d
            if p.ndim > 1:
                return torch.zeros_like(p.sum(-1, keepdim=True)), torch.zeros_like(p.sum(-2, keepdim=True))
            return torch.zeros_like(p), None
        rows, cols = zip(*(factors(p) for p in params)) if params else ((), ())
        return {"count": 0, "row": list(rows), "col": list(cols)}

    def update(updates, state, params, hp=None):
        g = value(updates, params)
        lrs = _lrs(hp, lr, state["count"], len(params))
        state["count"] = t = state["count"] + 1
        rate = t**beta2_decay  # 1 - beta2_t
        out = []
        for gi, p, row, col, a in zip(g, params, state["row"], state["col"], lrs):
            e1 = torch.finfo(p.dtype).eps if eps1 is None else eps1
            if col is not None:  # factored: E[g^2] ~ row col / mean(row)
                row.lerp_(torch.linalg.vector_norm(gi, dim=-1, keepdim=True).square_().div_(gi.size(-1)), rate)
                col.lerp_(torch.linalg.vector_norm(gi, dim=-2, keepdim=True).square_().div_(gi.size(-2)), rate)
                var = row @ col
                var.div_(row.mean(dim=-2, keepdim=True).clamp_(min=e1))
            else:
                row.lerp_(gi * gi, rate)
                var = row.clone()
            u = var.clamp_(min=e1 * e1).rsqrt_().mul_(gi)
            clip = max(1.0, u.norm(2).item() / (math.sqrt(u.numel()) * d))
            scale_ = max(eps2, p.norm(2).item() / math.sqrt(p.numel()))
            relative = 1.0 if a * math.sqrt(t) <= 1.0 else 1.0 / (a * math.sqrt(t))  # min(lr, 1/sqrt t) / lr
            out.append(u.mul_(scale_ * relative / clip))
        return out, state

    return GradientTransformation(init, update, "scale_by_adafactor", dict(lr=lr, beta2_decay=beta2_decay, eps1=eps1,
                                                                             eps2=eps2, d=d))


# ---------------------------------------------------------------- Muon

NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)  # Keller Jordan's quintic, as in torch.optim.Muon
ADJUST_LR = ("original", "match_rms_adamw")


def orthogonalize(g: Tensor, coefficients: tuple[float, float, float] = NS_COEFFICIENTS, steps: int = 5,
                  eps: float = 1e-7) -> Tensor:
    """Newton-Schulz iteration towards U V^T for G = U S V^T, in bfloat16, as torch.optim.Muon does:
    X = G / ||G||_F, then X = a X + (b A + c A^2) X with A = X X^T, on the wide orientation.
    The result's singular values land near 1 (roughly 0.7-1.2), not exactly 1. g: (rows, cols)."""
    a, b, c = coefficients
    x = g.to(torch.bfloat16, copy=True)
    tall = g.size(0) > g.size(1)
    if tall:
        x = x.T
    x.div_(x.norm().clamp(min=eps))  # spectral norm <= Frobenius norm = 1
    for _ in range(steps):
        gram = x @ x.T
        x = torch.addmm(x, torch.addmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    return x.T if tall else x


@TRANSFORMS.register("scale_by_muon", description=(
    "v = lerp(v, g, 1-mu); u = NS5(g + mu (v - g)) (nesterov) on each matrix (conv filters as (out, in*k*k)), "
    "times sqrt(max(1, rows/cols))"))
def scale_by_muon(momentum: float = 0.95, nesterov: bool = True, ns_steps: int = 5,
                  ns_coefficients: tuple[float, float, float] = NS_COEFFICIENTS, eps: float = 1e-7,
                  adjust_lr: str = "original") -> GradientTransformation:
    """Muon (Keller Jordan 2024, "Muon: An optimizer for hidden layers in neural networks"), in
    torch.optim.Muon's form: EMA momentum with a Nesterov look-ahead, then each update matrix
    orthogonalised by `ns_steps` Newton-Schulz iterations (bfloat16), then scaled so its RMS is
    comparable across shapes: adjust_lr "original" sqrt(max(1, rows/cols)) (Keller Jordan), or
    "match_rms_adamw" 0.2 sqrt(max(rows, cols)) (Liu et al. 2025: AdamW's lr and decay carry over).
    A conv filter (out, in, kh, kw) is flattened to (out, in*kh*kw), as in Keller Jordan's code.
    Only for tensors with ndim >= 2: the `muon` recipe gives the others to Adam (split_matrices).
    """
    _unit("scale_by_muon momentum", momentum)
    check(isinstance(ns_steps, int) and not isinstance(ns_steps, bool) and 1 <= ns_steps < 100,
          f"scale_by_muon ns_steps={ns_steps!r} must be a whole number in [1, 100)")
    check(isinstance(ns_coefficients, (tuple, list)) and len(ns_coefficients) == 3
          and all(isinstance(x, (int, float)) for x in ns_coefficients),
          f"scale_by_muon ns_coefficients={ns_coefficients!r} must be three numbers (a, b, c), e.g. {list(NS_COEFFICIENTS)}")
    _positive("scale_by_muon eps", eps)
    check(adjust_lr in ADJUST_LR, f"scale_by_muon adjust_lr={adjust_lr!r} must be one of: {', '.join(ADJUST_LR)}")
    coefficients = tuple(float(x) for x in ns_coefficients)

    def init(params):
        for p in params:
            check(p.ndim >= 2, f"scale_by_muon got a tensor of shape {tuple(p.shape)}: Muon orthogonalises matrices and "
                  "conv filters (ndim >= 2); use the muon recipe, which gives the other tensors to Adam")
        return {"momentum": [torch.zeros_like(p, memory_format=torch.preserve_format) for p in params]}

    def update(updates, state, params, hp=None):
        out = []
        for g, p, buf in zip(value(updates, params), params, state["momentum"]):
            buf.lerp_(g, 1.0 - momentum)
            u = g.lerp(buf, momentum) if nesterov else buf
            o = orthogonalize(u.reshape(len(u), -1), coefficients, ns_steps, eps)
            rows, cols = o.shape
            ratio = math.sqrt(max(1.0, rows / cols)) if adjust_lr == "original" else 0.2 * math.sqrt(max(rows, cols))
            o = o.to(p.dtype).reshape(p.shape)
            out.append(o.mul_(ratio) if ratio != 1.0 else o)
        return out, state

    return GradientTransformation(init, update, "scale_by_muon", dict(
        momentum=momentum, nesterov=nesterov, ns_steps=ns_steps, ns_coefficients=coefficients, eps=eps, adjust_lr=adjust_lr))


HEADS = ("others", "matrices")


def _flatten(state: dict, prefix: str) -> dict:
    """A link's state, or a chain's {key: link state}, as one flat dict (keys prefix + key [+ "/" + entry])."""
    out = {}
    for k, v in state.items():
        if isinstance(v, dict):
            out.update({f"{prefix}{k}/{n}": x for n, x in v.items()})
        else:
            out[f"{prefix}{k}"] = v
    return out


def _nest(flat: dict, prefix: str, link: GradientTransformation) -> dict:
    """The inverse of _flatten for `link`'s state (a chain's links without state get their empty dicts)."""
    out: dict[str, Any] = {f"{i}:{x.name}": {} for i, x in enumerate(link.links)}
    for k, v in flat.items():
        if k.startswith(prefix):
            outer, _, inner = k[len(prefix):].partition("/")
            if inner:
                out.setdefault(outer, {})[inner] = v
            else:
                out[outer] = v
    return out


def split_matrices(matrices: GradientTransformation, others: GradientTransformation,
                   head: str = "others") -> GradientTransformation:
    """`matrices` on the tensors with ndim >= 2 (linear weights, conv filters), `others` on the rest
    (biases, norm scales), each with its own state. head="others" also gives the last matrix among
    the parameters (the classifier head in trainlab's models and in the usual parameter order) to
    `others`, as Muon's authors advise for the input embedding and output layer; "matrices" keeps it.
    The split is made once, at init, from the parameters in order (a param group added later is split
    on its own). The state stays one flat dict of per-parameter lists (None where a part has no entry),
    so checkpoints, frozen parameters and added groups work as for any link. Not a registered link:
    its arguments are links; recipes use it (`muon`).
    """
    check(head in HEADS, f"split_matrices head={head!r} must be one of: {', '.join(HEADS)}")
    parts = (("m:", matrices, True), ("o:", others, False))

    def init(params):
        mats = [i for i, p in enumerate(params) if p.ndim >= 2]
        last = mats[-1] if mats and head == "others" else None
        mask = [p.ndim >= 2 and i != last for i, p in enumerate(params)]
        state: dict[str, Any] = {"matrix": mask}
        for tag, link, want in parts:
            idx = [i for i, b in enumerate(mask) if b == want]
            for k, v in _flatten(link.init([params[i] for i in idx]), tag).items():
                if isinstance(v, list):  # spread over all parameters
                    full: list[Any] = [None] * len(params)
                    for j, i in enumerate(idx):
                        full[i] = v[j]
                    v = full
                state[k] = v
        return state

    def update(updates, state, params, hp=None):
        u, out = value(updates, params), [None] * len(params)
        for tag, link, want in parts:
            idx = [i for i, b in enumerate(state["matrix"]) if b == want]
            if not idx:
                continue
            mine = {k: ([v[i] for i in idx] if isinstance(v, list) else v) for k, v in state.items() if k.startswith(tag)}
            res, sub = link.update([u[i] for i in idx], _nest(mine, tag, link), [params[i] for i in idx], None)
            for j, x in enumerate(value(res, [params[i] for i in idx])):
                out[idx[j]] = x
            for k, v in _flatten(sub, tag).items():
                if isinstance(v, list):
                    for j, i in enumerate(idx):
                        state[k][i] = v[j]
                else:
                    state[k] = v
        return out, state

    return GradientTransformation(init, update, "split_matrices", dict(head=head))


# ---------------------------------------------------------------- trust ratios (LAMB, LARS)


def _where_defined(num: Tensor, den: Tensor, ok: Tensor) -> Tensor:
    """num / den where `ok`, else 1: a layer whose weights or update are all zero keeps its plain step."""
    return torch.where(ok, num / den, torch.ones_like(num))


@TRANSFORMS.register("scale_by_trust_ratio", description="u = ||w|| / (||u|| + eps) * u per tensor (LAMB's layer-wise trust ratio)")
def scale_by_trust_ratio(eps: float = 0.0, exclude_1d: bool = False) -> GradientTransformation:
    """LAMB's trust ratio (You et al. 2019, "Large Batch Optimization for Deep Learning", Algorithm 2
    with phi = identity): each tensor's update is rescaled to the norm of its weights, so every layer
    moves by the same fraction lr of its size. Ratio 1 where ||w|| or ||u|| is 0; with exclude_1d,
    biases and norm scales (ndim <= 1) keep their update as it is."""
    _nonneg("scale_by_trust_ratio eps", eps)

    def init(params):
        return {}

    def update(updates, state, params, hp=None):
        u = value(updates, params)
        wn, un = torch._foreach_norm(params), torch._foreach_norm(u)
        return [x if exclude_1d and p.ndim <= 1 else x * _where_defined(w, n + eps, (w > 0) & (n > 0))
                for x, p, w, n in zip(u, params, wn, un)], state

    return GradientTransformation(init, update, "scale_by_trust_ratio", dict(eps=eps, exclude_1d=exclude_1d))


@TRANSFORMS.register("scale_by_lars", description=(
    "u = eta ||w|| / (||g|| + wd ||w|| + eps) * (g + wd w) per tensor (LARS's local lr)"))
def scale_by_lars(trust_coefficient: float = 1e-3, weight_decay: float = 0.0, eps: float = 0.0,
                  exclude_1d: bool = False) -> GradientTransformation:
    """LARS's local learning rate (You, Gitman & Ginsburg 2017, "Large Batch Training of
    Convolutional Networks", Algorithm 1): lambda = eta ||w|| / (||g|| + wd ||w||), applied to the
    gradient with its coupled decay, g + wd w. Ratio 1 where ||w|| or ||g|| is 0 (a zero-initialised
    bias still learns); with exclude_1d, biases and norm scales (ndim <= 1) get neither the ratio nor
    the decay (the usual practice). The decay is inside the ratio, so it is this link's own."""
    _positive("scale_by_lars trust_coefficient", trust_coefficient)
    _nonneg("scale_by_lars weight_decay", weight_decay)
    _nonneg("scale_by_lars eps", eps)

    def init(params):
        return {}

    def update(updates, state, params, hp=None):
        g = value(updates, params)
        wd = (hp or {}).get("weight_decay", weight_decay)
        wds = wd if isinstance(wd, list) else [wd] * len(g)
        wn, gn = torch._foreach_norm(params), torch._foreach_norm(g)
        out = []
        for x, p, w, n, decay in zip(g, params, wn, gn, wds):
            if exclude_1d and p.ndim <= 1:
                out.append(x)
                continue
            ratio = _where_defined(trust_coefficient * w, n + decay * w + eps, (w > 0) & (n > 0))
            out.append((x + decay * p if decay else x) * ratio)
        return out, state

    return GradientTransformation(init, update, "scale_by_lars", dict(
        trust_coefficient=trust_coefficient, weight_decay=weight_decay, eps=eps, exclude_1d=exclude_1d))


__all__ = ["orthogonalize", "scale_by_adafactor", "scale_by_lars", "scale_by_muon", "scale_by_trust_ratio",
           "split_matrices"]
