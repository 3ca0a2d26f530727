"""Datasets: built-ins, splits, IDX files and their cache, user data (npz, csv, folder), bad input."""
from __future__ import annotations

import gzip
import math
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures_data import IDX_NAMES, idx_bytes, write_idx_set

from trainlab.cli import main
from trainlab.data import to_float
from trainlab.data.datasets import DATASETS, TEST_SEED, list_datasets, load_dataset, split_indices
from trainlab.errors import TrainlabError

OFFLINE = ["digits", "spirals", "moons", "shapes", "textures", "poly"]  # need no files


# ---------------------------------------------------------------- built-ins and the interface
@pytest.mark.parametrize("name", OFFLINE)
def test_builtin_interface(name):
    ds = load_dataset(name, seed=0)
    assert ds.name == name and ds.task in ("classification", "segmentation", "regression")
    for s in (ds.train, ds.val, ds.test):
        assert s.x.shape[1:] == ds.input_shape and len(s.x) == len(s.y) > 0
        assert s.x.dtype == (torch.uint8 if ds.is_image else torch.float32)
        if ds.task == "regression":  # real-valued targets, one column per name in `classes`
            assert s.y.dtype == torch.float32 and s.y.shape[1:] == (ds.num_classes,)
            continue
        assert s.y.dtype == torch.int64
        assert int(s.y.min()) >= 0 and int(s.y.max()) < ds.num_classes
    if ds.task == "segmentation":
        assert ds.train.y.shape[1:] == ds.input_shape[1:]


def test_every_registered_builtin_is_listed():
    # shapes-boxes is a detection set: its (N, M, 5) targets have their own tests (tests/data/test_detection*.py)
    assert set(OFFLINE) | {"fashion-mnist", "mnist", "cifar10", "shapes-boxes"} == set(list_datasets())
    assert {"npz:PATH", "csv:PATH", "folder:PATH"} <= set(DATASETS.list())
    assert all(e.description for e in DATASETS.entries())


def test_digits_matches_sklearn_scaled():
    from sklearn.datasets import load_digits

    d = load_digits()
    ds = load_dataset("digits")
    ours = torch.cat([ds.train.x, ds.val.x, ds.test.x]).reshape(-1, 64).numpy().astype(np.int64)
    ref = np.round(d.data * 255 / 16).astype(np.int64)
    # same multiset of rows: sort both lexicographically
    assert np.array_equal(ours[np.lexsort(ours.T[::-1])], ref[np.lexsort(ref.T[::-1])])
    assert len(ds.train) + len(ds.val) + len(ds.test) == len(d.data)


def test_synthetic_same_seed_same_data_and_sizes():
    a, b = load_dataset("spirals", n=300, classes=4), load_dataset("spirals", n=300, classes=4)
    assert torch.equal(a.train.x, b.train.x) and a.num_classes == 4
    assert len(a.train) + len(a.val) + len(a.test) == 300
    c = load_dataset("spirals", n=300, classes=4, data_seed=1)
    assert not torch.equal(a.train.x, c.train.x)
    m = load_dataset("moons", n=200)
    assert m.input_shape == (2,) and len(m.train) + len(m.val) + len(m.test) == 200


