"""The speed-run techniques (airbench's line of work), each a general part any config can switch on.

`trainlab list techniques` prints them with their definitions and the config key that turns each
on; each links to the code that implements it (its tests check it against the definition).
"""
from __future__ import annotations

from ..models.convnet import convnet
from ..nn.whitening import PatchWhitening
from ..optim.transforms import lookahead
from ..registry import Registry
from .ema import WeightEMA
from .precision import choose
from .tta import predict

TECHNIQUES = Registry("technique")
TECHNIQUES.register("ema", fn=WeightEMA, description=(
    "ema: 0.99 -- after each step ema = d ema + (1 - d) w; validation, best weights and test use the average"))
TECHNIQUES.register("ema_warmup", fn=WeightEMA.decay_at, description=(
    "ema_warmup: true -- the n-th EMA update uses min(d, (1 + n) / (10 + n)): a short run forgets its start"))
TECHNIQUES.register("lookahead", fn=lookahead, description=(
    "optimizer: [..., {lookahead: {k: 5, alpha: 0.5}}] -- every k steps slow += alpha (fast - slow), fast = slow"))
TECHNIQUES.register("whiten", fn=PatchWhitening, description=(
    "model_options: {whiten: 2} (convnet) -- fixed first layer: the +-eigenvectors of the training images' "
    "k x k patch covariance, scaled by 1/sqrt(eigenvalue + eps); whiten_stride: 2 takes non-overlapping patches"))
TECHNIQUES.register("pool_first", fn=convnet, description=(
    "model_options: {pool_first: true} (convnet) -- conv -> pool -> norm -> act: norm and act on 1/4 of the pixels"))
TECHNIQUES.register("tta", fn=predict, description=(
    "tta: [hflip, shift] -- score the mean softmax over the image and its views (`trainlab list tta`)"))
TECHNIQUES.register("precision_auto", fn=choose, description=(
    "precision: auto -- time fp32 and bf16 training steps of this model and batch on this machine, train with "
    "the faster (AVX-512 bf16 CPUs: bf16; AVX2-only: fp32)"))

__all__ = ["TECHNIQUES"]
