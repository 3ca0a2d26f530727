"""A user's own detection data: COCO JSON or YOLO text files, images from a folder, into a DetectionSet,
and as the trainer's datasets `coco:PATH` (PATH the JSON file) and `yolo:PATH` (PATH the image folder).

COCO (one JSON file):
    {"images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48}, ...],  (width, height optional)
     "annotations": [{"id": 7, "image_id": 1, "category_id": 3, "bbox": [x, y, w, h]}, ...],
     "categories": [{"id": 3, "name": "cat"}, ...]}
    bbox is the top-left corner and size in pixels. Categories sorted by id become class ids 0..K-1.
    Annotations with "iscrowd": 1 are skipped (COCO's evaluation ignores them too).
YOLO (one text file per image, same stem, in `labels`): a line per object,
    class cx cy w h
    class an integer 0..K-1, the centre and size as fractions of the image width and height.
    An image without a label file has no objects.

Every image must have the same size unless `size=(H, W)` is given: then each image is resized
(bilinear) and its boxes scaled with it. A bad box (outside the image, zero or negative size, an
unknown class, a malformed line) raises a one-line TrainlabError naming the file, the image, the box
and the fix. Instance masks are not read (targets.masks is None).

    >>> ds = load_coco("data/train.json", images="data/train")          # doctest: +SKIP
    >>> ds = load_yolo("data/images", classes=["cat", "dog"], size=64)  # doctest: +SKIP

In a config: `dataset: coco:data/train.json` with `dataset_options: {images: data/train, size: [64, 64]}`,
or `dataset: yolo:data/images` with `dataset_options: {classes: [cat, dog]}`; the test split is a fixed
20% of the images and the validation split `val_fraction` of the rest.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..errors import TrainlabError, check
from .core import DATASETS
from .detection import DetectionSet, Targets

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
_SLACK = 1e-3  # pixels: a box may poke out by float rounding (x + w = 64.0004); it is clipped, not refused


def load_coco(annotations: str | Path, images: str | Path | None = None, *, size: int | tuple[int, int] | None = None,
              channels: int = 3) -> DetectionSet:
    """Images listed in a COCO JSON file (read from `images`, default: the JSON's folder) with their boxes."""
    path = Path(annotations)
    check(path.is_file(), f"{path}: COCO annotation file not found; pass the path of the JSON file")
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise TrainlabError(f"{path}: not valid JSON ({e}); a COCO file is one JSON object") from None
    check(isinstance(doc, dict) and all(isinstance(doc.get(k), list) for k in ("images", "annotations", "categories")),
          f"{path}: a COCO file needs the lists 'images', 'annotations' and 'categories'")
    folder = Path(images) if images is not None else path.parent
    for c in doc["categories"]:
        check(isinstance(c, dict) and isinstance(c.get("id"), int),
              f"{path}: category {c!r} needs an integer id; give each category an id and a name")
    cats = sorted(doc["categories"], key=lambda c: c["id"])
    class_of = {c["id"]: k for k, c in enumerate(cats)}
    entries = {}
    for im in doc["images"]:
        check(isinstance(im, dict) and "id" in im and "file_name" in im,
              f"{path}: image entry {im!r} needs an id and a file_name")
        if "width" not in im or "height" not in im:  # optional in some exports: read them from the image
            check((folder / im["file_name"]).is_file(), f"{path}: image {im['file_name']!r} not found in {folder}; "
                  "pass the image folder as images=")
            im = {**im, "height": _image_size(folder / im["file_name"])[0],
                  "width": _image_size(folder / im["file_name"])[1]}
        entries[im["id"]] = (im, [], [])
    for ann in doc["annotations"]:
        if ann.get("iscrowd", 0):
            continue
        im, boxes, labels = entries.get(ann.get("image_id"), (None, None, None))
        check(im is not None, f"{path}: annotation {ann.get('id')} refers to image_id {ann.get('image_id')!r}, "
              "which is not in 'images'; add the image or remove the annotation")
        where = f"{path}: annotation {ann.get('id')} of image {im['file_name']!r}: bbox {ann.get('bbox')!r}"
        bbox = ann.get("bbox")
        check(isinstance(bbox, list) and len(bbox) == 4 and all(_finite(v) for v in bbox),
              f"{where} must be 4 numbers [x, y, width, height] in pixels")
        check(ann.get("category_id") in class_of,
              f"{where} has category_id {ann.get('category_id')!r}, not in 'categories' (ids "
              f"{sorted(class_of)}); add the category or fix the id")
        x, y, w, h = map(float, bbox)
        boxes.append(_checked(x, y, x + w, y + h, im["width"], im["height"], where + " ([x, y, width, height])"))
        labels.append(class_of[ann["category_id"]])
    files = [(folder / im["file_name"], (im["height"], im["width"]), b, lab) for im, b, lab in entries.values()]
    return _assemble(files, tuple(str(c.get("name", c["id"])) for c in cats), size, channels, str(path))


def load_yolo(images: str | Path, labels: str | Path | None = None, *, classes: Sequence[str] | None = None,
              size: int | tuple[int, int] | None = None, channels: int = 3) -> DetectionSet:
    """Every image in the folder `images` with the boxes of `labels/<stem>.txt` (YOLO text format).

    labels defaults to the sibling folder `labels` when `images` is named `images` (the YOLO layout
    data/images/a.jpg, data/labels/a.txt), else to `images` itself. classes names the ids 0..K-1;
    without it, `classes.txt` (one name per line) in the labels folder is read.
    """
    folder = Path(images)
    check(folder.is_dir(), f"{folder}: image folder not found; pass the folder holding the images")
    if labels is None:
        labels = folder.parent / "labels" if folder.name == "images" and (folder.parent / "labels").is_dir() else folder
    labels = Path(labels)
    if classes is None:
        names = labels / "classes.txt"
        check(names.is_file(), f"{labels}: no classes.txt; pass classes=[...] (the names of ids 0, 1, ...) "
              "or write one class name per line in classes.txt")
        classes = [line.strip() for line in names.read_text().splitlines() if line.strip()]
    classes = tuple(classes)
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    check(len(paths) > 0, f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}); point images= at the image folder")
    files = []
    for p in paths:
        hw = _image_size(p)
        boxes, labs = [], []
        txt = labels / (p.stem + ".txt")
        lines = txt.read_text().splitlines() if txt.is_file() else []
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"{txt}:{n}: box {line.strip()!r} of image {p.name!r}"
            parts = line.split()
            check(len(parts) == 5 and parts[0].lstrip("-").isdigit() and all(_finite(v) for v in parts[1:]),
                  f"{where} must be 'class cx cy w h': an integer class and 4 numbers")
            k, (cx, cy, w, h) = int(parts[0]), map(float, parts[1:])
            check(0 <= k < len(classes), f"{where} has class {k}, but there are {len(classes)} classes (0.."
                  f"{len(classes) - 1}: {', '.join(classes)}); fix the id or add the class")
            H, W = hw
            box = _checked((cx - w / 2) * W, (cy - h / 2) * H, (cx + w / 2) * W, (cy + h / 2) * H, W, H,
                           where + " (centre and size are fractions of the image, in [0, 1])")
            boxes.append(box)
            labs.append(k)
        files.append((p, hw, boxes, labs))
    return _assemble(files, classes, size, channels, str(folder))


