"""Time per training step: a plain PyTorch loop, trainlab.train, PyTorch Lightning and Keras 3 (torch backend).

All four train the same small CNN, the default recipe's model: conv(32)-BN-ReLU-maxpool,
conv(64)-BN-ReLU-maxpool, flatten, fc 128 ReLU, dropout 0.1, linear 10 (421,738 trainable
parameters in each) on 28x28x1 inputs, batch 128, SGD with Nesterov momentum 0.9 and lr 0.01,
cross entropy, fp32, NCHW, on synthetic uint8 images held in memory (each step slices its batch,
converts it to float and standardizes it). Each framework's figure is a ratio to the plain loop
measured in the same repetition; repetitions interleave the frameworks (the order rotates) and the
table gives medians.

What is timed, the same for each: `--steps` consecutive training steps after `--warmup` steps,
from the start of step warmup+1 to the end of the last step; setup (building, compiling, the
data loader) and evaluation are outside it.
  plain      a hand-written loop: randperm, slice, to float, standardize, forward, F.cross_entropy,
             zero_grad, backward, torch.optim.SGD(nesterov=True).step; tracks nothing.
  trainlab   trainlab.train(config, data=dataset) with its defaults (running train loss and accuracy,
             a checkpoint and the validation pass at the end of the epoch, outside the clock),
             timed by its own step clock (the metrics rows' `time`, which leaves out evaluation,
             checkpoints and row logging); log_every=warmup, so the first row is the warm-up.
  lightning  lightning.pytorch.Trainer(accelerator="cpu", devices=1, max_epochs=1, logger=False,
             enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False), no
             validation loader; everything else default (precision "32-true", automatic
             optimization). A LightningModule whose training_step standardizes the batch and logs
             train loss and accuracy (self.log_dict(..., on_step=False, on_epoch=True)), and whose
             configure_optimizers returns torch.optim.SGD(nesterov=True). The DataLoader draws
             whole batches by index (sampler=BatchSampler(RandomSampler), batch_size=None, no
             workers), as Keras's own array loader does, so neither pays a per-sample collate.
             Timed by a Callback: on_train_batch_start of step warmup+1 to on_train_epoch_end.
  keras      keras.Sequential of keras.layers (Rescaling for the standardization, Conv2D without
             bias, BatchNormalization(momentum=0.9, epsilon=1e-5) as torch's, ReLU, MaxPooling2D,
             Flatten, Dense(128, relu), Dropout, Dense), all data_format="channels_first" so the
             data layout is NCHW as for the others; compile(SGD(momentum=0.9, nesterov=True),
             SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]), jit_compile
             left at "auto" (eager under the torch backend); fit(x, y, batch_size=128, epochs=1,
             shuffle=True, verbose=0) on numpy arrays, no validation. Timed by a Callback:
             on_train_batch_begin of step warmup+1 to on_epoch_end (after Keras has waited for its
             asynchronous batch-end callbacks). The timer is marked async_safe, so Keras keeps the
             asynchronous callback dispatch that a fit without batch callbacks gets.

Lightning and Keras are not trainlab dependencies: put them in a separate venv. torch first and
pinned (the local CPU build): an unpinned torch pulls a multi-GB CUDA build.

    python3 -m venv .venv-peers
    .venv-peers/bin/pip install torch==2.13.0
    .venv-peers/bin/pip install lightning keras "torch==2.13.0"
    .venv-peers/bin/pip install -e .
    .venv-peers/bin/python -c "import torch; print(torch.__version__)"   # must still say 2.13.0+cpu
    .venv-peers/bin/python bench/bench_peers.py [--steps 150] [--reps 3] [--warmup 10] [--threads N]

In a venv without lightning or keras (e.g. .venv) the script says so, skips them, and still
prints the plain loop and trainlab figures. KERAS_BACKEND is set to torch by the script.
"""
from __future__ import annotations

import argparse
import gc
import importlib.util
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings

import torch
import torch.nn.functional as F
from torch import nn

import trainlab
from trainlab.data import Dataset, Split

os.environ["KERAS_BACKEND"] = "torch"  # keras is imported later, inside functions: its backend is torch

