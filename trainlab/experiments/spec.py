"""An experiment: a base config, named arms (each a set of overrides) and a number of seeds.

From the command line (`--arm NAME: [KEY=VALUE ...]`, `--set`, `--seeds`) or a YAML file:

    # experiments/dropout-digits.yaml
    base: ../configs/mlp-digits.yaml   # a config file (relative to this file) or a mapping
    set: {epochs: 10}                  # overrides for every arm
    arms:                              # the first arm is the baseline unless `baseline` says otherwise
      none: {}
      dropout: {dropout: 0.5}
    seeds: 5

Every arm's config is built and checked (names, values, options that would do nothing) before
anything trains, so a typo in the fifth arm costs nothing. Runs go to
`runs_dir/<name>/<arm>/seed-<k>` with seed k = 0..seeds-1, and `experiment.json` in the
experiment folder records the spec, so the experiment can be resumed or re-analysed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Config, apply_overrides, make_config, read_yaml, set_key
from ..errors import TrainlabError
from ..training.build import check_config
from ..values import parse_pairs

ARM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=+-]*$")


@dataclass
class Experiment:
    name: str
    base: dict[str, Any]  # the base config's values (every arm starts from these)
    arms: dict[str, dict[str, Any]]  # arm name -> config overrides (already parsed values)
    seeds: int = 5
    baseline: str = ""
    runs_dir: str = "runs"
    source: str = "command line"
    configs: dict[str, Config] = field(default_factory=dict)  # arm -> checked config (seed 0)

    def __post_init__(self) -> None:
        if not isinstance(self.seeds, int) or isinstance(self.seeds, bool) or self.seeds < 1:
            raise TrainlabError(f"{self.source}: seeds {self.seeds!r} must be a whole number >= 1 (5 is a good start)")
        if not self.arms:
            raise TrainlabError(f"{self.source}: no arms; give at least one, e.g. --arm none: --arm dropout: dropout=0.5")
        for arm in self.arms:
            if not ARM_NAME.match(arm):
                raise TrainlabError(f"{self.source}: arm name {arm!r} must be letters, digits, '.', '_', '-', '=' or '+' "
                                    "(it names a folder)")
        self.baseline = self.baseline or next(iter(self.arms))
        if self.baseline not in self.arms:
            raise TrainlabError(f"{self.source}: baseline {self.baseline!r} is not an arm; choose one of: "
                                f"{', '.join(self.arms)}")
        if not ARM_NAME.match(self.name):
            raise TrainlabError(f"{self.source}: experiment name {self.name!r} must be letters, digits, '.', '_' or '-'")

    @property
    def folder(self) -> Path:
        return Path(self.runs_dir) / self.name

    def config(self, arm: str, seed: int) -> Config:
        """The config of one run: base, then the arm's overrides, then its seed, group and name."""
        values = {**self.base, **self.arms[arm], "seed": seed, "group": f"{self.name}/{arm}",
                  "name": f"seed-{seed}", "runs_dir": self.runs_dir}
        return make_config(values, source=f"{self.source}: arm {arm!r}")

    def check(self) -> None:
        """Build and check every arm's config before anything trains (one line per problem)."""
        for arm in self.arms:
            try:
                self.configs[arm] = check_config(self.config(arm, 0))
            except TrainlabError as e:
                msg = str(e)
                raise TrainlabError(msg if msg.startswith(self.source) else f"arm {arm!r}: {msg}") from None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "base": self.base, "arms": self.arms, "seeds": self.seeds,
                "baseline": self.baseline, "runs_dir": self.runs_dir}


def parse_arm(tokens: list[str]) -> tuple[str, list[str]]:
    """['dropout:', 'dropout=0.5'] or ['dropout:dropout=0.5'] -> ('dropout', ['dropout=0.5'])."""
    first, rest = tokens[0], list(tokens[1:])
    name, colon, tail = first.partition(":")
    if not colon:
        raise TrainlabError(f"--arm {' '.join(tokens)!r}: write NAME: [KEY=VALUE ...], e.g. --arm dropout: dropout=0.5")
    return name.strip(), ([tail.strip()] if tail.strip() else []) + rest


def arm_overrides(arm: str, items: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """The values an arm changes (key: value, dotted keys reach into dicts), checked against the config's keys."""
    full = dict(base)
    for key, value in items.items():
        full = set_key(full, key, value, f"arm {arm!r}: {key}={value!r}")
    return {k: v for k, v in full.items() if k not in base or base[k] != v}


def from_cli(config: str | None, arms: list[list[str]], sets: list[str], seeds: int, name: str | None,
             baseline: str | None, runs_dir: str | None = None) -> Experiment:
    base = read_yaml(config) if config else {}
    base = apply_overrides(base, sets)
    parsed: dict[str, dict[str, Any]] = {}
    for tokens in arms:
        arm, items = parse_arm(tokens)
        if arm in parsed:
            raise TrainlabError(f"--arm {arm!r} is given twice; give each arm a name of its own")
        parsed[arm] = arm_overrides(arm, parse_pairs(items, f"--arm {arm}:", "dropout=0.5"), base)
    stem = Path(config).stem if config else "compare"
    return Experiment(name=name or f"compare-{stem}", base=base, arms=parsed, seeds=seeds, baseline=baseline or "",
                      runs_dir=runs_dir or str(base.get("runs_dir", "runs")))


def from_yaml(path: str | Path, *, seeds: int | None = None, name: str | None = None, sets: list[str] = (),
              runs_dir: str | None = None, baseline: str | None = None) -> Experiment:
    """An experiment file; command-line --seeds, --name, --set and --baseline win over it."""
    path = Path(path)
    data = read_yaml(path)
    known = {"base", "set", "arms", "seeds", "baseline", "name", "description", "metric"}
    extra = sorted(set(data) - known)
    if extra:
        raise TrainlabError(f"experiment file {str(path)!r}: unknown key {extra[0]!r}; keys: {', '.join(sorted(known))}")
    base_spec = data.get("base", {})
    if isinstance(base_spec, str):
        base_path = (path.parent / base_spec) if not Path(base_spec).is_absolute() else Path(base_spec)
        base = read_yaml(base_path)
    elif isinstance(base_spec, dict):
        base = dict(base_spec)
    else:
        raise TrainlabError(f"experiment file {str(path)!r}: base must be a config path or a mapping")
    base.update(data.get("set") or {})
    base = apply_overrides(base, list(sets))
    arms = data.get("arms")
    if not isinstance(arms, dict):
        raise TrainlabError(f"experiment file {str(path)!r}: arms must be a mapping of name: {{key: value}}")
    parsed = {}
    for arm, over in arms.items():
        if over is not None and not isinstance(over, dict):
            raise TrainlabError(f"experiment file {str(path)!r}: arm {arm!r} must be a mapping of key: value")
        parsed[str(arm)] = arm_overrides(str(arm), dict(over or {}), base)
    return Experiment(name=name or str(data.get("name") or path.stem), base=base, arms=parsed,
                      seeds=seeds if seeds is not None else int(data.get("seeds", 5)),
                      baseline=baseline or str(data.get("baseline") or ""),
                      runs_dir=runs_dir or str(base.get("runs_dir", "runs")), source=str(path))
