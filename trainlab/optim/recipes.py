"""Optimizer recipes (sgd ... adamw) as chains, and `ChainOptimizer`, which runs a chain
behind the torch.optim.Optimizer interface.

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

import torch
from torch import Tensor

from ..errors import TrainlabError, check
from ..nn import check_kwargs
from ..registry import Registry
from .transforms import (
    GradientTransformation, add_decayed_weights, add_l2, chain, clip_by_global_norm, clip_by_value,
    create_link, global_norm, lr_at, scale_by_adagrad, scale_by_adam, scale_by_lr, scale_by_momentum,
    scale_by_rms,
)

OPTIMIZERS = Registry("optimizer")
LR = float | Callable[[int], float]


def _lr(lr: Any) -> LR:
    """A float, a schedule function of the step, or a schedule spec {"name": ..., **hp}."""
    if isinstance(lr, dict):
        from .schedules import create_schedule

        spec = dict(lr)
        check("name" in spec, f"lr={lr!r}: a schedule spec needs a 'name', e.g. {{'name': 'cosine', 'lr0': 0.1, 'total': 1000}}")
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


# ---------------------------------------------------------------- the optimizer


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


GROUP_KEYS = ("params", "lr_mult", "name")


class ChainOptimizer(torch.optim.Optimizer):
    """Runs a gradient-transformation chain with the torch.optim.Optimizer interface.

    One chain (one state) spans all parameter groups, so global-norm clipping sees every
    gradient. Each group has `lr_mult` (fine-tuning: e.g. 0.1 for a pretrained backbone)
    and `lr` = base lr * lr_mult, which is what is applied: when the chain's lr is a float,
    changing group["lr"] (by hand, `set_lr`, or a torch LR scheduler) takes effect; when it
    is a schedule, group["lr"] is recomputed from it at every step.
    After each step, `stats` = {"lr": base lr, "grad_norm": 0-dim tensor, raw grads, pre-clip}.
    """

    def __init__(self, params: Iterable, chain_: GradientTransformation):
        lr_links = [i for i, link in enumerate(chain_.links) if link.name == "scale_by_lr"]
        check(len(lr_links) > 0, "optimizer chain has no learning-rate link; add {'scale_by_lr': {'lr': 0.01}}")
        self.chain = chain_
        self._lr_link = lr_links[-1]
        self._lr_key = f"{self._lr_link}:scale_by_lr"
        self._lr_value = chain_.links[self._lr_link].hp["lr"]
        self._keys = [f"{i}:{link.name}" for i, link in enumerate(chain_.links)]
        self._plan_fused_tail(chain_.links, lr_links)
        groups = self._groups(params)
        base = lr_at(self._lr_value, 0)
        super().__init__(groups, {"lr": base, "lr_mult": 1.0})
        for g in self.param_groups:
            g["lr"] = base * g["lr_mult"]
        self._state: dict[str, Any] | None = None  # chain state, created at the first step
        self._step = 0
        self.stats: dict[str, Any] = {"lr": base, "grad_norm": torch.zeros(())}

    def _plan_fused_tail(self, links, lr_links) -> None:
        """Fast path for chains whose lr link is last (every recipe): run the links before it,
        then apply the update to the params in one op, as torch.optim does. Same result as the
        chain up to rounding. Peepholes, each the exact algebra of the links it replaces:
          [..., add_decayed_weights, scale_by_lr]   -> p *= 1 - lr wd (in place, like torch's AdamW)
          [..., adam/rms/adagrad, (decay), scale_by_lr] -> p.addcdiv_(num, den, -lr) via link.ratio
          [add_l2, scale_by_momentum]               -> v = mu v + g + wd p in place (no g + wd p copy)
        """
        self._fused = len(lr_links) == 1 and lr_links[0] == len(links) - 1
        n = len(links) - 1  # links before the lr link
        self._decay = 0.0
        last = links[n - 1] if n > 0 else None
        if self._fused and last is not None and last.name == "add_decayed_weights" and not last.hp["exclude_1d"]:
            self._decay, n = float(last.hp["weight_decay"]), n - 1
        self._ratio = self._fused and n > 0 and links[n - 1].ratio is not None
        self._ratio_at = n - 1
        m = n - 1 if self._ratio else n
        plan, i = [], 0
        while i < m:
            a = links[i]
            if a.name == "add_l2" and not a.hp["exclude_1d"] and i + 1 < m and links[i + 1].name == "scale_by_momentum":
                plan.append((self._keys[i + 1], links[i + 1], float(a.hp["weight_decay"])))
                i += 2
            else:
                plan.append((self._keys[i], a, 0.0))
                i += 1
        self._plan = plan

    @staticmethod
    def _groups(params: Iterable) -> list[dict]:
        check(not isinstance(params, Tensor), "optimizer params must be an iterable of tensors or of group dicts, not a tensor")
        groups = list(params)
        check(len(groups) > 0, "optimizer got no parameters (is the model empty or everything frozen?)")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            check(isinstance(g, dict), "optimizer params: mix of tensors and group dicts; pass one kind")
            bad = [k for k in g if k not in GROUP_KEYS]
            check(not bad, f"param group key {bad[0] if bad else ''!r} is not supported; accepted: {', '.join(GROUP_KEYS)}")
            mult = g.get("lr_mult", 1.0)
            check(isinstance(mult, (int, float)) and mult >= 0, f"param group lr_mult={mult!r} must be >= 0")
        return [dict(g, params=list(g["params"]) if not isinstance(g["params"], Tensor) else [g["params"]]) for g in groups]

    def add_param_group(self, param_group: dict) -> None:
        """torch's add_param_group, plus lr = base lr * lr_mult and chain state for the new params."""
        check(isinstance(param_group, dict), "add_param_group needs a dict like {'params': [...], 'lr_mult': 0.1}")
        bad = [k for k in param_group if k not in GROUP_KEYS + ("lr", "initial_lr")]
        check(not bad, f"param group key {bad[0] if bad else ''!r} is not supported; accepted: {', '.join(GROUP_KEYS)}")
        super().add_param_group(param_group)
        state = getattr(self, "_state", None)
        if state is None:
            return  # __init__, or before the first step: state is created at the first step
        g = self.param_groups[-1]
        g["lr"] = self.stats["lr"] * g["lr_mult"]
        for k, s in self.chain.init(g["params"]).items():  # per-parameter lists grow; counts stay
            for n, v in s.items():
                if isinstance(v, list):
                    state[k][n].extend(v)

    # -- helpers
    def _params(self) -> list[Tensor]:
        return [p for g in self.param_groups for p in g["params"]]

    def set_lr(self, lr: float) -> None:
        """Set the base learning rate; each group gets lr * its lr_mult (for trainers with their own schedule)."""
        check(lr >= 0, f"lr={lr!r} must be >= 0")
        for g in self.param_groups:
            g["lr"] = lr * g["lr_mult"]

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        params = self._params()
        if self._state is None:
            self._state = self.chain.init(params)
        if callable(self._lr_value):
            self.set_lr(lr_at(self._lr_value, self._step))
        idx = [i for i, p in enumerate(params) if p.grad is not None]
        grads = [params[i].grad for i in idx]
        check(not any(g.is_sparse for g in grads), "sparse gradients are not supported by trainlab optimizers")
        # base lr (before multipliers), read from a group that learns (a frozen backbone has lr_mult 0)
        base = next((g["lr"] / g["lr_mult"] for g in self.param_groups if g["lr_mult"] > 0), 0.0)
        self.stats = {"lr": base, "grad_norm": global_norm(grads)}
        if not idx:
            return loss
        # per-parameter effective lr, from the groups
        lrs_all = [g["lr"] for g in self.param_groups for _ in g["params"]]
        lrs = [lrs_all[i] for i in idx]
        ps = [params[i] for i in idx]
        full = len(idx) == len(params)
        state = self._state if full else _subset(self._state, idx)
        links = self.chain.links
        if links[0].name == "clip_by_global_norm":
            state[self._keys[0]]["_raw_norm"] = self.stats["grad_norm"]  # the same norm, computed once
        if self._fused:
            u = grads
            for k, link, l2 in self._plan:
                if l2:
                    state[k]["_l2"] = l2  # momentum adds wd * p itself, in place
                u, state[k] = link.update(u, state[k], ps)
            if self._ratio:  # update = num / den, applied below in one addcdiv_
                k = self._keys[self._ratio_at]
                num, den, state[k] = links[self._ratio_at].ratio(u, state[k], ps)
            state[self._lr_key]["count"] += 1
            same = len(set(lrs)) == 1
            if self._decay:  # p - lr (u + wd p) = p (1 - lr wd) - lr u
                torch._foreach_mul_(ps, 1.0 - lrs[0] * self._decay if same else [1.0 - x * self._decay for x in lrs])
            neg = -lrs[0] if same else [-x for x in lrs]
            if self._ratio:
                torch._foreach_addcdiv_(ps, num, den, neg)
            elif same:
                torch._foreach_add_(ps, u, alpha=neg)
            else:
                torch._foreach_add_(ps, torch._foreach_mul(u, neg))
        else:
            state[self._lr_key]["_lr_per_param"] = lrs
            u, state = self.chain.update(grads, state, ps)
            torch._foreach_add_(ps, u)
        if not full:
            _merge(self._state, state, idx)
        self._step += 1
        return loss

    # -- checkpointing: plain dicts of tensors + ints, loadable with weights_only=True
    def state_dict(self) -> dict[str, Any]:
        groups = []
        start = 0
        for g in self.param_groups:
            n = len(g["params"])
            groups.append({**{k: v for k, v in g.items() if k != "params"}, "params": list(range(start, start + n))})
            start += n
        chain_names = [link.name for link in self.chain.links]
        return {"state": {"step": self._step, "chain": self._state, "links": chain_names}, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        try:
            st, groups = state_dict["state"], state_dict["param_groups"]
            step, chain_state, names = st["step"], st["chain"], st["links"]
        except (KeyError, TypeError):
            raise TrainlabError("optimizer state_dict is not from a trainlab ChainOptimizer (missing state/param_groups)") from None
        mine = [link.name for link in self.chain.links]
        check(names == mine, f"optimizer state_dict is for chain {names}, but this optimizer is {mine}; use the same recipe")
        check(len(groups) == len(self.param_groups) and all(len(a["params"]) == len(b["params"]) for a, b in zip(groups, self.param_groups)),
              "optimizer state_dict has different parameter groups/counts than this optimizer; build it over the same model")
        params = self._params()
        if chain_state is not None:
            chain_state = {k: {n: ([_to_param(t, p) for t, p in zip(v, params)] if isinstance(v, list) else v)
                               for n, v in s.items()} for k, s in chain_state.items()}
        self._state, self._step = chain_state, int(step)
        for g, saved in zip(self.param_groups, groups):
            g.update({k: v for k, v in saved.items() if k != "params"})


def _to_param(t: Tensor, p: Tensor) -> Tensor:
    # state tensors follow their parameter's device and dtype (as torch.optim does)
    return t.to(device=p.device, dtype=p.dtype if t.is_floating_point() else t.dtype, copy=True)


def _subset(state: dict, idx: list[int]) -> dict:
    """Chain state restricted to the params in idx (params without a grad are skipped, like torch)."""
    return {k: {n: ([v[i] for i in idx] if isinstance(v, list) else v) for n, v in s.items()} for k, s in state.items()}


def _merge(full: dict, sub: dict, idx: list[int]) -> None:
    for k, s in sub.items():
        for n, v in s.items():
            if isinstance(v, list):
                for j, i in enumerate(idx):
                    full[k][n][i] = v[j]
            elif not n.startswith("_"):  # transient hints are not state
                full[k][n] = v


def create_optimizer(name_or_chain: Any, params: Iterable, **hp) -> ChainOptimizer:
    """An optimizer from a recipe name (with its hyperparameters) or a chain spec.

    Example:
        >>> w = torch.nn.Parameter(torch.zeros(2))
        >>> opt = create_optimizer("nesterov", [w], lr=0.1, weight_decay=5e-4)
        >>> opt = create_optimizer("sgd", [{"params": [w], "lr_mult": 0.1}], lr=0.1)
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
