"""Object detection: boxes, data with boxes, augmentation that moves them, yolo / faster_rcnn / mask_rcnn, and mAP.

A self-contained package (it imports only trainlab.errors, trainlab.registry and trainlab.models), laid
out so its parts can later move into the layers: boxes, losses and the detectors to nn/ and models/,
data, formats and augment to data/, metrics to train/.

    >>> from trainlab.detection import create_detector, detection_shapes, evaluate_detections
    >>> ds = detection_shapes(n=64, size=64, seed=0)
    >>> net = create_detector("yolo", in_shape=(3, 64, 64), num_classes=ds.num_classes)
    >>> losses = net(ds.images[:8], ds.targets[:8])         # training: named losses
    >>> detections = net.eval()(ds.images[:8])               # inference: per-image boxes, scores, labels
    >>> scores = evaluate_detections(detections, ds.targets[:8], ds.num_classes)
"""
from . import rcnn  # noqa: F401  (registers faster_rcnn and mask_rcnn)
from .augment import DetectionAugment, check_detection_ops
from .boxes import batched_nms, box_iou, decode, encode, make_anchors, nms, roi_align
from .data import DETECTION_CLASSES, DetectionSet, Targets, detection_shapes
from .formats import load_coco, load_yolo
from .metrics import COCO_THRESHOLDS, DetectionScores, average_precision, evaluate_detections
from .models import DETECTORS, create_detector, make_trunk

__all__ = [
    "DETECTORS", "create_detector", "make_trunk",
    "box_iou", "encode", "decode", "make_anchors", "nms", "batched_nms", "roi_align",
    "Targets", "DetectionSet", "DETECTION_CLASSES", "detection_shapes", "load_coco", "load_yolo",
    "DetectionAugment", "check_detection_ops",
    "COCO_THRESHOLDS", "DetectionScores", "average_precision", "evaluate_detections",
]
