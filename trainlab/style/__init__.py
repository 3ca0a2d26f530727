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

Modules: losses.py (the three terms), features.py (FeatureNet, layer choice), network.py (the
default network's recipe and cache), images.py (PNG in and out), optimize.py (`stylize`).
"""
from __future__ import annotations

from .features import ACTIVATION_TYPES, FeatureNet, default_layers, resolve_layer
from .images import load_image, save_image, save_panel
from .losses import content_loss, gram, style_loss, tv_loss
from .network import STYLE_NET, default_style_run, load_style_net, style_net_dir
from .optimize import Result, panel_path, stylize

__all__ = [
    "stylize", "Result", "panel_path", "gram", "content_loss", "style_loss", "tv_loss",
    "load_image", "save_image", "save_panel", "ACTIVATION_TYPES", "FeatureNet", "default_layers", "resolve_layer",
    "STYLE_NET", "style_net_dir", "default_style_run", "load_style_net",
]
