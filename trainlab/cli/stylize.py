"""Neural style transfer (lecture deck 003): repaint a content image in the style of another.

The network is frozen and the image is optimized: content loss on a deep layer's features,
Gram-matrix style losses on several layers, total-variation smoothing. Without --run, a small
VGG trained on the synthetic `textures` set is trained once (about 2 minutes) and cached.

  trainlab stylize --content assets/content.png --style assets/style.png --out out.png
  trainlab stylize --content photo.jpg --style painting.jpg --run runs/my-vgg --size 160 --steps 400

Writes OUT.png and OUT-panel.png (content | style | result).
"""
from __future__ import annotations

import torch

from ..style import panel_path, stylize


def add_arguments(p) -> None:
    p.add_argument("--content", required=True, metavar="IMG", help="content image (PNG/JPEG)")
    p.add_argument("--style", required=True, metavar="IMG", help="style image (PNG/JPEG)")
    p.add_argument("--out", required=True, metavar="OUT.png", help="result image; OUT-panel.png is written beside it")
    p.add_argument("--run", help="a trainlab run of a conv net to use as the frozen network "
                                 "(default: the cached textures VGG, trained on first use)")
    p.add_argument("--size", type=int, default=128, help="longer side of the result in pixels (default 128)")
    p.add_argument("--style-scale", type=float, default=1.0,
                   help="style image size relative to --size (larger: bigger strokes; default 1)")
    p.add_argument("--steps", type=int, default=300, help="optimizer steps (default 300)")
    p.add_argument("--content-weight", type=float, default=1.0, help="weight of the relative content error (default 1)")
    p.add_argument("--style-weight", type=float, default=10.0, help="weight of the relative Gram error (default 10)")
    p.add_argument("--tv-weight", type=float, default=5.0, help="weight of total-variation smoothing (default 5)")
    p.add_argument("--optimizer", choices=("adam", "lbfgs"), default="adam", help="pixel optimizer (default adam)")
    p.add_argument("--lr", type=float, help="step size (default 0.02 for adam, 1 for lbfgs)")
    p.add_argument("--init", choices=("content", "noise"), default="content", help="starting image (default content)")
    p.add_argument("--pool", choices=("avg", "max"), default="avg",
                   help="pooling in the frozen net: avg (Gatys et al., smoother) or the net's own max")
    p.add_argument("--padding", choices=("reflect", "zeros"), default="reflect",
                   help="conv padding in the frozen net: reflect (no dark frame) or the net's own zeros")
    p.add_argument("--content-layer", metavar="NAME", help="feature layer for the content loss (default: as Gatys)")
    p.add_argument("--style-layers", nargs="+", metavar="NAME", help="feature layers for the style loss")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise init")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1: a 128 px image makes small tensors, and on a busy 2-core machine "
                        "one thread measured 2-10x faster than two; 0 = torch's default)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def run(args) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    res = stylize(args.content, args.style, run=args.run, size=args.size, steps=args.steps,
                  content_weight=args.content_weight, style_weight=args.style_weight, tv_weight=args.tv_weight,
                  lr=args.lr, optimizer=args.optimizer, init=args.init, pool=args.pool, padding=args.padding,
                  style_scale=args.style_scale,
                  content_layer=args.content_layer, style_layers=args.style_layers, seed=args.seed, quiet=args.quiet)
    out = res.save(args.out)
    if not args.quiet:
        print(f"result: {out}  ({res.seconds:.1f} s)\npanel:  {panel_path(out)}")
    return 0
