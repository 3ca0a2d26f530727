"""`ChainOptimizer`: a gradient-transformation chain behind the torch.optim.Optimizer interface
(param groups, torch LR schedulers, state_dict). Usually built by
`trainlab.optim.recipes.create_optimizer` from a recipe name or a chain spec.

Each step reads this step's hyperparameters from the param groups (the lr, and what a torch LR
scheduler may have changed) and hands them to the links that own them, as their `hp` argument.
When the chain ends with `scale_by_lr` (most recipes do), the step applies the chain's last
update itself, in one op per form: p.add_(u, alpha=-lr), p.addcdiv_(num, den, -lr) for a
preconditioner's `Quotient`, and p *= 1 - lr wd first for decoupled decay (`PlusWeights`), which
is how torch.optim's SGD, Adam and AdamW do their arithmetic.

    >>> from trainlab.optim.transforms import chain, scale_by_adam, scale_by_lr
    >>> opt = ChainOptimizer([torch.nn.Parameter(torch.ones(3))], chain(scale_by_adam(), scale_by_lr(1e-3)))
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator

import torch
from torch import Tensor, nn

from ..errors import TrainlabError, check
from .base import GradientTransformation, PlusWeights, Quotient, global_norm, lr_at, value

GROUP_KEYS = ("params", "lr_mult", "name")
# param-group key -> the links whose hyperparameter it is (what torch's LR schedulers read and write)
HYPERPARAMETERS = {
    "momentum": ("scale_by_momentum",),
    "betas": ("scale_by_adam",),
    "weight_decay": ("add_l2", "add_decayed_weights", "add_proximal_decay", "scale_by_lars"),
}
# links that work on steps of the weights, so they come after scale_by_lr (the optimizer then adds their update as is)
AFTER_LR = ("lookahead", "schedule_free")
# link name -> the entry of its state that holds the weights to evaluate at, when they are not the
# weights it trains (Schedule-Free trains at y and evaluates at its average x)
EVALUATION_POINTS = {"schedule_free": "x"}


def _link_value(key: str, link: GradientTransformation) -> Any:
    """The hyperparameter behind param-group `key`, as the link was built."""
    if key == "betas":
        return (float(link.hp["b1"]), float(link.hp["b2"]))
    return float(link.hp["mu" if key == "momentum" else "weight_decay"])


def _check_hyperparameter(key: str, value: Any) -> None:
    if key == "betas":
        check(isinstance(value, (tuple, list)) and len(value) == 2, f"param group betas={value!r} must be a pair (b1, b2)")
        for i, b in enumerate(value):
            check(isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1,
                  f"param group betas[{i}]={b!r} must be in [0, 1)")
    elif key == "momentum":
        check(isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1,
              f"param group momentum={value!r} must be in [0, 1)")
    else:
        check(isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0,
              f"param group weight_decay={value!r} must be >= 0")


@contextmanager
def weights_at(params: list[Tensor], values: list[Tensor], model: nn.Module | None = None,
               recompute: Callable[[nn.Module], Any] | None = None) -> Iterator[nn.Module | None]:
    """`params` set to `values` inside the block, after `recompute(model)` (batch-norm statistics that
    fit them); the parameters and `model`'s buffers as they were, bit for bit, after. Schedule-Free's
    evaluation point and SWA's average are both scored this way."""
    buffers = list(model.buffers()) if model is not None else []
    with torch.no_grad():
        live = [t.detach().clone() for t in params + buffers]
        torch._foreach_copy_(params, values)
    try:
        if recompute is not None:
            recompute(model)
        yield model
    finally:
        with torch.no_grad():
            for t, saved in zip(params + buffers, live):
                t.copy_(saved)


