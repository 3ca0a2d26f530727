"""Boxes: IoU, encoding, anchors, NMS and RoI align against hand-computed values and brute-force loops."""
from __future__ import annotations

import math

import pytest
import torch

from trainlab.nn.boxes import (
    LOG_SCALE_CLAMP,
    batched_nms,
    box_area,
    box_iou,
    clip_boxes,
    decode,
    encode,
    make_anchors,
    nms,
    roi_align,
)


def _random_boxes(n: int, seed: int, size: float = 50.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * size
    wh = torch.rand(n, 2, generator=g) * size / 2 + 1
    return torch.cat([xy, xy + wh], 1).double()


# ---------------------------------------------------------------- IoU
def test_iou_hand_cases():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 1.0, 1.0]])
    b = torch.tensor([[1.0, 0.0, 3.0, 2.0], [5.0, 5.0, 6.0, 6.0], [0.0, 0.0, 2.0, 2.0], [0.5, 0.5, 1.0, 3.0]])
    want = torch.tensor([[2 / 6, 0.0, 1.0, 0.75 / (4 + 1.25 - 0.75)],  # b[3] n a[0]: 0.5 x 1.5
                         [0.0, 0.0, 0.25, 0.25 / (1 + 1.25 - 0.25)]])
    torch.testing.assert_close(box_iou(a, b), want)
    assert box_area(a).tolist() == [4.0, 1.0]
    touching = box_iou(torch.tensor([[0.0, 0, 1, 1]]), torch.tensor([[1.0, 0, 2, 1]]))  # share an edge only
    assert touching.item() == 0.0
    empty = torch.tensor([[3.0, 3, 3, 3]])
    assert box_iou(empty, empty).item() == 0.0  # 0, not 0/0


def test_iou_matches_a_python_double_loop():
    a, b = _random_boxes(13, 0), _random_boxes(7, 1)

    def iou(p, q):
        iw = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
        ih = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
        inter = iw * ih
        return inter / ((p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter)

    want = torch.tensor([[iou(p, q) for q in b.tolist()] for p in a.tolist()], dtype=torch.float64)
    torch.testing.assert_close(box_iou(a, b), want)
    assert (box_iou(a, b) > 0).any() and (box_iou(a, b) == 0).any()  # the case mixes overlaps and misses


# ---------------------------------------------------------------- encoding
def test_encode_hand_case_and_weights():
    anchor = torch.tensor([[10.0, 10.0, 30.0, 20.0]])  # centre (20, 15), 20 x 10
    box = torch.tensor([[14.0, 12.0, 54.0, 22.0]])  # centre (34, 17), 40 x 10
    torch.testing.assert_close(encode(box, anchor), torch.tensor([[14 / 20, 2 / 10, math.log(2.0), 0.0]]))
    torch.testing.assert_close(encode(box, anchor, (10, 10, 5, 5)),
                               torch.tensor([[7.0, 2.0, 5 * math.log(2.0), 0.0]]))


def test_encode_decode_round_trip_and_clamp():
    anchors, boxes = _random_boxes(50, 2), _random_boxes(50, 3)
    for weights in ((1, 1, 1, 1), (10, 10, 5, 5)):
        torch.testing.assert_close(decode(encode(boxes, anchors, weights), anchors, weights), boxes)
    anchor = torch.tensor([[0.0, 0.0, 2.0, 4.0]])
    huge = decode(torch.tensor([[0.0, 0.0, 100.0, 1e4]]), anchor)  # exp(100) would be inf
    torch.testing.assert_close(huge[0, 2] - huge[0, 0], torch.tensor(2 * math.exp(LOG_SCALE_CLAMP)))
    torch.testing.assert_close(huge[0, 3] - huge[0, 1], torch.tensor(4 * 1000 / 16))
    assert torch.isfinite(huge).all()


# ---------------------------------------------------------------- anchors
def test_anchors_hand_case():
    a = make_anchors(2, 3, stride=8, sizes=(4.0, 8.0), ratios=(1.0, 4.0))
    assert a.shape == (2 * 3 * 4, 4)
    # cell (0, 0) centred at (4, 4): size 4 ratio 1; size 4 ratio 4 (w 2, h 8); size 8 ratio 1; size 8 ratio 4
    torch.testing.assert_close(a[:4], torch.tensor([[2.0, 2, 6, 6], [3, 0, 5, 8], [0, 0, 8, 8], [2, -4, 6, 12]]))
    # row-major cells: row 5 .. 8 is cell (1, 1)... row 4 * (1 * 3 + 2) is cell (1, 2) centred (20, 12)
    torch.testing.assert_close(a[4 * 5], torch.tensor([18.0, 10, 22, 14]))
    areas = box_area(a).reshape(6, 2, 2)
    torch.testing.assert_close(areas, torch.tensor([16.0, 64.0])[None, :, None].expand(6, 2, 2))


def test_clip_boxes():
    b = torch.tensor([[-3.0, 2, 12, 30], [1, 1, 2, 2]])
    assert clip_boxes(b, (20, 10)).tolist() == [[0.0, 2, 10, 20], [1, 1, 2, 2]]


# ---------------------------------------------------------------- NMS
def _nms_reference(boxes, scores, thr):
    """Greedy NMS as the definition reads, on Python lists."""
    def iou(p, q):
        iw = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
        ih = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
        return iw * ih / ((p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - iw * ih)

    left = sorted(range(len(scores)), key=lambda i: -scores[i])
    keep = []
    while left:
        best = left.pop(0)
        keep.append(best)
        left = [i for i in left if iou(boxes[best], boxes[i]) <= thr]
    return keep


def test_nms_hand_case():
    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30], [0, 0, 10, 5]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95])
    # box 3 (0.95) first: IoU with box 0 is 0.5, not > 0.5, so box 0 stays; box 0 removes box 1 (IoU 9/11)
    assert nms(boxes, scores, 0.5).tolist() == [3, 0, 2]
    assert nms(boxes, scores, 0.4).tolist() == [3, 2]  # now box 3 removes box 0 (0.5 > 0.4) and box 1 (0.45 > 0.4)
    assert nms(boxes[:0], scores[:0], 0.5).tolist() == []


