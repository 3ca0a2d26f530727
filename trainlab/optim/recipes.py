"""Optimizer recipes (sgd ... adamw) as chains, `build_chain` for chain specs, and
`create_optimizer`, which wraps either in a `ChainOptimizer` (trainlab.optim.optimizer).

One implementation per family, thin aliases for the named variants (DESIGN principle 7):
  sgd(lr, momentum=0, nesterov, form, weight_decay)   momentum / nesterov = sgd with momentum 0.9
  adagrad, rmsprop
  adam(lr, betas, eps, weight_decay, decoupled, bias_correction)   adamw = adam(decoupled=True)
Every recipe also takes clip_norm / clip_value (clipping the raw gradient first) and
exclude_1d (weight_decay skips biases and norm scales, the tensors with ndim <= 1).

    >>> import torch
    >>> w = torch.nn.Parameter(torch.ones(3))
    >>> opt = create_optimizer("adam", [w], lr=1e-3)
    >>> opt = create_optimizer([{"clip_by_global_norm": {"max_norm": 1.0}}, "scale_by_adam",
    ...                         {"scale_by_lr": {"lr": 1e-3}}], [w])
"""
from __future__ import annotations

from functools import partial
from typing import Any, Callable, Iterable

import torch  # noqa: F401  (used by the doctests)

from ..errors import TrainlabError, check
from ..registry import Registry, check_kwargs
from .optimizer import ChainOptimizer
from .schedules import create_schedule
from .transforms import (
    GradientTransformation,
    add_decayed_weights,
    add_l2,
    chain,
    clip_by_global_norm,
    clip_by_value,
    create_link,
    scale_by_adagrad,
    scale_by_adam,
    scale_by_lr,
    scale_by_momentum,
    scale_by_rms,
)

OPTIMIZERS = Registry("optimizer")
LR = float | Callable[[int], float]


def _lr(lr: Any) -> LR:
    """A float, a schedule function of the step, or a schedule spec {"name": ..., **hp}."""
    if isinstance(lr, dict):
        spec = dict(lr)
        check("name" in spec, f"lr={lr!r}: a schedule spec needs a 'name', e.g. {{'name': 'cosine', 'lr': 0.1, 'total': 1000}}")
        return create_schedule(spec.pop("name"), **spec)
    if not callable(lr):
        check(isinstance(lr, (int, float)) and not isinstance(lr, bool) and lr > 0, f"lr={lr!r} must be > 0")
    return lr


def _clips(clip_norm: float | None, clip_value: float | None) -> list[GradientTransformation]:
    links = []
    if clip_value is not None:
        links.append(clip_by_value(clip_value))
    if clip_norm is not None:
        links.append(clip_by_global_norm(clip_norm))
    return links


FORMS = ("torch", "velocity", "ema")


@OPTIMIZERS.register("sgd", description="w -= lr g (momentum: v = mu v + g, w -= lr v; torch's form)")
def sgd(lr: LR = 0.01, momentum: float = 0.0, nesterov: bool = False, form: str = "torch",
        weight_decay: float = 0.0, clip_norm: float | None = None, clip_value: float | None = None,
        exclude_1d: bool = False) -> GradientTransformation:
    """SGD with optional momentum; `form` picks the momentum equation:
    "torch": v = mu v + g; w -= lr v.  "velocity" (deck 001): v = mu v - lr g; w += v
    (same as torch for a constant lr).  "ema" (deck 003): m = mu m + (1-mu) g; w -= lr m.
    weight_decay is coupled L2 (g += wd w), as in torch.optim.SGD.
    """
    lr = _lr(lr)
    check(0 <= momentum < 1, f"momentum={momentum!r} must be in [0, 1)")
    check(form in FORMS, f"momentum form={form!r} must be one of: {', '.join(FORMS)}")
    check(not nesterov or momentum > 0, "nesterov=True needs momentum > 0 (e.g. momentum=0.9)")
    links = _clips(clip_norm, clip_value) + [add_l2(weight_decay, exclude_1d)]
    if momentum == 0:
        return chain(*links, scale_by_lr(lr))
    mom = scale_by_momentum(momentum, nesterov=nesterov, ema=form == "ema")
    # velocity form: the lr is applied before the momentum buffer, so the buffer holds lr-scaled steps
    return chain(*links, scale_by_lr(lr), mom) if form == "velocity" else chain(*links, mom, scale_by_lr(lr))


OPTIMIZERS.register("momentum", description="sgd with momentum=0.9: v = mu v + g; w -= lr v", fn=partial(sgd, momentum=0.9))
OPTIMIZERS.register("nesterov", description="sgd with momentum=0.9, nesterov: w -= lr (g + mu v)",
                    fn=partial(sgd, momentum=0.9, nesterov=True))


@OPTIMIZERS.register("adagrad", description="cache += g^2; w -= lr g / (sqrt(cache) + eps)")
def adagrad(lr: LR = 0.01, eps: float = 1e-10, initial_accumulator: float = 0.0, weight_decay: float = 0.0,
            clip_norm: float | None = None, clip_value: float | None = None, exclude_1d: bool = False) -> GradientTransformation:
    return chain(*_clips(clip_norm, clip_value), add_l2(weight_decay, exclude_1d),
                 scale_by_adagrad(eps, initial_accumulator), scale_by_lr(_lr(lr)))