def test_poly_is_a_noisy_sine_with_a_test_set_that_stays_put():
    ds = load_dataset("poly", n_train=40, noise=0.0, val_fraction=0.25)
    assert ds.task == "regression" and ds.input_shape == (1,) and ds.classes == ["y"]
    assert (len(ds.train), len(ds.val), len(ds.test)) == (30, 10, 500)
    for s in (ds.train, ds.val, ds.test):  # noise 0: exactly sin(pi x) on [-1, 1]
        assert s.x.abs().max() <= 1 and torch.allclose(s.y, torch.sin(math.pi * s.x), atol=1e-6)
    noisy, other = load_dataset("poly", n_train=40, noise=0.3), load_dataset("poly", n_train=15, noise=0.3)
    resid = noisy.test.y - torch.sin(math.pi * noisy.test.x)
    assert abs(float(resid.std()) - 0.3) < 0.03 and abs(float(resid.mean())) < 0.05
    assert torch.equal(noisy.test.x, other.test.x) and len(other.train) + len(other.val) == 15
    assert not torch.equal(noisy.test.x, load_dataset("poly", data_seed=1).test.x)
    # regression targets are split at random (no classes to stratify on), seeded
    take = split_indices(np.linspace(0, 1, 20).astype(np.float32), 0.25, seed=3)[1]
    assert len(take) == 5 and np.array_equal(take, split_indices(np.zeros(20, np.float32), 0.25, seed=3)[1])
    for kw, words in (({"n_train": 2}, "n_train=2 must be an integer of at least 3"), ({"noise": -1}, "noise=-1")):
        with pytest.raises(TrainlabError, match=words):
            load_dataset("poly", **kw)


def test_shapes_masks_match_images():
    ds = load_dataset("shapes", n=100, channels=3)
    assert ds.input_shape == (3, 32, 32) and ds.classes[0] == "background"
    x, y = ds.train.x.float(), ds.train.y
    # shapes are bright (>= 120 before noise), background dark (<= 70): the mask explains the image
    bright = x.mean(1) > 95
    assert ((y > 0) == bright).float().mean() > 0.97
    assert set(torch.unique(y).tolist()) == {0, 1, 2, 3}


def test_to_float():
    x = torch.tensor([[0, 128, 255]], dtype=torch.uint8)
    assert torch.allclose(to_float(x), torch.tensor([[0.0, 128 / 255, 1.0]]))
    f = torch.randn(3, 2)
    assert to_float(f) is f


# ---------------------------------------------------------------- splits
def test_split_stratified_and_seeded():
    y = np.repeat(np.arange(3), [50, 30, 20])
    keep, take = split_indices(y, 0.1, seed=5)
    assert np.bincount(y[take]).tolist() == [5, 3, 2]
    assert np.array_equal(np.sort(np.concatenate([keep, take])), np.arange(100))
    again = split_indices(y, 0.1, seed=5)[1]
    other = split_indices(y, 0.1, seed=6)[1]
    assert np.array_equal(take, again) and not np.array_equal(take, other)


def test_val_depends_on_seed_but_test_does_not():
    a, b = load_dataset("digits", seed=0), load_dataset("digits", seed=1)
    assert torch.equal(a.test.x, b.test.x) and torch.equal(a.test.y, b.test.y)
    assert not torch.equal(a.val.x, b.val.x)
    counts = torch.bincount(a.val.y).float()
    assert counts.max() - counts.min() <= 2  # stratified: ~10% of each class
    assert isinstance(TEST_SEED, int)


@pytest.mark.parametrize("frac", [0, 1, -0.1, 1.5, "0.1"])
def test_bad_val_fraction(frac):
    with pytest.raises(TrainlabError, match="val_fraction"):
        load_dataset("moons", val_fraction=frac)


def test_unknown_dataset_and_option():
    with pytest.raises(TrainlabError, match="did you mean 'mnist'"):
        load_dataset("mnsit")
    with pytest.raises(TrainlabError, match="no option 'size'"):
        load_dataset("spirals", size=3)
    with pytest.raises(TrainlabError, match="npz:PATH"):
        load_dataset("tsv:/tmp/x")


# ---------------------------------------------------------------- IDX files
def test_idx_dataset_from_trainlab_data(data_env):
    arrays = write_idx_set(data_env / "data" / "fashion-mnist", n_train=50, n_test=20)
    ds = load_dataset("fashion-mnist", val_fraction=0.2)
    assert ds.input_shape == (1, 28, 28) and ds.classes[0] == "T-shirt/top"
    assert torch.equal(ds.test.x[:, 0], torch.from_numpy(arrays["test_x"]))
    assert len(ds.train) == 40 and len(ds.val) == 10
    both = torch.cat([ds.train.x, ds.val.x]).reshape(50, -1).numpy()
    assert sorted(map(bytes, both)) == sorted(map(bytes, arrays["train_x"].reshape(50, -1)))


