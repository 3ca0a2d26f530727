"""Mixing augmentations against their definitions: mixup (Zhang et al. 2018) and CutMix (Yun et al.
2019, its reference code's rand_bbox) written out here sample by sample from the same random
streams, the Beta(alpha, alpha) weights against scipy, random erasing's rectangle (Zhong et al.
2017), and the refusals."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from trainlab.data.augment import build_augmentation
from trainlab.data.augment.mixing import beta
from trainlab.errors import TrainlabError


def images(b=12, c=2, h=10, w=14, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, c, h, w, generator=g, dtype=torch.float64)


def draws(seed, b, p, alpha):
    """The streams a mixing op reads, in its order: who is chosen, the partners, lam ~ Beta(alpha, alpha)."""
    g = torch.Generator().manual_seed(seed)
    on = torch.rand(b, generator=g) < p
    partner = torch.randperm(b, generator=g)
    lam = np.random.default_rng(int(torch.randint(0, 2**62, (), generator=g))).beta(alpha, alpha, b)
    return g, on, partner, lam


@pytest.mark.parametrize("p", [1.0, 0.5])
def test_mixup_is_its_definition_sample_by_sample(p):
    x, t = images(), torch.eye(12, dtype=torch.float64)[torch.arange(12) % 5]  # (B, K=12) one-hot, classes repeat
    out, soft = build_augmentation([f"mixup:p={p}:magnitude=0.4"])(x, torch.Generator().manual_seed(3), targets=t)
    _, on, partner, lam = draws(3, 12, p, 0.4)
    for i in range(12):
        j, w = int(partner[i]), float(lam[i]) if on[i] else 1.0
        torch.testing.assert_close(out[i], w * x[i] + (1 - w) * x[j], rtol=0, atol=1e-12)
        torch.testing.assert_close(soft[i], w * t[i] + (1 - w) * t[j], rtol=0, atol=1e-12)
        if not on[i]:
            assert torch.equal(out[i], x[i]) and torch.equal(soft[i], t[i])  # unchosen: exactly as it was
    assert 0 < int(on.sum()) < 12 or p == 1.0


def test_cutmix_is_rand_bbox_sample_by_sample():
    b, h, w = 12, 10, 14
    x, t = images(b, h=h, w=w), torch.eye(b, dtype=torch.float64)
    out, soft = build_augmentation(["cutmix:p=0.7:magnitude=1"])(x, torch.Generator().manual_seed(5), targets=t)
    g, on, partner, lam = draws(5, b, 0.7, 1.0)
    cy, cx = torch.randint(0, h, (b,), generator=g), torch.randint(0, w, (b,), generator=g)
    mixed = 0
    for i in range(b):
        want, j = x[i].clone(), int(partner[i])
        cut_h, cut_w = int(h * math.sqrt(1 - lam[i])), int(w * math.sqrt(1 - lam[i]))  # CutMix's rand_bbox
        y1, y2 = np.clip(int(cy[i]) - cut_h // 2, 0, h), np.clip(int(cy[i]) + cut_h // 2, 0, h)
        x1, x2 = np.clip(int(cx[i]) - cut_w // 2, 0, w), np.clip(int(cx[i]) + cut_w // 2, 0, w)
        kept = 1.0
        if on[i]:
            want[:, y1:y2, x1:x2] = x[j, :, y1:y2, x1:x2]
            kept = 1 - (y2 - y1) * (x2 - x1) / (h * w)  # lam adjusted to the pasted area
            mixed += kept < 1 and j != i
        assert torch.equal(out[i], want)
        torch.testing.assert_close(soft[i], kept * t[i] + (1 - kept) * t[j], rtol=0, atol=1e-12)
    assert mixed >= 3


@pytest.mark.parametrize("alpha", [0.2, 1.0, 4.0])
def test_weights_follow_beta_alpha_alpha(alpha):
    lam = beta(torch.Generator().manual_seed(0), alpha, 4000).numpy()
    assert stats.kstest(lam, stats.beta(alpha, alpha).cdf).pvalue > 1e-3
    assert stats.kstest(lam, stats.beta(alpha * 2, alpha).cdf).pvalue < 1e-6  # the test can tell another law
    assert torch.equal(beta(torch.Generator().manual_seed(0), 0.0, 5), torch.ones(5, dtype=torch.float64))


def test_mixup_weights_seen_in_the_targets_follow_beta():
    b = 3000
    t = torch.eye(b)
    _, soft = build_augmentation(["mixup:p=1:magnitude=0.5"])(torch.zeros(b, 1, 2, 2), torch.Generator(), targets=t)
    own = soft.diagonal()  # lam of each sample (its own class's weight; a self-partner keeps 1)
    assert stats.kstest(own[own < 1].double().numpy(), stats.beta(0.5, 0.5).cdf).pvalue > 1e-3


def test_mixing_ops_compose_into_class_probabilities():
    x, t = images(), torch.eye(12, dtype=torch.float64)
    aug = build_augmentation(["mixup:p=1:magnitude=1", "cutmix:p=1", "random_erasing:p=0.5", "hflip"])
    out, soft = aug(x, torch.Generator().manual_seed(1), targets=t)
    assert out.shape == x.shape and soft.shape == t.shape
    torch.testing.assert_close(soft.sum(1), torch.ones(12, dtype=torch.float64))
    assert (soft >= 0).all() and ((soft > 0).sum(1) >= 3).any()  # mixup then cutmix: three or four labels
    again = aug(x, torch.Generator().manual_seed(1), targets=t)
    assert torch.equal(again[0], out) and torch.equal(again[1], soft)


def test_random_erasing_erases_one_rectangle_inside_the_image():
    x = torch.rand(60, 2, 20, 24) * 0.8 + 0.1
    y, _ = build_augmentation(["random_erasing:p=1:magnitude=0.3:value=1"])(x, torch.Generator().manual_seed(0))
    for i in range(len(x)):
        changed = (y[i] != x[i]).any(0)
        rows, cols = changed.any(1).nonzero(), changed.any(0).nonzero()
        eh, ew = int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)
        assert int(changed.sum()) == eh * ew and (y[i][:, changed] == 1).all()  # a filled rectangle
        assert 0.02 * 480 - 1.5 * (eh + ew) <= eh * ew <= 0.3 * 480 + 1.5 * (eh + ew)  # area in [0.02, m] HW, rounded
        assert ew == 24 or eh == 20 or 0.3 * 0.8 <= eh / ew <= 1 / 0.3 / 0.8  # aspect in [0.3, 1/0.3], rounded
    noisy, _ = build_augmentation(["random_erasing:p=1"])(x, torch.Generator().manual_seed(0))
    erased = noisy != x
    assert erased.any() and noisy[erased].min() >= 0 and noisy[erased].max() <= 1
    assert noisy[erased].std() > 0.2  # uniform noise (std 0.29), not a constant
    with pytest.raises(TrainlabError, match=r"value=2 must be an intensity in \[0, 1\], or -1"):
        build_augmentation(["random_erasing:value=2"])


def test_mixing_needs_targets_and_refuses_masks_in_one_line():
    x = images(4)
    aug = build_augmentation(["cutmix"])
    for kw, words in [({}, "mixes labels too: pass targets"),
                      ({"targets": torch.zeros(4, dtype=torch.long)}, "mixes labels too"),
                      ({"mask": torch.zeros(4, 10, 14, dtype=torch.long)}, "segmentation masks cannot be mixed")]:
        with pytest.raises(TrainlabError, match=words) as e:
            aug(x, torch.Generator(), **kw)
        assert "\n" not in str(e.value)
    plain = build_augmentation(["hflip"])
    t = torch.eye(4)
    assert plain(x, torch.Generator(), targets=t)[1] is t  # ops that do not mix hand the targets back


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_matches_cpu():
    x, t = images(), torch.eye(12, dtype=torch.float64)
    aug = build_augmentation(["mixup:p=0.7:magnitude=0.4", "cutmix:p=0.7", "random_erasing:p=0.7"])
    xc, tc = aug(x, torch.Generator().manual_seed(9), targets=t)
    xg, tg = aug(x.cuda(), torch.Generator().manual_seed(9), targets=t.cuda())
    assert xg.device.type == tg.device.type == "cuda"
    torch.testing.assert_close(xg.cpu(), xc)
    torch.testing.assert_close(tg.cpu(), tc)
