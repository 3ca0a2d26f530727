"""Training techniques, each a general part any config can switch on: the speed-run ones (airbench's
line of work), weight averaging (EMA, SWA), the lr finder and the mixing augmentations.

`trainlab list techniques` prints them with their definitions and the config key that turns each
on; each links to the code that implements it (its tests check it against the definition).
"""
from __future__ import annotations

from ..data.augment import CutMix, Mixup, RandomErasing
from ..models.convnet import convnet
from ..nn.whitening import PatchWhitening
from ..optim.transforms import lookahead
from ..registry import Registry
from .ema import WeightEMA
from .lr_find import lr_find
from .precision import choose
from .swa import WeightAverage
from .tta import predict

TECHNIQUES = Registry("technique")
TECHNIQUES.register("ema", fn=WeightEMA, description=(
    "ema: 0.99 -- after each step ema = d ema + (1 - d) w; validation, best weights and test use the average"))
TECHNIQUES.register("ema_warmup", fn=WeightEMA.decay_at, description=(
    "ema_warmup: true -- the n-th EMA update uses min(d, (1 + n) / (10 + n)): a short run forgets its start"))
TECHNIQUES.register("swa", fn=WeightAverage, description=(
    "swa: {start_epoch: E, lr: L} -- from epoch E the lr is L; the weights at the end of epochs E..last are averaged "
    "with equal weights (avg += (w - avg) / n); batch-norm statistics recomputed on the training set; the last "
    "validation row, best weights and test use the average"))
TECHNIQUES.register("lr_find", fn=lr_find, description=(
    "lr: find (or `trainlab lr-find CONFIG`) -- train from the initial weights while lr grows exponentially "
    "1e-7 -> 10 over 100 steps, stop when the smoothed loss passes 4x its best; suggest steepest and valley "
    "(fastai's); lr: find trains at the valley and saves it as the lr"))
TECHNIQUES.register("mixup", fn=Mixup, description=(
    "augment: ['mixup:p=1:magnitude=0.2'] -- x = lam x_i + (1 - lam) x_j, target = lam t_i + (1 - lam) t_j, "
    "lam ~ Beta(a, a), a = magnitude; soft targets (B, K); train accuracy counts the target's weight on the "
    "prediction"))
TECHNIQUES.register("cutmix", fn=CutMix, description=(
    "augment: ['cutmix:p=0.5:magnitude=1'] -- paste a box of a partner image covering 1 - lam of the area, "
    "lam ~ Beta(a, a); target weighted by the areas"))
TECHNIQUES.register("random_erasing", fn=RandomErasing, description=(
    "augment: ['random_erasing:p=0.5:magnitude=0.4'] -- a rectangle of area s HW, s in [0.02, m], aspect in "
    "[0.3, 3.3], filled with noise; labels kept"))
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
