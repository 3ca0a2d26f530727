"""One small registry used by every kind (datasets, models, optimizers, ...), and `check_kwargs`,
the shared guard that turns a misspelled hyperparameter of an entry into a one-line TrainlabError
instead of a TypeError deep inside a constructor.

Example:
    >>> from trainlab.registry import Registry
    >>> acts = Registry("activation")
    >>> @acts.register("relu", description="max(0, x)")
    ... def relu(): ...
    >>> acts.list()
    ['relu']
"""
from __future__ import annotations

import difflib
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from .errors import TrainlabError


@dataclass(frozen=True)
class Entry:
    name: str
    fn: Callable[..., Any]
    description: str  # one line: a formula or definition, shown by `trainlab list KIND`
    tags: tuple[str, ...] = ()  # what sets an entry apart within its kind, e.g. ("detection",) for a detector


class Registry:
    def __init__(self, kind: str):
        self.kind = kind  # singular noun used in messages, e.g. "model"
        self._entries: dict[str, Entry] = {}

    def register(self, name: str | None = None, *, description: str = "", fn: Callable | None = None,
                 tags: Iterable[str] = ()):
        """Register `fn` under `name`; usable as a decorator or called with `fn=`. `tags` mark a
        group of entries that `list(tag=...)` picks out (the models' detectors)."""

        def add(f: Callable) -> Callable:
            key = name or f.__name__
            if key in self._entries:
                raise KeyError(f"{self.kind} {key!r} registered twice")
            doc = description or (f.__doc__ or "").strip().splitlines()[0:1]
            self._entries[key] = Entry(key, f, doc if isinstance(doc, str) else (doc[0] if doc else ""), tuple(tags))
            return f

        return add(fn) if fn is not None else add

    def get(self, name: str) -> Callable[..., Any]:
        if name not in self._entries:
            raise TrainlabError(self.unknown_message(name))
        return self._entries[name].fn

    def create(self, name: str, *args: Any, **kw: Any) -> Any:
        """Build the entry `name` with the given arguments."""
        return self.get(name)(*args, **kw)

    def unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(str(name), self.list(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown {self.kind} {name!r}{hint}; choose one of: {', '.join(self.list())}"

    def list(self, tag: str | None = None) -> list[str]:
        """Every name, sorted; with `tag`, the names of the entries that carry it."""
        return sorted(k for k, e in self._entries.items() if tag is None or tag in e.tags)

    def entries(self) -> list[Entry]:
        return [self._entries[k] for k in self.list()]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)


# ---------------------------------------------------------------- keyword checks shared by every registry's entries
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
