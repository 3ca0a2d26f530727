"""Augmentation: every registered op (driven by the registry), references for each, masks, validation."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from trainlab.data.augment import (AUGMENTATIONS, Augmentation, build_augmentation, gaussian_blur,
                                   parse_op_spec, sobel_magnitude, warp)
from trainlab.errors import TrainlabError

OPS = AUGMENTATIONS.list()
GEOMETRIC = [n for n in OPS if AUGMENTATIONS.get(n).geometric]
MIXING = [n for n in OPS if AUGMENTATIONS.get(n).mixes]  # tested against their definitions in test_augment_mixing.py
PHOTOMETRIC = [n for n in OPS if not AUGMENTATIONS.get(n).geometric and n not in MIXING]


def batch(b=6, c=3, h=12, w=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, c, h, w, generator=g)
    mask = torch.randint(0, 4, (b, h, w), generator=g)
    return x, mask


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def apply(aug, x, g, mask):
    """aug(x, g, mask=mask); a pipeline that mixes (mixup, cutmix) refuses masks: it gets one-hot
    targets instead, and the mask comes back as it went in."""
    if aug.mixes:
        return aug(x, g, targets=torch.eye(len(x)))[0], mask
    return aug(x, g, mask=mask)


def test_registry_complete_and_described():
    expected = {"hflip", "vflip", "crop", "resized_crop", "translate", "rotate", "shear", "brightness", "contrast",
                "color_jitter", "noise", "blur", "sobel", "cutout", "mixup", "cutmix", "random_erasing"}
    assert set(OPS) == expected
    for e in AUGMENTATIONS.entries():
        assert len(e.description) > 30 and "\n" not in e.description


@pytest.mark.parametrize("name", OPS)
def test_shape_dtype_kept_and_seeded(name):
    x, mask = batch()
    aug = build_augmentation([f"{name}:p=1"])
    y1, m1 = apply(aug, x, gen(3), mask)
    y2, m2 = apply(aug, x, gen(3), mask)
    y3, _ = apply(aug, x, gen(4), mask)
    assert y1.shape == x.shape and y1.dtype == x.dtype and m1.shape == mask.shape and m1.dtype == torch.int64
    assert torch.equal(y1, y2) and torch.equal(m1, m2)  # same seed -> same numbers
    assert not torch.equal(y1, x)  # p=1 with the default magnitude changes something
    if name not in ("hflip", "vflip", "sobel"):  # no randomness beyond p
        assert not torch.equal(y1, y3)
    assert float(y1.min()) >= 0 and float(y1.max()) <= 1
    x64 = x.double()
    assert apply(aug, x64, gen(3), None)[0].dtype == torch.float64


@pytest.mark.parametrize("name", OPS)
def test_identity_at_zero(name):
    x, mask = batch()
    cls = AUGMENTATIONS.get(name)
    spec = f"{name}:p=1:magnitude=0" if cls.has_magnitude else f"{name}:p=0"
    y, m = apply(build_augmentation([spec]), x, gen(), mask)
    assert torch.equal(y, x) and torch.equal(m, mask)
    y, m = apply(build_augmentation([f"{name}:p=0"]), x, gen(), mask)
    assert torch.equal(y, x) and torch.equal(m, mask)


@pytest.mark.parametrize("name", PHOTOMETRIC)
def test_photometric_leaves_mask(name):
    x, mask = batch()
    _, m = build_augmentation([f"{name}:p=1"])(x, gen(), mask=mask)
    assert torch.equal(m, mask)


def test_per_sample_probability():
    x = torch.rand(400, 1, 6, 6)
    y, _ = build_augmentation(["hflip:p=0.3"])(x, gen())
    flipped = (y - x).flatten(1).abs().amax(1) > 0
    assert torch.allclose(y[flipped], x[flipped].flip(-1), atol=1e-6)
    assert torch.equal(y[~flipped], x[~flipped])
    assert abs(flipped.float().mean().item() - 0.3) < 0.07  # binomial(400, 0.3): std 0.023


def test_generator_state_advances_and_is_checkpointable():
    x, _ = batch()
    aug = build_augmentation(["rotate:p=1", "noise:p=1"])
    g = gen(7)
    state = g.get_state()
    a = aug(x, g)[0]
    b = aug(x, g)[0]
    g.set_state(state)
    assert not torch.equal(a, b) and torch.equal(aug(x, g)[0], a)


# ---------------------------------------------------------------- geometric references
def test_flips_exact_on_images_and_masks():
    x, mask = batch()
    y, m = build_augmentation(["hflip:p=1"])(x, gen(), mask=mask)
    assert torch.allclose(y, x.flip(-1), atol=1e-6) and torch.equal(m, mask.flip(-1))
    y, m = build_augmentation(["vflip:p=1"])(x, gen(), mask=mask)
    assert torch.allclose(y, x.flip(-2), atol=1e-6) and torch.equal(m, mask.flip(-2))


def shifted(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """out[y, x] = a[y + dy, x + dx], zeros outside (numpy reference for pad-and-crop)."""
    out = np.zeros_like(a)
    h, w = a.shape[-2:]
    ys, xs = slice(max(0, -dy), min(h, h - dy)), slice(max(0, -dx), min(w, w - dx))
    out[..., ys, xs] = a[..., ys.start + dy: ys.stop + dy, xs.start + dx: xs.stop + dx]
    return out


def test_crop_is_an_integer_shift_matching_the_mask():
    x, mask = batch(b=8)
    k = 3
    y, m = build_augmentation([f"crop:p=1:magnitude={k}"])(x, gen(1), mask=mask)
    seen = set()
    for i in range(len(x)):
        hits = [(dy, dx) for dy in range(-k, k + 1) for dx in range(-k, k + 1)
                if np.allclose(shifted(x[i].numpy(), dy, dx), y[i].numpy(), atol=1e-5)]
        assert len(hits) == 1, f"sample {i}: not a unique shift within +-{k}"
        dy, dx = hits[0]
        assert np.array_equal(shifted(mask[i].numpy(), dy, dx), m[i].numpy())  # same shift moved the mask
        seen.add(hits[0])
    assert len(seen) > 1


def test_warp_rot90_moves_image_and_mask_alike():
    x, mask = batch(b=2, h=9, w=9)
    # output pixel (x_c, y_c) samples input (y_c, -x_c): a 90 degree rotation
    theta = torch.tensor([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64).expand(2, 3, 3)
    y, m = warp(x, mask, theta)
    k = 1 if torch.allclose(y, torch.rot90(x, 1, (2, 3)), atol=1e-5) else -1
    assert torch.allclose(y, torch.rot90(x, k, (2, 3)), atol=1e-5)
    assert torch.equal(m, torch.rot90(mask, k, (1, 2)))


@pytest.mark.parametrize("name", GEOMETRIC)
def test_geometric_mask_follows_image(name):
    """Image = mask / 3: after any geometric op, the image rounded back agrees with the moved mask
    except on a thin band of boundary pixels where bilinear and nearest sampling differ."""
    h = w = 32
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    mask = ((yy // 8 + xx // 8) % 4).expand(4, h, w).clone()  # 8x8 blocks of classes 0..3
    x = (mask.float() / 3).unsqueeze(1)
    y, m = build_augmentation([f"{name}:p=1"])(x, gen(2), mask=mask)
    agree = (torch.round(y[:, 0] * 3).long() == m).float().mean().item()
    assert agree > 0.8, f"{name}: image and mask disagree on {1 - agree:.0%} of pixels"
    assert not torch.equal(m, mask)


def test_geometric_matrices_within_magnitude():
    g = gen(0)
    rot = AUGMENTATIONS.create("rotate", p=1, magnitude=20).matrices(g, 500, 16, 16)
    ang = torch.rad2deg(torch.atan2(rot[:, 1, 0], rot[:, 0, 0]))
    assert ang.abs().max() <= 20 and ang.abs().max() > 18 and torch.allclose(torch.det(rot), torch.ones(500).double())
    tr = AUGMENTATIONS.create("translate", p=1, magnitude=0.25).matrices(g, 500, 16, 20)
    assert tr[:, 0, 2].abs().max() <= 0.25 * 20 and tr[:, 1, 2].abs().max() <= 0.25 * 16
    sh = AUGMENTATIONS.create("shear", p=1, magnitude=10).matrices(g, 500, 16, 16)
    assert torch.allclose(torch.det(sh), torch.ones(500).double())
    assert sh[:, 0, 1].abs().max() <= math.tan(math.radians(10)) + 1e-12
    rc = AUGMENTATIONS.create("resized_crop", p=1, magnitude=0.3).matrices(g, 500, 16, 16)
    scale = 1 / rc[:, 0, 0]  # zoom factor
    assert scale.min() >= 0.7 - 1e-9 and scale.max() <= 1.3 + 1e-9
    # the sampled window stays inside the image when zooming in, the image inside the frame when zooming out
    half_window = 8 * rc[:, 0, 0]
    assert ((rc[:, 0, 2].abs() + torch.minimum(half_window, 8 * torch.ones(500))) <= 8 * torch.maximum(
        rc[:, 0, 0], torch.ones(500)) + 1e-9).all()


def test_composition_equals_sequential_for_exact_ops():
    x, mask = batch(b=8)
    both = build_augmentation(["hflip:p=0.5", "crop:p=1:magnitude=2"])
    y, m = both(x, gen(5), mask=mask)
    g = gen(5)  # the same draws, consumed one op at a time
    y1, m1 = build_augmentation(["hflip:p=0.5"])(x, g, mask=mask)
    y2, m2 = build_augmentation(["crop:p=1:magnitude=2"])(y1, g, mask=m1)
    assert torch.allclose(y, y2, atol=1e-5) and torch.equal(m, m2)


# ---------------------------------------------------------------- photometric references
def test_brightness_is_a_per_image_shift():
    x = 0.4 + 0.2 * torch.rand(50, 1, 5, 5)  # no clipping at m=0.3
    y, _ = build_augmentation(["brightness:p=1:magnitude=0.3"])(x, gen())
    d = (y - x).flatten(1)
    assert torch.allclose(d, d[:, :1].expand_as(d), atol=1e-6)
    assert d.abs().max() <= 0.3 + 1e-6 and d[:, 0].std() > 0.05


def test_contrast_keeps_the_mean():
    x = 0.4 + 0.2 * torch.rand(50, 1, 5, 5, dtype=torch.float64)
    y, _ = build_augmentation(["contrast:p=1:magnitude=0.5"])(x, gen())
    assert torch.allclose(y.mean((1, 2, 3)), x.mean((1, 2, 3)), atol=1e-6)
    ratio = (y - y.mean((1, 2, 3), keepdim=True)).flatten(1) / (x - x.mean((1, 2, 3), keepdim=True)).flatten(1)
    assert ((ratio - ratio[:, :1]).abs().max() < 1e-9) and ratio.min() >= 0.5 - 1e-4 and ratio.max() <= 1.5 + 1e-4


def test_color_jitter_rgb_only_and_gray_stays_gray():
    gray = torch.rand(4, 1, 6, 6).expand(4, 3, 6, 6).clone() * 0.5 + 0.25
    y, _ = build_augmentation(["color_jitter:p=1:magnitude=0.2"])(gray, gen())
    assert torch.allclose(y[:, 0], y[:, 1], atol=1e-6) and torch.allclose(y[:, 1], y[:, 2], atol=1e-6)
    with pytest.raises(TrainlabError, match="RGB"):
        build_augmentation(["color_jitter"])(torch.rand(2, 1, 4, 4), gen())


def test_noise_std_matches_magnitude():
    x = torch.full((64, 1, 16, 16), 0.5)
    y, _ = build_augmentation(["noise:p=1:magnitude=0.05"])(x, gen())
    d = y - x
    assert abs(d.std().item() - 0.05) < 0.002 and abs(d.mean().item()) < 0.002


def test_gaussian_blur_matches_scipy():
    x = torch.rand(3, 2, 11, 13, dtype=torch.float64)
    sigma = torch.tensor([0.7, 1.0, 2.0])
    y = gaussian_blur(x, sigma, radius=6)
    for i, s in enumerate(sigma.tolist()):
        for c in range(2):
            ref = ndimage.gaussian_filter(x[i, c].numpy(), s, mode="nearest", truncate=6 / s)
            assert np.allclose(y[i, c].numpy(), ref, atol=1e-10)


def test_sobel_matches_scipy():
    x = torch.rand(2, 3, 9, 7, dtype=torch.float64)
    e = sobel_magnitude(x)
    for i in range(2):
        for c in range(3):
            a = x[i, c].numpy()
            ref = np.hypot(ndimage.sobel(a, axis=1, mode="nearest"), ndimage.sobel(a, axis=0, mode="nearest"))
            assert np.allclose(e[i, c].numpy(), ref, atol=1e-10)


def test_cutout_erases_one_square():
    x = torch.rand(30, 2, 20, 20) * 0.9 + 0.05  # never exactly the fill value
    y, _ = build_augmentation(["cutout:p=1:magnitude=0.3:value=1"])(x, gen())
    for i in range(len(x)):
        changed = (y[i] != x[i]).any(0)
        assert changed.any() and (y[i][:, changed] == 1).all()
        assert torch.equal(changed, (y[i] != x[i]).all(0))  # all channels at once
        rows, cols = changed.any(1).nonzero(), changed.any(0).nonzero()
        assert rows.max() - rows.min() + 1 <= 6 and cols.max() - cols.min() + 1 <= 6  # side 0.3 * 20 = 6
        assert int(changed.sum()) == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)


# ---------------------------------------------------------------- specs and validation
def test_parse_op_spec():
    assert parse_op_spec("rotate:p=0.5:magnitude=15") == {"name": "rotate", "p": 0.5, "magnitude": 15.0}
    assert parse_op_spec(" blur:2 ") == {"name": "blur", "magnitude": 2.0}
    assert parse_op_spec("noise:magnitude=1e-2") == {"name": "noise", "magnitude": 0.01}  # YAML 1.2 float
    for bad in ("rotate:p=high", "rotate:p=true", "rotate:p=", "rotate:p=[1]"):
        with pytest.raises(TrainlabError, match="is not a number") as e:
            parse_op_spec(bad)
        assert "\n" not in str(e.value)
    with pytest.raises(TrainlabError, match="no op name"):
        parse_op_spec(":p=1")


@pytest.mark.parametrize("spec, match", [
    ("rotat", "did you mean 'rotate'"),
    ("rotate:p=1.5", r"p=1.5 must be a probability in \[0, 1\]"),
    ("rotate:p=-0.1", "probability"),
    ("noise:magnitude=-1", "must be >= 0"),
    ("rotate:magnitude=200", "at most 180"),
    ("hflip:magnitude=2", "has no magnitude"),
    ("crop:size=3", "no option 'size'"),
    ({"name": "rotate", "p": "x"}, "finite number"),
])
def test_build_rejects_bad_specs(spec, match):
    with pytest.raises(TrainlabError, match=match) as e:
        build_augmentation([spec])
    assert "\n" not in str(e.value)


def test_augmentation_object():
    empty = build_augmentation([])
    assert not empty and isinstance(empty, Augmentation)
    x, _ = batch()
    assert empty(x, gen())[0] is x
    aug = build_augmentation(["hflip", {"name": "noise", "magnitude": 0.1}])
    assert aug and len(aug.ops) == 2
    again = build_augmentation(aug.specs())
    assert again.specs() == aug.specs()
    with pytest.raises(TrainlabError, match="float images"):
        aug(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), gen())
    with pytest.raises(TrainlabError, match="CPU torch.Generator"):
        aug(x, None)
    with pytest.raises(TrainlabError, match="mask must be int64"):
        aug(x, gen(), mask=torch.zeros(6, 3, 3, dtype=torch.long))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_matches_cpu():
    x, mask = batch()
    aug = build_augmentation([f"{n}:p=0.7" for n in OPS if n not in ["color_jitter", *MIXING]] + ["color_jitter:p=0.7"])
    yc, mc = aug(x, gen(9), mask=mask)
    yg, mg = aug(x.cuda(), gen(9), mask=mask.cuda())
    assert yg.device.type == "cuda" and torch.allclose(yg.cpu(), yc, atol=1e-4)
    assert (mg.cpu() != mc).float().mean() < 0.01  # nearest sampling may flip a rare tie
