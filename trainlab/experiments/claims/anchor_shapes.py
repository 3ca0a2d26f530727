"""Deck 003: a detector predicts "the displacement, the scalings and a confidence for each reference
anchor box", "relative a few anchor boxes": anchors of several shapes suit objects of several shapes.

YOLO on shapes-boxes with `stretch: 3` (each object stretched to a width / height ratio between 1:3 and
3:1, so boxes come in many shapes), with nine anchors per cell either way: nine squares (sizes from
0.15 to 0.5 of the image side, geometric steps), or three sizes (0.15, 0.3, 0.5) times three shapes
(height / width 0.5, 1, 2; same areas). Same head, same parameters, only the anchors' shapes differ.
An object is owned by the anchor whose shape fits it best; from a square, a 3:1 box must be reached by
large log-scale offsets. Judged: the best validation mAP@[.5:.95] (how tight the boxes are, where
anchor shape should show), paired by seed. Swapped: the two arms exchange numbers.
"""
from __future__ import annotations

import math

from .arms import best, paired_claim
from .base import register

SIDE = 64
SQUARES = [[round(s * SIDE, 2)] * 2 for s in (0.15 * (0.5 / 0.15) ** (k / 8) for k in range(9))]
SHAPES = [[round(s * SIDE / math.sqrt(r), 2), round(s * SIDE * math.sqrt(r), 2)] for s in (0.15, 0.3, 0.5)
          for r in (0.5, 1.0, 2.0)]

register(__file__, paired_claim(
    id="anchor-shapes", deck="003", topic="object detection",
    text="Predict displacements relative a few anchor boxes: for each grid element, the class, the displacement, "
         "the scalings and a confidence for each reference anchor box",
    measures="best validation mAP@[.5:.95] of YOLO on objects of many shapes (aspect 1:3 to 3:1), nine anchors per "
             "cell: squares only against three sizes x three shapes",
    why="stretched objects: a square anchor must be scaled by up to 3x in one direction, a matching shape needs "
        "small offsets; mAP@[.5:.95] rewards the tightness the better start should give",
    caveat="a long enough training learns large scalings from any anchor; and on objects of one shape extra anchor "
           "shapes only split the training signal",
    base={"dataset": "shapes-boxes", "dataset_options": {"n": 2000, "stretch": 3.0}, "val_fraction": 0.2,
          "model": "yolo", "optimizer": "adam", "lr": 0.002, "schedule": "cosine", "batch_size": 32, "epochs": 12,
          "augment": ["hflip"], "monitor": "val_map"},
    arms={"squares": {"model_options": {"anchors": SQUARES}}, "shapes": {"model_options": {"anchors": SHAPES}}},
    quantities={"val_map": best("val_map")}, arm="shapes", against="squares", quantity="val_map",
    direction="higher", curve="val_map", title="anchors of several shapes for objects of several shapes",
    qlabel="best validation mAP@[.5:.95]", quick={"seeds": 4}, full={"seeds": 8, "set": {"epochs": 20}},
    full_why="20 epochs, near convergence: if square anchors only learn slower, the gap closes there (the caveat)"))
