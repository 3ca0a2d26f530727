"""Neural style transfer (Gatys, Ecker & Bethge 2016; lecture deck 003).

The network is frozen; the IMAGE is optimized (Adam or L-BFGS on its pixels) so that

    loss = content_weight * L_content + style_weight * L_style + tv_weight * L_tv

  L_content = |F_c(x) - F_c(content)|^2 / |F_c(content)|^2     features of one deep layer
  L_style   = mean over style layers l of |G_l(x) - G_l(style)|^2 / |G_l(style)|^2
  G_l(x)    = F F^T / (H W)      F = layer l's activations reshaped (C, H*W): channel co-occurrence
  L_tv      = mean squared difference of neighbouring pixels (smoothness, image in [0, 1])

Both feature terms are RELATIVE errors (divided by the target's own size), so the weights
mean the same for any network, layer width or image size: 1 is "as important as the
content". High-level features keep the content's layout; Gram matrices of low and mid-level
features carry the style's colours and textures, wherever they sit in the image.

The network: no pretrained weights exist here, so by default a small VGG (vgg11, width x0.25)
is trained once on the synthetic `textures` set (recipe STYLE_NET, also in
configs/stylize-vgg-textures.yaml) and cached under the user cache folder. `run=` takes any
trainlab run of a conv net instead; its preprocessing is applied, a gray (1-channel) net sees
each colour channel as its own gray image, max pooling is swapped for average pooling
(Gatys: smoother gradients; with max pooling the style barely transfers here) and zero padding
for mirrored borders (zero padding paints a dark frame around the result).

Layers (defaults, as in Gatys et al.): the activation outputs are grouped by resolution;
style = the first activation at each of up to 5 resolutions (conv1_1 ... conv5_1), content =
the last activation at the 4th resolution (conv4_2). `feature_layers` lists the choices.

    >>> from trainlab.style import stylize
    >>> res = stylize("assets/content.png", "assets/style.png", steps=200)   # doctest: +SKIP
    >>> res.save("out.png")                                                 # doctest: +SKIP
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from . import runs as rf
from .data import textures as _textures  # noqa: F401  (registers the "textures" dataset)
from .errors import TrainlabError, check

# The default style network: the same recipe as configs/stylize-vgg-textures.yaml (a test checks).
STYLE_NET: dict[str, Any] = {
    "dataset": "textures",
    "model": "vgg11",
    "model_options": {"width": 0.25, "hidden": 128},
    "dropout": 0.0,
    "preprocessing": "standardize_channel",
    "augment": ["hflip"],
    "optimizer": "adam",
    "lr": 0.003,
    "schedule": "onecycle",
    "epochs": 8,
    "batch_size": 64,
    "seed": 0,
}
ACTIVATION_TYPES = (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid)


# ============================================================== the losses
def gram(f: torch.Tensor) -> torch.Tensor:
    """Gram matrix per image: (B, C, H, W) -> (B, C, C), G_ij = sum_p F_ip F_jp / (H W).

    Example:
        >>> gram(torch.ones(1, 2, 3, 3))
        tensor([[[1., 1.],
                 [1., 1.]]])
    """
    b, c, h, w = f.shape
    flat = f.reshape(b, c, h * w)  # (B, C, P)
    return torch.bmm(flat, flat.transpose(1, 2)) / (h * w)  # (B, C, C)


def content_loss(f: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """|f - target|^2 / |target|^2: relative squared error of a layer's activations."""
    return (f - target).pow(2).sum() / target.pow(2).sum().clamp_min(1e-12)