def _finite(v) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _checked(x1: float, y1: float, x2: float, y2: float, width: int, height: int, where: str) -> list[float]:
    """The box clipped by at most _SLACK pixels, or a one-line error saying what is wrong with it."""
    check(x2 > x1 and y2 > y1, f"{where} has zero or negative size ({x2 - x1:g} x {y2 - y1:g} pixels); "
          "width and height must be > 0: fix or remove it")
    out = x1 < -_SLACK or y1 < -_SLACK or x2 > width + _SLACK or y2 > height + _SLACK
    check(not out, f"{where} reaches outside the {width}x{height} image (corners ({x1:g}, {y1:g}) and "
          f"({x2:g}, {y2:g}) pixels); clip it to the image or remove it")
    return [max(x1, 0.0), max(y1, 0.0), min(x2, float(width)), min(y2, float(height))]


def _image_size(p: Path) -> tuple[int, int]:
    try:
        with Image.open(p) as im:
            return im.height, im.width
    except (UnidentifiedImageError, OSError):
        raise TrainlabError(f"{p}: not a readable image; remove it or replace it with a PNG or JPEG") from None


def _assemble(files, classes, size, channels: int, source: str) -> DetectionSet:
    """Read the images, check or unify their size, scale the boxes; files = [(path, (H, W), boxes, labels)]."""
    check(channels in (1, 3), f"channels={channels} must be 1 (gray) or 3 (RGB)")
    check(len(files) > 0, f"{source}: no images listed; add images or point at another file")
    if size is not None:
        size = (size, size) if isinstance(size, int) else tuple(size)
    else:
        sizes = {}
        for p, _, _, _ in files:
            sizes.setdefault(_image_size(p) if p.is_file() else None, p)
        check(len(sizes) == 1 or None in sizes, f"{source}: images differ in size ("
              + ", ".join(f"{p.name} {s[1]}x{s[0]}" for s, p in list(sizes.items())[:2])
              + "); pass size=(H, W) to resize them all")
    arrays, all_boxes, all_labels = [], [], []
    for p, (h, w), boxes, labels in files:
        check(p.is_file(), f"{source}: image {p.name!r} not found in {p.parent}; pass the image folder as images=")
        with Image.open(p) as im:
            check((im.height, im.width) == (h, w), f"{source}: image {p.name!r} is {im.width}x{im.height} but "
                  f"the annotation says {w}x{h}; fix width/height in the annotation file")
            im = im.convert("RGB" if channels == 3 else "L")
            target = size or (h, w)
            if target != (h, w):
                im = im.resize((target[1], target[0]), Image.BILINEAR)
            a = np.asarray(im, dtype=np.uint8)
        arrays.append(a.reshape(target[0], target[1], channels).transpose(2, 0, 1))
        scale = np.array([target[1] / w, target[0] / h] * 2, dtype=np.float32)
        all_boxes.append(np.asarray(boxes, dtype=np.float32).reshape(-1, 4) * scale)
        all_labels.append(labels)
    return DetectionSet(torch.from_numpy(np.stack(arrays)), Targets.from_lists(all_boxes, all_labels), tuple(classes))


def _arrays(ds: DetectionSet) -> dict:
    return {"train": (ds.images.numpy(), ds.targets.to_tensor().numpy()), "test": None, "classes": list(ds.classes),
            "task": "detection"}


@DATASETS.register("coco:PATH", description="your detection data: boxes in a COCO JSON file (coco:PATH/to.json; "
                   "images= their folder, default the JSON's; size=(H, W) resizes); test = fixed 20%")
def coco_dataset(path: Path, images: str | None = None, size: int | list[int] | None = None,
                 channels: int = 3) -> dict:
    return _arrays(load_coco(path, images, size=size, channels=channels))


@DATASETS.register("yolo:PATH", description="your detection data: YOLO text labels (yolo:PATH/to/images; labels= "
                   "their folder, classes= names or labels/classes.txt; size=(H, W) resizes); test = fixed 20%")
def yolo_dataset(path: Path, labels: str | None = None, classes: list[str] | None = None,
                 size: int | list[int] | None = None, channels: int = 3) -> dict:
    return _arrays(load_yolo(path, labels, classes=classes, size=size, channels=channels))
