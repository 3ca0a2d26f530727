"""Train yolo and faster_rcnn on the synthetic detection set for a few minutes each, with plain loops.

Prints mAP@0.5, mAP@[.5:.95] and per-class AP@0.5 on a held-out synthetic split, each model's inference
time per image (batch 1 and batched), and saves a PNG grid of validation images with the predicted
boxes (solid, labelled with class and score) over the true boxes (dashed white).

    PYTHONPATH=. .venv/bin/python bench/detect_demo.py [--seconds 120] [--out detect_demo.png]

The same detectors train through trainlab's own trainer (checkpoints, resume, mAP rows, report):
`trainlab train configs/detect-shapes.yaml` (--set model=faster_rcnn for the two-stage one).
"""
from __future__ import annotations

import argparse
import math
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.patches as patches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from trainlab.data.augment import build_augmentation  # noqa: E402
from trainlab.data.detection import detection_shapes  # noqa: E402
from trainlab.models import create_model  # noqa: E402
from trainlab.nn.boxes import box_iou  # noqa: E402
from trainlab.training.average_precision import evaluate_detections  # noqa: E402

COLOURS = ["tab:red", "tab:green", "tab:blue"]


def train(net, data, seconds: float, lr: float, batch: int, seed: int) -> tuple[int, float]:
    """Adam with a cosine decay over the time budget (lr is a function of the elapsed fraction)."""
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    aug = build_augmentation(["hflip", "resized_crop:p=0.3:magnitude=0.15"])
    y = data.targets.to_tensor()  # (N, M, 5 [+ H W]): what the augmentation moves and the detector reads
    g = torch.Generator().manual_seed(seed)
    net.train()
    start, step, log = time.perf_counter(), 0, []
    while (elapsed := time.perf_counter() - start) < seconds:
        for group in opt.param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * elapsed / seconds))
        idx = torch.randint(0, len(data), (batch,), generator=g)
        x, t = aug(data.images[idx].float() / 255, g, boxes=y[idx])
        losses = net(x, t)
        loss = sum(losses.values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        log.append(float(loss.detach()))
        step += 1
        if step % 100 == 0:
            print(f"  step {step:5d}  {elapsed:6.1f} s  loss {sum(log[-100:]) / 100:.3f}  "
                  + "  ".join(f"{k} {float(v.detach()):.3f}" for k, v in losses.items()), flush=True)
    return step, time.perf_counter() - start


@torch.no_grad()
def predict(net, images, batch: int = 64) -> list[dict]:
    net.eval()
    return [d for i in range(0, len(images), batch) for d in net(images[i:i + batch])]


@torch.no_grad()
def time_per_image(net, images) -> tuple[float, float]:
    """Seconds per image at batch 1 (first 50 images) and at batch 64."""
    net.eval()
    net(images[:2])  # warm-up
    t = time.perf_counter()
    for i in range(50):
        net(images[i:i + 1])
    one = (time.perf_counter() - t) / 50
    t = time.perf_counter()
    predict(net, images)
    return one, (time.perf_counter() - t) / len(images)


def mask_iou(val, dets: list[dict]) -> float:
    """Mean IoU of each true mask with the mask of the best-scoring detection whose box has IoU >= 0.5 with it."""
    ious = []
    for det, gt in zip(dets, val.targets.per_image()):
        if len(det["boxes"]) == 0:
            continue
        overlap = box_iou(gt["boxes"], det["boxes"])  # (G, D); detections are sorted best first
        for g in range(len(gt["boxes"])):
            hit = torch.nonzero(overlap[g] >= 0.5).flatten()
            if len(hit):
                a, b = gt["masks"][g], det["masks"][hit[0]]
                ious.append(float((a & b).sum()) / max(float((a | b).sum()), 1.0))
    return sum(ious) / max(len(ious), 1)


def draw(val, preds: dict[str, list[dict]], path: str, n: int = 8) -> None:
    names = list(preds)
    fig, axes = plt.subplots(len(names), n, figsize=(2 * n, 2.2 * len(names)), squeeze=False)
    size = val.images.shape[-1]
    for r, name in enumerate(names):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(val.images[c].permute(1, 2, 0).numpy(), extent=(0, size, size, 0))
            for b in val.targets.image(c)["boxes"].tolist():
                ax.add_patch(patches.Rectangle(b[:2], b[2] - b[0], b[3] - b[1], fill=False, ls="--", ec="white", lw=1))
            det = preds[name][c]
            for i, (b, s, k) in enumerate(zip(det["boxes"].tolist(), det["scores"].tolist(), det["labels"].tolist())):
                if s < 0.3:
                    continue
                if "masks" in det:  # the instance mask as a translucent layer of the class colour
                    layer = torch.zeros(size, size, 4)
                    layer[det["masks"][i]] = torch.tensor(matplotlib.colors.to_rgba(COLOURS[k], 0.45))
                    ax.imshow(layer.numpy(), extent=(0, size, size, 0))
                ax.add_patch(patches.Rectangle(b[:2], b[2] - b[0], b[3] - b[1], fill=False, ec=COLOURS[k], lw=1.5))
                ax.text(b[0], b[1] - 1, f"{val.classes[k][:3]} {s:.2f}", color=COLOURS[k], fontsize=6,
                        bbox=dict(facecolor="white", alpha=0.6, pad=0.5, lw=0))
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(name)
    fig.suptitle("dashed white: true boxes; solid: predictions with score >= 0.3 "
                 "(red circle, green square, blue triangle; mask_rcnn's masks shaded)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=120, help="training time per model, in seconds")
    p.add_argument("--models", default="yolo,faster_rcnn", help="comma-separated; mask_rcnn also works")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--n-train", type=int, default=3000)
    p.add_argument("--n-val", type=int, default=300)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="detect_demo.png")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    t = time.perf_counter()
    train_set = detection_shapes(n=args.n_train, size=args.size, seed=0)
    val = detection_shapes(n=args.n_val, size=args.size, seed=1)  # another seed: held-out images
    print(f"data: {len(train_set)} train, {len(val)} validation {args.size}x{args.size} images "
          f"({time.perf_counter() - t:.1f} s), {int(val.targets.counts.sum())} validation objects")
    settings = {"yolo": dict(lr=2e-3, batch=32), "faster_rcnn": dict(lr=1e-3, batch=16)}  # mask_rcnn: as faster
    preds, rows = {}, []
    for name in args.models.split(","):
        torch.manual_seed(0)
        net = create_model(name, in_shape=(3, args.size, args.size), num_classes=3)
        print(f"{name}: {sum(q.numel() for q in net.parameters()):,} parameters, stride {net.stride:g}")
        steps, secs = train(net, train_set, args.seconds, seed=0, **settings.get(name, settings["faster_rcnn"]))
        preds[name] = predict(net, val.images)
        s = evaluate_detections(preds[name], val.targets, val.num_classes)
        one, batched = time_per_image(net, val.images)
        rows.append((name, steps, secs, s, one, batched))
        masks = f"  mask IoU of found objects {mask_iou(val, preds[name]):.3f}" if "masks" in preds[name][0] else ""
        print(f"{name}: {steps} steps in {secs:.0f} s; mAP@0.5 {s.map50:.3f}  mAP@[.5:.95] {s.map:.3f}  "
              f"AP@0.5 per class {[round(v, 3) for v in s.per_class(0.5)]}  "
              f"inference {one * 1e3:.1f} ms/image (batch 1), {batched * 1e3:.2f} ms/image (batch 64){masks}",
              flush=True)
    print("\n| model | train steps | train time | mAP@0.5 | mAP@[.5:.95] | AP@0.5 circle / square / triangle "
          "| ms/image batch 1 | ms/image batch 64 |\n|---|---|---|---|---|---|---|---|")
    for name, steps, secs, s, one, batched in rows:
        ap = " / ".join(f"{v:.3f}" for v in s.per_class(0.5))
        print(f"| {name} | {steps} | {secs:.0f} s | {s.map50:.3f} | {s.map:.3f} | {ap} | {one * 1e3:.1f} "
              f"| {batched * 1e3:.2f} |")
    draw(val, preds, args.out)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