def style_loss(f: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """|G(f) - G_target|^2 / |G_target|^2: relative squared error of the Gram matrices."""
    return (gram(f) - target_gram).pow(2).sum() / target_gram.pow(2).sum().clamp_min(1e-12)


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    """Total variation: mean squared vertical + mean squared horizontal neighbour difference, x (B, C, H, W)."""
    return (x[:, :, 1:, :] - x[:, :, :-1, :]).pow(2).mean() + (x[:, :, :, 1:] - x[:, :, :, :-1]).pow(2).mean()


# ============================================================== images
def load_image(path: str | Path, size: int | None = None) -> torch.Tensor:
    """A PNG/JPEG (any mode) as RGB float (1, 3, H, W) in [0, 1], resized so its longer side is `size`."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise TrainlabError(f"image {str(p)!r} not found; pass a PNG or JPEG file")
    try:
        with Image.open(p) as im:
            im.load()
            img = im.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise TrainlabError(f"image {str(p)!r} is not a readable image ({type(e).__name__}); "
                            "pass a PNG or JPEG file") from None
    if size is not None:
        w, h = img.size
        s = size / max(w, h)
        img = img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.LANCZOS)
    import numpy as np

    a = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy())  # (H, W, 3)
    return a.permute(2, 0, 1)[None].float().div(255.0).contiguous()  # (1, 3, H, W)


def save_image(x: torch.Tensor, path: str | Path) -> Path:
    """(1, 3, H, W) or (3, H, W) in [0, 1] -> PNG (atomic write)."""
    import io

    from PIL import Image

    x = x.detach().cpu().reshape(-1, *x.shape[-2:]) if x.dim() == 4 else x.detach().cpu()
    a = (x.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG", optimize=True)
    rf.write_bytes(Path(path), buf.getvalue())
    return Path(path)


def save_panel(content: torch.Tensor, style: torch.Tensor, result: torch.Tensor, path: str | Path,
               title: str = "") -> Path:
    """Side-by-side figure: content | style | result."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(9.6, 3.6), dpi=100)
    for ax, img, name in zip(axes, (content, style, result), ("content", "style", "result")):
        ax.imshow(img.detach().cpu()[0].clamp(0, 1).permute(1, 2, 0).numpy(), interpolation="lanczos")
        ax.set_title(name)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    rf.write_bytes(Path(path), buf.getvalue())
    return Path(path)


# ============================================================== the frozen feature network
def _is_activation(name: str, m: nn.Module) -> bool:
    from .nn.activations import Maxout

    return isinstance(m, ACTIVATION_TYPES + (Maxout,)) or name.rsplit(".", 1)[-1] == "act"


class FeatureNet(nn.Module):
    """A frozen copy of a trained net that returns the activations of chosen layers.

    Runs the model's top-level children in order (the zoo's convention), through the one that
    holds the deepest requested layer, and stops there: the classifier never runs, so any image
    size works. `preprocess` (the run's fitted preprocessing) is applied first; a net with one
    input channel gets each RGB channel as a gray image ((B, 3, H, W) -> (3B, 1, H, W)).
    """

    def __init__(self, model: nn.Module, preprocess=None, layers: Sequence[str] = (), pool: str = "avg",
                 padding: str = "reflect"):
        super().__init__()
        check(pool in ("avg", "max"), f"pool={pool!r} must be avg or max")
        check(padding in ("reflect", "zeros"), f"padding={padding!r} must be reflect or zeros")
        model = copy.deepcopy(model).eval()
        for p in model.parameters():
            p.requires_grad_(False)
        if pool == "avg":  # Gatys et al.: average pooling gives smoother gradients to the image
            _swap_pools(model)
        if padding == "reflect":  # zero padding paints a dark frame around the result; mirrored borders do not
            for m in model.modules():
                if isinstance(m, nn.Conv2d) and isinstance(m.padding, tuple) and any(p > 0 for p in m.padding):
                    m.padding_mode = "reflect"
        self.model, self.preprocess = model, preprocess
        convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
        check(bool(convs), f"model {type(model).__name__} has no conv layer; style transfer needs a conv net")
        self.in_channels = convs[0].in_channels
        check(self.in_channels in (1, 3), f"the style network takes {self.in_channels}-channel images; "
                                          "use a net trained on gray (1) or RGB (3) images")
        self.names = [n for n, _ in model.named_children()]
        self._out: dict[str, torch.Tensor] = {}
        self._hooks: list = []
        self._stop = len(self.names)
        self.set_layers(layers)

    def set_layers(self, layers: Sequence[str]) -> None:
        """Collect these (dotted) module names; the forward stops after the deepest one's top-level child."""
        for h in self._hooks:
            h.remove()
        modules = dict(self.model.named_modules())
        self._hooks = []
        for name in layers:
            if name not in modules:
                raise TrainlabError(f"layer {name!r} is not in the style network; choose from: "
                                    f"{', '.join(n for n, _ in self.candidates())}")
            self._hooks.append(modules[name].register_forward_hook(self._hook(name)))
        self.layers = list(layers)
        tops = [self.names.index(n.split(".")[0]) for n in layers]
        self._stop = max(tops) + 1 if tops else len(self.names)

    def _hook(self, name: str):
        def hook(module, inputs, output):
            self._out[name] = output
        return hook

    def candidates(self) -> list[tuple[str, nn.Module]]:
        return [(n, m) for n, m in self.model.named_modules() if n and _is_activation(n, m)]

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        # x: (B, 3, H, W) RGB in [0, 1]
        if self.in_channels == 1:
            x = x.reshape(-1, 1, *x.shape[-2:])  # (3B, 1, H, W): each colour channel as a gray image
        if self.preprocess is not None:
            x = self.preprocess(x)
        self._out = {}
        for name in self.names[: self._stop]:
            x = getattr(self.model, name)(x)
        out, self._out = self._out, {}
        return out

    @torch.no_grad()
    def probe(self, size: tuple[int, int]) -> list[tuple[str, tuple[int, int, int]]]:
        """(name, (C, H, W)) of every activation layer that yields a feature map for an image of `size`,
        in forward order, running the children until the output stops being (B, C, H, W)."""
        shapes: dict[str, tuple] = {}

        def record(name):
            def hook(module, inputs, output):  # returns None: the output is left alone
                shapes.setdefault(name, tuple(output.shape[1:]))
            return hook

        hooks = [m.register_forward_hook(record(n)) for n, m in self.candidates()]
        x = torch.rand(1, 3, *size)
        if self.in_channels == 1:
            x = x[:, :1]
        try:
            if self.preprocess is not None:
                x = self.preprocess(x)
            for name in self.names:
                try:
                    x = getattr(self.model, name)(x)
                except (RuntimeError, ValueError):
                    break  # e.g. a classifier built for another input size: features end here
                if x.dim() != 4:
                    break
        except (RuntimeError, ValueError) as e:
            raise TrainlabError(f"the style network cannot take a {size[0]}x{size[1]} image "
                                f"({str(e).splitlines()[0][:100]}); use another --size or network") from None
        finally:
            for h in hooks:
                h.remove()
        return [(n, s) for n, s in shapes.items() if len(s) == 3]


def _swap_pools(model: nn.Module) -> None:
    for name, m in list(model.named_children()):
        if isinstance(m, nn.MaxPool2d):
            setattr(model, name, nn.AvgPool2d(m.kernel_size, m.stride, m.padding, ceil_mode=m.ceil_mode,
                                              count_include_pad=False))
        else:
            _swap_pools(m)


def default_layers(shapes: list[tuple[str, tuple[int, int, int]]]) -> tuple[str, list[str]]:
    """(content layer, style layers) from probed (name, (C, H, W)): Gatys et al.'s conv4_2 and conv1_1..conv5_1.

    Levels are the distinct resolutions in forward order; style = the first activation of each of the
    first 5 levels, content = the last activation of level 4 (or of the deepest level when fewer).
    """
    check(bool(shapes), "the style network yields no feature maps; use a conv net")
    levels: list[list[str]] = []
    last = None
    for name, (_, h, w) in shapes:
        if (h, w) != last:
            levels.append([])
            last = (h, w)
        levels[-1].append(name)
    style = [lv[0] for lv in levels[:5]]
    content = levels[min(3, len(levels) - 1)][-1]
    return content, style


def _resolve(name: str, shapes: list[tuple[str, tuple]]) -> str:
    """A layer name, or a module that contains layers (e.g. 'block3' -> its last activation)."""
    names = [n for n, _ in shapes]
    if name in names:
        return name
    inside = [n for n in names if n.startswith(name + ".")]
    if inside:
        return inside[-1]
    raise TrainlabError(f"layer {name!r} is not a feature layer of the style network; choose from: {', '.join(names)}")


# ============================================================== the style network
def style_net_dir() -> Path:
    """Where the default style network is cached: <user cache>/trainlab/style-net/<recipe hash>."""
    from .data.download import cache_dir

    key = hashlib.sha256(json.dumps(STYLE_NET, sort_keys=True).encode()).hexdigest()[:10]
    return cache_dir() / "style-net" / f"vgg11-textures-{key}"


def _finished(path: Path) -> bool:
    s = path / "summary.json"
    try:
        return (path / "checkpoints" / "best.safetensors").is_file() and \
            json.loads(s.read_text()).get("status") in ("finished", "early_stopped")
    except (OSError, ValueError):
        return False


def default_style_run(quiet: bool = False) -> rf.Run:
    """The cached default style network; trained (2-3 minutes on 2 cores) on first use."""
    from .trainer import train

    final = style_net_dir()
    if _finished(final):
        return rf.load_run(final)
    if not quiet:
        print(f"no --run given: training the default style network once (vgg11 x0.25 on the synthetic textures "
              f"set, {STYLE_NET['epochs']} epochs, 2-3 minutes on 2 cores); cached in {final}", flush=True)
    final.parent.mkdir(parents=True, exist_ok=True)
    run = train({**STYLE_NET, "runs_dir": str(final.parent), "name": f".tmp-{final.name}-{os.getpid()}"},
                quiet=quiet)
    if run.summary.get("status") not in ("finished", "early_stopped"):
        raise TrainlabError(f"training the default style network failed ({run.summary.get('status')}); "
                            f"see {run.path}, or pass --run with your own conv-net run")
    try:
        os.replace(run.path, final)  # atomic; a concurrent first use may have won the race
    except OSError:
        shutil.rmtree(run.path, ignore_errors=True)
        if not _finished(final):
            raise TrainlabError(f"cannot cache the style network in {str(final)!r}; check that folder") from None
    if not quiet:
        print(f"style network cached: {final}", flush=True)
    return rf.load_run(final)


def load_style_net(run: str | Path | rf.Run | None = None, quiet: bool = False):
    """(model in eval mode, fitted preprocessing, Run) of `run`, or of the default style network.

    Read-only use of someone's run: config keys this version no longer knows are ignored.
    """
    from .trainer import load_saved

    r = default_style_run(quiet) if run is None else (run if isinstance(run, rf.Run) else rf.load_run(run))
    p = load_saved(r)
    return p.model, p.preprocess, r


# ============================================================== stylize
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
    c_layer = _resolve(content_layer, shapes) if content_layer else c_default
    s_layers = [_resolve(n, s_shapes) for n in style_layers] if style_layers else \
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
