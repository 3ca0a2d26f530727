"""`stylize`: the optimization loop (Adam or L-BFGS on the pixels of the image), and its `Result`."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch

from ..errors import TrainlabError, check
from .features import FeatureNet, resolve_layer, default_layers
from .images import load_image, save_image, save_panel
from .losses import content_loss, gram, style_loss, tv_loss
from .network import load_style_net


@dataclass
class Result:
    image: torch.Tensor  # (1, 3, H, W) in [0, 1]
    content: torch.Tensor
    style: torch.Tensor
    content_layer: str
    style_layers: list[str]
    history: list[dict[str, float]] = field(default_factory=list)  # one row per logged step
    seconds: float = 0.0
    network: str = ""

    def save(self, path: str | Path, panel: bool = True) -> Path:
        """The result as PNG, plus `<stem>-panel.png` (content | style | result) next to it."""
        p = save_image(self.image, path)
        if panel:
            h = self.history[-1] if self.history else {}
            title = (f"{Path(self.network).name}: content {self.content_layer}, {len(self.style_layers)} style layers, "
                     f"{h.get('step', 0)} steps, {self.seconds:.0f} s")
            save_panel(self.content, self.style, self.image, panel_path(p), title=title)
        return p


def panel_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(f"{out.stem}-panel.png")


def stylize(content: str | Path | torch.Tensor, style: str | Path | torch.Tensor, *, run=None, size: int = 128,
            steps: int = 300, content_weight: float = 1.0, style_weight: float = 10.0, tv_weight: float = 5.0,
            lr: float | None = None, optimizer: str = "adam", init: str = "content", pool: str = "avg",
            padding: str = "reflect", style_scale: float = 1.0, content_layer: str | None = None,
            style_layers: Sequence[str] | None = None, seed: int = 0, quiet: bool = False,
            log_every: int | None = None) -> Result:
    """Optimize an image to carry `content`'s layout in `style`'s colours and textures.

    content/style: image paths (PNG/JPEG) or (1, 3, H, W) tensors in [0, 1]. The content is resized so
    its longer side is `size`, the style to `size * style_scale`. The network is frozen; only the pixels
    move. Returns a Result (`.image`, `.history`, `.save(path)`). Same arguments, same seed: same image.

    Example:
        >>> res = stylize("assets/content.png", "assets/style.png", steps=100, quiet=True)  # doctest: +SKIP
    """
    check(isinstance(size, int) and 16 <= size <= 2048, f"size={size!r} must be an integer in 16..2048 (pixels)")
    check(isinstance(steps, int) and steps >= 1, f"steps={steps!r} must be an integer >= 1")
    for what, v in (("content_weight", content_weight), ("style_weight", style_weight), ("tv_weight", tv_weight)):
        check(isinstance(v, (int, float)) and v >= 0, f"{what}={v!r} must be a number >= 0")
    lr = lr if lr is not None else (0.02 if optimizer == "adam" else 1.0)
    check(lr > 0, f"lr={lr!r} must be > 0")
    check(optimizer in ("adam", "lbfgs"), f"optimizer={optimizer!r} must be adam or lbfgs")
    check(init in ("content", "noise"), f"init={init!r} must be content or noise")
    check(style_scale > 0, f"style_scale={style_scale!r} must be > 0")

    c_img = load_image(content, size) if not isinstance(content, torch.Tensor) else content.float()
    s_img = load_image(style, max(16, round(size * style_scale))) if not isinstance(style, torch.Tensor) \
        else style.float()
    for what, t in (("content", c_img), ("style", s_img)):
        check(t.dim() == 4 and t.shape[:2] == (1, 3), f"{what} image tensor must be (1, 3, H, W), got {tuple(t.shape)}")

    if isinstance(run, FeatureNet):
        net, network = run, "given network"
    else:
        model, pre, r = load_style_net(run, quiet=quiet)
        net, network = FeatureNet(model, pre, pool=pool, padding=padding), str(r.path)
    shapes = net.probe(tuple(c_img.shape[-2:]))
    s_shapes = net.probe(tuple(s_img.shape[-2:]))
    c_default, s_default = default_layers(shapes)
    c_layer = resolve_layer(content_layer, shapes) if content_layer else c_default
    s_layers = [resolve_layer(n, s_shapes) for n in style_layers] if style_layers else \
        [n for n in s_default if n in dict(s_shapes)]
    check(bool(s_layers), "no style layer yields a feature map for the style image; use a larger style image")

    with torch.no_grad():
        net.set_layers([c_layer])
        c_target = net(c_img)[c_layer]
        net.set_layers(s_layers)
        s_feats = net(s_img)
        s_targets = {n: gram(s_feats[n]) for n in s_layers}
    net.set_layers(list(dict.fromkeys([c_layer] + s_layers)))

    g = torch.Generator().manual_seed(seed)
    if init == "content":
        x0 = c_img.clone(memory_format=torch.contiguous_format)  # L-BFGS needs a contiguous tensor
    else:
        x0 = torch.rand(c_img.shape, generator=g)
    x = x0.requires_grad_(True)

    def losses() -> dict[str, torch.Tensor]:
        feats = net(x)
        lc = content_loss(feats[c_layer], c_target)
        ls = torch.stack([style_loss(feats[n], s_targets[n]) for n in s_layers]).mean()
        lt = tv_loss(x)
        return {"loss": content_weight * lc + style_weight * ls + tv_weight * lt, "content": lc,
                "style": ls, "tv": lt}

    if optimizer == "adam":
        opt: Any = torch.optim.Adam([x], lr=lr)
    else:
        opt = torch.optim.LBFGS([x], lr=lr, max_iter=1, history_size=20)
    every = log_every or max(1, steps // 10)
    if not quiet:
        print(f"stylize: {c_img.shape[-1]}x{c_img.shape[-2]} image, network {network}\n"
              f"  content layer {c_layer}; style layers {', '.join(s_layers)}\n"
              f"  {optimizer}, {steps} steps, weights content {content_weight:g} style {style_weight:g} "
              f"tv {tv_weight:g}", flush=True)
    history: list[dict[str, float]] = []
    t0 = time.perf_counter()
    last: dict[str, torch.Tensor] = {}
    for step in range(1, steps + 1):
        def closure():
            nonlocal last
            opt.zero_grad(set_to_none=True)
            last = losses()
            last["loss"].backward()
            return last["loss"]

        if optimizer == "adam":
            closure()
            opt.step()
        else:
            opt.step(closure)
        with torch.no_grad():
            x.clamp_(0, 1)
        if step == 1 or step % every == 0 or step == steps:
            row = {"step": step, **{k: float(v.detach()) for k, v in last.items()}, "time": time.perf_counter() - t0}
            history.append(row)
            if not quiet:
                print(f"  step {step:>4}/{steps}  loss {row['loss']:.4f}  content {row['content']:.4f}  "
                      f"style {row['style']:.4f}  tv {row['tv']:.5f}  {row['time']:.1f}s", flush=True)
        if not torch.isfinite(last["loss"]):
            raise TrainlabError(f"the loss became {float(last['loss'])} at step {step}; lower lr (now {lr:g})")
    return Result(x.detach(), c_img, s_img, c_layer, list(s_layers), history, time.perf_counter() - t0, network)
