"""Preprocessing: statistics against numpy, fitted on train only, state round trip, bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from scipy import ndimage

from trainlab.data.preprocess import PREPROCESSING, create_preprocessing
from trainlab.errors import TrainlabError

rng = np.random.default_rng(0)
TRAIN = rng.uniform(0, 1, (200, 3, 6, 5)) ** 2  # skewed, channel-independent values
TRAIN[:, 1] *= 0.5
OTHER = rng.uniform(0, 1, (7, 3, 6, 5))  # a different batch (val/test)
TAB = rng.normal(3.0, [1.0, 5.0, 0.1, 2.0], (300, 4))


def t(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float32))


def close(a, b, tol=1e-4):
    return np.allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), atol=tol, rtol=tol)


@pytest.mark.parametrize("name", PREPROCESSING.list())
def test_every_entry_keeps_shape_dtype_and_round_trips(name, tmp_path):
    x = t(TRAIN)
    pre = create_preprocessing(name).fit(x)
    y = pre(t(OTHER))
    assert y.shape == OTHER.shape and y.dtype == torch.float32 and torch.isfinite(y).all()
    state = pre.state_dict()
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    save_file(state, tmp_path / "pre.safetensors")
    fresh = create_preprocessing(name)
    fresh.load_state_dict(load_file(tmp_path / "pre.safetensors"))
    assert torch.equal(fresh(t(OTHER)), y)
    assert PREPROCESSING.entries()[PREPROCESSING.list().index(name)].description


def test_none_is_identity():
    x = t(OTHER)
    assert torch.equal(create_preprocessing("none").fit(x)(x), x)


def test_standardize_global_uses_train_only():
    pre = create_preprocessing("standardize").fit(t(TRAIN))
    mean, std = TRAIN.astype(np.float32).mean(), TRAIN.astype(np.float32).std()
    assert close(pre(t(OTHER)), (OTHER - mean) / std)
    z = pre(t(TRAIN))
    assert close(z.mean(), 0, 1e-5) and close(z.std(unbiased=False), 1, 1e-5)


def test_standardize_channel_images_and_tables():
    pre = create_preprocessing("standardize_channel").fit(t(TRAIN))
    m = TRAIN.mean(axis=(0, 2, 3)).reshape(1, 3, 1, 1)
    s = TRAIN.std(axis=(0, 2, 3)).reshape(1, 3, 1, 1)
    assert close(pre(t(OTHER)), (OTHER - m) / s)
    tab = create_preprocessing("standardize_channel").fit(t(TAB))
    assert close(tab(t(TAB[:5])), (TAB[:5] - TAB.mean(0)) / TAB.std(0), 1e-3)


def test_minmax_per_channel_from_train():
    pre = create_preprocessing("minmax").fit(t(TRAIN))
    lo = TRAIN.min(axis=(0, 2, 3)).reshape(1, 3, 1, 1)
    hi = TRAIN.max(axis=(0, 2, 3)).reshape(1, 3, 1, 1)
    assert close(pre(t(OTHER)), (OTHER - lo) / (hi - lo))
    z = pre(t(TRAIN))
    assert close(z.amin(dim=(0, 2, 3)), [0, 0, 0]) and close(z.amax(dim=(0, 2, 3)), [1, 1, 1])
    const = torch.full((10, 2), 0.5)  # a constant feature is shifted, not divided by zero
    assert torch.equal(create_preprocessing("minmax").fit(const)(const), torch.zeros(10, 2))


def test_gcn_per_sample_formula():
    y = create_preprocessing("gcn", scale=2.0, lam=0.01).fit(t(TRAIN))(t(OTHER))
    flat = OTHER.reshape(len(OTHER), -1)
    c = flat - flat.mean(1, keepdims=True)
    ref = 2.0 * c / np.sqrt(0.01 + (c**2).mean(1, keepdims=True))
    assert close(y.reshape(len(OTHER), -1), ref)
    tab = create_preprocessing("gcn")(t(TAB[:3]))  # nothing to fit: per-sample statistics
    c = TAB[:3] - TAB[:3].mean(1, keepdims=True)
    assert close(tab, c / np.sqrt((c**2).mean(1, keepdims=True)), 1e-3)


def test_lcn_against_scipy_gaussian():
    x = rng.uniform(0, 1, (2, 3, 12, 14))
    y = create_preprocessing("lcn", size=9, sigma=2.0)(torch.from_numpy(x))

    def local(a):  # gaussian-weighted mean over 9x9 (radius 4) and channels, edges replicated
        return ndimage.gaussian_filter(a.mean(0), 2.0, mode="nearest", truncate=2.0)

    for i in range(2):
        v = x[i] - local(x[i])
        sigma = np.sqrt(local(v**2))
        ref = v / np.maximum(sigma, sigma.mean())
        assert close(y[i].numpy(), ref, 1e-10)


def test_zca_whitens_the_train_covariance():
    x = rng.normal(0, 1, (2000, 6)) @ rng.normal(0, 1, (6, 6))  # correlated features
    pre = create_preprocessing("zca", eps=1e-6).fit(t(x))
    z = pre(t(x)).double().numpy()
    assert close(np.cov(z, rowvar=False, bias=True), np.eye(6), 1e-3)
    # reference W from numpy: U diag(1 / sqrt(l + eps)) U^T, symmetric
    lam, u = np.linalg.eigh(np.cov(x, rowvar=False, bias=True))
    w = u @ np.diag(1 / np.sqrt(lam + 1e-6)) @ u.T
    assert close(pre.state_dict()["whiten"], w, 1e-3)
    img = create_preprocessing("zca").fit(t(TRAIN))
    assert img(t(OTHER)).shape == OTHER.shape


def test_fit_uses_only_what_it_is_given():
    a = create_preprocessing("standardize_channel").fit(t(TRAIN))
    b = create_preprocessing("standardize_channel").fit(t(np.concatenate([TRAIN, OTHER + 5])))
    assert not torch.equal(a(t(OTHER)), b(t(OTHER)))
    before = a.state_dict()
    a(t(OTHER + 5))  # applying never refits
    assert all(torch.equal(before[k], a.state_dict()[k]) for k in before)


def test_bad_input():
    with pytest.raises(TrainlabError, match="did you mean 'standardize'"):
        create_preprocessing("standardise")
    with pytest.raises(TrainlabError, match="float batch"):
        create_preprocessing("standardize").fit(torch.zeros(4, 1, 2, 2, dtype=torch.uint8))
    with pytest.raises(TrainlabError, match="not fitted"):
        create_preprocessing("zca")(t(OTHER))
    with pytest.raises(TrainlabError, match="needs images"):
        create_preprocessing("lcn").fit(t(TAB))
    with pytest.raises(TrainlabError, match="does not take"):
        create_preprocessing("standardize", eps=3)
    with pytest.raises(TrainlabError, match="lacks"):
        create_preprocessing("zca").load_state_dict({"mean": torch.zeros(3)})
    with pytest.raises(TrainlabError, match="odd"):
        create_preprocessing("lcn", size=4)
