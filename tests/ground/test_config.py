import pytest
import yaml

from trainlab.config import Config, apply_overrides, config_help, load_config
from trainlab.errors import TrainlabError


def test_defaults_are_all_written_out():
    d = Config().resolved()
    assert set(d) == set(Config.model_fields)
    assert d["lr"] == Config.model_fields["lr"].default


def test_overrides_are_typed_and_dotted():
    cfg = load_config(None, ["lr=0.01", "epochs=3", "augment=[hflip, 'crop:magnitude=2']",
                             "optimizer_options.momentum=0.95", "clip_norm=1"])
    assert cfg.lr == 0.01 and cfg.epochs == 3
    assert cfg.augment == ["hflip", "crop:magnitude=2"]
    assert cfg.optimizer_options == {"momentum": 0.95}
    assert cfg.clip_norm == 1.0


@pytest.mark.parametrize("item, words", [
    ("lrr=0.1", ["unknown key 'lrr'", "did you mean 'lr'"]),
    ("lr", ["expected key=value"]),
    ("lr=-1", ["'lr'", "greater than 0"]),
    ("epochs=three", ["'epochs'", "integer"]),
    ("val_fraction=1.5", ["'val_fraction'"]),
    ("dropout=1.0", ["'dropout'"]),
    ("device=tpu", ["'device'"]),
    ("monitor=accuracy", ["'monitor'"]),
])
def test_bad_values_give_one_line(item, words):
    with pytest.raises(TrainlabError) as e:
        load_config(None, [item])
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg


def test_yaml_file_errors(tmp_path):
    with pytest.raises(TrainlabError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("lr: [1, 2\n")
    with pytest.raises(TrainlabError, match="not valid YAML"):
        load_config(bad)
    lst = tmp_path / "list.yaml"
    lst.write_text("- a\n- b\n")
    with pytest.raises(TrainlabError, match="mapping"):
        load_config(lst)
    unk = tmp_path / "unk.yaml"
    unk.write_text("epoch: 3\n")
    with pytest.raises(TrainlabError, match="unknown key 'epoch'.*'epochs'"):
        load_config(unk)


def test_file_then_overrides(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text(yaml.safe_dump({"lr": 0.2, "model": "mlp"}))
    cfg = load_config(f, ["lr=0.3"])
    assert cfg.lr == 0.3 and cfg.model == "mlp"
    assert apply_overrides({"a": 1}, []) == {"a": 1}


def test_help_lists_every_key_with_comment():
    text = config_help()
    for key in Config.model_fields:
        assert key in text
    assert "base learning rate" in text
