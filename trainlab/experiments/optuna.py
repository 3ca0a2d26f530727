"""Optuna, the engine behind searches (samplers, pruners, RDB storage on SQLAlchemy): imported here
once, with the one line that says how to install it when it is missing (it comes with the `search`
extra, which scripts/setup.sh installs).
"""
from __future__ import annotations

import warnings

from ..errors import TrainlabError

try:
    import optuna
    import optuna.storages
    import optuna.study
    import optuna.trial
    import sqlalchemy.event  # Optuna's RDB storage is SQLAlchemy; the queue hooks its SQLite transactions
except ImportError:  # pragma: no cover (setup installs it)
    raise TrainlabError("searches and the search claims need Optuna: pip install 'optuna>=3.5' (or run "
                        "bash scripts/setup.sh, which installs trainlab[search])") from None

optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # heartbeat retry, GP sampler

__all__ = ["optuna", "sqlalchemy"]
