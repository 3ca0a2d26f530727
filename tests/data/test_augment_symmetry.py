"""Label-changing augmentations: ops declare the symmetry they assume, datasets the ones their
classes have, and conflicts become one warning line each (in `trainlab augment` too)."""
from __future__ import annotations

import pytest

from trainlab.cli import main
from trainlab.data import AUGMENTATIONS, build_augmentation, label_risk_warnings, list_datasets
from trainlab.data.datasets import DATASET_SYMMETRIES, FASHION_CLASSES, SYMMETRIES


def warnings(ops: list[str], dataset: str, classes: list[str] | None = None) -> list[str]:
    return label_risk_warnings(build_augmentation(ops), dataset, classes)


# ---------------------------------------------------------------- declarations, driven by the registries
@pytest.mark.parametrize("name", AUGMENTATIONS.list())
def test_every_op_declares_a_known_symmetry(name):
    cls = AUGMENTATIONS.get(name)
    assert cls.assumes is None or cls.assumes in SYMMETRIES
    op = cls(p=1.0, magnitude=cls.max_magnitude if cls.has_magnitude and cls.max_magnitude < 1e9 else cls().magnitude)
    assert op.assumed_symmetries() <= set(SYMMETRIES)
    assert cls(p=0.0).assumed_symmetries() == set()  # an op that never fires assumes nothing
    assert isinstance(cls.assumes_text(), str) and cls.assumes_text()


def test_assumptions_of_flips_rotation_and_photometric_ops():
    make = AUGMENTATIONS.create
    assert make("hflip").assumed_symmetries() == {"hflip"}
    assert make("vflip").assumed_symmetries() == {"vflip"}
    assert make("rotate", magnitude=15).assumed_symmetries() == set()  # small tilts are safe
    assert make("rotate", magnitude=15.5).assumed_symmetries() == {"rotation"}
    for name in ("noise", "brightness", "crop", "blur", "cutout"):
        assert make(name).assumed_symmetries() == set(), name
    assert AUGMENTATIONS.get("rotate").assumes_text() == "rotation above 15 degrees"
    assert AUGMENTATIONS.get("noise").assumes_text() == "nothing"


def test_every_built_in_dataset_declares_its_symmetries():
    assert set(list_datasets()) == set(DATASET_SYMMETRIES)
    for name, sym in DATASET_SYMMETRIES.items():
        if sym is None:  # tabular points: no image augmentation
            continue
        assert sym.kept <= set(SYMMETRIES), name
        assert set(sym.at_risk) == set(SYMMETRIES) - sym.kept, name  # words for every symmetry it lacks


# ---------------------------------------------------------------- warnings
def test_fashion_mnist_keeps_hflip_but_not_vflip():
    assert warnings(["hflip"], "fashion-mnist", FASHION_CLASSES) == []
    (line,) = warnings(["hflip", "vflip", "noise"], "fashion-mnist", FASHION_CLASSES)
    assert line.startswith("warning: vflip assumes vertical-flip symmetry") and "fashion-mnist" in line
    assert "ankle boot" in line and "p=0" in line and "\n" not in line


@pytest.mark.parametrize("dataset", ["digits", "mnist"])
def test_digits_warn_on_flips_and_large_rotations_only(dataset):
    (line,) = warnings(["hflip"], dataset)
    assert line.startswith("warning: hflip") and "2, 3" in line
    assert warnings(["rotate:magnitude=10", "crop", "noise"], dataset) == []
    (line,) = warnings(["rotate:magnitude=90"], dataset)
    assert line.startswith("warning: rotate") and "6 and 9" in line and "magnitude <= 15" in line
    (line,) = warnings(["vflip"], dataset)
    assert "6 and 9" in line and "2 and 5" in line
    assert warnings(["vflip:p=0"], dataset) == []  # the fix the warning suggests


def test_one_line_per_conflicting_op_in_order():
    lines = warnings(["vflip", "noise", "rotate:magnitude=45", "hflip"], "cifar10")
    assert [ln.split()[1] for ln in lines] == ["vflip", "rotate"]  # a mirrored cat is a cat


@pytest.mark.parametrize("dataset", ["shapes", "textures", "npz:/data/mine.npz", "csv:x.csv", "folder:imgs",
                                     "spirals", "moons", "no-such-dataset"])
def test_symmetric_unknown_or_tabular_data_get_no_warning(dataset):
    assert warnings(["hflip", "vflip", "rotate:magnitude=180"], dataset, ["a", "b"]) == []


def test_class_names_fill_in_when_a_declaration_has_no_words(monkeypatch):
    from trainlab.data.datasets import Symmetry

    monkeypatch.setitem(DATASET_SYMMETRIES, "digits", Symmetry(frozenset(), {}))
    (line,) = warnings(["vflip"], "digits", ["zero", "one", "two", "three"])
    assert "(zero, one, two, ... can change meaning)" in line


# ---------------------------------------------------------------- the CLI
def test_augment_command_prints_the_warning(tmp_path, capsys):
    out = tmp_path / "g.png"
    assert main(["augment", "--dataset", "digits", "--ops", "vflip,rotate:magnitude=10,noise",
                 "--n", "3", "--versions", "1", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    lines = [ln for ln in (captured.err + captured.out).splitlines() if ln.startswith("warning:")]
    assert len(lines) == 1 and lines[0].startswith("warning: vflip") and "6 and 9" in lines[0]
    assert out.is_file()
    assert main(["augment", "--dataset", "digits", "--ops", "rotate:magnitude=10", "--n", "3", "--versions", "1",
                 "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "warning" not in captured.err + captured.out