@pytest.mark.parametrize("thr", [0.3, 0.5, 0.7])
def test_nms_matches_the_greedy_loop(thr):
    boxes = _random_boxes(200, 4, size=60.0)
    scores = torch.rand(200, generator=torch.Generator().manual_seed(5)).double()
    got = nms(boxes, scores, thr).tolist()
    assert got == _nms_reference(boxes.tolist(), scores.tolist(), thr)
    assert 5 < len(got) < 200
    assert nms(boxes, scores, thr, max_keep=5).tolist() == got[:5]  # stops early, same first boxes


def test_batched_nms_is_nms_per_class():
    boxes = _random_boxes(150, 6, size=40.0)
    g = torch.Generator().manual_seed(7)
    scores, labels = torch.rand(150, generator=g).double(), torch.randint(0, 3, (150,), generator=g)
    got = batched_nms(boxes, scores, labels, 0.5)
    want = []
    for k in range(3):
        idx = torch.nonzero(labels == k).flatten().tolist()
        want += [idx[i] for i in _nms_reference(boxes[idx].tolist(), scores[idx].tolist(), 0.5)]
    assert sorted(got.tolist()) == sorted(want)
    assert scores[got].tolist() == sorted(scores[got].tolist(), reverse=True)  # best first
    # the two identical boxes of different classes both survive
    two = batched_nms(torch.tensor([[0.0, 0, 5, 5]] * 2), torch.tensor([0.9, 0.8]), torch.tensor([0, 1]), 0.5)
    assert two.tolist() == [0, 1]


