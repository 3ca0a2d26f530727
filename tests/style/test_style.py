"""Neural style transfer: losses against explicit formulas, the frozen feature network, the
optimization (losses fall, same seed same image, network untouched), images, the textures
set, the cached default network, and one-line errors for bad input."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

import trainlab
from trainlab.cli import main
from trainlab.errors import TrainlabError
from trainlab.models import create_model

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def st():
    """trainlab.style, imported when a test runs, not at collection: importing it registers the `textures`
    dataset, which other test files' registry checks must not see until datasets.py registers it itself."""
    import importlib

    return importlib.import_module("trainlab.style")


def _vgg(width: float = 0.125, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return create_model("vgg11", in_shape=(3, 32, 32), num_classes=8, width=width, hidden=16).eval()


def _images(size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    content = torch.stack([(xx < size // 2).float(), (yy < size // 2).float(), torch.full((size, size), 0.3)])[None]
    style = (torch.sin(xx / 2.0)[None, None] * 0.5 + 0.5) * torch.rand(1, 3, 1, 1, generator=g)
    return content, style.expand(1, 3, size, size).contiguous()


# ---------------------------------------------------------------- losses vs formulas
def test_gram_matches_the_explicit_sum(st):
    f = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    want = torch.zeros(2, 3, 3, dtype=torch.float64)
    for b in range(2):
        for i in range(3):
            for j in range(3):
                want[b, i, j] = sum(f[b, i, y, x] * f[b, j, y, x] for y in range(4) for x in range(5)) / 20
    torch.testing.assert_close(st.gram(f), want)
    assert torch.equal(st.gram(f), st.gram(f).transpose(1, 2))  # symmetric


def test_content_style_and_tv_losses_match_hand_computations(st):
    f, t = torch.tensor([[[[1.0, 2.0]]]]), torch.tensor([[[[1.0, 4.0]]]])
    assert float(st.content_loss(f, t)) == pytest.approx((0 + 4) / (1 + 16))
    g = st.gram(t)  # [[(1 + 16) / 2]] = 8.5; gram(f) = (1 + 4) / 2 = 2.5
    assert float(st.style_loss(f, g)) == pytest.approx((2.5 - 8.5) ** 2 / 8.5**2)
    x = torch.tensor([[[[0.0, 1.0], [0.0, 0.5]]]])  # vertical diffs 0, -0.5; horizontal 1, 0.5
    assert float(st.tv_loss(x)) == pytest.approx((0 + 0.25) / 2 + (1 + 0.25) / 2)
    assert float(st.content_loss(t, t)) == 0.0 and float(st.style_loss(t, st.gram(t))) == 0.0


# ---------------------------------------------------------------- the frozen feature network
def test_default_layers_are_gatys_choices_on_vgg(st):
    net = st.FeatureNet(_vgg())
    shapes = net.probe((128, 128))
    content, style = st.default_layers(shapes)
    assert style == [f"block{i}.conv1.act" for i in range(1, 6)]  # conv1_1 ... conv5_1
    assert content == "block4.conv2.act"  # conv4_2
    assert dict(shapes)["block4.conv2.act"] == (64, 16, 16)  # 512 x 0.125 channels, 128 / 2^3 pixels
    assert st.resolve_layer("block3", shapes) == "block3.conv2.act"
    with pytest.raises(TrainlabError, match="choose from: block1.conv1.act"):
        st.resolve_layer("block9", shapes)


def test_feature_net_stops_early_avg_pools_and_leaves_the_model_alone(st):
    model = _vgg()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    net = st.FeatureNet(model, layers=["block2.conv1.act"], padding="zeros")
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in net.modules())
    assert any(isinstance(m, torch.nn.MaxPool2d) for m in model.modules())  # the caller's model is untouched
    out = net(torch.rand(1, 3, 100, 60))  # any size: the classifier never runs
    assert set(out) == {"block2.conv1.act"} and out["block2.conv1.act"].shape == (1, 2 * 8, 50, 30)
    # same features as running the original layers by hand, with average pooling
    x = torch.rand(1, 3, 20, 20)
    ref = model.block2.conv1(torch.nn.functional.avg_pool2d(model.block1.conv1(x), 2, ceil_mode=True))
    torch.testing.assert_close(net(x)["block2.conv1.act"], ref)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    # reflect padding (the default) mirrors the border: equal to zero padding of a reflect-padded input
    refl = st.FeatureNet(model, layers=["block1.conv1.act"])
    c = model.block1.conv1
    want = c.act(c.norm(torch.nn.functional.conv2d(torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect"),
                                                   c.conv.weight)))
    torch.testing.assert_close(refl(x)["block1.conv1.act"], want)
    assert model.block1.conv1.conv.padding_mode == "zeros"


def test_gray_network_sees_each_colour_channel(st):
    torch.manual_seed(0)
    model = create_model("convnet", in_shape=(1, 28, 28), num_classes=10, channels=[4, 8]).eval()
    net = st.FeatureNet(model, layers=["block1.act"], pool="max", padding="zeros")
    x = torch.rand(1, 3, 16, 16)
    f = net(x)["block1.act"]
    assert f.shape == (3, 4, 16, 16)  # block1.act comes before block1.pool
    b = model.block1
    torch.testing.assert_close(f[1:2], b.act(b.norm(b.conv(x[:, 1:2]))))  # green, through the gray net


# ---------------------------------------------------------------- the optimization
def test_each_loss_falls_and_same_seed_gives_the_same_image(st):
    content, style = _images()
    net = st.FeatureNet(_vgg())
    kw = dict(run=net, steps=10, init="noise", lr=0.05, quiet=True, log_every=1,
              style_layers=["block1", "block2"], content_layer="block3")
    for term, weights in (("content", (1, 0, 0)), ("style", (0, 1, 0)), ("tv", (0, 0, 1))):
        res = st.stylize(content, style, content_weight=weights[0], style_weight=weights[1], tv_weight=weights[2], **kw)
        assert res.history[-1][term] < 0.8 * res.history[0][term], term
    a = st.stylize(content, style, **kw)  # the default weights together: the total falls
    assert a.history[-1]["loss"] < a.history[0]["loss"]
    assert a.image.shape == content.shape and 0 <= float(a.image.min()) and float(a.image.max()) <= 1
    b = st.stylize(content, style, **kw)
    assert torch.equal(a.image, b.image) and a.history[-1]["loss"] == b.history[-1]["loss"]
    c = st.stylize(content, style, **{**kw, "seed": 1})
    assert not torch.equal(a.image, c.image)


def test_lbfgs_and_style_only_move_the_style_loss(st):
    content, style = _images()
    net = st.FeatureNet(_vgg())
    res = st.stylize(content, style, run=net, steps=5, optimizer="lbfgs", content_weight=0.0, style_weight=1.0,
                     tv_weight=0.0, quiet=True, log_every=1)
    assert res.history[-1]["style"] < 0.5 * res.history[0]["style"]


def test_result_and_panel_are_written(st, tmp_path):
    content, style = _images()
    res = st.stylize(content, style, run=st.FeatureNet(_vgg()), steps=2, quiet=True)
    out = res.save(tmp_path / "out.png")
    assert out.is_file() and st.panel_path(out) == tmp_path / "out-panel.png"
    back = st.load_image(out)
    assert back.shape == (1, 3, 32, 32)
    assert float((back - res.image).abs().max()) <= 0.5 / 255 + 1e-6  # 8-bit rounding only
    assert Image.open(tmp_path / "out-panel.png").size[0] > 3 * 32


# ---------------------------------------------------------------- images and bad input
def test_load_image_converts_and_resizes(st, tmp_path):
    Image.new("L", (40, 20), 128).save(tmp_path / "gray.png")
    Image.new("RGBA", (10, 30), (255, 0, 0, 255)).save(tmp_path / "rgba.png")
    g = st.load_image(tmp_path / "gray.png", 16)
    assert g.shape == (1, 3, 8, 16) and torch.allclose(g, torch.full_like(g, 128 / 255))
    r = st.load_image(tmp_path / "rgba.png")
    assert r.shape == (1, 3, 30, 10) and float(r[0, 0].min()) == 1.0 and float(r[0, 1].max()) == 0.0


def test_bad_images_and_options_are_one_line_errors(st, tmp_path, capsys):
    (tmp_path / "bad.png").write_bytes(b"not an image at all")
    with pytest.raises(TrainlabError, match="not a readable image"):
        st.load_image(tmp_path / "bad.png")
    with pytest.raises(TrainlabError, match="not found"):
        st.load_image(tmp_path / "missing.jpg")
    content, style = _images()
    with pytest.raises(TrainlabError, match="size="):
        st.stylize(content, style, run=st.FeatureNet(_vgg()), size=4)
    with pytest.raises(TrainlabError, match="is not in the style network"):
        st.FeatureNet(_vgg(), layers=["nope"])
    with pytest.raises(TrainlabError, match="no conv layer"):
        st.FeatureNet(create_model("mlp", in_shape=(4,), num_classes=2))
    for argv in (["--content", str(tmp_path / "bad.png"), "--style", str(ROOT / "assets" / "style.png")],
                 ["--content", str(ROOT / "assets" / "content.png"), "--style", str(tmp_path / "bad.png")]):
        assert main(["stylize", *argv, "--out", str(tmp_path / "o.png")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("trainlab stylize: error: image") and "\n" not in err
    with pytest.raises(TrainlabError, match="not a trainlab run"):
        st.stylize(content, style, run=tmp_path)


def test_example_assets_are_small_and_readable(st):
    for name in ("content.png", "style.png"):
        p = ROOT / "assets" / name
        assert p.stat().st_size < 16_000
        assert st.load_image(p).shape == (1, 3, 128, 128)


# ---------------------------------------------------------------- the style network
def test_recipe_file_matches_the_built_in_recipe(st):
    assert yaml.safe_load((ROOT / "configs" / "stylize-vgg-textures.yaml").read_text()) == st.STYLE_NET
    trainlab.Config(**st.STYLE_NET)  # a valid config


def test_a_users_run_works_as_the_network(st, tmp_path):
    run = trainlab.train({"dataset": "digits", "model": "convnet", "model_options": {"channels": [4, 8]},
                          "epochs": 1, "runs_dir": str(tmp_path), "name": "gray", "threads": 1}, quiet=True)
    model, pre, r = st.load_style_net(run.path)
    assert r.path == run.path and pre.state_dict()["mean"].numel() == 1  # the run's fitted standardize
    content, style = _images(24)
    res = st.stylize(content, style, run=run.path, steps=3, quiet=True)
    assert res.content_layer == "block2.act" and res.style_layers == ["block1.act", "block2.act"]
    assert res.network == str(run.path)


def test_default_network_is_trained_once_and_cached(st, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    tiny = {**st.STYLE_NET, "dataset_options": {"n": 96}, "epochs": 1, "threads": 1,
            "model_options": {"width": 0.0625, "hidden": 8}}
    monkeypatch.setattr(st.network, "STYLE_NET", tiny)  # where the recipe lives
    run = st.default_style_run(quiet=False)
    assert "training the default style network once" in capsys.readouterr().out
    assert run.path == st.style_net_dir() and run.path.parent == tmp_path / "cache" / "trainlab" / "style-net"
    assert json.loads((run.path / "summary.json").read_text())["status"] == "finished"
    stamp = (run.path / "checkpoints" / "best.safetensors").stat().st_mtime_ns
    again = st.default_style_run(quiet=False)
    assert again.path == run.path and "training" not in capsys.readouterr().out
    assert (run.path / "checkpoints" / "best.safetensors").stat().st_mtime_ns == stamp
    assert [p.name for p in run.path.parent.iterdir()] == [run.path.name]  # no temporary folder left


# ---------------------------------------------------------------- the textures set
def test_textures_are_deterministic_balanced_and_registered(st):
    from trainlab.data.textures import TEXTURE_CLASSES, textures

    x, y = textures(n=80, size=16, seed=3)
    x2, y2 = textures(n=80, size=16, seed=3)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    assert x.shape == (80, 3, 16, 16) and x.dtype == np.uint8
    assert np.bincount(y).tolist() == [10] * len(TEXTURE_CLASSES)
    assert not np.array_equal(x, textures(n=80, size=16, seed=4)[0])
    assert x.std(axis=(2, 3)).mean() > 10  # patterns, not flat colour
    ds = trainlab.load_dataset("textures", n=64, size=8)
    assert ds.input_shape == (3, 8, 8) and ds.classes == TEXTURE_CLASSES
    with pytest.raises(TrainlabError, match="n=4"):
        trainlab.load_dataset("textures", n=4)
