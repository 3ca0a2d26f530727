"""Losses against hand computations and torch.nn; a split's scores (accuracy, top-5, regression
loss) against hand-made model outputs; the `loss` key refused where it cannot act."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import trainlab
from trainlab.config import load_config
from trainlab.data import Dataset, Split
from trainlab.errors import TrainlabError
from trainlab.training.batch import answers, hits
from trainlab.training.build import Inference
from trainlab.training.evaluation import evaluate_split, in_top_k, loss_fn
from trainlab.training.losses import LOSSES, TASKS, cross_entropy, hinge, mse


# ---------------------------------------------------------------- losses
def test_soft_cross_entropy_with_label_smoothing_matches_a_hand_computation():
    # mixed targets t (class probabilities), smoothing eps: q = (1 - eps) t + eps / K, L = -sum_c q_c log p_c
    out = [[2.0, -1.0, 0.5], [0.0, 1.5, -0.5]]
    t = [[0.7, 0.3, 0.0], [0.0, 0.25, 0.75]]
    eps, k = 0.1, 3
    want = []
    for f, tt in zip(out, t):
        z = math.log(sum(math.exp(v) for v in f))
        want.append(-sum(((1 - eps) * tc + eps / k) * (fc - z) for fc, tc in zip(f, tt)))
    got = loss_fn(torch.tensor(out), torch.tensor(t), eps, "cross_entropy", reduction="none")
    assert got.tolist() == pytest.approx(want, abs=1e-6)
    assert float(loss_fn(torch.tensor(out), torch.tensor(t), eps)) == pytest.approx(sum(want) / 2, abs=1e-6)


@pytest.mark.parametrize("name", ["cross_entropy", "hinge"])
def test_one_hot_probabilities_give_the_loss_of_class_ids(name):
    g = torch.Generator().manual_seed(0)
    out, y = torch.randn(16, 5, generator=g), torch.randint(0, 5, (16,), generator=g)
    for eps in ([0.0, 0.2] if name == "cross_entropy" else [0.0]):
        hard = loss_fn(out, y, eps, name, reduction="none")
        torch.testing.assert_close(loss_fn(out, F.one_hot(y, 5).float(), eps, name, reduction="none"), hard)


def test_soft_hinge_is_the_mix_of_the_two_labels_hinge_losses():
    # deck 001's cat example f = (3.2, 5.1, -1.7): hinge for class 0 is 2.9, for class 1
    # max(0, 3.2 - 5.1 + 1) + max(0, -1.7 - 5.1 + 1) = 0; mixed half and half: 1.45
    f = torch.tensor([[3.2, 5.1, -1.7]])
    assert float(hinge(f, torch.tensor([[0.5, 0.5, 0.0]]))) == pytest.approx(1.45, abs=1e-5)
    g = torch.Generator().manual_seed(2)
    out = torch.randn(32, 6, generator=g, dtype=torch.float64)
    a, b, lam = torch.randint(0, 6, (32,), generator=g), torch.randint(0, 6, (32,), generator=g), torch.rand(32)
    t = lam[:, None] * F.one_hot(a, 6) + (1 - lam[:, None]) * F.one_hot(b, 6)
    want = lam * hinge(out, a, "none") + (1 - lam) * hinge(out, b, "none")  # the mixup paper's loss of a pair
    torch.testing.assert_close(hinge(out, t, "none"), want.float(), rtol=1e-5, atol=1e-5)


def test_hits_of_a_mixed_batch_count_the_targets_weight_on_the_prediction():
    out = torch.tensor([[3.0, 1.0, 0.0], [0.0, 2.0, 1.0], [0.0, 0.0, 5.0], [1.0, 0.0, 0.0]])  # predicts 0, 1, 2, 0
    t = torch.tensor([[0.7, 0.3, 0.0], [0.6, 0.4, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    assert float(hits(out, t)) == pytest.approx(0.7 + 0.4 + 1.0 + 0.0) and answers(out, t) == 4
    y = torch.tensor([0, 0, 2, 1])  # class ids: plain argmax hits
    assert float(hits(out, y)) == 2.0 and answers(out, y) == 4
    seg_out, seg_y = torch.randn(2, 3, 4, 5), torch.randint(0, 3, (2, 4, 5))
    assert answers(seg_out, seg_y) == 40 and float(hits(seg_out, seg_y)) == float((seg_out.argmax(1) == seg_y).sum())


def test_hinge_matches_a_hand_computation():
    # deck 001's multiclass SVM loss, three examples, three classes, scores by hand:
    # 0: y=0, f=(3.2, 5.1, -1.7): max(0, 5.1-3.2+1) + max(0, -1.7-3.2+1) = 2.9 + 0   = 2.9
    # 1: y=1, f=(1.3, 4.9, 2.0):  max(0, 1.3-4.9+1) + max(0, 2.0-4.9+1) = 0 + 0     = 0
    # 2: y=2, f=(2.2, 2.5, -3.1): max(0, 2.2+3.1+1) + max(0, 2.5+3.1+1) = 6.3 + 6.6 = 12.9
    out = torch.tensor([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
    y = torch.tensor([0, 1, 2])
    assert hinge(out, y, "none").tolist() == pytest.approx([2.9, 0.0, 12.9], abs=1e-5)
    assert float(hinge(out, y)) == pytest.approx((2.9 + 0 + 12.9) / 3, abs=1e-5)  # the lecture's 5.27
    assert float(hinge(out, y, "sum")) == pytest.approx(15.8, abs=1e-5)


def test_hinge_is_torch_multi_margin_loss_times_the_classes():
    g = torch.Generator().manual_seed(0)
    out = torch.randn(64, 10, generator=g, dtype=torch.float64) * 2
    y = torch.randint(0, 10, (64,), generator=g)
    ref = nn.MultiMarginLoss(p=1, margin=1.0)(out, y) * 10  # torch divides each example's sum by K
    torch.testing.assert_close(hinge(out, y).double(), ref.double(), rtol=1e-6, atol=1e-6)
    a, b = out.clone().float().requires_grad_(), out.clone().float().requires_grad_()  # and the same gradient
    hinge(a, y).backward()
    (nn.MultiMarginLoss(p=1, margin=1.0)(b, y) * 10).backward()
    torch.testing.assert_close(a.grad, b.grad)


def test_hinge_per_pixel_for_segmentation():
    g = torch.Generator().manual_seed(1)
    out, y = torch.randn(2, 4, 3, 5, generator=g), torch.randint(0, 4, (2, 3, 5), generator=g)
    flat = hinge(out.permute(0, 2, 3, 1).reshape(-1, 4), y.reshape(-1), "none").view(2, 3, 5)
    torch.testing.assert_close(hinge(out, y, "none"), flat)


def test_mse_and_cross_entropy_match_torch():
    g = torch.Generator().manual_seed(2)
    pred, target = torch.randn(6, 1, generator=g), torch.randn(6, generator=g)
    assert float(mse(pred, target)) == pytest.approx(float(((pred.squeeze(1) - target) ** 2).mean()), rel=1e-6)
    assert float(mse(pred, target, "sum")) == pytest.approx(float(((pred.squeeze(1) - target) ** 2).sum()), rel=1e-6)
    assert float(mse(torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 4.0]]))) == 2.5  # (1 + 4) / 2 targets
    logits, y = torch.randn(5, 3, generator=g), torch.tensor([0, 2, 1, 1, 0])
    # the default loss is today's expression, bit for bit
    assert torch.equal(loss_fn(logits, y), F.cross_entropy(logits.float(), y))
    assert torch.equal(loss_fn(logits, y, 0.1), F.cross_entropy(logits.float(), y, label_smoothing=0.1))
    assert torch.equal(loss_fn(logits, y, loss="hinge"), hinge(logits, y))
    assert torch.equal(cross_entropy(logits, y, "sum"), F.cross_entropy(logits, y, reduction="sum"))


def test_every_loss_names_its_tasks():
    assert set(TASKS) == set(LOSSES.list()) == {"cross_entropy", "hinge", "mse"}
    assert all(e.description for e in LOSSES.entries())


# ---------------------------------------------------------------- a split's scores
class Lookup(nn.Module):
    """Returns a fixed output row per example; the input x (N, 1) holds the example's index."""

    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.table = table

    def forward(self, x):
        return self.table[x[:, 0].long()]


