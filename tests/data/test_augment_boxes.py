"""Detection augmentation through the `augment:` ops: pixels, boxes and instance masks move together (against
flips and slices done by hand and against the tight boxes of the moved masks), the drop rule, seeding, and
the ops that cannot keep boxes valid, refused in one line."""
from __future__ import annotations

import pytest
import torch

from trainlab.data.augment import AUGMENTATIONS, build_augmentation, check_box_ops, move_targets
from trainlab.data.detection import Targets, detection_shapes
from trainlab.errors import TrainlabError

S = 32  # image side


@pytest.fixture(scope="module")
def batch():
    ds = detection_shapes(n=24, size=S, seed=5)
    return ds.images.float() / 255, ds.targets.to_tensor()  # y (B, M, 5 + S S): boxes, classes and masks


def _tight_boxes(masks: torch.Tensor) -> torch.Tensor:
    """(K, H, W) bool -> (K, 4): the box of each mask's pixels, by a loop."""
    out = []
    for m in masks:
        ys, xs = torch.nonzero(m, as_tuple=True)
        out.append([xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1])
    return torch.tensor(out, dtype=torch.float32).reshape(-1, 4)


def _shifts(spec: str, seed: int, b: int) -> torch.Tensor:
    """(B, 2) whole-pixel shifts (x, y) the pipeline's one op draws: the same draws in the same order."""
    g = torch.Generator().manual_seed(seed)
    torch.rand(b, generator=g)  # the op's per-sample coin
    op = build_augmentation([spec]).ops[0]
    return -op.matrices(g, b, S, S)[:, :2, 2]  # the map is output -> input: x_in = x_out - shift


def test_hflip_mirrors_pixels_boxes_and_masks(batch):
    x, y = batch
    out, u = build_augmentation(["hflip:p=1"])(x, torch.Generator().manual_seed(0), boxes=y)
    torch.testing.assert_close(out, x.flip(-1), atol=1e-5, rtol=0)
    t, v = Targets.from_tensor(y, (S, S)), Targets.from_tensor(u, (S, S))
    b = t.boxes
    want = torch.stack([S - b[..., 2], b[..., 1], S - b[..., 0], b[..., 3]], -1) * t.valid[..., None]
    torch.testing.assert_close(v.boxes, want)
    assert torch.equal(v.labels, t.labels) and torch.equal(v.masks, t.masks.flip(-1))


def test_vflip_twice_is_the_identity_and_no_op_keeps_targets(batch):
    x, y = batch
    out, u = build_augmentation(["vflip:p=1", "vflip:p=1"])(x, torch.Generator().manual_seed(0), boxes=y)
    torch.testing.assert_close(out, x, atol=1e-5, rtol=0)
    assert torch.equal(u, y)
    out, u = build_augmentation(["brightness:p=1:magnitude=0.2"])(x, torch.Generator().manual_seed(0), boxes=y)
    assert torch.equal(u, y) and not torch.equal(out, x)  # pixels change, nothing moves


def test_integer_crop_shifts_like_slicing_and_boxes_stay_tight(batch):
    x, y = batch
    spec = "crop:p=1:magnitude=6"
    shifts = _shifts(spec, 1, len(x))
    out, u = build_augmentation([spec])(x, torch.Generator().manual_seed(1), boxes=y)
    assert (shifts.abs() <= 6).all() and len(shifts[:, 0].unique()) > 5
    t, v = Targets.from_tensor(y, (S, S)), Targets.from_tensor(u, (S, S))
    clipped = 0
    for i in range(len(x)):
        sx, sy = int(shifts[i, 0]), int(shifts[i, 1])
        want = torch.zeros_like(x[i])  # shift by slicing: output[y + sy, x + sx] = input[y, x]
        want[:, max(sy, 0):S + min(sy, 0), max(sx, 0):S + min(sx, 0)] = \
            x[i, :, max(-sy, 0):S - max(sy, 0), max(-sx, 0):S - max(sx, 0)]
        torch.testing.assert_close(out[i], want, atol=1e-5, rtol=0)
        before, obj = t.image(i), v.image(i)
        moved = before["boxes"] + torch.tensor([sx, sy, sx, sy])
        area = (moved[:, 2] - moved[:, 0]) * (moved[:, 3] - moved[:, 1])
        c = moved.clamp(0, S)
        kept = (c[:, 2] - c[:, 0]) * (c[:, 3] - c[:, 1]) >= 0.5 * area  # the drop rule
        assert len(obj["boxes"]) == int(kept.sum())
        moved, tight = moved[kept], _tight_boxes(obj["masks"])
        inside = (moved[:, :2] >= 0).all(1) & (moved[:, 2:] <= S).all(1)
        torch.testing.assert_close(obj["boxes"][inside], tight[inside])  # moved box = box of the moved mask
        # a clipped box is the moved box cut at the border: it holds the visible part (which may be tighter)
        torch.testing.assert_close(obj["boxes"][~inside], moved[~inside].clamp(0, S))
        assert (obj["boxes"][:, :2] <= tight[:, :2]).all() and (obj["boxes"][:, 2:] >= tight[:, 2:]).all()
        clipped += int((~inside).sum())
    assert clipped >= 3  # the case tests clipping


