"""Deck 003: non-max suppression removes the duplicate detections of one object ("use NMS again to get
the final predictions").

A detector's raw output is many boxes per object: every cell and anchor near an object says "object"
with a box around it. YOLO on shapes-boxes, trained once per seed; then its best weights score the
validation split twice, the same model with its NMS (IoU 0.5, per class) and with NMS switched off
(`nms_threshold: null`: every box above the score threshold, best first, at most 100 per image). Judged:
mAP@0.5 with NMS against without, paired by seed: without NMS each duplicate of a found object counts
as a false positive, ranked among the true ones. The picture adds the detections (score >= 0.3) per
true object. Swapped: the two evaluations exchange numbers.
"""
from __future__ import annotations

import math

import numpy as np

from ...data.detection import Targets
from ...training.evaluation import evaluate_detection
from ...training.saved import load_saved
from .arms import arms_run
from .base import Claim, paired_rule, register, swap_arms
from .plots import dots, figure, save_figure

BASE = {"dataset": "shapes-boxes", "dataset_options": {"n": 2000}, "val_fraction": 0.2, "model": "yolo",
        "optimizer": "adam", "lr": 0.002, "schedule": "cosine", "batch_size": 32, "epochs": 12,
        "augment": ["hflip"], "monitor": "val_map50"}
ARMS = ("with NMS", "without NMS")


def scores(run) -> dict[str, float]:
    """The run's best weights on its validation split, with the final NMS (IoU 0.5) and without: mAP@0.5 and
    the detections with score >= 0.3 per true object, each way (one model load for the four numbers)."""
    p = load_saved(run)
    objects = int(Targets.from_tensor(p.data.val.y).counts.sum())
    out = {}
    for way, nms in (("nms", 0.5), ("raw", None)):
        p.model.nms_threshold = nms
        res = evaluate_detection(p, p.data.val.x, p.data.val.y, collect=True)
        out[f"map50_{way}"] = res["map50"]
        out[f"per_object_{way}"] = sum(int((d["scores"] >= 0.3).sum()) for d in res["detections"]) / max(objects, 1)
    return out


_cache: dict[str, dict[str, float]] = {}


def quantity(key: str):
    def get(run) -> float:
        if str(run.path) not in _cache:
            _cache[str(run.path)] = scores(run)
        return _cache[str(run.path)][key]
    return get


_run = arms_run(BASE, {"yolo": {}}, {k: quantity(k) for k in ("map50_nms", "map50_raw", "per_object_nms",
                                                               "per_object_raw")})


def run(settings, ctx):
    d = _run(settings, ctx)["arms"]["yolo"]
    return {"arms": {ARMS[0]: {"map50": d["map50_nms"], "per_object": d["per_object_nms"]},
                     ARMS[1]: {"map50": d["map50_raw"], "per_object": d["per_object_raw"]}}}


def judge(data):
    return paired_rule(data, ARMS[0], ARMS[1], "map50", "higher", min_effect=0.01)


def plot(data, path):
    fig, (ax, bx) = figure(2, 4.6)
    dots(ax, data, "map50", ARMS, "validation mAP@0.5")
    ax.set_title("the same trained YOLO, scored twice", fontsize=10)
    dots(bx, data, "per_object", ARMS, "detections (score >= 0.3) per true object")
    bx.axhline(1.0, ls="--", c="gray", lw=1)
    means = {a: np.mean([v for v in data["arms"][a]["per_object"] if math.isfinite(v)]) for a in ARMS}
    bx.set_title(f"boxes per object: {means[ARMS[0]]:.2f} with NMS, {means[ARMS[1]]:.2f} without", fontsize=10)
    fig.suptitle("non-max suppression removes duplicate detections", fontsize=11)
    save_figure(fig, path)


register(__file__, Claim(
    id="nms-removes-duplicates", deck="003", topic="object detection",
    text="Faster R-CNN / YOLO: pool interesting regions using NMS (non-max suppression); use NMS again to get the "
         "final predictions",
    measures="validation mAP@0.5 of one trained YOLO per seed, with its final NMS (IoU 0.5) and without",
    why="YOLO on shapes-boxes predicts a box per cell and anchor: near an object several cells and anchors fire, so "
        "without NMS each object comes with duplicates, which AP counts as false positives",
    caveat="a detector trained to give one confident box per object (DETR's set loss) needs no NMS; and NMS at a "
           "low IoU also removes true boxes of objects that overlap",
    full_why="six seeds of the same 12-epoch YOLO (mAP@0.5 near 0.96): the duplicates are those of a detector that "
             "finds its objects, not of an untrained one",
    run=run, judge=judge, plot=plot, swap=swap_arms(*ARMS), quick={"seeds": 3}, full={"seeds": 6}))
