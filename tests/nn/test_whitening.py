"""Patch whitening against its definition: whitened patches have identity covariance; the filters
come in +/- pairs, keep the image size, are not trained, and are what a run saves."""
import torch
import torch.nn.functional as F

import trainlab
from trainlab.nn.whitening import PatchWhitening
from trainlab.runs.files import load_tensors


def correlated_images(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, 12, 12, generator=g)
    return F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, 1)  # neighbouring pixels correlate


def test_whitened_patches_have_identity_covariance():
    x = correlated_images()
    w = PatchWhitening(2, 2, eps=1e-10).fit(x)
    d = 2 * 2 * 2
    out = w(x)[:, :d, :-1, :-1]  # the valid positions: patches fully inside the image
    z = out.permute(0, 2, 3, 1).reshape(-1, d).double()
    cov = torch.cov(z.T)
    assert torch.allclose(cov, torch.eye(d, dtype=torch.float64), atol=2e-3), cov.diagonal()
    raw = F.unfold(x, 2).transpose(1, 2).reshape(-1, d)
    assert torch.cov(raw.T.double()).diagonal().min() > 0.05 and not torch.allclose(torch.cov(raw.T.double()),
                                                                                    torch.eye(d, dtype=torch.float64))


def test_filters_come_in_pairs_keep_the_size_and_are_not_trained():
    w = PatchWhitening(1, 3).fit(correlated_images()[:, :1])
    out = w(torch.randn(2, 1, 10, 10))
    assert out.shape == (2, 18, 10, 10)
    assert torch.allclose(out[:, 9:], -out[:, :9])
    assert list(w.parameters()) == [] and "weight" in w.state_dict()


def test_stride_2_whitens_non_overlapping_patches_losslessly():
    x = correlated_images()[:, :1]  # (N, 1, 12, 12)
    dense, strided = PatchWhitening(1, 2).fit(x), PatchWhitening(1, 2, stride=2).fit(x)
    out = strided(x)
    assert out.shape == (len(x), 8, 6, 6)
    torch.testing.assert_close(out, dense(x)[:, :, ::2, ::2])  # the stride-1 map at the patch corners
    # the 4 filters span every 2x2 patch: the image comes back from the whitened map (lossless)
    w = strided.weight[:4].reshape(4, 4)
    patches = torch.linalg.solve(w, out[:, :4].permute(0, 2, 3, 1).reshape(-1, 4).T).T  # (N*36, 4)
    back = F.fold(patches.reshape(len(x), 36, 4).transpose(1, 2), (12, 12), 2, stride=2)
    torch.testing.assert_close(back, x, atol=1e-4, rtol=1e-4)
    assert strided(torch.zeros(2, 1, 7, 7)).shape == (2, 8, 4, 4)  # odd sizes: ceil(7 / 2)


def test_convnet_whiten_stride_halves_once_more_and_needs_whiten():
    import pytest

    from trainlab.errors import TrainlabError
    from trainlab.models import create_model

    net = create_model("convnet", in_shape=(1, 28, 28), num_classes=10, channels=[8, 16], whiten=2, whiten_stride=2)
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert net.head.in_features == 16 * 4 * 4  # 28 -> 14 (patches) -> 7 -> 4
    with pytest.raises(TrainlabError, match="whiten_stride=2 needs whiten >= 2"):
        create_model("convnet", in_shape=(1, 28, 28), num_classes=10, whiten_stride=2)


def test_a_run_fits_it_on_the_preprocessed_training_images_and_saves_it(tmp_path):
    run = trainlab.train({"dataset": "digits", "model": "convnet", "model_options": {"whiten": 2}, "epochs": 1,
                          "threads": 1, "runs_dir": str(tmp_path)}, quiet=True, report=False)
    saved = load_tensors(run.path / "checkpoints" / "best.safetensors")["whiten.weight"]
    from trainlab.data import to_float
    from trainlab.training.saved import load_saved

    p = load_saved(run)
    by_hand = PatchWhitening(1, 2).fit(p.preprocess(to_float(p.data.train.x)))
    assert torch.allclose(saved, by_hand.weight, atol=1e-5)
    assert run.summary["test"]["acc"] > 0.5
