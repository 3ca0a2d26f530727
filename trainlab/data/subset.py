"""Select part of a dataset: some classes, a few labels per class, a random subset.

Applied to whatever way the data arrives (loaded by name, or passed to `train(data=...)`),
always in this order: classes (relabelled 0..k-1 in the order given), then train_per_class,
then train_subset. Draws come from a generator seeded with `data_seed`, so the selection
does not move with the run's `seed`.

    >>> ds = subset(load_dataset("digits"), classes=[3, 8], train_per_class=5)   # doctest: +SKIP
    >>> ds.classes, len(ds.train.y)                                              # doctest: +SKIP
    (['3', '8'], 10)
"""
from __future__ import annotations

import copy
from typing import Sequence

import torch
import torch.nn.functional as F

from ..errors import TrainlabError


def subset(data, *, classes: Sequence[int] | None = None, train_per_class: int | None = None,
           train_subset: int | None = None, seed: int = 0, name: str = "dataset"):
    """A copy of `data` (a Dataset) with the selection applied; `data` itself is not changed."""
    if classes is None and train_per_class is None and train_subset is None:
        return data
    data = copy.copy(data)
    Split = type(data.train)
    if classes is not None:
        classes = list(classes)
        if data.task != "classification":
            raise TrainlabError(f"classes: {classes} selects classes of a classification dataset; {name!r} is {data.task}")
        bad = [c for c in classes if not 0 <= c < data.num_classes]
        if bad or len(set(classes)) != len(classes) or len(classes) < 2:
            raise TrainlabError(f"classes: {classes} must be two or more distinct ids in 0..{data.num_classes - 1}")
        lut = torch.full((data.num_classes,), -1, dtype=torch.int64)
        lut[torch.tensor(classes)] = torch.arange(len(classes))
        for split in ("train", "val", "test"):
            s = getattr(data, split)
            keep = lut[s.y] >= 0
            setattr(data, split, Split(s.x[keep], lut[s.y[keep]]))
        data.classes = [data.classes[c] for c in classes]
    g = torch.Generator().manual_seed(seed)
    if train_per_class is not None:
        if data.task != "classification":
            raise TrainlabError(f"train_per_class: {train_per_class} needs a classification dataset; {name!r} is "
                                f"{data.task}: use train_subset")
        counts = torch.bincount(data.train.y, minlength=data.num_classes)
        if int(counts.min()) < train_per_class:
            c = int(counts.argmin())
            raise TrainlabError(f"train_per_class: {train_per_class} is more than the {int(counts.min()):,} training "
                                f"examples of class {data.classes[c]!r} in {name!r} (after the validation split); set "
                                f"train_per_class <= {int(counts.min())} or remove it")
        order = torch.randperm(len(data.train.y), generator=g)
        y = data.train.y[order]
        # rank of each example within its class, in the seeded order: keep the first train_per_class
        onehot = F.one_hot(y, data.num_classes)
        rank = (onehot.cumsum(0) * onehot).sum(1) - 1
        keep = order[rank < train_per_class].sort().values
        data.train = Split(data.train.x[keep], data.train.y[keep])
    if train_subset is not None and train_subset > len(data.train.y):
        raise TrainlabError(f"train_subset: {train_subset} is more than the {len(data.train.y):,} training examples "
                            f"of {name!r} (after the validation split and the other selections); set train_subset <= "
                            f"{len(data.train.y)} or remove it")
    if train_subset is not None and train_subset < len(data.train.y):
        keep = torch.randperm(len(data.train.y), generator=g)[:train_subset].sort().values
        data.train = Split(data.train.x[keep], data.train.y[keep])
    return data
