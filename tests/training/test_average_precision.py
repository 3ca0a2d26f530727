"""Detection AP: hand-made cases with a known AP, and a brute-force computation on random detections."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from trainlab.training.average_precision import COCO_THRESHOLDS, average_precision, evaluate_detections

A, B, C = [0.0, 0, 10, 10], [20.0, 20, 30, 30], [40.0, 0, 50, 10]


def _det(boxes, scores, labels=None):
    return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), "scores": torch.tensor(scores),
            "labels": torch.tensor(labels if labels is not None else [0] * len(scores), dtype=torch.int64)}


def _gt(boxes, labels=None):
    return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "labels": torch.tensor(labels if labels is not None else [0] * len(boxes), dtype=torch.int64)}


def _ap50(dets, gts, interpolation="all", k=1):
    return evaluate_detections(dets, gts, k, iou_thresholds=[0.5], interpolation=interpolation).ap[0].tolist()


def test_thresholds_are_cocos():
    assert COCO_THRESHOLDS == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


def test_perfect_detections_give_one_everywhere():
    gts = [_gt([A, B], [0, 1]), _gt([C], [2])]
    dets = [_det([B, A], [0.3, 0.9], [1, 0]), _det([C], [0.5], [2])]
    s = evaluate_detections(dets, gts, 3)
    assert s.ap.shape == (10, 3) and np.all(s.ap == 1.0) and s.map50 == 1.0 and s.map == 1.0
    assert evaluate_detections(dets, gts, 3, interpolation="101").map == 1.0


def test_a_false_positive_ranked_first():
    # one object: FP (0.9) then TP (0.8): precision 1/2 at recall 1
    assert _ap50([_det([B, A], [0.9, 0.8])], [_gt([A])]) == [0.5]
    assert _ap50([_det([B, A], [0.9, 0.8])], [_gt([A])], "101") == [0.5]
    # ranked last instead, it costs nothing: recall 1 was reached at precision 1
    assert _ap50([_det([B, A], [0.1, 0.8])], [_gt([A])]) == [1.0]
    # two objects, FP first: points (r .5, p .5), (r 1, p 2/3); p_interp = 2/3 everywhere
    assert _ap50([_det([B, A, C], [0.9, 0.8, 0.7])], [_gt([A, C])]) == pytest.approx([2 / 3])


def test_a_duplicate_detection_counts_as_a_false_positive():
    # objects A and C; detections A (0.9), A again (0.8), C (0.7): TP, FP, TP
    # points (0.5, 1), (0.5, 1/2), (1, 2/3): AP = 0.5 x 1 + 0.5 x 2/3
    dup = [_det([A, A, C], [0.9, 0.8, 0.7])]
    assert _ap50(dup, [_gt([A, C])]) == pytest.approx([0.5 + 0.5 * 2 / 3])
    assert _ap50([_det([A, C], [0.9, 0.7])], [_gt([A, C])]) == [1.0]  # without the duplicate


def test_a_missed_object_lowers_recall():
    assert _ap50([_det([A], [0.9])], [_gt([A, C])]) == [0.5]
    assert _ap50([_det([A], [0.9])], [_gt([A, C])], "101") == pytest.approx([51 / 101])  # r = 0, .01, ..., .5
    assert _ap50([_det([], [])], [_gt([A])]) == [0.0]  # objects, no detection: 0


def test_wrong_class_and_classes_without_objects():
    s = evaluate_detections([_det([A], [0.9], [1])], [_gt([A], [0])], 3, iou_thresholds=[0.5])
    assert s.ap[0, 0] == 0.0 and s.ap[0, 1] != s.ap[0, 1] and s.ap[0, 2] != s.ap[0, 2]  # NaN: no object
    assert s.map50 == 0.0  # the mean leaves the NaN classes out


def test_iou_thresholds_and_coco_map():
    loose = [0.0, 0.0, 10.0, 6.2]  # IoU 0.62 with A
    s = evaluate_detections([_det([loose], [0.9])], [_gt([A])], 1)
    assert s.per_class(0.5) == [1.0] and s.per_class(0.6) == [1.0] and s.per_class(0.65) == [0.0]
    assert s.map50 == 1.0 and s.map == pytest.approx(0.3)  # TP at 0.50, 0.55, 0.60 of ten thresholds
    # at a strict threshold the loose box is a FP and the tight second detection still finds A
    t = evaluate_detections([_det([loose, A], [0.9, 0.5])], [_gt([A])], 1, iou_thresholds=[0.5, 0.9])
    assert t.ap[:, 0].tolist() == [1.0, 0.5]


def test_matching_claims_the_best_unclaimed_object():
    # D1 = Y claims Y. D2 overlaps Y best (IoU 0.905) but Y is taken; it claims X (0.739 >= 0.5): both TP.
    # (VOC's rule, "the best object or nothing", would make D2 a false positive.)
    x, y = [0.0, 0, 10, 10], [2.0, 0, 12, 10]
    d1, d2 = y, [1.5, 0, 11.5, 10]
    assert _ap50([_det([d1, d2], [0.9, 0.8])], [_gt([x, y])]) == [1.0]


def test_average_precision_curve_helper():
    assert average_precision(np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3])) == pytest.approx(0.5 + 1 / 3)
    assert average_precision(np.array([]), np.array([])) == 0.0
    with pytest.raises(ValueError, match="interpolation"):
        average_precision(np.array([1.0]), np.array([1.0]), "11")


# ---------------------------------------------------------------- brute force
def _iou(p, q):
    iw = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
    ih = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
    return iw * ih / ((p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - iw * ih)


def _brute_ap(dets, gts, k, thr):
    """AP as the mean over objects of the best precision at or after the rank where each is found."""
    ranked = sorted([(s, i, b) for i, d in enumerate(dets) for b, s, lab in
                     zip(d["boxes"].tolist(), d["scores"].tolist(), d["labels"].tolist()) if lab == k],
                    key=lambda e: -e[0])
    n_obj = sum(int((g["labels"] == k).sum()) for g in gts)
    if n_obj == 0:
        return float("nan")
    claimed, tp_flags = set(), []
    for _, i, b in ranked:
        best, best_j = -1.0, None
        for j, (gb, gl) in enumerate(zip(gts[i]["boxes"].tolist(), gts[i]["labels"].tolist())):
            v = _iou(b, gb)
            if gl == k and (i, j) not in claimed and v >= thr and v > best:
                best, best_j = v, j
        tp_flags.append(best_j is not None)
        if best_j is not None:
            claimed.add((i, best_j))
    prec = [sum(tp_flags[: n + 1]) / (n + 1) for n in range(len(tp_flags))]
    return sum(max(prec[n:]) for n in range(len(tp_flags)) if tp_flags[n]) / n_obj


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_against_brute_force(seed):
    g = torch.Generator().manual_seed(seed)
    gts, dets = [], []
    for _ in range(6):
        n = int(torch.randint(0, 5, (1,), generator=g))
        xy = torch.rand(n, 2, generator=g) * 40
        gb = torch.cat([xy, xy + 5 + torch.rand(n, 2, generator=g) * 10], 1)
        gl = torch.randint(0, 3, (n,), generator=g)
        gts.append({"boxes": gb, "labels": gl})
        # detections: jittered copies of the objects (some duplicated, some mislabelled) plus random boxes
        near = gb.repeat(2, 1) + torch.randn(2 * n, 4, generator=g) * 2
        far = torch.rand(3, 2, generator=g) * 40
        db = torch.cat([near, torch.cat([far, far + 8], 1)])
        dl = torch.cat([gl.repeat(2), torch.randint(0, 3, (3,), generator=g)])
        flip = torch.rand(len(dl), generator=g) < 0.15
        dl = torch.where(flip, (dl + 1) % 3, dl)
        dets.append({"boxes": db, "scores": torch.rand(len(db), generator=g), "labels": dl})
    s = evaluate_detections(dets, gts, 3)
    want = np.array([[_brute_ap(dets, gts, k, t) for k in range(3)] for t in COCO_THRESHOLDS])
    np.testing.assert_allclose(s.ap, want, atol=1e-12)
    assert np.nanmin(want) < 0.9 and np.nanmax(want) > 0.1  # a non-trivial case