class ChainOptimizer(torch.optim.Optimizer):
    """Runs a gradient-transformation chain with the torch.optim.Optimizer interface.

    One chain (one state) spans all parameter groups, so global-norm clipping sees every
    gradient. Param groups carry what torch's LR schedulers (OneCycleLR, StepLR,
    CosineAnnealingLR, CyclicLR, ...) read and write, and every step uses their current values:
      lr            the learning rate applied to the group's parameters
      momentum      mu of the chain's momentum link (momentum, nesterov, sgd/rmsprop with momentum)
      betas         (b1, b2) of the chain's Adam link (adam, adamw)
      weight_decay  of the chain's decay link (add_l2, add_decayed_weights, add_proximal_decay, or
                    scale_by_lars, which decays inside its trust ratio)
    A key is present only when the chain has exactly one link it drives: plain sgd has no
    momentum to cycle, so OneCycleLR(cycle_momentum=True) refuses it (pass cycle_momentum=False,
    or use "momentum"). Groups may differ, e.g. {"params": biases, "weight_decay": 0.0}.

    The lr. Each group has `lr_mult` (fine-tuning: 0.1 for a pretrained backbone); trainlab
    sets group["lr"] = base lr * lr_mult (at construction, `set_lr`, and from a schedule).
      - a float lr: group["lr"] is then yours: change it by hand, with `set_lr`, or with a
        torch LR scheduler, and the next step uses it.
      - a schedule (a function of the step; what the trainer passes): the schedule owns the
        lr. Before every step group["lr"] is set to schedule(step) * lr_mult, so it always
        shows the lr in use. A value written into it from outside would be silently undone,
        so the next step raises TrainlabError instead (and `set_lr` refuses): give a float
        lr to drive the lr from outside.
    Links built with an lr of their own (Adafactor, Schedule-Free, Adan's proximal decay) get each
    parameter's lr in their hp as scale_by_lr does. A chain that trains at one point and is scored at
    another (Schedule-Free) says so with `has_evaluation_point`; `evaluation_weights` swaps it in.
    After each step, `stats` = {"lr": base lr, "grad_norm": 0-dim tensor, raw grads, pre-clip}.

        >>> from trainlab.optim.recipes import create_optimizer
        >>> w = torch.nn.Parameter(torch.zeros(2))
        >>> opt = create_optimizer("adam", [w], lr=0.01)
        >>> sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=100)
        >>> opt.param_groups[0]["betas"]  # OneCycleLR starts beta1 at max_momentum
        (0.95, 0.999)
    """

    def __init__(self, params: Iterable, chain_: GradientTransformation):
        lr_links = [i for i, link in enumerate(chain_.links) if link.name == "scale_by_lr"]
        check(len(lr_links) > 0, "optimizer chain has no learning-rate link; add {'scale_by_lr': {'lr': 0.01}}")
        for i, link in enumerate(chain_.links):
            check(link.name not in AFTER_LR or i > lr_links[-1], f"{link.name} must come after scale_by_lr in the chain: "
                  f"it moves the weights, so it needs the updates as steps (e.g. [..., {{'scale_by_lr': {{...}}}}, "
                  f"'{link.name}'])")
        points = [i for i, link in enumerate(chain_.links) if link.name in EVALUATION_POINTS]
        check(len(points) <= 1, "optimizer chain has two links that keep an evaluation point (schedule_free); keep one")
        self.chain = chain_
        self._lr_link = lr_links[-1]
        self._lr_key = f"{self._lr_link}:scale_by_lr"
        self._lr_value = chain_.links[self._lr_link].hp["lr"]
        self._keys = [f"{i}:{link.name}" for i, link in enumerate(chain_.links)]
        self._link_of = dict(zip(self._keys, chain_.links))
        self._eval_key = self._keys[points[0]] if points else None
        # links built with an lr besides the lr link (Adafactor's relative step, Schedule-Free's averaging
        # weights, Adan's proximal decay) get each step's lr in their hp too
        self._lr_readers = [k for k, link in self._link_of.items() if "lr" in link.hp and link.name != "scale_by_lr"]
        # param-group key -> state key of the one link it drives (a chain with two such links exposes neither)
        self._hp_keys = {}
        for gkey, names in HYPERPARAMETERS.items():
            found = [k for k, link in self._link_of.items() if link.name in names]
            if len(found) == 1:
                self._hp_keys[gkey] = found[0]
        self._applies_lr = lr_links[-1] == len(chain_.links) - 1  # the step applies the last update with the lr
        base = lr_at(self._lr_value, 0)
        self.stats: dict[str, Any] = {"lr": base, "grad_norm": torch.zeros(())}
        self._lr_written: list[float] = []  # with a schedule: the group lrs it last wrote
        self._state: dict[str, Any] | None = None  # chain state, created at the first step
        self._step = 0
        defaults = {"lr": base, "lr_mult": 1.0, **{k: _link_value(k, self._link_of[s]) for k, s in self._hp_keys.items()}}
        super().__init__(self._groups(params), defaults)  # calls add_param_group for each group

    def _check_group(self, g: Any, extra: tuple[str, ...] = ()) -> dict:
        check(isinstance(g, dict), "optimizer params: mix of tensors and group dicts; pass one kind")
        ok = GROUP_KEYS + tuple(self._hp_keys) + extra
        bad = [k for k in g if k not in ok]
        if bad:
            why = (f" (this chain has no single {HYPERPARAMETERS[bad[0]][0]} link)" if bad[0] in HYPERPARAMETERS else
                   " (use lr_mult: the group's lr is the base lr times it)" if bad[0] == "lr" else "")
            raise TrainlabError(f"param group key {bad[0]!r} is not supported{why}; accepted: {', '.join(ok)}")
        mult = g.get("lr_mult", 1.0)
        check(isinstance(mult, (int, float)) and not isinstance(mult, bool) and mult >= 0,
              f"param group lr_mult={mult!r} must be >= 0")
        for k in self._hp_keys:
            if k in g:
                _check_hyperparameter(k, g[k])
        return dict(g, params=[g["params"]] if isinstance(g["params"], Tensor) else list(g["params"]))

    def _groups(self, params: Iterable) -> list[dict]:
        check(not isinstance(params, Tensor), "optimizer params must be an iterable of tensors or of group dicts, not a tensor")
        groups = list(params)
        check(len(groups) > 0, "optimizer got no parameters (is the model empty or everything frozen?)")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        return [self._check_group(g) for g in groups]  # no "lr" here: lr_mult sets a group's share of the lr

    def add_param_group(self, param_group: dict) -> None:
        """torch's add_param_group, plus lr = base lr * lr_mult and chain state for the new params.

        Keys not given take the optimizer's defaults (momentum, betas, weight_decay as built).
        """
        g = self._check_group(param_group, extra=("lr", "initial_lr"))
        check(not (callable(self._lr_value) and "lr" in g),
              "add_param_group: this optimizer's lr is a schedule, which sets each group's lr; give lr_mult instead of lr")
        super().add_param_group(g)
        g = self.param_groups[-1]
        if "lr" not in param_group:
            g["lr"] = self.stats["lr"] * g["lr_mult"]
        if callable(self._lr_value):
            self._lr_written.append(g["lr"])
        if self._state is None:
            return  # __init__, or before the first step: state is created at the first step
        for k, s in self.chain.init(g["params"]).items():  # per-parameter lists grow; counts stay
            for n, v in s.items():
                if isinstance(v, list):
                    self._state[k][n].extend(v)

    # -- helpers
    def _params(self) -> list[Tensor]:
        return [p for g in self.param_groups for p in g["params"]]

    def _write_lr(self, lr: float) -> None:
        for g in self.param_groups:
            g["lr"] = lr * g["lr_mult"]
        if callable(self._lr_value):
            self._lr_written = [g["lr"] for g in self.param_groups]

    def set_lr(self, lr: float) -> None:
        """Set the base learning rate; each group gets lr * its lr_mult (for trainers with their own schedule).

        Only for a float lr: with a schedule the schedule sets the lr before every step.
        """
        check(not callable(self._lr_value),
              "set_lr: this optimizer's lr is a schedule (a function of the step) that sets the lr before every "
              "step; create the optimizer with a float lr to set it by hand")
        check(isinstance(lr, (int, float)) and lr >= 0, f"lr={lr!r} must be >= 0")
        self._write_lr(lr)

    def _follow_schedule(self) -> None:
        """With a schedule: refuse an lr written from outside, then write this step's lr."""
        for i, (g, wrote) in enumerate(zip(self.param_groups, self._lr_written)):
            check(g["lr"] == wrote,
                  f"param_groups[{i}]['lr'] was changed from {wrote:.6g} to {g['lr']!r}, but this optimizer's lr is "
                  "a schedule (a function of the step) that sets it before every step; to drive the lr from "
                  "outside (a torch LR scheduler, or by hand), create the optimizer with a float lr")
        self._write_lr(lr_at(self._lr_value, self._step))

    def _hyperparameters(self, idx: list[int], group_of: list[int]) -> dict[str, dict[str, Any]]:
        """This step's hyperparameters from the param groups, for the links that own them:
        {state key: {"mu" | "b1" | "b2" | "weight_decay" | "lr": one float, or one per parameter in idx}}."""
        groups = self.param_groups

        def per_param(values: list[float]) -> Any:
            first = values[0]
            return first if all(v == first for v in values) else [values[group_of[i]] for i in idx]

        out: dict[str, dict[str, Any]] = {}
        for gkey, k in self._hp_keys.items():
            if gkey == "betas":
                out[k] = {"b1": per_param([float(g["betas"][0]) for g in groups]),
                          "b2": per_param([float(g["betas"][1]) for g in groups])}
            else:
                out[k] = {"mu" if gkey == "momentum" else "weight_decay": per_param([float(g[gkey]) for g in groups])}
        lrs = [self.param_groups[group_of[i]]["lr"] for i in idx]  # lr * lr_mult, per parameter
        for k in (self._lr_key, *self._lr_readers):
            out.setdefault(k, {})["lr"] = lrs
        return out

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
            self._follow_schedule()
        idx = [i for i, p in enumerate(params) if p.grad is not None]
        grads = [params[i].grad for i in idx]
        check(not any(g.is_sparse for g in grads), "sparse gradients are not supported by trainlab optimizers")
        # base lr (before multipliers), read from a group that learns (a frozen backbone has lr_mult 0)
        base = next((g["lr"] / g["lr_mult"] for g in self.param_groups if g["lr_mult"] > 0), 0.0)
        self.stats = {"lr": base, "grad_norm": global_norm(grads)}
        if not idx:
            return loss
        group_of = [gi for gi, g in enumerate(self.param_groups) for _ in g["params"]]
        hp = self._hyperparameters(idx, group_of)
        ps = [params[i] for i in idx]
        full = len(idx) == len(params)
        state = self._state if full else _subset(self._state, idx)
        links = list(zip(self._keys, self.chain.links))
        u: Any = grads
        for k, link in links[:-1] if self._applies_lr else links:
            u, state[k] = link.update(u, state[k], ps, hp.get(k))
        if self._applies_lr:
            apply_update(ps, u, hp[self._lr_key]["lr"])
            state[self._lr_key]["count"] += 1
        else:
            torch._foreach_add_(ps, value(u, ps))
        if not full:
            _merge(self._state, state, idx)
        self._step += 1
        return loss

    # -- the evaluation point: where a chain that averages (Schedule-Free) wants the weights scored
    @property
    def has_evaluation_point(self) -> bool:
        """True when the chain evaluates at other weights than those it trains (a schedule_free link)."""
        return self._eval_key is not None

    def evaluation_point(self) -> list[Tensor] | None:
        """The weights to evaluate at, one tensor per parameter in param_groups order (Schedule-Free's
        average x); None when they are the parameters themselves (any other chain, or no step yet)."""
        if self._eval_key is None or self._state is None:
            return None
        return self._state[self._eval_key][EVALUATION_POINTS[self._link_of[self._eval_key].name]]

    @contextmanager
    def evaluation_weights(self, model: nn.Module | None = None,
                           recompute: Callable[[nn.Module], Any] | None = None) -> Iterator[nn.Module | None]:
        """The parameters at the evaluation point inside the block; their training values, bit for bit, after.

        Schedule-Free takes its gradients at y but its answer is the average x: score, keep and save x.
        With `model`, its buffers (batch-norm running statistics, gathered at y) are saved too and
        restored after the block, and `recompute(model)` is called once the parameters are at x, to set
        statistics that fit x (trainlab's loop passes trainlab.nn.layers.recompute_bn_stats over
        training batches). Without an evaluation point (other chains, or before the first step) the
        block runs on the parameters as they are and `recompute` is not called.

            >>> opt = create_optimizer("schedule_free_sgd", model.parameters(), lr=0.1)   # doctest: +SKIP
            >>> with opt.evaluation_weights(model):                                     # doctest: +SKIP
            ...     val_loss = evaluate(model)
        """
        point = self.evaluation_point()
        if point is None:
            yield model
            return
        with weights_at(self._params(), point, model, recompute) as m:
            yield m

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
        if callable(self._lr_value):
            self._lr_written = [g["lr"] for g in self.param_groups]


