"""Deck 003: YOLO "predicts the classes directly instead of pooling interesting regions and sending them to
a classification network" (Faster R-CNN's second stage): one stage should be faster per image, and the
two stages, which look again at each region, more accurate.

YOLO against Faster R-CNN on shapes-boxes, the same data, epochs and trunk family (conv-BN-ReLU blocks,
trainlab's `tiny`), each with its own tuned batch and learning rate (yolo 32 and 0.002, faster_rcnn 16
and 0.001, as bench/detect_demo.py), paired by seed. Measured after training: inference milliseconds
per image at batch 1 on one thread (the fastest of 3 passes over 128 validation images), and the best
validation mAP@[.5:.95] (at IoU 0.5 both find nearly every shape; the stricter thresholds separate
them). Judged: both parts must hold, each a paired t-test at 5% (one-stage lower time, two-stage higher
mAP); one significantly the other way refutes. Swapped: the two detectors exchange numbers.
"""
from __future__ import annotations

from .arms import arms_run, best, inference_ms
from .base import Claim, all_of, paired_rule, register, swap_arms
from .plots import dots, figure, save_figure

ONE, TWO = "yolo", "faster_rcnn"

_run = arms_run({"dataset": "shapes-boxes", "dataset_options": {"n": 2000}, "val_fraction": 0.2, "optimizer": "adam",
                 "schedule": "cosine", "epochs": 10, "augment": ["hflip"], "monitor": "val_map"},
                {ONE: {"model": "yolo", "lr": 0.002, "batch_size": 32},
                 TWO: {"model": "faster_rcnn", "lr": 0.001, "batch_size": 16}},
                {"val_map": best("val_map"), "val_map50": best("val_map50"), "ms_batch1": inference_ms(1),
                 "ms_batch64": inference_ms(64)}, curve="val_map")


def judge(data):
    test = ("both must hold: ms per image at batch 1 lower for yolo, and best val mAP@[.5:.95] higher for "
            "faster_rcnn (each a paired t-test over seeds at 5%)")
    return all_of([paired_rule(data, ONE, TWO, "ms_batch1", "lower"),
                   paired_rule(data, TWO, ONE, "val_map", "higher")], test)


def plot(data, path):
    fig, axes = figure(3, 4.2)
    for ax, (q, label) in zip(axes, (("ms_batch1", "ms per image, batch 1"), ("ms_batch64", "ms per image, batch 64"),
                                     ("val_map", "best validation mAP@[.5:.95]"))):
        dots(ax, data, q, (ONE, TWO), label)
        ax.set_title(label, fontsize=10)
    fig.suptitle("one stage (YOLO) against two stages (Faster R-CNN): speed and accuracy", fontsize=11)
    save_figure(fig, path)


register(__file__, Claim(
    id="one-stage-faster-two-stage-accurate", deck="003", topic="object detection",
    text="YOLO: predict the classes directly instead of pooling interesting regions and sending them to a "
         "classification network (Faster R-CNN's two stages)",
    measures="inference ms per image (batch 1, one thread) and best validation mAP@[.5:.95], YOLO against Faster "
             "R-CNN trained for the same epochs on shapes-boxes",
    why="the second stage runs RoI align and a classifier on every proposal: more work per image, and a second, "
        "closer look at each box",
    caveat="at this size (64x64 images, a 100k-parameter trunk) the costs are small and training is short; YOLO's "
           "later versions (multi-scale heads, better losses) close the accuracy gap on real data",
    full_why="six seeds: the time of each model is measured on its own trained weights, the mAP gap at equal epochs",
    run=_run, judge=judge, plot=plot, swap=swap_arms(ONE, TWO), quick={"seeds": 3}, full={"seeds": 6}))