B, K, SHAPE = 128, 10, (1, 28, 28)
LR, MOMENTUM = 0.01, 0.9
FRAMEWORKS = ("plain", "trainlab", "lightning", "keras")


# ------------------------------------------------------------------ data and model
def synthetic(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return (torch.randint(0, 256, (n, *SHAPE), dtype=torch.uint8, generator=g),
            torch.randint(0, K, (n,), generator=g))


def moments(x: torch.Tensor) -> tuple[float, float]:
    """One global mean and std of the images in [0, 1] (trainlab's `standardize`)."""
    f = x.float().div_(255.0)
    return float(f.mean()), float(f.std())


def torch_model() -> nn.Sequential:
    """The default recipe's convnet in torch.nn (convs without bias: batch norm follows)."""
    def block(c_in, c_out):
        return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
                nn.MaxPool2d(2, 2, ceil_mode=True)]

    return nn.Sequential(*block(1, 32), *block(32, 64), nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(),
                         nn.Dropout(0.1), nn.Linear(128, K))


def trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# ------------------------------------------------------------------ the four loops
def run_plain(x_all, y_all, warmup: int, steps: int, seed: int) -> float:
    torch.manual_seed(seed)
    model = torch_model()
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, nesterov=True)
    mean, std = moments(x_all)
    perm = torch.randperm(len(y_all))
    model.train()
    t0 = time.perf_counter()
    for i in range(warmup + steps):
        if i == warmup:
            t0 = time.perf_counter()
        idx = perm[i * B:(i + 1) * B]
        x = (x_all[idx].float().div_(255.0) - mean) / std
        loss = F.cross_entropy(model(x), y_all[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.perf_counter() - t0) / steps


def trainlab_config(warmup: int, threads: int, seed: int, runs_dir: str) -> dict:
    return {"dataset": "synthetic", "model": "convnet", "model_options": {"channels": [32, 64], "hidden": 128},
            "norm": "batch", "activation": "relu", "dropout": 0.1, "preprocessing": "standardize",
            "optimizer": "nesterov", "lr": LR, "weight_decay": 0.0, "batch_size": B, "epochs": 1,
            "precision": "fp32", "channels_last": False, "device": "cpu", "threads": threads, "seed": seed,
            "log_every": warmup, "eval_batch_size": 256, "runs_dir": runs_dir}


def run_trainlab(x_all, y_all, warmup: int, steps: int, seed: int, threads: int) -> float:
    small = Split(x_all[:256], y_all[:256])
    data = Dataset("synthetic", Split(x_all, y_all), small, small, [str(i) for i in range(K)], "classification")
    with tempfile.TemporaryDirectory() as d:
        run = trainlab.train(trainlab_config(warmup, threads, seed, d), data=data, quiet=True, report=False,
                             score_test=False)
        rows = [r for r in run.metrics if "time" in r]
    if rows[0]["step"] != warmup or rows[-1]["step"] != warmup + steps:
        raise RuntimeError(f"trainlab logged steps {[r['step'] for r in rows]}, expected {warmup} ... "
                           f"{warmup + steps}")
    # each row's `time` is its own period of steps: the rows after the first are the timed steps
    return sum(r["time"] for r in rows[1:]) / steps


def run_lightning(x_all, y_all, warmup: int, steps: int, seed: int) -> float:
    pl = lightning_module()
    from torch.utils.data import BatchSampler, DataLoader, RandomSampler, TensorDataset

    mean, std = moments(x_all)

    class Net(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = torch_model()

        def training_step(self, batch, batch_idx):
            x, y = batch
            out = self.net((x.float().div_(255.0) - mean) / std)
            loss = F.cross_entropy(out, y)
            self.log_dict({"train_loss": loss, "train_acc": (out.argmax(1) == y).float().mean()},
                          on_step=False, on_epoch=True)
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=LR, momentum=MOMENTUM, nesterov=True)

    class Timer(pl.Callback):
        t0 = t1 = 0.0

        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            if batch_idx == warmup:
                self.t0 = time.perf_counter()

        def on_train_epoch_end(self, trainer, module):
            self.t1 = time.perf_counter()

    torch.manual_seed(seed)
    module, timer = Net(), Timer()
    loader = DataLoader(TensorDataset(x_all, y_all), batch_size=None,
                        sampler=BatchSampler(RandomSampler(range(len(y_all))), B, drop_last=True))
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=[timer])
    trainer.fit(module, train_dataloaders=loader)
    if trainer.global_step != warmup + steps:
        raise RuntimeError(f"lightning ran {trainer.global_step} steps, expected {warmup + steps}")
    return (timer.t1 - timer.t0) / steps


