"""Per-layer diagnostics, one switch away (`diagnostics: true`).

At each evaluation, for every layer the lectures reason about:
- activations (outputs of activation modules) on a fixed batch of validation examples:
  mean, std, a histogram, the fraction of *dead* units (ReLU family: a unit, i.e. a
  feature or a channel, that is never positive on the whole batch) and of *saturated*
  values (sigmoid/tanh: derivative below 5% of its maximum, |tanh| > 0.975, sigmoid
  outside [0.025, 0.975]);
- for every weight tensor (Linear/Conv): gradient norm and the update-to-weight ratio
  ||w_after - w_before|| / ||w_before|| of the last step before the evaluation
  (the lectures' rule of thumb: around 1e-3).
Rows go to `diagnostics.jsonl`; plots read them from there.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import runs as rf
from ..data import to_float
from ..nn.activations import Maxout

DEAD_KINDS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.GELU, nn.SiLU)
SAT_KINDS = {nn.Sigmoid: "sigmoid", nn.Tanh: "tanh"}
HIST_BINS = 40


def activation_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    kinds = DEAD_KINDS + tuple(SAT_KINDS) + (Maxout,)
    return [(n, m) for n, m in model.named_modules() if isinstance(m, kinds)]


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    return [(n, p) for n, p in model.named_parameters() if p.dim() >= 2 and p.requires_grad]


def activation_stats(kind: nn.Module, y: torch.Tensor) -> dict[str, Any]:
    """Statistics of one activation output y: (B, F) or (B, C, H, W)."""
    y = y.detach().float()
    lo, hi = float(y.min()), float(y.max())
    if hi <= lo:
        hi = lo + 1e-6
    hist = torch.histc(y, bins=HIST_BINS, min=lo, max=hi)
    s: dict[str, Any] = {"mean": float(y.mean()), "std": float(y.std()), "hist": hist.tolist(), "range": [lo, hi]}
    if isinstance(kind, DEAD_KINDS):
        per_unit = y.transpose(0, 1).reshape(y.shape[1], -1)  # (units, B*H*W): a conv unit is a channel
        s["dead"] = float((per_unit.max(1).values <= 0).float().mean())
    for cls, name in SAT_KINDS.items():
        if isinstance(kind, cls):
            s["saturated"] = float(((y < 0.025) | (y > 0.975)).float().mean() if name == "sigmoid"
                                   else (y.abs() > 0.975).float().mean())
    return s


class Diagnostics:
    def __init__(self, model: nn.Module, parts: Any, run_dir: Path):
        self.model, self.parts = model, parts
        n = parts.cfg.diagnostics_batch
        self.x = parts.preprocess(to_float(parts.data.val.x[:n]).to(parts.device))
        self.acts = activation_modules(model)
        self.layers = weight_layers(model)
        self.log = rf.MetricsLog(run_dir, "diagnostics", rows=rf.read_jsonl(run_dir / "diagnostics.jsonl"))
        self.pending: dict[str, Any] = {}

    @property
    def rows(self) -> int:
        return len(self.log.rows)

    def truncate(self, n: int) -> None:
        self.log.truncate(n)

    @torch.no_grad()
    def before_step(self) -> None:
        """Called after backward, before the optimizer step: gradient norms, weight snapshot."""
        self._before = [p.detach().clone() for _, p in self.layers]
        self.pending = {"grad_norm": {n: float(p.grad.norm()) if p.grad is not None else 0.0 for n, p in self.layers}}

    @torch.no_grad()
    def after_step(self) -> None:
        ratios = {}
        for (n, p), w0 in zip(self.layers, self._before):
            ratios[n] = float((p.detach() - w0).norm() / w0.norm().clamp_min(1e-12))
        self.pending["update_ratio"] = ratios
        self.pending["weight_norm"] = {n: float(w0.norm()) for (n, _), w0 in zip(self.layers, self._before)}
        del self._before

    @torch.no_grad()
    def record(self, step: int, epoch: float) -> None:
        outs: dict[str, torch.Tensor] = {}
        hooks = [m.register_forward_hook(lambda mod, i, o, n=n: outs.__setitem__(n, o)) for n, m in self.acts]
        was = self.model.training
        self.model.eval()
        try:
            self.model(self.x)
        finally:
            self.model.train(was)
            for h in hooks:
                h.remove()
        mods = dict(self.acts)
        acts = {n: {"kind": type(mods[n]).__name__, **activation_stats(mods[n], y)} for n, y in outs.items()}
        self.log.append({"step": step, "epoch": epoch, "activations": acts, **self.pending})
        self.pending = {}

