"""`poly`: a regression dataset made from a seed, for deck 004's polynomial fit.

Deck 004 fits f(x) = sum_k theta_k x^k to a few noisy points by regularized least squares,
min sum_i (f(x_i) - y_i)^2 + lambda ||theta||^2, and shows a low lambda overfitting, a medium
one fitting and a high one underfitting. Here x ~ U[-1, 1] and y = sin(pi x) + N(0, noise^2):
a smooth curve that a degree-1 fit underfits and that a high degree on few points overfits
(model `polyfit`, penalty l2, loss mse).

The training points and the test points come from two generators seeded with data_seed, so
the test set (n_test fresh points) does not move when n_train changes.

    >>> x, y = poly_points(5, noise=0.0, rng=np.random.default_rng(0))
    >>> x.shape, y.dtype, bool(np.allclose(y, np.sin(np.pi * x)))
    ((5, 1), dtype('float32'), True)
"""
from __future__ import annotations

import numpy as np

from ..errors import TrainlabError
from .core import DATASETS


def poly_points(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n points: x (n, 1) uniform in [-1, 1], y (n, 1) = sin(pi x) + noise * N(0, 1); float32."""
    x = rng.uniform(-1.0, 1.0, (n, 1))
    y = np.sin(np.pi * x) + noise * rng.standard_normal((n, 1))
    return x.astype(np.float32), y.astype(np.float32)


@DATASETS.register("poly", description="regression: x ~ U[-1, 1], y = sin(pi x) + N(0, noise^2) (n_train=20, "
                   "noise=0.2, n_test=500, data_seed=0); validation = val_fraction of the n_train points; "
                   "test = n_test fresh points")
def poly_dataset(n_train: int = 20, noise: float = 0.2, n_test: int = 500, data_seed: int = 0) -> dict:
    for what, n, low in (("n_train", n_train, 3), ("n_test", n_test, 1)):
        if not isinstance(n, int) or isinstance(n, bool) or n < low:
            raise TrainlabError(f"poly: {what}={n!r} must be an integer of at least {low}")
    if not isinstance(noise, (int, float)) or isinstance(noise, bool) or noise < 0:
        raise TrainlabError(f"poly: noise={noise!r} must be a number >= 0 (the targets' standard deviation)")
    train = poly_points(n_train, noise, np.random.default_rng([data_seed, 0]))
    test = poly_points(n_test, noise, np.random.default_rng([data_seed, 1]))
    return {"train": train, "test": test, "classes": ["y"], "task": "regression"}