def parts_for(table, y, task="classification", **cfg):
    k = table.shape[1]
    x = torch.arange(len(y), dtype=torch.float32).view(-1, 1)
    split = Split(x, y)
    classes = [f"c{i}" for i in range(k)] if task != "regression" else [f"t{i}" for i in range(k)]
    data = Dataset("hand", split, split, split, classes, task)
    config = load_config(None, [], model="mlp", dataset="hand", eval_batch_size=4, **cfg)
    return Inference(config, data, torch.device("cpu"), Lookup(table), lambda t: t)


# true class ranks (how many classes score strictly higher), 7 classes: 0, 6, 3, 4, 4 (ties with
# two others at 2.0 count for the true class), 5. Top-1: example 0; top-5: 0, 2, 3 and 4.
LOGITS = torch.tensor([[0.0, 1, 9, 2, 3, 4, 5],
                       [1.0, 2, 3, 4, 5, 6, 7],
                       [7.0, 6, 5, 3, 2, 1, 0],
                       [5.0, 4, 3, 2, 1, 0, 1.5],
                       [6.0, 2, 5, 4, 3, 2, 2],
                       [1.0, 2, 3, 4, 5, 6, 0]])
LABELS = torch.tensor([2, 0, 3, 6, 1, 0])


def test_top5_and_accuracy_of_hand_made_logits():
    assert in_top_k(LOGITS, LABELS).tolist() == [True, False, True, True, True, False]
    clear = [0, 1, 2, 3, 5]  # no ties: the same as torch.topk
    want = (LOGITS[clear].topk(5, 1).indices == LABELS[clear, None]).any(1)
    assert in_top_k(LOGITS[clear], LABELS[clear]).tolist() == want.tolist()
    res = evaluate_split(parts_for(LOGITS, LABELS), torch.arange(6.0).view(-1, 1), LABELS)  # batches of 4 and 2
    assert res["acc"] == pytest.approx(1 / 6) and res["top5"] == pytest.approx(4 / 6)
    assert res["loss"] == pytest.approx(float(F.cross_entropy(LOGITS, LABELS)), rel=1e-6)
    few = evaluate_split(parts_for(LOGITS[:, :5], LABELS.clamp(max=4)), torch.arange(6.0).view(-1, 1),
                         LABELS.clamp(max=4))
    assert "top5" not in few  # 5 classes: top-5 accuracy would always be 1


