"""Label-changing augmentations: ops that assume a symmetry the dataset's classes lack.

A 6 turned upside down is a 9. Each op declares the symmetry it assumes (`Op.assumes`, e.g.
vflip: "vflip"; rotate above 15 degrees: "rotation"), each built-in dataset the ones its classes
have (`trainlab.data.datasets.DATASET_SYMMETRIES`); a conflict is one warning line. User data
declares nothing, so it gets no warning.

Example:
    >>> from trainlab.data.augment import build_augmentation
    >>> label_risk_warnings(build_augmentation(["hflip", "vflip"]), "fashion-mnist")[0][:48]
    'warning: vflip assumes vertical-flip symmetry, w'
"""
from __future__ import annotations

from typing import Sequence

from ..datasets import SYMMETRIES, dataset_symmetry
from .pipeline import Augmentation


def label_risk_warnings(aug: Augmentation, dataset_name: str, classes: list[str] | None = None,
                        tta: Sequence[tuple[str, str]] = ()) -> list[str]:
    """One 'warning: ...' line per op of `aug` that can change labels of `dataset_name`'s classes,
    and per test-time augmentation view in `tta`, given as (op name, the symmetry it assumes):
    a mirrored 3 scored as a 3 changes the score as much as training on it does.

    `classes` (the dataset's class names) name the classes at risk when the dataset's
    declaration has no words for that symmetry. Empty for unknown datasets (npz:, csv:, folder:).
    """
    declared = dataset_symmetry(dataset_name)
    if declared is None:
        return []
    out = []
    for op in aug.ops:
        for sym in sorted(op.assumed_symmetries() - declared.kept):
            risk = declared.at_risk.get(sym) or _some(classes)
            fix = "drop it or set p=0"
            if op.assumes_above is not None:
                fix = f"drop it, set p=0 or keep magnitude <= {op.assumes_above:g} ({op.unit})"
            out.append(f"warning: {op.name} assumes {SYMMETRIES[sym]}, which the {dataset_name} classes lack "
                       f"({risk}); {fix}")
    for name, sym in tta:
        if sym not in declared.kept:
            risk = declared.at_risk.get(sym) or _some(classes)
            out.append(f"warning: tta {name} assumes {SYMMETRIES[sym]}, which the {dataset_name} classes lack "
                       f"({risk}); remove {name} from tta")
    return out


def _some(classes: list[str] | None) -> str:
    if not classes:
        return "its classes can change meaning"
    names = ", ".join(classes[:3]) + (", ..." if len(classes) > 3 else "")
    return f"{names} can change meaning"
