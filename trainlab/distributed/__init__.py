"""The distributed layer: data-parallel training on PyTorch's own engine (torch.distributed, DDP,
torchrun), and the `--nproc` launcher. Imports only the ground floor.

A process launched by torchrun (or by `trainlab train --nproc N`, which goes through
`torch.distributed.run`) finds RANK, WORLD_SIZE and LOCAL_RANK in its environment; `setup`
joins the process group (gloo on CPU, nccl on CUDA) and returns its `World`. A process started
any other way is `SINGLE`, and nothing here changes what it does.

What a user can rely on (the README says it too):
- `batch_size` is the global batch: each rank takes its slice of every global batch, drawn from
  the one seeded permutation, so the data order does not depend on the world size;
- metrics are all-reduced: metrics.csv holds what one process would log;
- gradients are averaged by DDP before the optimizer sees them, so gradient clipping uses the
  global norm;
- BatchNorm uses each rank's own batch unless `sync_bn: true` (torch's SyncBatchNorm on CUDA;
  on CPU, where torch's refuses to run, `CrossRankBatchNorm` below, built on the same all-reduce);
- only rank 0 writes: the run folder, metrics, checkpoints (with every rank's RNG state), report.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..errors import TrainlabError

ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class World:
    """This process's place in the job. `SINGLE` (rank 0 of 1, no backend) is a plain run."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.backend is not None

    # ---------------------------------------------------------------- data
    def shard(self, idx: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous slice of a global batch (the batch divides evenly: `setup` checks)."""
        if self.size == 1:
            return idx
        b = len(idx) // self.size
        return idx[self.rank * b:(self.rank + 1) * b]

    # ---------------------------------------------------------------- collectives
    def sum(self, values: list[torch.Tensor | float | int], device: torch.device) -> list[float]:
        """Each value summed over the ranks (one all-reduce of a float64 vector), as Python numbers."""
        t = torch.stack([torch.as_tensor(v, dtype=torch.float64, device=device) for v in values])
        if self.distributed:
            dist.all_reduce(t)
        return t.tolist()

    def sum_(self, t: torch.Tensor) -> torch.Tensor:
        """All-reduce (sum) a tensor in place; a no-op for a single process."""
        if self.distributed:
            dist.all_reduce(t)
        return t

    def agree(self, value: Any) -> Any:
        """Rank 0's value on every rank (decisions such as the run's status must be the same everywhere)."""
        if not self.distributed:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, value: Any) -> list[Any] | None:
        """Every rank's value, in rank order, on rank 0 (None elsewhere)."""
        if not self.distributed:
            return [value]
        out = [None] * self.size if self.main else None
        dist.gather_object(value, out, dst=0)
        return out

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def close(self) -> None:
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()


SINGLE = World()


def launched() -> bool:
    """True when this process was started by torchrun (or another env:// launcher)."""
    return all(k in os.environ for k in ENV)