def test_validation_loss_is_the_run_loss():
    x = torch.arange(6.0).view(-1, 1)
    res = evaluate_split(parts_for(LOGITS, LABELS, loss="hinge"), x, LABELS)
    by_hand = sum(sum(max(0.0, float(LOGITS[i, j] - LOGITS[i, LABELS[i]] + 1)) for j in range(7) if j != LABELS[i])
                  for i in range(6)) / 6
    assert res["loss"] == pytest.approx(by_hand, rel=1e-6)
    smooth = evaluate_split(parts_for(LOGITS, LABELS, label_smoothing=0.2), x, LABELS)
    assert smooth["loss"] == pytest.approx(float(F.cross_entropy(LOGITS, LABELS, label_smoothing=0.2)), rel=1e-6)


def test_regression_split_is_scored_by_its_loss_alone():
    pred = torch.tensor([[0.5], [1.0], [-2.0], [0.0], [3.0]])
    y = torch.tensor([[1.0], [1.0], [0.0], [0.5], [2.0]])  # squared errors 0.25, 0, 4, 0.25, 1
    res = evaluate_split(parts_for(pred, y, "regression", loss="mse"), torch.arange(5.0).view(-1, 1), y, collect=True)
    assert set(res) == {"loss", "pred"}
    assert res["loss"] == pytest.approx(5.5 / 5) and torch.equal(res["pred"], pred)
    two = torch.tensor([[1.0, 0.0], [0.0, 2.0]])  # two targets: the mean over both, then over examples
    res2 = evaluate_split(parts_for(two, torch.zeros(2, 2), "regression", loss="mse"), torch.arange(2.0).view(-1, 1),
                          torch.zeros(2, 2))
    assert res2["loss"] == pytest.approx((1 / 2 + 4 / 2) / 2)


