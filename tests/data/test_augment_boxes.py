"""Detection augmentation: pixels, boxes and masks move together (against flips and slices done by hand
and against the tight boxes of the moved masks), the drop rule, seeding, and refused ops."""
from __future__ import annotations

import pytest
import torch

from trainlab.data.augment.boxes import DetectionAugment, check_detection_ops, move_targets, warp
from trainlab.data.detection import Targets, detection_shapes
from trainlab.errors import TrainlabError


@pytest.fixture(scope="module")
def batch():
    ds = detection_shapes(n=24, size=32, seed=5)
    return ds.images.float() / 255, ds.targets


def _tight_boxes(masks: torch.Tensor) -> torch.Tensor:
    """(K, H, W) bool -> (K, 4): the box of each mask's pixels, by a loop."""
    out = []
    for m in masks:
        ys, xs = torch.nonzero(m, as_tuple=True)
        out.append([xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1])
    return torch.tensor(out, dtype=torch.float32).reshape(-1, 4)


def test_hflip_mirrors_pixels_boxes_and_masks(batch):
    x, t = batch
    y, u = DetectionAugment([("hflip", 1.0, 0.0)])(x, t, torch.Generator().manual_seed(0))
    torch.testing.assert_close(y, x.flip(-1), atol=1e-5, rtol=0)
    b = t.boxes
    want = torch.stack([32 - b[..., 2], b[..., 1], 32 - b[..., 0], b[..., 3]], -1) * t.valid[..., None]
    torch.testing.assert_close(u.boxes, want)
    assert torch.equal(u.labels, t.labels) and torch.equal(u.masks, t.masks.flip(-1))


def test_vflip_twice_is_the_identity(batch):
    x, t = batch
    aug = DetectionAugment([("vflip", 1.0, 0.0), ("vflip", 1.0, 0.0)])
    y, u = aug(x, t, torch.Generator().manual_seed(0))
    torch.testing.assert_close(y, x, atol=1e-5, rtol=0)
    assert torch.equal(u.boxes, t.boxes) and torch.equal(u.masks, t.masks)


def test_integer_crop_shifts_like_slicing_and_boxes_stay_tight(batch):
    x, t = batch
    aug = DetectionAugment([("crop", 1.0, 6.0)], min_visible=0.0)
    maps = aug.maps(torch.Generator().manual_seed(1), len(x), 32, 32)
    y, u = aug(x, t, torch.Generator().manual_seed(1))
    assert (maps[:, 0] == 1).all() and (maps[:, 1].abs() <= 6).all() and len(maps[:, 1].unique()) > 5
    clipped = 0
    for i in range(len(x)):
        sx, sy = int(maps[i, 1]), int(maps[i, 3])
        want = torch.zeros_like(x[i])  # shift by slicing: output[y + sy, x + sx] = input[y, x]
        want[:, max(sy, 0):32 + min(sy, 0), max(sx, 0):32 + min(sx, 0)] = \
            x[i, :, max(-sy, 0):32 - max(sy, 0), max(-sx, 0):32 - max(sx, 0)]
        torch.testing.assert_close(y[i], want, atol=1e-5, rtol=0)
        obj = u.image(i)
        keep = obj["masks"].flatten(1).any(1)  # a box pushed out entirely has an empty mask and is dropped
        assert keep.all()
        tight, moved = _tight_boxes(obj["masks"]), t.image(i)["boxes"] + torch.tensor([sx, sy, sx, sy])
        inside = (moved[:, :2] >= 0).all(1) & (moved[:, 2:] <= 32).all(1)
        torch.testing.assert_close(obj["boxes"][inside], tight[inside])  # moved box = box of the moved mask
        # a clipped box is the moved box cut at the border: it holds the visible part (which may be tighter)
        torch.testing.assert_close(obj["boxes"][~inside], moved[~inside].clamp(0, 32))
        assert (obj["boxes"][:, :2] <= tight[:, :2]).all() and (obj["boxes"][:, 2:] >= tight[:, 2:]).all()
        clipped += int((~inside).sum())
    assert clipped >= 3  # the case tests clipping


@pytest.mark.parametrize("op", ["scale", "resized_crop", "translate"])
def test_zooms_and_shifts_keep_boxes_on_the_moved_masks(batch, op):
    x, t = batch
    aug = DetectionAugment([("hflip", 0.5, 0.0), (op, 1.0, 0.4)])
    y, u = aug(x, t, torch.Generator().manual_seed(2))
    maps = aug.maps(torch.Generator().manual_seed(2), len(x), 32, 32)
    assert not torch.allclose(maps[:, 0].abs(), torch.ones(len(x), dtype=torch.float64)) or op == "translate"
    kept = 0
    for i in range(len(x)):
        obj = u.image(i)
        for box, mask in zip(obj["boxes"], obj["masks"]):
            if mask.any():  # a zoomed-out 1-pixel detail can vanish under nearest sampling
                kept += 1
                tight = _tight_boxes(mask[None])[0]
                assert (box[:2] <= tight[:2] + 1).all() and (box[2:] >= tight[2:] - 1).all()  # holds the mask
                if box[0] > 0 and box[1] > 0 and box[2] < 32 and box[3] < 32:  # not clipped: tight on it
                    assert (box - tight).abs().max() <= 1.5  # within nearest-sampling error
    assert kept >= 0.5 * int(t.counts.sum())
    # the pixels follow too: the image at a kept box's centre is the object's colour, not background
    fg = y.amax(1)[u.masks.any(1)].mean()
    assert fg > y.amax(1)[~u.masks.any(1)].mean() + 0.2


