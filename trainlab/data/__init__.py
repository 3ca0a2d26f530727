"""The data layer, the first of the flow: datasets with splits, preprocessing fitted on train, batched
augmentation. Imports only the ground floor (errors, registry, values).

Example:
    >>> from trainlab.data import load_dataset, to_float, create_preprocessing, build_augmentation
    >>> ds = load_dataset("digits")
    >>> pre = create_preprocessing("standardize").fit(to_float(ds.train.x))
"""
from .augment import AUGMENTATIONS, Augmentation, build_augmentation, label_risk_warnings, parse_op_spec
from .core import DATASETS, Dataset, Split, to_float
from .datasets import DATASET_SYMMETRIES, list_datasets, load_dataset
from .preprocess import PREPROCESSING, Preprocessor, create_preprocessing

__all__ = [
    "AUGMENTATIONS", "Augmentation", "build_augmentation", "label_risk_warnings", "parse_op_spec",
    "DATASETS", "DATASET_SYMMETRIES", "Dataset", "Split", "list_datasets", "load_dataset", "to_float",
    "PREPROCESSING", "Preprocessor", "create_preprocessing",
]