@OPTIMIZERS.register("rmsprop", description="cache = d cache + (1-d) g^2; w -= lr g / (sqrt(cache) + eps)")
def rmsprop(lr: LR = 0.01, decay: float = 0.99, eps: float = 1e-8, centered: bool = False, momentum: float = 0.0,
            weight_decay: float = 0.0, clip_norm: float | None = None, clip_value: float | None = None,
            exclude_1d: bool = False) -> GradientTransformation:
    check(0 <= momentum < 1, f"momentum={momentum!r} must be in [0, 1)")
    links = [*_clips(clip_norm, clip_value), add_l2(weight_decay, exclude_1d), scale_by_rms(decay, eps, centered)]
    if momentum > 0:
        links.append(scale_by_momentum(momentum))
    return chain(*links, scale_by_lr(_lr(lr)))


@OPTIMIZERS.register("adam", description="m, v EMAs of g, g^2; w -= lr m_hat / (sqrt(v_hat) + eps); wd coupled")
def adam(lr: LR = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
         decoupled: bool = False, bias_correction: bool = True,
         clip_norm: float | None = None, clip_value: float | None = None, exclude_1d: bool = False) -> GradientTransformation:
    """Adam; weight_decay is coupled L2 (torch.optim.Adam) unless decoupled=True (AdamW)."""
    check(isinstance(betas, (tuple, list)) and len(betas) == 2, f"betas={betas!r} must be a pair (b1, b2)")
    for i, b in enumerate(betas):
        check(isinstance(b, (int, float)) and 0 <= b < 1, f"betas[{i}]={b!r} must be in [0, 1)")
    links = _clips(clip_norm, clip_value)
    direction = scale_by_adam(betas[0], betas[1], eps, bias_correction)
    if decoupled:
        links += [direction, add_decayed_weights(weight_decay, exclude_1d)]
    else:
        links += [add_l2(weight_decay, exclude_1d), direction]
    return chain(*links, scale_by_lr(_lr(lr)))


OPTIMIZERS.register("adamw", description="adam with decoupled decay: w -= lr (m_hat / (sqrt(v_hat) + eps) + wd w)",
                    fn=partial(adam, decoupled=True, weight_decay=0.01))


def build_chain(spec: Any) -> GradientTransformation:
    """A chain from a GradientTransformation, or a list of "name" / {"name": {hp}} items."""
    if isinstance(spec, GradientTransformation):
        return spec if spec.links else chain(spec)
    check(isinstance(spec, (list, tuple)) and len(spec) > 0,
          f"optimizer chain {spec!r} must be a non-empty list like [{{'scale_by_adam': {{}}}}, {{'scale_by_lr': {{'lr': 0.001}}}}]")
    links = []
    for item in spec:
        if isinstance(item, str):
            links.append(create_link(item))
        elif isinstance(item, dict) and len(item) == 1:
            (name, hp), = item.items()
            check(isinstance(hp, dict), f"chain link {item!r}: hyperparameters must be a dict, e.g. {{'{name}': {{}}}}")
            if name == "scale_by_lr" and "lr" in hp:
                hp = {**hp, "lr": _lr(hp["lr"])}
            links.append(create_link(name, **hp))
        elif isinstance(item, GradientTransformation):
            links.append(item)
        else:
            raise TrainlabError(f"chain link {item!r} must be a name or a one-key dict {{name: {{hyperparameters}}}}")
    return chain(*links)


def create_optimizer(name_or_chain: Any, params: Iterable, **hp) -> ChainOptimizer:
    """An optimizer from a recipe name (with its hyperparameters) or a chain spec, with the
    `torch.optim.Optimizer` interface (`step`, `zero_grad`, `state_dict`, `load_state_dict`,
    `param_groups`), so it works in any PyTorch training loop.

    Args:
        name_or_chain: a recipe (`trainlab list optimizers`: sgd, momentum, nesterov, adagrad,
            rmsprop, adam, adamw, and newer ones such as lion or schedule_free_adamw), or a chain:
            a list of links (`trainlab list transforms`), each a name or `{name: {options}}`, e.g.
            `[{clip_by_global_norm: {max_norm: 1}}, scale_by_adam, scale_by_lr]`.
        params: the parameters, or parameter groups as torch takes them (a group may carry
            `lr_mult`, a factor on the learning rate).
        **hp: the recipe's hyperparameters (`lr`, `momentum`, `betas`, `weight_decay`,
            `clip_norm`, ...); an unknown one is refused with the list of accepted ones. With a
            chain, hyperparameters go inside its links instead.

    Returns:
        A `ChainOptimizer`: the chain's state is a plain dict of tensors, so checkpoints need nothing more.

    Example:
        >>> w = torch.nn.Parameter(torch.zeros(2))
        >>> opt = create_optimizer("nesterov", [w], lr=0.1, weight_decay=5e-4)
        >>> opt = create_optimizer("sgd", [{"params": [w], "lr_mult": 0.1}], lr=0.1)
        >>> opt = create_optimizer([{"clip_by_global_norm": {"max_norm": 1.0}}, "scale_by_adam",
        ...                         {"scale_by_lr": {"lr": 1e-3}}], [w])   # Adam with clipping, as a chain
        >>> w.grad = torch.ones(2); opt.step(); opt.zero_grad()
    """
    if isinstance(name_or_chain, str):
        recipe = OPTIMIZERS.get(name_or_chain)
        check_kwargs(f"optimizer {name_or_chain!r}", recipe, hp)
        chain_ = recipe(**hp)
    else:
        check(not hp, f"hyperparameters {sorted(hp)} given with a chain spec; put them inside the chain's links")
        chain_ = build_chain(name_or_chain)
    return ChainOptimizer(params, chain_)


__all__ = ["OPTIMIZERS", "ChainOptimizer", "create_optimizer", "build_chain", "sgd", "adagrad", "rmsprop", "adam"]
