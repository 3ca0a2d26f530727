"""Optimizer step time: trainlab's chains vs torch.optim's foreach implementations.

    .venv/bin/python bench/bench_optim.py [--reps 15] [--steps 10] [--threads 2]

Parameters are shaped like a conv net (conv kernels, BN scales/shifts, a linear head) of
about 1M and 10M parameters, with fixed random gradients; only `opt.step()` is timed
(trainlab's includes computing stats["grad_norm"]). Both optimizers are timed in the same
process, interleaved every `--steps` steps, and the median over repetitions is reported
as a ratio trainlab / torch (target <= 1.3), with the ratio of the best times beside it.

Then the fast recipe's optimizer (configs/fast.yaml: Nesterov, L2 5e-4) on its own model's
parameters: ChainOptimizer's step, which applies the last update in one fused op per pending form
(add_ with alpha, addcdiv_, decay as a shrink; trainlab.optim.base), against the plain chain
(every form evaluated, then p += u), and the difference as a share of the recipe's whole training
step (forward, backward and step, bf16 where the CPU has it, channels_last, batch 128). The fused
application is kept if it is worth more than 3% of that step, or if dropping it would change the
numbers (it would: its rounding is torch.optim's, and runs must stay bit for bit what they were).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from trainlab.optim.recipes import create_optimizer  # noqa: E402


def conv_net_params(width: int, blocks: int) -> list[torch.nn.Parameter]:
    """Kernels (w, w, 3, 3) + BN (w,) x2 per block, a stem and a 10-way head: ~9 w^2 per block."""
    shapes = [(width, 3, 3, 3)]
    for _ in range(blocks):
        shapes += [(width, width, 3, 3), (width,), (width,)]
    shapes += [(10, width), (10,)]
    g = torch.Generator().manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(s, generator=g) * 0.05) for s in shapes]
    for p in params:
        p.grad = torch.randn(p.shape, generator=g) * 0.01
    return params


SIZES = {"1M": (128, 7), "10M": (256, 17)}  # 9*128^2*7 ~ 1.03M, 9*256^2*17 ~ 10.0M

CASES = {
    "momentum": (lambda ps: create_optimizer("momentum", ps, lr=0.01, weight_decay=5e-4),
                 lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9, weight_decay=5e-4, foreach=True)),
    "adam": (lambda ps: create_optimizer("adam", ps, lr=1e-3),
             lambda ps: torch.optim.Adam(ps, lr=1e-3, foreach=True)),
    "adamw": (lambda ps: create_optimizer("adamw", ps, lr=1e-3, weight_decay=0.01),
              lambda ps: torch.optim.AdamW(ps, lr=1e-3, weight_decay=0.01, foreach=True)),
}


def time_steps(opt, steps: int) -> float:
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.step()
    return (time.perf_counter() - t0) / steps


def recipe_share(reps: int) -> None:
    """The fused application against the plain chain, as a share of the fast recipe's training step."""
    from bench_trainer import step_time  # bench/ is on the path when this runs as a script

    from trainlab.models import create_model
    from trainlab.optim.base import value

    torch.manual_seed(0)
    net = create_model("convnet", in_shape=(1, 28, 28), num_classes=10, channels=[32, 64, 96], hidden=128,
                       whiten=2, pool_first=True, norm="batch").to(memory_format=torch.channels_last)
    ps = [p for p in net.parameters() if p.requires_grad]
    g = torch.Generator().manual_seed(1)
    for p in ps:
        p.grad = torch.randn(p.shape, generator=g) * 0.01
    fused = create_optimizer("nesterov", ps, lr=0.15, weight_decay=5e-4)
    tx = fused.chain
    state = tx.init(ps)

    def plain_step() -> None:
        with torch.no_grad():
            u, _ = tx.update([p.grad for p in ps], state, ps)
            torch._foreach_add_(ps, value(u, ps))

    class Plain:
        step = staticmethod(plain_step)

    t_fused, t_plain = [], []
    for _ in range(reps):
        t_fused.append(time_steps(fused, 5))
        t_plain.append(time_steps(Plain, 5))
    x = torch.randn(128, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (128,))
    bf16 = "avx512_bf16" in (open("/proc/cpuinfo").read() if sys.platform == "linux" else "")
    whole, _ = step_time(net, create_optimizer("nesterov", net.parameters(), lr=0.15, weight_decay=5e-4), x, y,
                         steps=15, bf16=bf16)
    a, b = statistics.median(t_fused), statistics.median(t_plain)
    print(f"\nfast recipe's optimizer ({sum(p.numel() for p in ps):,} parameters): fused step {a * 1e3:.3f} ms, "
          f"plain chain {b * 1e3:.3f} ms; the recipe's whole step {whole * 1e3:.1f} ms "
          f"({'bf16' if bf16 else 'fp32'}): the fused application saves {(b - a) / whole:+.1%} of it")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=40, help="timed repetitions (median reported)")
    ap.add_argument("--steps", type=int, default=2, help="optimizer steps per repetition")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, median of {args.reps} x {args.steps} steps")
    print(f"{'model':>6} {'params':>11} {'optimizer':>9} {'trainlab ms':>12} {'torch ms':>9} {'ratio':>6} {'ratio of mins':>14}")
    for size, (width, blocks) in SIZES.items():
        for name, (ours_fn, ref_fn) in CASES.items():
            ours_ps, ref_ps = conv_net_params(width, blocks), conv_net_params(width, blocks)
            ours, ref = ours_fn(ours_ps), ref_fn(ref_ps)
            time_steps(ours, 3), time_steps(ref, 3)  # warm up: state allocation, page faults
            t_ours, t_ref = [], []
            for _ in range(args.reps):  # interleaved, so drifts in machine load hit both alike
                t_ours.append(time_steps(ours, args.steps))
                t_ref.append(time_steps(ref, args.steps))
            a, b = statistics.median(t_ours), statistics.median(t_ref)
            best = min(t_ours) / min(t_ref)  # less sensitive to other load on a shared machine
            n = sum(p.numel() for p in ours_ps)
            print(f"{size:>6} {n:>11,} {name:>9} {a * 1e3:>12.2f} {b * 1e3:>9.2f} {a / b:>6.2f} {best:>14.2f}", flush=True)
    recipe_share(args.reps)


if __name__ == "__main__":
    main()
