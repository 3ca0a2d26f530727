"""Layers and techniques: activations (incl. Maxout), initializers, normalization, dropout.

    >>> from trainlab.nn.activations import create_activation
    >>> from trainlab.nn.layers import create_norm, create_dropout
    >>> from trainlab.nn.init import init_model

Submodules own their registries (ACTIVATIONS, NORMS, INITS). This file only holds
`check_kwargs`, the shared guard that turns a misspelled hyperparameter into a
one-line TrainlabError instead of a TypeError deep inside a constructor.
"""
from __future__ import annotations

import difflib
import inspect
from typing import Any, Callable, Iterable

from ..errors import TrainlabError


def accepted_kwargs(fn: Callable[..., Any], skip: Iterable[str] = ()) -> list[str]:
    """Keyword names `fn` accepts (minus `skip`), in signature order."""
    names = [
        p.name
        for p in inspect.signature(fn).parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    return [n for n in names if n not in set(skip)]


def check_kwargs(what: str, fn: Callable[..., Any], kw: dict[str, Any], skip: Iterable[str] = ()) -> None:
    """Raise TrainlabError if `kw` has a name `fn` does not accept.

    Example:
        >>> check_kwargs("activation 'elu'", lambda alpha=1.0: None, {"alpah": 2})
        Traceback (most recent call last):
        trainlab.errors.TrainlabError: unknown hyperparameter 'alpah' for activation 'elu' (did you mean 'alpha'?); accepted: alpha
    """
    ok = accepted_kwargs(fn, skip)
    bad = [k for k in kw if k not in ok]
    if bad:
        close = difflib.get_close_matches(str(bad[0]), ok, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise TrainlabError(
            f"unknown hyperparameter {bad[0]!r} for {what}{hint}; accepted: {', '.join(ok) or '(none)'}"
        )