def keras_model(mean: float, std: float):
    import keras
    from keras import layers

    cf = "channels_first"

    def block(c):
        return [layers.Conv2D(c, 3, padding="same", use_bias=False, data_format=cf),
                layers.BatchNormalization(axis=1, momentum=0.9, epsilon=1e-5), layers.ReLU(),
                layers.MaxPooling2D(2, data_format=cf)]

    model = keras.Sequential([keras.Input(SHAPE), layers.Rescaling(1.0 / (255.0 * std), offset=-mean / std),
                              *block(32), *block(64), layers.Flatten(data_format=cf),
                              layers.Dense(128, activation="relu"), layers.Dropout(0.1), layers.Dense(K)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=LR, momentum=MOMENTUM, nesterov=True),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def run_keras(x_all, y_all, warmup: int, steps: int, seed: int) -> float:
    import keras

    class Timer(keras.callbacks.Callback):
        async_safe = True  # keep Keras's asynchronous batch-end dispatch, as in a fit without batch callbacks
        t0 = t1 = 0.0

        def on_train_batch_begin(self, batch, logs=None):
            if batch == warmup:
                self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.t1 = time.perf_counter()

    keras.utils.set_random_seed(seed)
    model, timer = keras_model(*moments(x_all)), Timer()
    history = model.fit(x_all.numpy(), y_all.numpy(), batch_size=B, epochs=1, shuffle=True, verbose=0,
                        callbacks=[timer])
    if model.optimizer.iterations.numpy() != warmup + steps or not history.history:
        raise RuntimeError(f"keras ran {model.optimizer.iterations.numpy()} steps, expected {warmup + steps}")
    return (timer.t1 - timer.t0) / steps


# ------------------------------------------------------------------ what this venv has
def lightning_module():
    try:
        import lightning.pytorch as pl
    except ImportError:
        import pytorch_lightning as pl
    return pl


def available() -> tuple[dict[str, str], dict[str, str]]:
    """(framework -> version) of those that import, (framework -> why not) of the others."""
    have, missing = {"plain": torch.__version__, "trainlab": getattr(trainlab, "__version__", "?")}, {}
    if importlib.util.find_spec("lightning") is None and importlib.util.find_spec("pytorch_lightning") is None:
        missing["lightning"] = "not installed in this venv"
    else:
        try:
            pl = lightning_module()
            have["lightning"] = pl.__version__
            for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning",
                         "lightning_fabric"):
                logging.getLogger(name).setLevel(logging.WARNING)  # "GPU available: False ..." and such
            warnings.filterwarnings("ignore", ".*does not have many workers.*")
            warnings.filterwarnings("ignore", ".*LeafSpec.*")  # lightning 2.6 on torch 2.13: a deprecation notice
        except Exception as e:  # noqa: BLE001  (any import failure: say it and go on)
            missing["lightning"] = f"import failed: {type(e).__name__}: {e}"
    if importlib.util.find_spec("keras") is None:
        missing["keras"] = "not installed in this venv"
    else:
        try:
            import keras

            if int(keras.__version__.split(".")[0]) < 3 or keras.backend.backend() != "torch":
                missing["keras"] = (f"keras {keras.__version__} with backend {keras.backend.backend()}; "
                                    "needs Keras 3 with KERAS_BACKEND=torch")
            else:
                have["keras"] = keras.__version__
        except Exception as e:  # noqa: BLE001
            missing["keras"] = f"import failed: {type(e).__name__}: {e}"
    return have, missing


