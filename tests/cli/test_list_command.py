"""`trainlab list`: the kinds with what they are, every kind's table, dropout variants and modes."""
import pytest

from trainlab.cli import main
from trainlab.cli.listing import ALIASES, KINDS, registries


def run(capsys, *argv):
    code = main(["list", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_without_kind_lists_every_kind_one_line_each(capsys):
    code, out, err = run(capsys)
    assert code == 0 and not err
    lines = [line for line in out.splitlines() if line.startswith("  ")]
    assert [line.split()[0] for line in lines] == list(KINDS)
    for line, (_, _, what) in zip(lines, KINDS.values()):
        assert line.rstrip().endswith(what) and len(line.split()) > 2  # the kind and what it is


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_lists_every_name(kind, capsys):
    code, out, err = run(capsys, kind)
    assert code == 0 and not err
    for reg in registries(kind):
        assert f"({len(reg)})" in out
        for name in reg.list():
            assert name in out, (kind, name)


def test_dropouts_show_variants_modes_and_formulas(capsys):
    code, out, _ = run(capsys, "dropouts")
    assert code == 0
    words = " ".join(out.replace("│", " ").split())  # table cells wrap: compare the words in order
    for name in ("standard", "spatial", "path", "inverted", "classic"):
        assert name in words
    assert "dropout variants (3)" in words and "dropout modes (2)" in words
    assert "x * m / (1-p); eval: x" in words  # inverted
    assert "eval: x * (1-p)" in words  # classic: the lecture's test-time scaling
    assert "stochastic depth" in words and "feature maps" in words


def test_singular_kind_is_the_plural(capsys):
    assert ALIASES["dropout"] == "dropouts" and ALIASES["penalty"] == "penalties"
    assert run(capsys, "dropout")[1] == run(capsys, "dropouts")[1]
    assert run(capsys, "model")[1] == run(capsys, "models")[1]


def test_augmentations_still_listed(capsys):
    from trainlab.data.augment import AUGMENTATIONS

    code, out, _ = run(capsys, "augmentations")
    assert code == 0 and f"augmentations ({len(AUGMENTATIONS)})" in out
    assert all(name in out for name in AUGMENTATIONS.list())


@pytest.mark.parametrize("kind, hint", [("gizmos", ""), ("dropuot", " (did you mean 'dropouts'?)"),
                                        ("optimiser", " (did you mean 'optimizers'?)")])
def test_unknown_kind_is_one_line_exit_2(kind, hint, capsys):
    code, out, err = run(capsys, kind)
    assert code == 2 and not out
    assert err.strip() == (f"trainlab list: error: unknown kind {kind!r} for `trainlab list`{hint}; "
                           f"choose one of: {', '.join(KINDS)}")


def test_every_technique_names_a_key_that_a_config_or_model_takes():
    # `trainlab list techniques` is only true if each key it prints switches the technique on
    import inspect

    from trainlab.config import Config
    from trainlab.data.augment import build_augmentation
    from trainlab.models.convnet import convnet
    from trainlab.optim.transforms import TRANSFORMS
    from trainlab.training.techniques import TECHNIQUES

    model_options = set(inspect.signature(convnet).parameters)
    for name in TECHNIQUES.list():
        entry = TECHNIQUES._entries[name]
        key = entry.description.split(" -- ")[0]
        first = key.split(":")[0]
        if first == "model_options":
            assert name in model_options and name in key, name
        elif first == "optimizer":
            assert name in TRANSFORMS.list() and name in key, name
        elif first == "augment":  # an augmentation op: the spec shown builds
            spec = key.split("'")[1]
            assert spec.split(":")[0] == name and build_augmentation([spec]).ops[0].name == name
        else:
            assert first in Config.model_fields, name
        assert callable(entry.fn)
