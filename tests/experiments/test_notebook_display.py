"""What a notebook shows: a Run, a Comparison and the claims' results render themselves as HTML
tables (`_repr_html_`), and each `.plot()` returns a matplotlib figure that is closed in pyplot (so
Jupyter shows it once, as the cell's value) and can still be saved. The notebooks themselves run in
tests/test_notebooks.py; these are the same views in a second."""
from __future__ import annotations

import pytest
from matplotlib.figure import Figure

import trainlab
from trainlab.errors import TrainlabError
from trainlab.experiments.claims.results import ClaimResults
from trainlab.runs.figures import in_notebook, plt

BASE = {"dataset": "digits", "model": "mlp", "model_options": {"depth": 1, "width": 16}, "epochs": 2,
        "batch_size": 128, "threads": 1}


def test_outside_a_notebook_figures_go_to_files():
    assert not in_notebook()
    assert plt.get_backend().lower() == "agg"


def test_a_run_shows_its_facts_and_evaluations_and_plots_its_curves(tmp_path):
    run = trainlab.train({**BASE, "runs_dir": str(tmp_path), "name": "shown"}, quiet=True, report=False)
    page = run._repr_html_()
    assert "<b>shown</b>" in page and "mlp on digits" in page and "test (once)" in page and "<th>val_loss</th>" in page
    fig = run.plot()
    assert isinstance(fig, Figure) and not plt.get_fignums()  # returned, not left open
    fig.savefig(tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 1000


def test_a_damaged_run_still_shows_why(tmp_path):
    run = trainlab.train({**BASE, "runs_dir": str(tmp_path), "name": "damaged"}, quiet=True, report=False)
    (run.path / "summary.json").write_text("{not json")
    assert "damaged" in run._repr_html_()


def test_a_comparison_shows_its_tables_and_draws_three_kinds(tmp_path):
    c = trainlab.compare(BASE, {"none": {}, "wide": {"model_options": {"depth": 1, "width": 32}}}, seeds=2, jobs=1,
                         name="shown", runs_dir=str(tmp_path))
    page = c._repr_html_()
    assert "2 arms x 2 seeds" in page and "baseline <b>none</b>" in page and "val_acc" in page
    for kind in ("dots", "curves", "paired"):
        assert isinstance(c.plot(kind), Figure)
    assert not plt.get_fignums()
    with pytest.raises(TrainlabError, match="plot kind 'bars'"):
        c.plot("bars")


def test_claim_results_show_verdicts_and_their_pictures(tmp_path):
    (tmp_path / "c1").mkdir()
    fig, ax = plt.subplots(figsize=(3, 2))
    fig.savefig(tmp_path / "c1" / "plot-quick.png")
    plt.close(fig)
    results = ClaimResults([{"id": "c1", "deck": "000", "mode": "quick", "text": "a < b", "verdict": "refuted",
                             "because": "b < a, p=0.01", "plot": "plot-quick.png"}], tmp_path)
    page = results._repr_html_()
    assert "c1" in page and "refuted" in page and "b &lt; a" in page  # escaped
    assert isinstance(results.plot(), Figure) and results[0]["id"] == "c1"  # still a list of dicts
    with pytest.raises(TrainlabError, match="no claim picture"):
        ClaimResults([], tmp_path / "empty").plot()
