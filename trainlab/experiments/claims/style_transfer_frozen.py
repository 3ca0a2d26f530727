"""Deck 003: neural style transfer optimizes the image, not the network: the pretrained network's
weights stay exactly as they were; only the pixels move.

A small convnet is trained for one epoch on trainlab's colour textures (the style network);
`trainlab.stylize` then turns one texture image toward another's style for 60 Adam steps. Measured:
the largest change of any network weight (must be exactly 0) and the mean change of the pixels
(must be clearly above 0). Swapped: the weights and the pixels exchange roles.
"""
from __future__ import annotations

import shutil

import numpy as np

from ...data import load_dataset, to_float
from ...runs import load_run
from ...style.features import FeatureNet
from ...style.network import load_style_net
from ...style.optimize import stylize
from ...training.run import train
from .base import Claim, all_of, register, swap_roles, threshold_rule
from .plots import figure, save_figure


def run(settings, ctx) -> dict:
    net = ctx.folder / "style-net"
    if not (net / "summary.json").is_file() or load_run(net).summary.get("status") != "finished":
        shutil.rmtree(net, ignore_errors=True)
        train({"dataset": "textures", "model": "convnet", "epochs": 1, "threads": 1, "runs_dir": str(ctx.folder),
                        "name": "style-net"}, quiet=True, report=False)

    model, pre, _ = load_style_net(load_run(net), quiet=True)
    feature_net = FeatureNet(model, pre, pool="avg", padding="reflect")  # the very object stylize runs
    before = {k: v.clone() for k, v in feature_net.state_dict().items()}
    data = load_dataset("textures", val_fraction=0.1, seed=0)
    content, style = to_float(data.test.x[:1]), to_float(data.test.x[7:8])
    res = stylize(content, style, run=feature_net, size=32, steps=settings["steps"], quiet=True, seed=0)
    after = feature_net.state_dict()
    moved = max(float((after[k].double() - before[k].double()).abs().max()) for k in before)
    pixels = float((res.image - content).abs().mean())
    return {"weights": moved, "pixels": pixels, "frozen": "weights", "moved": "pixels",
            "images": [content[0].permute(1, 2, 0).tolist(), style[0].permute(1, 2, 0).tolist(),
                       res.image[0].clamp(0, 1).permute(1, 2, 0).tolist()]}


def judge(data):
    return all_of([threshold_rule(data[data["frozen"]], "<", 1e-12, f"largest change of the {data['frozen']}"),
                   threshold_rule(data[data["moved"]], ">", 1e-3, f"mean change of the {data['moved']}")],
                  "the network's weights do not change at all; the image does")


swap = swap_roles("frozen", "moved")


def plot(data, path):
    fig, axes = figure(3, 3.2, 3.4)
    for ax, img, title in zip(axes, data["images"], ("content", "style", "result")):
        ax.imshow(np.array(img)), ax.set_title(title, fontsize=10), ax.axis("off")
    fig.suptitle(f"pixels moved {data['pixels']:.3f} on average; weights moved {data['weights']:.1e}", fontsize=10)
    save_figure(fig, path)


register(__file__, Claim(
    id="style-transfer-frozen", deck="003", topic="style transfer",
    text="Neural style transfer: the network is pretrained and fixed; the image is what gets optimized "
         "(gradient descent on the pixels, for content and style losses)",
    measures="largest change of any network weight and mean change of the pixels after 60 stylize steps",
    why="a one-epoch convnet on colour textures is enough of a feature extractor to show what moves",
    caveat="always holds for this method; feed-forward style networks (a later method) do train weights",
    run=run, judge=judge, plot=plot, swap=swap, quick={"steps": 60}))
