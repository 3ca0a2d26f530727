"""Detection data: the synthetic set (seeded, tight boxes, masks, overlaps, stretched shapes), Targets and
the trainer's padded tensor, the registered datasets (shapes-boxes, coco:PATH, yolo:PATH), and the COCO /
YOLO readers with their one-line refusals of bad boxes (exit code 2 from the command line)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from trainlab.data import load_dataset
from trainlab.data.detection import DETECTION_CLASSES, DetectionSet, Targets, detection_shapes
from trainlab.data.detection_files import load_coco, load_yolo
from trainlab.errors import TrainlabError


@pytest.fixture(scope="module")
def ds() -> DetectionSet:
    return detection_shapes(n=300, size=48, seed=3)


# ---------------------------------------------------------------- the synthetic set
def test_synthetic_set_shapes_dtypes_and_classes(ds):
    assert ds.images.shape == (300, 3, 48, 48) and ds.images.dtype == torch.uint8
    t = ds.targets
    assert t.boxes.dtype == torch.float32 and t.labels.dtype == torch.int64 and t.masks.dtype == torch.bool
    assert t.masks.shape == (300, t.labels.shape[1], 48, 48) and t.labels.shape[1] <= 4
    assert ds.classes == DETECTION_CLASSES == ("circle", "square", "triangle") and ds.num_classes == 3
    assert set(t.labels.unique().tolist()) == {-1, 0, 1, 2}  # ids 0..2, -1 padding, no background id
    counts = t.counts
    assert counts.min() >= 1 and counts.max() == 4 and len(counts.unique()) == 4
    # real objects first, padding rows zero
    assert torch.equal(t.valid, torch.arange(t.labels.shape[1])[None] < counts[:, None])
    assert (t.boxes[~t.valid] == 0).all() and not t.masks[~t.valid].any()


def test_synthetic_set_is_seeded():
    a, b = detection_shapes(n=40, size=32, seed=1), detection_shapes(n=40, size=32, seed=1)
    assert torch.equal(a.images, b.images) and torch.equal(a.targets.boxes, b.targets.boxes)
    assert torch.equal(a.targets.masks, b.targets.masks)
    c = detection_shapes(n=300, size=32, seed=1)  # two chunks, two generators: the second chunk is new images
    assert not torch.equal(c.images[:44], c.images[256:])
    assert not torch.equal(detection_shapes(n=40, size=32, seed=2).images, a.images)


def test_boxes_are_the_tight_boxes_of_the_masks_and_masks_are_disjoint(ds):
    for i in range(60):
        obj = ds.targets.image(i)
        assert obj["masks"].sum(0).max() <= 1  # one visible object per pixel
        for box, mask in zip(obj["boxes"].tolist(), obj["masks"]):
            ys, xs = np.nonzero(mask.numpy())
            assert box == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]  # pixel j spans [j, j + 1]
            assert 0 <= box[0] < box[2] <= 48 and 0 <= box[1] < box[3] <= 48


def test_objects_are_brighter_than_the_background_and_vary(ds):
    img = ds.images.float().amax(1)  # (N, H, W) brightest channel
    fg = ds.targets.masks.any(1)
    assert img[fg].mean() > img[~fg].mean() + 60  # objects 110..255 in some channel, background 0..60 + noise
    b = ds.targets.boxes[ds.targets.valid]
    side = (b[:, 2:] - b[:, :2]).max(1).values
    assert side.min() < 12 and side.max() > 18  # sizes vary (radius 0.08..0.2 of 48 px)
    centres = (b[:, :2] + b[:, 2:]) / 2
    assert centres.std(0).min() > 6  # positions vary


def test_some_objects_overlap(ds):
    from trainlab.nn.boxes import box_iou

    overlapping = 0
    for i in range(len(ds)):
        b = ds.targets.image(i)["boxes"]
        iou = box_iou(b, b).fill_diagonal_(0)
        overlapping += bool((iou > 0).any())
        assert (iou < 0.5).all()  # overlap, but no object hides another
    assert 20 < overlapping < 250


# ---------------------------------------------------------------- Targets
def test_targets_pad_slice_and_compact():
    t = Targets.from_lists([[[0, 0, 2, 2], [1, 1, 3, 3]], [], [[5, 5, 6, 7]]], [[2, 0], [], [1]])
    assert t.boxes.shape == (3, 2, 4) and t.labels.tolist() == [[2, 0], [-1, -1], [1, -1]]
    assert t.counts.tolist() == [2, 0, 1]
    assert t.image(2)["boxes"].tolist() == [[5.0, 5, 6, 7]] and t.image(1)["labels"].numel() == 0
    sub = t[torch.tensor([2, 0])]
    assert sub.labels.tolist() == [[1, -1], [2, 0]] and len(t[1]) == 1
    # drop the first object of image 0: compact moves the second one first and trims the padding
    t.labels[0, 0] = -1
    c = t.compact()
    assert c.labels.tolist() == [[0], [-1], [1]] and c.boxes[0].tolist() == [[1.0, 1, 3, 3]]


def test_the_trainers_tensor_round_trip():
    t = Targets.from_lists([[[0, 0, 2, 2], [1, 1, 3, 3]], [], [[5, 5, 6, 7]]], [[2, 0], [], [1]])
    y = t.to_tensor()
    assert y.dtype == torch.float32 and y.shape == (3, 2, 5)
    assert y[1].tolist() == [[0, 0, 0, 0, -1]] * 2 and y[0, 0].tolist() == [0, 0, 2, 2, 2]
    back = Targets.from_tensor(y)
    assert torch.equal(back.boxes, t.boxes) and torch.equal(back.labels, t.labels) and back.masks is None
    d = detection_shapes(n=5, size=16, seed=0)
    y = d.targets.to_tensor()
    assert y.shape == (5, d.targets.labels.shape[1], 5 + 16 * 16)  # masks flattened after the class
    back = Targets.from_tensor(y, (16, 16))
    assert torch.equal(back.masks, d.targets.masks) and torch.equal(back.labels, d.targets.labels)
    with pytest.raises(TrainlabError, match="must be \\(N, M, 5"):
        Targets.from_tensor(torch.zeros(3, 4))


def test_shapes_boxes_is_the_synthetic_set_with_splits():
    data = load_dataset("shapes-boxes", n=100, size=32, val_fraction=0.2)
    assert data.task == "detection" and data.classes == list(DETECTION_CLASSES) and data.input_shape == (3, 32, 32)
    assert (len(data.train), len(data.val), len(data.test)) == (64, 16, 20)  # test: a fixed 20%
    assert data.train.y.dtype == torch.float32 and data.train.y.shape[1:] == (4, 5)
    whole = detection_shapes(n=100, size=32, seed=0, masks=False)
    every = torch.cat([data.train.x, data.val.x, data.test.x])
    assert sorted(map(bytes, every.numpy())) == sorted(map(bytes, whole.images.numpy()))  # the same images, split
    assert load_dataset("shapes-boxes", n=20, size=16, masks=True).train.y.shape[-1] == 5 + 16 * 16
    with pytest.raises(TrainlabError, match="takes no option 'colour'"):
        load_dataset("shapes-boxes", colour=3)
    with pytest.raises(TrainlabError, match="stretch=9 must be a number in \\[1, 4\\]"):
        load_dataset("shapes-boxes", stretch=9)


def test_stretch_draws_objects_of_several_shapes():
    def aspects(stretch):
        b = detection_shapes(n=150, size=64, stretch=stretch, seed=4, masks=False).targets
        b = b.boxes[b.valid]
        return ((b[:, 2] - b[:, 0]) / (b[:, 3] - b[:, 1])).log()

    plain, long = aspects(1.0), aspects(3.0)
    assert plain.abs().max() < 0.5 and long.abs().quantile(0.75) > 0.5  # boxes from 1:3 to 3:1
    assert torch.equal(detection_shapes(n=8, size=32, seed=1).images,
                       detection_shapes(n=8, size=32, seed=1, stretch=1.0).images)  # no stretch: the same draws


# ---------------------------------------------------------------- COCO and YOLO readers
def _write_images(folder, sizes):
    folder.mkdir(parents=True, exist_ok=True)
    for name, (w, h) in sizes.items():
        a = (np.arange(w * h * 3).reshape(h, w, 3) % 251).astype(np.uint8)
        Image.fromarray(a).save(folder / name)


def _coco(tmp_path, anns, sizes=None):
    sizes = sizes or {"a.png": (40, 30), "b.png": (40, 30)}
    _write_images(tmp_path / "img", sizes)
    doc = {"images": [{"id": i + 1, "file_name": n, "width": w, "height": h}
                      for i, (n, (w, h)) in enumerate(sizes.items())],
           "annotations": anns,
           "categories": [{"id": 7, "name": "dog"}, {"id": 3, "name": "cat"}]}
    (tmp_path / "ann.json").write_text(json.dumps(doc))
    return tmp_path / "ann.json", tmp_path / "img"


def test_coco_reader_boxes_classes_and_resizing(tmp_path):
    anns = [{"id": 1, "image_id": 1, "category_id": 7, "bbox": [2, 3, 10, 5]},
            {"id": 2, "image_id": 1, "category_id": 3, "bbox": [0, 0, 40, 30]},
            {"id": 3, "image_id": 2, "category_id": 3, "bbox": [1, 1, 4, 4], "iscrowd": 1}]
    js, img = _coco(tmp_path, anns)
    ds = load_coco(js, images=img)
    assert ds.classes == ("cat", "dog")  # categories sorted by id: 3 -> 0, 7 -> 1
    assert ds.images.shape == (2, 3, 30, 40)
    assert np.array_equal(ds.images[0].permute(1, 2, 0).numpy(), np.asarray(Image.open(img / "a.png")))
    assert ds.targets.image(0)["boxes"].tolist() == [[2.0, 3, 12, 8], [0, 0, 40, 30]]
    assert ds.targets.image(0)["labels"].tolist() == [1, 0]
    assert ds.targets.image(1)["labels"].numel() == 0  # the crowd box is skipped
    small = load_coco(js, images=img, size=(15, 20), channels=1)
    assert small.images.shape == (2, 1, 15, 20)
    assert small.targets.image(0)["boxes"].tolist() == [[1.0, 1.5, 6, 4], [0, 0, 20, 15]]


@pytest.mark.parametrize("bbox, category, words", [
    ([35, 3, 10, 5], 7, "reaches outside the 40x30 image"),
    ([-2, 3, 10, 5], 7, "reaches outside"),
    ([2, 3, 0, 5], 7, "zero or negative size"),
    ([2, 3, 10, -5], 7, "zero or negative size"),
    ([2, 3, 10, 5], 99, "category_id 99, not in 'categories'"),
    ([2, 3, 10], 7, "must be 4 numbers"),
])
def test_coco_reader_refuses_bad_boxes_in_one_line(tmp_path, bbox, category, words):
    js, img = _coco(tmp_path, [{"id": 5, "image_id": 2, "category_id": category, "bbox": bbox}])
    with pytest.raises(TrainlabError) as e:
        load_coco(js, images=img)
    msg = str(e.value)
    assert words in msg and "\n" not in msg
    assert str(js) in msg and "'b.png'" in msg and "annotation 5" in msg and str(bbox) in msg  # file, image, box


def test_coco_reader_reads_missing_sizes_from_the_images(tmp_path):
    js, img = _coco(tmp_path, [{"id": 1, "image_id": 2, "category_id": 3, "bbox": [30, 20, 10, 10]}])
    doc = json.loads(js.read_text())
    for im in doc["images"]:
        del im["width"], im["height"]
    js.write_text(json.dumps(doc))
    ds = load_coco(js, images=img)
    assert ds.images.shape == (2, 3, 30, 40) and ds.targets.image(1)["boxes"].tolist() == [[30.0, 20, 40, 30]]
    doc["images"][1]["file_name"] = "nope.png"
    js.write_text(json.dumps(doc))
    with pytest.raises(TrainlabError, match="image 'nope.png' not found"):
        load_coco(js, images=img)


def test_coco_reader_refuses_mixed_sizes_and_missing_images(tmp_path):
    js, img = _coco(tmp_path, [], sizes={"a.png": (40, 30), "b.png": (20, 30)})
    with pytest.raises(TrainlabError, match=r"images differ in size .*pass size=\(H, W\)"):
        load_coco(js, images=img)
    assert load_coco(js, images=img, size=16).images.shape == (2, 3, 16, 16)
    (img / "b.png").unlink()
    with pytest.raises(TrainlabError, match="image 'b.png' not found"):
        load_coco(js, images=img, size=16)


def _yolo(tmp_path, lines_a, classes=True):
    _write_images(tmp_path / "data" / "images", {"a.png": (40, 20), "b.png": (40, 20)})
    lab = tmp_path / "data" / "labels"
    lab.mkdir()
    (lab / "a.txt").write_text("\n".join(lines_a) + "\n")
    if classes:
        (lab / "classes.txt").write_text("cat\ndog\n")
    return tmp_path / "data" / "images"


def test_yolo_reader_boxes_classes_and_layout(tmp_path):
    images = _yolo(tmp_path, ["1 0.5 0.5 0.5 0.4", "0 0.125 0.25 0.25 0.5", ""])
    ds = load_yolo(images)  # labels/ found beside images/, names from classes.txt
    assert ds.classes == ("cat", "dog") and ds.images.shape == (2, 3, 20, 40)
    assert ds.targets.image(0)["boxes"].tolist() == [[10.0, 6, 30, 14], [0, 0, 10, 10]]
    assert ds.targets.image(0)["labels"].tolist() == [1, 0]
    assert ds.targets.image(1)["labels"].numel() == 0  # b.png has no label file: no objects
    assert load_yolo(images, classes=["a", "b", "c"], size=(10, 10)).targets.image(0)["boxes"].tolist() == \
        [[2.5, 3, 7.5, 7], [0, 0, 2.5, 5]]


@pytest.mark.parametrize("line, words", [
    ("0 0.9 0.5 0.4 0.2", "reaches outside the 40x20 image"),
    ("0 0.5 0.5 0.0 0.2", "zero or negative size"),
    ("0 0.5 0.5 0.2 -0.2", "zero or negative size"),
    ("2 0.5 0.5 0.2 0.2", "has class 2, but there are 2 classes"),
    ("-1 0.5 0.5 0.2 0.2", "has class -1"),
    ("0 0.5 0.5 0.2", "must be 'class cx cy w h'"),
])
def test_yolo_reader_refuses_bad_boxes_in_one_line(tmp_path, line, words):
    images = _yolo(tmp_path, ["0 0.5 0.5 0.1 0.1", line])
    with pytest.raises(TrainlabError) as e:
        load_yolo(images)
    msg = str(e.value)
    assert words in msg and "\n" not in msg
    assert "a.txt:2" in msg and "'a.png'" in msg and repr(line) in msg


def test_yolo_reader_needs_class_names(tmp_path):
    images = _yolo(tmp_path, ["0 0.5 0.5 0.1 0.1"], classes=False)
    with pytest.raises(TrainlabError, match="classes.txt; pass classes="):
        load_yolo(images)
    assert load_yolo(images, classes=["x"]).classes == ("x",)


# ---------------------------------------------------------------- the readers as datasets of the trainer
def _many(tmp_path, n=10):
    sizes = {f"im{i}.png": (40, 30) for i in range(n)}
    anns = [{"id": i, "image_id": i + 1, "category_id": 3 if i % 2 else 7, "bbox": [2 + i, 3, 10, 5]} for i in range(n)]
    return _coco(tmp_path, anns, sizes)


def test_user_detection_data_by_dataset_string(tmp_path):
    js, img = _many(tmp_path / "coco")
    data = load_dataset(f"coco:{js}", images=str(img), size=[15, 20])
    assert data.task == "detection" and data.classes == ["cat", "dog"] and data.input_shape == (3, 15, 20)
    assert len(data.train) + len(data.val) + len(data.test) == 10 and len(data.test) == 2
    y = torch.cat([data.train.y, data.val.y, data.test.y])
    assert sorted(y[:, 0, 0].tolist()) == [(2 + i) / 2 for i in range(10)]  # x1 scaled with the image
    images = _yolo(tmp_path / "yolo", ["1 0.5 0.5 0.5 0.4"])
    for i in range(8):
        (images / f"c{i}.png").write_bytes((images / "a.png").read_bytes())
    data = load_dataset(f"yolo:{images}", classes=["a", "b"])
    assert data.classes == ["a", "b"] and len(data.train) + len(data.val) + len(data.test) == 10
    with pytest.raises(TrainlabError, match="coco:PATH .* or yolo:PATH"):
        load_dataset("voc:x.xml")


def test_a_bad_box_in_a_user_file_stops_the_command_with_one_line_and_exit_2(tmp_path, capsys):
    from trainlab.cli import main

    js, img = _many(tmp_path)
    doc = json.loads(js.read_text())
    doc["annotations"][3]["bbox"] = [35, 3, 10, 5]  # x + w = 45 > 40
    js.write_text(json.dumps(doc))
    code = main(["train", "--set", f"dataset=coco:{js}", "--set", "model=yolo", "--set", f"runs_dir={tmp_path / 'r'}",
                 "--set", f"dataset_options={{images: {img}}}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert str(js) in err and "'im3.png'" in err and "[35, 3, 10, 5]" in err  # the file, the image, the box
    assert "reaches outside the 40x30 image" in err and "clip it to the image or remove it" in err  # and the fix
    assert not (tmp_path / "r").exists()