# ---------------------------------------------------------------- RoI align
def _bilinear(f, y, x):
    """torchvision's roi_align bilinear rule for one point of a (H, W) map."""
    h, w = f.shape
    if y < -1 or y > h or x < -1 or x > w:
        return 0.0
    y, x = max(y, 0.0), max(x, 0.0)
    y0, x0 = int(y), int(x)
    if y0 >= h - 1:
        y0 = y1 = h - 1
        y = float(y0)
    else:
        y1 = y0 + 1
    if x0 >= w - 1:
        x0 = x1 = w - 1
        x = float(x0)
    else:
        x1 = x0 + 1
    ly, lx = y - y0, x - x0
    return ((1 - ly) * (1 - lx) * f[y0, x0] + (1 - ly) * lx * f[y0, x1]
            + ly * (1 - lx) * f[y1, x0] + ly * lx * f[y1, x1])


def _roi_align_reference(f, box, out, scale, s, aligned):
    """Loop over bins and sample points, one bilinear sample at a time."""
    off = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = (v * scale - off for v in box)
    bw, bh = x2 - x1, y2 - y1
    if not aligned:
        bw, bh = max(bw, 1.0), max(bh, 1.0)
    res = torch.zeros(f.shape[0], out, out, dtype=torch.float64)
    for c in range(f.shape[0]):
        for py in range(out):
            for px in range(out):
                acc = 0.0
                for iy in range(s):
                    for ix in range(s):
                        y = y1 + py * bh / out + (iy + 0.5) * bh / out / s
                        x = x1 + px * bw / out + (ix + 0.5) * bw / out / s
                        acc += float(_bilinear(f[c], y, x))
                res[c, py, px] = acc / s / s
    return res


def test_roi_align_of_a_linear_map_is_the_value_at_each_bin_centre():
    ys, xs = torch.meshgrid(torch.arange(8.0), torch.arange(8.0), indexing="ij")
    f = (xs + 10 * ys)[None, None].double()  # f(y, x) = x + 10 y at cell centres; bilinear is exact on it
    # image box (4, 2)-(12, 10) at scale 0.5 -> feature (2, 1)-(6, 5), minus 0.5: (1.5, 0.5)-(5.5, 4.5)
    got = roi_align(f, [torch.tensor([[4.0, 2.0, 12.0, 10.0]], dtype=torch.float64)], 2, spatial_scale=0.5)
    # bins 2 x 2 cells wide, centres at x 2.5, 4.5 and y 1.5, 3.5
    want = torch.tensor([[2.5 + 15, 4.5 + 15], [2.5 + 35, 4.5 + 35]], dtype=torch.float64)
    torch.testing.assert_close(got[0, 0], want)


@pytest.mark.parametrize("aligned", [True, False])
def test_roi_align_matches_the_point_by_point_loop(aligned):
    g = torch.Generator().manual_seed(8)
    f = torch.randn(2, 2, 6, 7, generator=g, dtype=torch.float64)
    boxes = [torch.tensor([[0.0, 0.0, 28.0, 24.0], [3.0, 5.0, 9.0, 7.0], [-6.0, 10.0, 40.0, 40.0]],
                          dtype=torch.float64),
             torch.tensor([[1.0, 1.0, 2.0, 2.5]], dtype=torch.float64)]  # a box partly outside, a tiny one
    for s in (1, 2, 3):
        got = roi_align(f, boxes, 3, spatial_scale=0.25, sampling_ratio=s, aligned=aligned)
        assert got.shape == (4, 2, 3, 3)
        rows = [(0, b) for b in boxes[0].tolist()] + [(1, b) for b in boxes[1].tolist()]
        for r, (img, box) in enumerate(rows):
            torch.testing.assert_close(got[r], _roi_align_reference(f[img], box, 3, 0.25, s, aligned))


def test_roi_align_passes_gradients_and_takes_empty_lists():
    f = torch.randn(1, 3, 5, 5, requires_grad=True)
    roi_align(f, [torch.tensor([[0.0, 0, 5, 5]])], 2, sampling_ratio=2).sum().backward()
    assert f.grad is not None and f.grad.abs().sum() > 0
    assert roi_align(f, [torch.zeros(0, 4)], 4).shape == (0, 3, 4, 4)
