"""User-facing errors.

A `TrainlabError` is bad input (a config value, a data file, a checkpoint, a CLI
argument). Its message is one line that names the input and says how to fix it;
the CLI prints it without a traceback and exits with code 2.
"""


class TrainlabError(ValueError):
    """Bad input from the user: one clear line naming the input and the fix."""


def check(cond: bool, message: str) -> None:
    """Raise `TrainlabError(message)` unless `cond` holds."""
    if not cond:
        raise TrainlabError(message)