@pytest.mark.parametrize("op", ["resized_crop:p=1:magnitude=0.4", "translate:p=1:magnitude=0.2"])
def test_zooms_and_shifts_keep_boxes_on_the_moved_masks(batch, op):
    x, y = batch
    out, u = build_augmentation(["hflip", op])(x, torch.Generator().manual_seed(2), boxes=y)
    t, v = Targets.from_tensor(y, (S, S)), Targets.from_tensor(u, (S, S))
    kept = 0
    for i in range(len(x)):
        obj = v.image(i)
        for box, mask in zip(obj["boxes"], obj["masks"]):
            if mask.any():  # a zoomed-out 1-pixel detail can vanish under nearest sampling
                kept += 1
                tight = _tight_boxes(mask[None])[0]
                assert (box[:2] <= tight[:2] + 1).all() and (box[2:] >= tight[2:] - 1).all()  # holds the mask
                if box[0] > 0 and box[1] > 0 and box[2] < S and box[3] < S:  # not clipped: tight on it
                    assert (box - tight).abs().max() <= 1.5  # within nearest-sampling error
    assert kept >= 0.5 * int(t.counts.sum())
    # the pixels follow too: where a moved mask is, the image is the object's colour, not background
    fg = out.amax(1)[v.masks.any(1)].mean()
    assert fg > out.amax(1)[~v.masks.any(1)].mean() + 0.2


def _shift_map(dx: float) -> torch.Tensor:
    """A map moving the image dx pixels right: output -> input is x_in = x_out - dx."""
    m = torch.eye(3, dtype=torch.float64)[None].clone()
    m[0, 0, 2] = -dx
    return m


def test_drop_and_clip_rule_by_hand():
    y = Targets.from_lists([[[20.0, 0, 30, 10], [0, 0, 10, 10], [15, 20, 25, 30]]], [[0, 1, 2]]).to_tensor()
    u = move_targets(y, _shift_map(10), (S, S))
    # box 0 -> [30, 40]: 2 of 10 columns inside (0.2 < 0.5), dropped; box 2 -> [25, 35]: 7 of 10 kept, clipped
    assert u[0, :, 4].tolist() == [-1, 1, 2]
    assert u[0, :, :4].tolist() == [[0, 0, 0, 0], [10.0, 0, 20, 10], [25, 20, 32, 30]]
    assert move_targets(y, _shift_map(10), (S, S), min_visible=0.8)[0, :, 4].tolist() == [-1, 1, -1]
    assert move_targets(y, _shift_map(10), (S, S), min_visible=0.0)[0, :, 4].tolist() == [0, 1, 2]  # 2 px: kept
    gone = move_targets(y[:, :1], _shift_map(11.5), (S, S), min_visible=0.0)  # 0.5 px left inside
    assert gone[0, 0].tolist() == [0, 0, 0, 0, -1]


def test_same_seed_same_batch_and_p_is_per_image(batch):
    x, y = batch
    aug = build_augmentation(["hflip", "resized_crop:p=0.5:magnitude=0.3", "translate:p=0.5:magnitude=0.1"])
    a = aug(x, torch.Generator().manual_seed(3), boxes=y)
    b = aug(x, torch.Generator().manual_seed(3), boxes=y)
    c = aug(x, torch.Generator().manual_seed(4), boxes=y)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0]) and not torch.equal(a[1], c[1])
    _, u = build_augmentation(["hflip"])(x, torch.Generator().manual_seed(0), boxes=y)
    flipped = (u[:, 0, 0] != y[:, 0, 0]).sum()
    assert 4 <= int(flipped) <= 20  # about half of 24


@pytest.mark.parametrize("op", ["rotate", "shear:p=0.5:magnitude=10"])
def test_ops_that_break_boxes_are_refused_in_one_line(op):
    with pytest.raises(TrainlabError) as e:
        check_box_ops(build_augmentation(["hflip", op]))
    msg = str(e.value)
    assert f"augmentation {op.split(':')[0]!r} cannot keep boxes valid for detection" in msg and "\n" not in msg
    assert "hflip" in msg and "resized_crop" in msg  # names the ops to use instead
    assert "rotate" not in msg.split("box-safe ops:")[1]


def test_every_op_says_whether_it_keeps_boxes():
    tilting = {name for name in AUGMENTATIONS.list() if AUGMENTATIONS.get(name).breaks_boxes}
    assert tilting == {"rotate", "shear"}
    check_box_ops(build_augmentation([n for n in AUGMENTATIONS.list() if n not in tilting]))  # the rest pass


def test_boxes_with_a_mask_or_of_the_wrong_shape_are_refused():
    x = torch.rand(2, 3, 8, 8)
    with pytest.raises(TrainlabError, match="boxes must be float detection targets"):
        build_augmentation(["hflip"])(x, torch.Generator(), boxes=torch.zeros(2, 4))
    with pytest.raises(TrainlabError, match="no\\s*mask"):
        build_augmentation(["hflip"])(x, torch.Generator(), mask=torch.zeros(2, 8, 8, dtype=torch.long),
                                      boxes=torch.zeros(2, 1, 5))


def test_the_preview_draws_moved_boxes_and_refuses_what_would_loosen_them(tmp_path):
    from trainlab.report.previews import preview_augmentation

    out, ds, _ = preview_augmentation("shapes-boxes", ["hflip", "resized_crop:p=1"], options={"n": 40, "size": 32},
                                      out=tmp_path / "grid.png", n=4, versions=2)
    assert out.is_file() and ds.task == "detection"
    with pytest.raises(TrainlabError, match="'rotate' cannot keep boxes valid"):
        preview_augmentation("shapes-boxes", ["rotate"], options={"n": 40, "size": 32}, out=tmp_path / "no.png")