def apply_update(ps: list[Tensor], u: Any, lrs: list[float]) -> None:
    """p += -lr u, in place, one fused op per form of u (see the module docstring)."""
    same = len(set(lrs)) == 1
    if isinstance(u, PlusWeights) and u.decoupled:  # p - lr (u + wd p) = p (1 - lr wd) - lr u
        wd, u = u.wd, u.u
        if isinstance(wd, list):
            torch._foreach_mul_(ps, [1.0 - x * w for x, w in zip(lrs, wd)])
        else:
            torch._foreach_mul_(ps, 1.0 - lrs[0] * wd if same else [1.0 - x * wd for x in lrs])
    neg = -lrs[0] if same else [-x for x in lrs]
    if isinstance(u, Quotient):
        torch._foreach_addcdiv_(ps, u.num, u.den, neg)
    elif same:
        torch._foreach_add_(ps, value(u, ps), alpha=neg)
    else:
        torch._foreach_add_(ps, torch._foreach_mul(value(u, ps), neg))


def _to_param(t: Any, p: Tensor) -> Any:
    # state tensors follow their parameter's device and dtype (as torch.optim does); per-parameter
    # numbers (Schedule-Free's weight sums) and placeholders (None) stay as they are
    if not isinstance(t, Tensor):
        return t
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
            else:
                full[k][n] = v


__all__ = ["AFTER_LR", "ChainOptimizer", "EVALUATION_POINTS", "GROUP_KEYS", "HYPERPARAMETERS", "apply_update"]