def check(cfg, world_size: int) -> str | None:
    """Refuse what cannot run on `world_size` processes; return the backend (None for one plain process)."""
    if world_size < 1:
        raise TrainlabError(f"--nproc {world_size}: the number of processes must be at least 1; use --nproc 2 "
                            "to train on two")
    wants_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
    backend = cfg.dist_backend if cfg.dist_backend != "auto" else ("nccl" if wants_cuda else "gloo")
    if backend == "nccl" and not (torch.cuda.is_available() and dist.is_nccl_available()):
        raise TrainlabError("dist_backend: nccl needs CUDA GPUs and this machine has none; use dist_backend: gloo "
                            "(or auto, which picks gloo on CPU)")
    if backend == "nccl" and cfg.device == "cpu":
        raise TrainlabError("dist_backend: nccl cannot move CPU tensors; with device: cpu use dist_backend: gloo")
    if cfg.lr == "find" and world_size > 1:
        raise TrainlabError("lr: find runs the lr finder in one process before training; for a distributed run, run "
                            "`trainlab lr-find CONFIG` first and set lr to its suggestion")
    if cfg.batch_size % world_size:
        up = -(-cfg.batch_size // world_size) * world_size
        raise TrainlabError(f"batch_size {cfg.batch_size} does not divide among {world_size} processes "
                            f"(batch_size is the global batch); use a multiple of {world_size}, such as {up}")
    return backend


def setup(cfg) -> World:
    """Join the job torchrun set up the environment for, or return SINGLE for a plain process."""
    if not launched():
        for key, off in (("dist_backend", "auto"), ("sync_bn", False)):
            if getattr(cfg, key) != off:
                value = str(getattr(cfg, key)).lower()
                raise TrainlabError(f"{key}: {value} takes effect only in a distributed run; start it "
                                    f"with `trainlab train CONFIG --nproc N` or torchrun, or remove {key}")
        return SINGLE
    rank, size, local = (int(os.environ[k]) for k in ENV)
    backend = check(cfg, size)
    if backend == "nccl":
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group(backend)
    return World(rank, size, local, backend)


@contextmanager
def joined(cfg) -> Iterator[World]:
    """`setup(cfg)` for the length of a run: the ranks leave together when it ends normally (after
    rank 0 has written its summary and report), and the process group is closed either way."""
    world = setup(cfg)
    try:
        yield world
        world.barrier()
    finally:
        world.close()


def device_for(world: World, device: torch.device) -> torch.device:
    """Each rank's own GPU (cuda:LOCAL_RANK); the CPU is shared."""
    if world.distributed and device.type == "cuda":
        return torch.device("cuda", world.local_rank)
    return device


def wrap(model: nn.Module, world: World, device: torch.device) -> nn.Module:
    """The module the loop calls: DDP around `model` in a distributed run, `model` itself otherwise.
    Weights are saved from `model`, so they carry no `module.` prefix."""
    if not world.distributed:
        return model
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


# ============================================================== batch norm across ranks
class _AllReduceSum(torch.autograd.Function):
    """all-reduce (sum) with its gradient: each rank's input reaches every rank's output, so the
    backward pass sums the output gradients over the ranks as well."""

    @staticmethod
    def forward(ctx, t: torch.Tensor) -> torch.Tensor:
        t = t.clone()
        dist.all_reduce(t)
        return t

    @staticmethod
    def backward(ctx, g: torch.Tensor) -> torch.Tensor:
        g = g.clone()
        dist.all_reduce(g)
        return g


class CrossRankBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm over the global batch on CPU (torch.nn.SyncBatchNorm runs on GPUs only).

    Training: the mean, then the biased variance, each from one all-reduce of per-channel sums
    (two passes, as accurate as one process's batch norm); running statistics are updated with
    the unbiased global variance, exactly like BatchNorm. Evaluation uses the running statistics.
    Same parameters and buffers as BatchNorm, so weights load into a single-process model.
    """

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2-D input, got {x.dim()}-D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized()):
            return super().forward(x)
        dtype, x = x.dtype, x.float()  # statistics in float32, under autocast too
        dims = [0] + list(range(2, x.dim()))
        shape = [1, -1] + [1] * (x.dim() - 2)
        n_local = torch.tensor([x.numel() // x.shape[1]], dtype=x.dtype, device=x.device)
        s = _AllReduceSum.apply(torch.cat([x.sum(dims), n_local]))
        n = s[-1].detach()
        mean = s[:-1] / n
        xc = x - mean.view(shape)
        var = _AllReduceSum.apply((xc * xc).sum(dims)) / n
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * n / max(float(n) - 1, 1.0), alpha=m)
        y = xc * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(dtype)


def sync_batchnorm(model: nn.Module, device: torch.device) -> int:
    """Make every BatchNorm of `model` normalise over the global batch, in place; returns how many."""
    bns = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if device.type == "cuda":
        converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        assert converted is model or not bns  # the root is never a BatchNorm in trainlab's models
        return len(bns)
    for name, bn in bns:
        new = CrossRankBatchNorm(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats)
        new.load_state_dict(bn.state_dict())
        new.train(bn.training)
        for p_new, p_old in zip(new.parameters(), bn.parameters()):
            p_new.requires_grad_(p_old.requires_grad)
        parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
        setattr(parent, name.rpartition(".")[2], new.to(device))
    return len(bns)
