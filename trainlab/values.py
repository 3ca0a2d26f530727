"""One parser for every `key=value` the CLI takes and every YAML file trainlab reads.

PyYAML follows YAML 1.1, which reads `1e-8` (no dot) as the string "1e-8". Every
value trainlab parses goes through `Loader`, which reads it as the float it is
meant to be, at any depth (`[1e-3, 1e-2]`, `{eps: 1e-8}`), so `--set`,
`augment --ops`, `schedule --set`, `summary --set` and config files cannot drift.

    >>> parse_value("1e-8"), parse_value("[1e-3, 2]"), parse_value("true"), parse_value("relu")
    (1e-08, [0.001, 2], True, 'relu')
    >>> parse_pairs(["lr=1e-3", "betas=[0.9, 0.99]"], flag="--set")
    {'lr': 0.001, 'betas': [0.9, 0.99]}
"""
from __future__ import annotations

import re
from typing import Any

import yaml

from .errors import TrainlabError


class Loader(yaml.SafeLoader):
    """SafeLoader that also reads 1e-3, 1E+5 and -2e10 as floats (YAML 1.2 style)."""


_FLOAT = re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""", re.X)
Loader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def _mapping(loader: Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    """A mapping whose keys are unique: YAML says so, PyYAML keeps the last silently."""
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                       lambda loader, node: _mapping(loader, node, deep=True))


def load_yaml(text: str) -> Any:
    """YAML text to Python values (safe: no objects), numbers read as numbers."""
    return yaml.load(text, Loader=Loader)  # noqa: S506 - Loader is a SafeLoader


def parse_value(raw: str) -> Any:
    """One CLI value: YAML scalars and lists (`0.1`, `1e-8`, `true`, `[16, 32]`); an empty
    value is None; text that is not valid YAML (`a: b: c`) stays the text it is."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        return load_yaml(raw)
    except yaml.YAMLError:
        return raw


def split_pair(item: str, flag: str, example: str = "lr=0.01") -> tuple[str, Any]:
    """'key=value' -> (key, parsed value), or one line naming the flag and the fix."""
    key, sep, raw = str(item).partition("=")
    key = key.strip()
    if not sep or not key:
        raise TrainlabError(f"{flag} {item!r}: expected key=value, e.g. {flag} {example}")
    return key, parse_value(raw)


def parse_pairs(items: list[str], flag: str = "--set", example: str = "lr=0.01") -> dict[str, Any]:
    """['a=1', 'b=[1, 2]'] -> {'a': 1, 'b': [1, 2]}; a key given twice keeps the last value."""
    return dict(split_pair(item, flag, example) for item in items)