def test_drop_and_clip_rule_by_hand():
    t = Targets.from_lists([[[20.0, 0, 30, 10], [0, 0, 10, 10], [15, 20, 25, 30]]], [[0, 1, 2]])
    maps = torch.tensor([[1.0, 10.0, 1.0, 0.0]])  # x' = x + 10 on a 32 x 32 image
    u = move_targets(t, maps, (32, 32), min_visible=0.5)
    # box 0 -> [30, 40]: 2 of 10 columns inside (0.2 < 0.5), dropped; box 2 -> [25, 35]: 7 of 10 kept, clipped
    assert u.labels.tolist() == [[1, 2]]
    assert u.boxes.tolist() == [[[10.0, 0, 20, 10], [25, 20, 32, 30]]]
    assert move_targets(t, maps, (32, 32), min_visible=0.8).labels.tolist() == [[1]]
    assert move_targets(t, maps, (32, 32), min_visible=0.0).labels.tolist() == [[0, 1, 2]]  # 2 px wide: kept
    gone = move_targets(t, torch.tensor([[1.0, 31.5, 1.0, 0.0]]), (32, 32), min_visible=0.0)  # 0.5 px left
    assert gone.labels.tolist() == [[-1]] and gone.boxes.abs().sum() == 0


def test_same_seed_same_batch_and_p_is_per_image(batch):
    x, t = batch
    aug = DetectionAugment.from_specs(["hflip", "resized_crop:p=0.5:magnitude=0.3", "translate:p=0.5:0.1"])
    a = aug(x, t, torch.Generator().manual_seed(3))
    b = aug(x, t, torch.Generator().manual_seed(3))
    c = aug(x, t, torch.Generator().manual_seed(4))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1].boxes, b[1].boxes)
    assert not torch.equal(a[0], c[0])
    maps = DetectionAugment([("hflip", 0.5, 0.0)]).maps(torch.Generator().manual_seed(0), 400, 8, 8)
    assert 160 < int((maps[:, 0] < 0).sum()) < 240  # about half flipped
    # an op that does not fire draws its numbers anyway: the later op's shift is unchanged
    m0 = DetectionAugment([("vflip", 0.0, 0), ("translate", 1.0, 0.2)]).maps(torch.Generator().manual_seed(0), 5, 8, 8)
    m1 = DetectionAugment([("vflip", 1.0, 0), ("translate", 1.0, 0.2)]).maps(torch.Generator().manual_seed(0), 5, 8, 8)
    torch.testing.assert_close(m0[:, 1], m1[:, 1])
    torch.testing.assert_close(m1[:, 3] - 8, m0[:, 3])  # y' = -y + 8 + t versus y' = y + t


def test_uint8_images_stay_uint8():
    x = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    y = warp(x, torch.tensor([[-1.0, 8, 1, 0]] * 2))
    assert y.dtype == torch.uint8 and torch.equal(y, x.flip(-1))


@pytest.mark.parametrize("op", ["rotate", "shear:p=0.5:magnitude=10", "elastic", "perspective"])
def test_ops_that_break_boxes_are_refused_in_one_line(op):
    with pytest.raises(TrainlabError) as e:
        check_detection_ops(["hflip", op])
    msg = str(e.value)
    assert f"augmentation {op.split(':')[0]!r} cannot keep boxes valid for detection" in msg and "\n" not in msg
    assert "hflip" in msg and "resized_crop" in msg  # names the ops to use instead
    with pytest.raises(TrainlabError, match="cannot keep boxes valid"):
        DetectionAugment.from_specs([op])


def test_spec_checks():
    assert check_detection_ops(["hflip", "crop:4", "brightness", {"name": "scale"}]) == \
        ["hflip", "crop", "brightness", "scale"]
    with pytest.raises(TrainlabError, match="unknown augmentation 'flip' for detection"):
        check_detection_ops(["flip"])
    with pytest.raises(TrainlabError, match="moves no pixel"):
        DetectionAugment.from_specs(["brightness"])
    with pytest.raises(TrainlabError, match="p=2 must be a probability"):
        DetectionAugment.from_specs(["hflip:p=2"])
    with pytest.raises(TrainlabError, match="magnitude=1.5 must be >= 0 and < 1"):
        DetectionAugment.from_specs(["scale:1.5"])
    with pytest.raises(TrainlabError, match="no option 'angle'"):
        DetectionAugment.from_specs(["hflip:angle=3"])
    assert DetectionAugment.from_specs(["crop"]).ops == [("crop", 1.0, 4.0)]
