"""Transfer learning on Fashion-MNIST: does a network pre-trained on classes 0-4 help on classes 5-9
when only 100 labelled images per class are available?

  pre-train:  convnet on classes 0-4 (T-shirt, Trouser, Pullover, Dress, Coat), all ~27k images
  then, on classes 5-9 (Sandal, Shirt, Sneaker, Bag, Ankle boot) with 100 (and 10) images per class,
  each child trained for the same 300 steps:
    scratch      same network and recipe, random init
    finetune     init_from the pre-trained run, every layer trains
    ft-lr0.1     init_from, backbone lr x0.1
    freeze-b2    init_from, block1+block2 frozen (weights and BN statistics), block3 + head train
    probe        init_from, all conv blocks frozen: a linear classifier on the pre-trained features

Test accuracy is on the full official test split of classes 5-9 (5000 images). Each seed trains its
own parent (seed s) and children (seed s: weights of a scratch run, data order). Parent and children
both have 5 classes, so the trainer starts the children's head from the parent's head (re-headed
only when the class count differs). The labelled subset is the same for every seed (data_seed 0),
and best-weights selection uses the validation split of classes 5-9 (3000 images) for every variant.

    .venv/bin/python bench/transfer_demo.py --threads 1        # ~30 min on 2 busy cores
    .venv/bin/python bench/transfer_demo.py --seeds 0 --quick  # smoke run

The same runs from the CLI (seed 0, 100 labels per class):
    trainlab train --set dataset=fashion-mnist --set model=convnet --set 'model_options={channels: [16, 32, 64]}' \
        --set optimizer=momentum --set lr=0.05 --set 'classes=[0,1,2,3,4]' --set epochs=3 \
        --set runs_dir=runs/transfer-demo --name pre-s0
    trainlab finetune runs/transfer-demo/pre-s0 --classes 5 6 7 8 9 --train-per-class 100 --epochs 30 \
        --set batch_size=50 --set eval_every=50 --name n100-finetune-s0        # add --freeze block2, --lr-mult 0.1
    trainlab train --set dataset=fashion-mnist --set model=convnet --set 'model_options={channels: [16, 32, 64]}' \
        --set optimizer=momentum --set lr=0.05 --set 'classes=[5,6,7,8,9]' --set train_per_class=100 \
        --set epochs=30 --set batch_size=50 --set eval_every=50 --set runs_dir=runs/transfer-demo --name n100-scratch-s0
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import trainlab  # noqa: E402
from trainlab.training.finetune import finetune  # noqa: E402

BASE = {
    "dataset": "fashion-mnist",
    "model": "convnet",
    "model_options": {"channels": [16, 32, 64]},
    "optimizer": "momentum",
    "lr": 0.05,
    "batch_size": 128,
}
CHILD = {"steps": 300, "batch_size": 50, "eval_every": 50}  # 500 images: 10 steps per epoch, 30 epochs
VARIANTS = {  # name -> finetune keyword arguments (None: from scratch)
    "scratch": None,
    "finetune": {},
    "ft-lr0.1": {"lr_mult": 0.1},
    "freeze-b2": {"freeze": "block2"},
    "probe": {"freeze": "block3"},
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--pre-epochs", type=int, default=3)
    ap.add_argument("--per-class", type=int, nargs="+", default=[100, 10], help="labelled images per class")
    ap.add_argument("--runs-dir", default="runs/transfer-demo")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="1 pre-train epoch, 100 child steps")
    args = ap.parse_args()
    pre_epochs = 1 if args.quick else args.pre_epochs
    child_steps = 100 if args.quick else CHILD["steps"]
    common = {**BASE, "runs_dir": args.runs_dir, "threads": args.threads}

    t0 = time.perf_counter()
    acc: dict[tuple[int, str], list[float]] = {}
    parents = []
    for seed in args.seeds:  # one parent per seed: the spread covers pre-training too
        print(f"== seed {seed}: pre-train convnet on fashion-mnist classes 0-4 ({pre_epochs} epochs)", flush=True)
        parent = trainlab.train({**common, "classes": [0, 1, 2, 3, 4], "epochs": pre_epochs, "seed": seed,
                                 "name": f"pre-s{seed}"})
        parents.append(parent)
        for per_class in args.per_class:
            bsz = min(CHILD["batch_size"], 5 * per_class)
            epochs = max(1, child_steps // max(1, 5 * per_class // bsz))  # the same number of steps for every size
            child = {"classes": [5, 6, 7, 8, 9], "train_per_class": per_class, "epochs": epochs, "batch_size": bsz,
                     "eval_every": CHILD["eval_every"]}
            for variant, kw in VARIANTS.items():
                name = f"n{per_class}-{variant}-s{seed}"
                if kw is None:
                    run = trainlab.train({**common, **child, "seed": seed, "name": name}, quiet=True)
                else:
                    sets = [f"{k}={v}" for k, v in child.items() if k in ("batch_size", "eval_every")]
                    run = finetune(parent, classes=child["classes"], train_per_class=per_class, epochs=epochs,
                                   **kw, name=name, overrides=sets + [f"seed={seed}"], quiet=True)
                acc.setdefault((per_class, variant), []).append(run.summary["test"]["acc"])
                print(f"   {per_class:>4}/class  seed {seed}  {variant:<10} test acc {acc[per_class, variant][-1]:.4f}"
                      f"   ({run.path})", flush=True)
    t_all = time.perf_counter() - t0
    pre_acc = [p.summary["test"]["acc"] for p in parents]
    print("\npre-trained parents: test acc on classes 0-4 " + "  ".join(f"{a:.4f}" for a in pre_acc)
          + f" ({pre_epochs} epochs each)")
    print(f"children: classes 5-9, {child_steps} steps of batch <= {CHILD['batch_size']}; test accuracy on the 5000 "
          f"test images of classes 5-9; mean and std over seeds {args.seeds}\n")
    print(f"{'labels/class':>12}  {'variant':<10} {'mean':>7} {'std':>7}   per seed")
    for (per_class, variant), a in acc.items():
        sd = statistics.stdev(a) if len(a) > 1 else 0.0
        seeds = "  ".join(f"{v:.4f}" for v in a)
        print(f"{per_class:>12}  {variant:<10} {statistics.mean(a):7.4f} {sd:7.4f}   {seeds}")
    print(f"\ntotal {t_all:.0f} s")
    out = Path(args.runs_dir) / "results.json"
    out.write_text(json.dumps({"seeds": args.seeds, "pre_acc": pre_acc,
                               "acc": {f"{n}/{v}": a for (n, v), a in acc.items()}}, indent=2))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