def test_decoded_cache_reused_then_refreshed(data_env):
    folder = data_env / "data" / "mnist"
    write_idx_set(folder, seed=0)
    first = load_dataset("mnist")
    cache = data_env / "xdg" / "trainlab" / "mnist" / "decoded"
    assert (cache / "train_x.npy").is_file() and not list(cache.glob("*.part"))
    stamp = (cache / "train_x.npy").stat().st_mtime_ns
    load_dataset("mnist")
    assert (cache / "train_x.npy").stat().st_mtime_ns == stamp  # reused, not rewritten
    time.sleep(0.01)
    new = write_idx_set(folder, seed=1)  # the source changed: the cache must follow
    second = load_dataset("mnist")
    assert torch.equal(second.test.x[:, 0], torch.from_numpy(new["test_x"]))
    assert not torch.equal(first.test.x, second.test.x)


def _break(folder: Path, name: str, data: bytes) -> None:
    (folder / name).write_bytes(data)


@pytest.mark.parametrize("case, match", [
    ("magic", "magic number"),
    ("count", "100 images but"),
    ("truncated_payload", "truncated or corrupt"),
    ("truncated_gzip", "truncated or corrupt"),
])
def test_idx_bad_files(data_env, case, match):
    folder = data_env / "data" / "mnist"
    write_idx_set(folder, n_train=100)
    rng = np.random.default_rng(0)
    if case == "magic":
        _break(folder, IDX_NAMES[0], gzip.compress(idx_bytes(rng.integers(0, 9, (100, 28, 28)), magic=2049)))
    elif case == "count":
        _break(folder, IDX_NAMES[1], gzip.compress(idx_bytes(np.zeros(90, np.uint8))))
    elif case == "truncated_payload":
        _break(folder, IDX_NAMES[0], gzip.compress(idx_bytes(np.zeros((100, 28, 28), np.uint8))[:-5]))
    else:
        data = (folder / IDX_NAMES[0]).read_bytes()
        _break(folder, IDX_NAMES[0], data[: len(data) // 2])
    before = sorted(p.name for p in folder.iterdir())
    with pytest.raises(TrainlabError, match=match) as e:
        load_dataset("mnist")
    assert "\n" not in str(e.value)
    assert sorted(p.name for p in folder.iterdir()) == before  # user files untouched


def test_real_fashion_mnist():
    folder = Path("/usr/share/datasets/fashion-mnist")
    if not (folder / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    ds = load_dataset("fashion-mnist", seed=0)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (54000, 6000, 10000)
    assert ds.input_shape == (1, 28, 28) and ds.num_classes == 10
    # the official splits are balanced: 6000 per class in train, 1000 in test
    full = torch.cat([ds.train.y, ds.val.y])
    assert torch.bincount(full).tolist() == [6000] * 10
    assert torch.bincount(ds.test.y).tolist() == [1000] * 10
    assert torch.bincount(ds.val.y).tolist() == [600] * 10


# ---------------------------------------------------------------- user data
@pytest.mark.parametrize("layout", ["nhw", "nhwc", "nchw", "tabular"])
def test_npz_layouts(tmp_path, layout):
    rng = np.random.default_rng(0)
    n = 60
    base = rng.integers(0, 256, (n, 3, 6, 5), dtype=np.uint8)
    x = {"nhw": base[:, 0], "nhwc": base.transpose(0, 2, 3, 1), "nchw": base,
         "tabular": rng.standard_normal((n, 7))}[layout]
    y = np.repeat([3, 7, 9], n // 3)  # arbitrary label values -> 0..2, names kept
    np.savez(tmp_path / "d.npz", x=x, y=y)
    ds = load_dataset(f"npz:{tmp_path / 'd.npz'}")
    assert ds.classes == ["3", "7", "9"] and ds.num_classes == 3
    assert ds.input_shape == {"nhw": (1, 6, 5), "nhwc": (3, 6, 5), "nchw": (3, 6, 5), "tabular": (7,)}[layout]
    allx = torch.cat([ds.train.x, ds.val.x, ds.test.x])
    ref = torch.from_numpy(base[:, :1] if layout == "nhw" else base) if layout != "tabular" else \
        torch.from_numpy(x.astype(np.float32))
    assert sorted(map(bytes, allx.numpy().reshape(n, -1))) == sorted(map(bytes, ref.numpy().reshape(n, -1)))


def test_npz_segmentation(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (20, 8, 8), dtype=np.uint8)
    y = rng.integers(0, 3, (20, 8, 8))
    np.savez(tmp_path / "seg.npz", x=x, y=y)
    ds = load_dataset(f"npz:{tmp_path / 'seg.npz'}")
    assert ds.task == "segmentation" and ds.train.y.shape[1:] == (8, 8) and ds.num_classes == 3


@pytest.mark.parametrize("arrays, match", [
    ({"x": np.zeros((4, 2))}, "named 'x' and 'y'"),
    ({"x": np.zeros((4, 5, 5)), "y": np.zeros(4)}, "must be uint8"),
    ({"x": np.zeros((4, 2)), "y": np.zeros(3)}, "x has 4 rows but y has 3"),
    ({"x": np.zeros((4, 2)), "y": np.array([0.5, 1, 2, 3])}, "integers"),
])
def test_npz_bad(tmp_path, arrays, match):
    np.savez(tmp_path / "b.npz", **arrays)
    with pytest.raises(TrainlabError, match=match):
        load_dataset(f"npz:{tmp_path / 'b.npz'}")


def test_npz_missing_and_garbage(tmp_path):
    with pytest.raises(TrainlabError, match="does not exist"):
        load_dataset(f"npz:{tmp_path / 'none.npz'}")
    (tmp_path / "g.npz").write_bytes(b"not a zip")
    with pytest.raises(TrainlabError, match="cannot read"):
        load_dataset(f"npz:{tmp_path / 'g.npz'}")


def test_csv_header_label_column_and_string_labels(tmp_path):
    rows = ["f1,label,f2"] + [f"{i * 0.5},{'cat' if i % 2 else 'dog'},{-i}" for i in range(40)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    ds = load_dataset(f"csv:{tmp_path / 't.csv'}")
    assert ds.classes == ["cat", "dog"] and ds.input_shape == (2,)
    x = torch.cat([ds.train.x, ds.val.x, ds.test.x])
    y = torch.cat([ds.train.y, ds.val.y, ds.test.y])
    # each row keeps its label: f2 = -i, and i odd <-> cat (class 0)
    assert torch.equal((x[:, 1].abs().long() % 2 == 1), y == 0)
    assert torch.allclose(x[:, 0], -x[:, 1] * 0.5)


def test_csv_no_header_first_column_pixels(tmp_path):
    rng = np.random.default_rng(0)
    pix = rng.integers(0, 256, (30, 16))
    (tmp_path / "n.csv").write_text("\n".join(f"{i % 3}," + ",".join(map(str, p)) for i, p in enumerate(pix)))
    ds = load_dataset(f"csv:{tmp_path / 'n.csv'}")
    assert ds.input_shape == (16,) and ds.train.x.dtype == torch.float32  # no pixel* header: features
    header = "label," + ",".join(f"pixel{k}" for k in range(16))
    (tmp_path / "p.csv").write_text(header + "\n" + "\n".join(f"{i % 3}," + ",".join(map(str, p))
                                                              for i, p in enumerate(pix)))
    img = load_dataset(f"csv:{tmp_path / 'p.csv'}")
    assert img.input_shape == (1, 4, 4) and img.train.x.dtype == torch.uint8


@pytest.mark.parametrize("text, match", [
    ("label,a,b\n0,1,2\n1,3\n", "line 3 has 2 cells, expected 3"),
    ("label,a,b\n0,1,2\n1,x,3\n", r"line 3, column 'a': 'x' is not a number"),
    ("", "is empty"),
    ("label,a\n0,nan\n1,2\n", "NaN"),
])
def test_csv_bad(tmp_path, text, match):
    (tmp_path / "bad.csv").write_text(text)
    with pytest.raises(TrainlabError, match=match):
        load_dataset(f"csv:{tmp_path / 'bad.csv'}")


def _png(path: Path, arr: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def test_folder_loader(tmp_path):
    rng = np.random.default_rng(0)
    for cls, k in [("ants", 6), ("bees", 5)]:
        for i in range(k):
            _png(tmp_path / "imgs" / cls / f"{i}.png", rng.integers(0, 256, (10, 12), dtype=np.uint8))
    _png(tmp_path / "imgs" / "bees" / "big.png", rng.integers(0, 256, (20, 24), dtype=np.uint8))  # resized
    (tmp_path / "imgs" / "bees" / "notes.txt").write_text("ignored")
    ds = load_dataset(f"folder:{tmp_path / 'imgs'}", val_fraction=0.2)
    assert ds.classes == ["ants", "bees"] and ds.input_shape == (1, 10, 12)
    assert len(ds.train) + len(ds.val) + len(ds.test) == 12
    rgb = np.stack([rng.integers(0, 256, (10, 12), dtype=np.uint8)] * 3, -1)
    _png(tmp_path / "imgs" / "ants" / "color.png", rgb)
    assert load_dataset(f"folder:{tmp_path / 'imgs'}").input_shape == (3, 10, 12)


def test_folder_bad(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrainlabError, match="no class sub-folders"):
        load_dataset(f"folder:{tmp_path / 'empty'}")
    _png(tmp_path / "one" / "a" / "0.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(TrainlabError, match="only one class"):
        load_dataset(f"folder:{tmp_path / 'one'}")
    _png(tmp_path / "one" / "b" / "0.png", np.zeros((4, 4), np.uint8))
    (tmp_path / "one" / "b" / "broken.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(TrainlabError, match="broken.png"):
        load_dataset(f"folder:{tmp_path / 'one'}")
    with pytest.raises(TrainlabError, match="does not exist"):
        load_dataset(f"folder:{tmp_path / 'nowhere'}")


def test_cli_reports_data_errors_in_one_line(tmp_path, capsys):
    (tmp_path / "bad.csv").write_text("label,a\n0,zz\n")
    code = main(["augment", "--dataset", f"csv:{tmp_path / 'bad.csv'}", "--ops", "hflip",
                 "--out", str(tmp_path / "g.png")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "not a number" in err
    assert not os.path.exists(tmp_path / "g.png")


def test_npz_labels_that_are_not_0_to_k_minus_1_print_the_mapping(tmp_path, capsys):
    x = np.random.default_rng(0).standard_normal((30, 4))
    np.savez(tmp_path / "d.npz", x=x, y=np.repeat([-1, 3, 7], 10))
    ds = load_dataset(f"npz:{tmp_path / 'd.npz'}")
    assert ds.classes == ["-1", "3", "7"]
    err = capsys.readouterr().err
    assert "labels are not 0..K-1; mapped to 3 classes in sorted order: -1 -> 0, 3 -> 1, 7 -> 2" in err
    np.savez(tmp_path / "ok.npz", x=x, y=np.repeat([0, 1, 2], 10))
    load_dataset(f"npz:{tmp_path / 'ok.npz'}")
    assert "mapped" not in capsys.readouterr().err  # labels already 0..K-1 keep their ids, silently