def check_models(x_all, have: dict[str, str]) -> dict[str, int]:
    """Trainable parameter counts: the same network in every framework."""
    from trainlab.config import load_config
    from trainlab.training.build import build

    small = Split(x_all[:B], torch.zeros(B, dtype=torch.long))
    data = Dataset("synthetic", small, small, small, [str(i) for i in range(K)], "classification")
    cfg = load_config(None, **{k: v for k, v in trainlab_config(1, 0, 0, "runs").items() if k != "threads"})
    counts = {"plain": trainable(torch_model()), "trainlab": trainable(build(cfg, data=data).model)}
    counts["lightning"] = counts["plain"]  # the same torch_model()
    if "keras" in have:
        counts["keras"] = sum(int(w.numpy().size) for w in keras_model(0.5, 0.25).trainable_weights)
    return counts


# ------------------------------------------------------------------ main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=150, help="timed steps per measurement")
    ap.add_argument("--warmup", type=int, default=10, help="untimed steps before them")
    ap.add_argument("--reps", type=int, default=3, help="repetitions (each runs every framework once)")
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads; 0 = torch's default")
    a = ap.parse_args()
    if a.steps < 1 or a.warmup < 1 or a.reps < 1:
        ap.error("--steps, --warmup and --reps must be at least 1")
    if a.threads:
        torch.set_num_threads(a.threads)
    threads = torch.get_num_threads()

    have, missing = available()
    print(f"python {sys.version.split()[0]}, " + ", ".join(f"{k} {v}" for k, v in have.items() if k != "plain")
          + f", torch {torch.__version__}, {threads} threads; batch {B}, {a.warmup} warm-up + {a.steps} timed "
          f"steps per measurement, {a.reps} repetitions")
    for name, why in missing.items():
        print(f"{name}: skipped ({why}); to measure it: pip install {name} in a separate venv, as this "
              "script's docstring shows (torch==2.13.0 first)")
    frameworks = [f for f in FRAMEWORKS if f in have]

    x_all, y_all = synthetic(B * (a.warmup + a.steps))
    counts = check_models(x_all, have)
    print("trainable parameters: " + ", ".join(f"{f} {counts[f]:,}" for f in frameworks if f in counts))
    if len({counts[f] for f in frameworks if f in counts}) != 1:
        raise SystemExit("the frameworks' models differ; fix the script")

    run = {"plain": lambda s: run_plain(x_all, y_all, a.warmup, a.steps, s),
           "trainlab": lambda s: run_trainlab(x_all, y_all, a.warmup, a.steps, s, threads),
           "lightning": lambda s: run_lightning(x_all, y_all, a.warmup, a.steps, s),
           "keras": lambda s: run_keras(x_all, y_all, a.warmup, a.steps, s)}
    times: dict[str, list[float]] = {f: [] for f in frameworks}
    ratios: dict[str, list[float]] = {f: [] for f in frameworks}
    for r in range(a.reps):
        order = frameworks[r % len(frameworks):] + frameworks[:r % len(frameworks)]  # rotate: no fixed slot
        got = {}
        for f in order:
            torch.set_num_threads(threads)
            gc.collect()
            got[f] = run[f](r)
            if torch.get_num_threads() != threads:
                print(f"  note: {f} changed torch's threads to {torch.get_num_threads()}")
        for f in frameworks:
            times[f].append(got[f])
            ratios[f].append(got[f] / got["plain"])
        print(f"  rep {r} (order {', '.join(order)}): " + " | ".join(
            f"{f} {got[f] * 1e3:.2f} ms/step" + (f" ({got[f] / got['plain']:.3f}x)" if f != "plain" else "")
            for f in frameworks), flush=True)

    print(f"\nmedian of {a.reps} repetitions ({a.steps} steps each, batch {B}, {threads} threads):")
    print(f"{'framework':<11}{'version':>10}{'ms/step':>10}{'ratio to plain loop':>22}")
    for f in frameworks:
        print(f"{f:<11}{have[f].split('+')[0]:>10}{statistics.median(times[f]) * 1e3:>10.2f}"
              f"{statistics.median(ratios[f]):>22.3f}")
    for name in missing:
        print(f"{name:<11}{'-':>10}{'-':>10}{'not measured':>22}")


if __name__ == "__main__":
    main()
