"""Bad input, as a corpus: configs (unknown keys, wrong types, out-of-range values, YAML that is
not a mapping, an empty file, a binary file)."""
from __future__ import annotations

from corpus_base import TRAIN, case, yaml_file


# ---------------------------------------------------------------- configs
@case("config")
def config_unknown_key(d):
    return (["train", yaml_file(d, "dataset: digits\nmodel: mlp\ndropuot: 0.5\n")],
            ["'dropuot'", "did you mean 'dropout'"])


@case("config")
def config_wrong_type(d):
    return ["train", yaml_file(d, "dataset: digits\nmodel: mlp\nepochs: three\n")], ["c.yaml", "'epochs'", "three"]


@case("config")
def config_out_of_range(d):
    return ["train", yaml_file(d, "dataset: digits\nmodel: mlp\nlr: -0.1\n")], ["c.yaml", "'lr'", "greater than 0"]


@case("config")
def config_fraction_out_of_range(d):
    return ["train", yaml_file(d, "dataset: digits\nval_fraction: 1.5\n")], ["'val_fraction'", "less than 1"]


@case("config")
def config_list_not_mapping(d):
    return ["train", yaml_file(d, "- dataset: digits\n- model: mlp\n")], ["c.yaml", "mapping of key: value"]


@case("config")
def config_scalar_not_mapping(d):
    return ["train", yaml_file(d, "digits\n")], ["c.yaml", "mapping of key: value"]


@case("config")
def config_empty_file(d):  # the overrides keep a regression cheap: it would train digits, not the default
    return ["train", yaml_file(d, ""), *TRAIN], ["c.yaml", "is empty"]


@case("config")
def config_binary_file(d):
    return ["train", yaml_file(d, bytes(range(256)) * 4)], ["c.yaml", "not valid YAML"]


@case("config")
def config_broken_yaml(d):
    return ["train", yaml_file(d, "dataset: digits\naugment: [hflip, crop\n")], ["c.yaml", "not valid YAML", "line"]


@case("config")
def config_duplicate_key(d):
    return ["train", yaml_file(d, "dataset: digits\nlr: 0.1\nlr: 0.2\n")], ["c.yaml", "duplicate key 'lr'"]


@case("config")
def config_unknown_model(d):
    return ["train", yaml_file(d, "dataset: digits\nmodel: resnet9000\n")], ["resnet9000", "choose one of"]


@case("config")
def config_option_that_does_nothing(d):
    return ["train", yaml_file(d, "dataset: digits\nmodel: mlp\npenalty: l2\n")], ["penalty", "penalty_strength"]


@case("config")
def config_missing_file(d):
    return ["train", "nowhere.yaml"], ["nowhere.yaml", "not found"]


@case("config")
def config_nested_not_mapping(d):
    return ["train", yaml_file(d, "dataset: digits\nmodel: mlp\nmodel_options: 5\n")], ["'model_options'", "dictionary"]
