"""Bad input, as a corpus: run folders (missing files, a hand-edited summary or config) and CLI
arguments."""
from __future__ import annotations

import json

from corpus_base import RUN, TRAIN, case, yaml_file


# ---------------------------------------------------------------- run folders
@case("run", needs_run=True)
def run_without_config(d):
    (d / RUN / "config.yaml").unlink()
    return ["resume", RUN], [RUN, "no config.yaml", "trainlab train"]


@case("run", needs_run=True)
def run_without_checkpoint_pointer(d):
    (d / RUN / "checkpoints" / "latest.json").unlink()
    return ["resume", RUN], [RUN, "no checkpoint yet", "trainlab train"]


@case("run", needs_run=True)
def run_without_preprocessing(d):
    (d / RUN / "checkpoints" / "preprocess.safetensors").unlink()
    return ["evaluate", RUN], ["preprocess.safetensors", "not found"]


@case("run", needs_run=True)
def run_summary_hand_edited_to_bad_json(d):
    (d / RUN / "summary.json").write_text("{status: running,}")
    return ["resume", RUN], ["summary.json", "not valid JSON"]


@case("run", needs_run=True)
def run_summary_hand_edited_to_a_list(d):
    (d / RUN / "summary.json").write_text("[\"running\"]")
    return ["resume", RUN], ["summary.json", "not a JSON object"]


@case("run", needs_run=True)
def run_summary_hand_edited_to_finished(d):
    s = json.loads((d / RUN / "summary.json").read_text())
    (d / RUN / "summary.json").write_text(json.dumps({**s, "status": "finished"}))
    return ["resume", RUN], [RUN, "already ended", "trainlab train"]


@case("run", needs_run=True)
def run_config_hand_edited_wrong_type(d):
    cfg = d / RUN / "config.yaml"
    cfg.write_text(cfg.read_text().replace("epochs: 1\n", "epochs: many\n"))
    return ["resume", RUN], ["config.yaml", "'epochs'"]


@case("run", needs_run=True)
def run_config_not_a_mapping(d):
    (d / RUN / "config.yaml").write_text("- just\n- a list\n")
    return ["evaluate", RUN], ["config.yaml", "not a mapping"]


@case("run")
def run_folder_missing(d):
    return ["resume", "runs/nothing-here"], ["runs/nothing-here", "not found", "trainlab runs"]


@case("run", needs_run=True)
def compare_from_a_run_folder(d):
    return ["compare", "--from", RUN], [RUN, "not a compare folder"]


@case("run", needs_run=True)
def compare_from_a_garbled_experiment(d):
    (d / "runs" / "experiment.json").write_text("{\"arms\": [")
    return ["compare", "--from", "runs"], ["experiment.json", "not valid JSON"]


@case("run", needs_run=True)
def runs_sorted_by_an_unknown_column(d):
    return ["runs", "runs", "--sort", "val_accc"], ["--sort 'val_accc'", "choose one of"]


# ---------------------------------------------------------------- CLI arguments
@case("cli")
def cli_unknown_command(d):
    return ["trian"], ["'trian'", "trainlab --help"]


@case("cli")
def cli_unknown_option(d):
    return ["train", "--epochs", "3"], ["--epochs", "trainlab train --help"]


@case("cli")
def cli_missing_argument(d):
    return ["resume"], ["run", "trainlab resume --help"]


@case("cli")
def cli_choice_not_offered(d):
    return ["evaluate", "runs/x", "--split", "validation"], ["'validation'", "trainlab evaluate --help"]


@case("cli")
def cli_not_a_number(d):
    return ["compare", "c.yaml", "--jobs", "two"], ["'two'", "trainlab compare --help"]


@case("cli")
def cli_set_without_equals(d):
    return ["train", "--set", "lr"], ["--set 'lr'", "key=value"]


@case("cli")
def cli_set_unknown_key(d):
    return ["train", "--set", "lrr=0.1"], ["'lrr'", "did you mean 'lr'"]


@case("cli")
def cli_set_wrong_type(d):
    return ["train", *TRAIN, "--set", "batch_size=big"], ["'batch_size'", "big"]


@case("cli")
def cli_seeds_zero(d):
    base = yaml_file(d, "dataset: digits\nmodel: mlp\n")
    return ["compare", base, "--arm", "a:", "--seeds", "0"], ["--seeds 0", ">= 1"]


@case("cli")
def cli_nproc_zero(d):
    return ["train", *TRAIN, "--nproc", "0"], ["--nproc 0", "at least 1"]


@case("cli")
def cli_unknown_sampler(d):
    base = yaml_file(d, "dataset: digits\nmodel: mlp\n")
    space = yaml_file(d, "lr: {log_uniform: [0.01, 0.3]}\n", "s.yaml")
    return ["search", base, space, "--sampler", "bayes"], ["--sampler 'bayes'", "choose one of"]