# ---------------------------------------------------------------- refusals
BASE = {"model": "mlp", "epochs": 1, "threads": 1}


@pytest.mark.parametrize("kw, words", [
    ({"dataset": "no-such-dataset", "loss": "hinj"}, "unknown loss 'hinj' (did you mean 'hinge'?)"),
    ({"dataset": "no-such-dataset", "loss": "hinge", "label_smoothing": 0.1},
     "label_smoothing: 0.1 does nothing unless loss: cross_entropy"),
    ({"dataset": "no-such-dataset", "loss": "mse", "label_smoothing": 0.1}, "label_smoothing: 0.1 does nothing unless loss: cross_entropy"),
    ({"dataset": "digits", "loss": "mse"},
     "loss: mse does not fit dataset 'digits', a classification task; use loss: cross_entropy or hinge"),
    ({"dataset": "shapes", "model": "fcn", "loss": "mse"}, "a segmentation task; use loss: cross_entropy or hinge"),
    ({"dataset": "poly"}, "loss: cross_entropy does not fit dataset 'poly', a regression task; use loss: mse"),
    ({"dataset": "poly", "loss": "hinge"}, "loss: hinge does not fit dataset 'poly', a regression task"),
    ({"dataset": "poly", "loss": "mse", "monitor": "val_acc"},
     "monitor val_acc needs class labels; 'poly' is a regression task, which logs losses only: use val_loss"),
    ({"dataset": "poly", "loss": "mse", "monitor": "train_acc"}, "monitor train_acc needs class labels"),
    ({"dataset": "poly", "loss": "mse", "monitor": "val_top5"},
     "val_top5 needs a classification dataset with more than 5 classes; 'poly' is regression"),
    ({"dataset": "moons", "monitor": "val_top5"}, "'moons' has 2 classes: use val_acc or val_loss"),
    ({"dataset": "digits", "classes": [1, 2, 3, 4, 5], "monitor": "val_top5"}, "'digits' has 5 classes"),
    ({"dataset": "poly", "loss": "mse", "monitor": "val_miou"},
     "val_miou needs a segmentation dataset; 'poly' is regression: use val_loss$"),
    ({"dataset": "shapes", "model": "unet", "augment": ["hflip", "mixup"]},
     "augment: mixup mixes images and their class labels; 'shapes' is a segmentation task, whose masks are not "
     "class labels: remove mixup"),
    ({"dataset": "poly", "loss": "mse", "augment": ["cutmix"]},
     "augment: cutmix mixes images and their class labels; 'poly' is a regression task, whose targets are not"),
])
def test_loss_and_monitor_that_cannot_act_are_refused_before_any_run_folder(tmp_path, kw, words):
    with pytest.raises(TrainlabError, match=words.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")) as e:
        trainlab.train({**BASE, "runs_dir": str(tmp_path / "runs"), **kw}, quiet=True)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "runs").exists()


def test_initial_hinge_loss_is_near_k_minus_one():
    # CS231n's sanity check: scores near zero at the start make every margin near 1: L ~ K - 1
    out = torch.randn(100, 10) * 1e-3
    assert float(hinge(out, torch.randint(0, 10, (100,)))) == pytest.approx(9.0, abs=0.05)
    assert math.isclose(float(loss_fn(torch.zeros(3, 10), torch.tensor([0, 1, 2]), loss="hinge")), 9.0)


def test_default_loss_keeps_the_arm_of_runs_made_before_the_key():
    from trainlab.runs import arm_hash

    old = load_config(None, [], dataset="digits").resolved()
    del old["loss"]  # a config.yaml written before `loss` existed
    assert arm_hash(old) == arm_hash(load_config(None, [], dataset="digits").resolved())
    assert arm_hash(old) != arm_hash(load_config(None, [], dataset="digits", loss="hinge").resolved())
