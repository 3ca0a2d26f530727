"""Deck 000: U-Net's skip connections: "high resolution information is directly fed-through", so
masks keep their edges.

Segmentation of trainlab's `shapes` (circles, squares and triangles on 32x32 images, a class per
pixel): U-Net against the same U-Net with its skips fed zeros (`model_options.skips: false`: the
same layers and parameters, only the bottleneck's coarse information reaches the output). Judged
on the best validation mean IoU, paired by seed.
"""
from .arms import best, paired_claim
from .base import register

register(__file__, paired_claim(
    id="unet-skips", deck="000", topic="architectures: U-Net",
    text="U-net key properties: skip-connection: high resolution information is directly fed-through",
    measures="best validation mean IoU on shapes, U-Net against the same U-Net without its skips, 8 epochs",
    why="depth 3 takes 32x32 down to 4x4: without the skips the masks must be painted from a 4x4 summary, which "
        "blurs the shapes' edges",
    caveat="for masks that are large blobs the coarse path alone does well; skips matter where boundaries are fine",
    base={"dataset": "shapes", "dataset_options": {"n": 1000}, "model": "unet", "optimizer": "adam", "lr": 0.003,
          "batch_size": 32, "epochs": 6},
    arms={"no_skips": {"model_options": {"skips": False}}, "unet": {}},
    quantities={"val_miou": best("val_miou")}, arm="unet", against="no_skips", quantity="val_miou",
    direction="higher", curve="val_miou", title="U-Net's skips and mask quality", qlabel="best val mean IoU",
    quick={"seeds": 6, "set": {"epochs": 8}}, full={"seeds": 12, "set": {"epochs": 15}},
    full_why="shapes is the segmentation data trainlab ships (no real masks can be downloaded here): twice the seeds "
             "and 15 epochs"))
