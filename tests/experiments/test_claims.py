"""The lecture claims: the registry, the verdict rules (each must be able to come out refuted), the
cached engine, the page and the CLI.

tests/experiments/claims_quick.json holds the numbers (`data`) each claim measured in a real quick run of
the catalogue (`trainlab claims run`, then `python tests/experiments/make_claims_fixture.py`); every
claim's rule is applied to them and to their swap here, without training.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from trainlab.experiments.claims import CLAIMS, every, get, ordered
from trainlab.experiments.claims.base import (INCONCLUSIVE, REFUTED, SUPPORTED, Context, paired_rule,
                                              swap_arms, threshold_rule)
from trainlab.experiments.claims.engine import run_claim, settings_key
from trainlab.experiments.claims.page import write_page

FIXTURE = Path(__file__).parent / "claims_quick.json"
CHEAP = ["sigmoid-saturation", "adam-bias-correction", "bn-parameter-count", "inception-1x1-reduction"]


def test_catalogue_covers_the_five_decks_with_30_or_more_claims():
    assert len(CLAIMS) >= 30
    assert {c.deck for c in every()} == {"000", "001", "002", "003", "004"}
    for c in every():
        assert c.text and c.measures and c.why and c.caveat and c.topic, c.id
        assert c.source.endswith(".py")
    assert [c.id for c in ordered()] == sorted(CLAIMS.list(), key=lambda i: (get(i).deck, i))


def recorded() -> dict:
    return json.loads(FIXTURE.read_text())


def paired_parts(numbers: dict) -> list[dict]:
    """The paired-rule parts of a verdict's numbers (one, or several under all_of)."""
    parts = [n for k, n in numbers.items() if k.startswith("part")] or [numbers]
    return [n for n in parts if isinstance(n, dict) and "direction" in n]


def with_the_claimed_effect(data: dict, numbers: dict) -> dict:
    """The measured numbers with each arm moved clearly past its baselines in the claimed direction
    (a real effect, as the rule was written to detect), seed by seed."""
    data = json.loads(json.dumps(data))
    wanted: dict = {}
    for n in paired_parts(numbers):
        wanted.setdefault((n["arm"], n["quantity"], n["direction"], n["log"]), []).append(n["base"])
    for (arm, q, direction, log), bases in wanted.items():
        sign = 1 if direction == "higher" else -1
        for i in range(len(data["arms"][arm][q])):
            vals = [data["arms"][b][q][i] for b in bases]
            edge = max(vals) if sign > 0 else min(vals)
            data["arms"][arm][q][i] = edge * math.exp(sign * (1 + 0.1 * i)) if log else \
                edge + sign * (abs(edge) + 1) * (1 + 0.1 * i)
    return data


@pytest.mark.parametrize("claim_id", CLAIMS.list())
def test_every_rule_changes_its_verdict_when_the_compared_things_swap(claim_id):
    """On the numbers a real quick run measured: the rule gives the recorded verdict, and with the
    compared arms (or optimizers, modes, activations) swapped a decisive verdict turns around.
    Where the run was inconclusive, the same numbers with the claimed effect put in must come out
    supported, and refuted once swapped: the rule can decide both ways."""
    data = recorded()
    if claim_id not in data:
        pytest.fail(f"{claim_id} has no recorded quick-run numbers: run the catalogue and remake {FIXTURE.name}")
    c, rec = get(claim_id), data[claim_id]
    v = c.judge(rec["data"])
    assert v.verdict == rec["verdict"]
    if v.verdict == INCONCLUSIVE:
        assert paired_parts(v.numbers), f"{claim_id}: inconclusive, and its rule is not a paired test to strengthen"
        strong = with_the_claimed_effect(rec["data"], v.numbers)
        assert c.judge(strong).verdict == SUPPORTED
        assert c.judge(c.swap(strong)).verdict == REFUTED
    else:
        swapped = c.judge(c.swap(rec["data"])).verdict
        assert swapped != v.verdict, f"{claim_id}: the rule says {v.verdict} either way"
        assert swapped == (REFUTED if v.verdict == SUPPORTED else SUPPORTED)


def test_paired_rule_outcomes():
    up = {"arms": {"a": {"q": [1.0, 1.1, 1.2, 1.05]}, "b": {"q": [0.5, 0.6, 0.55, 0.5]}}}
    assert paired_rule(up, "a", "b", "q", "higher").verdict == SUPPORTED
    assert paired_rule(up, "a", "b", "q", "lower").verdict == REFUTED
    assert paired_rule(up, "a", "b", "q", "higher", min_effect=1.0).verdict == INCONCLUSIVE  # real but too small
    noise = {"arms": {"a": {"q": [1.0, 0.9, 1.1, 1.0]}, "b": {"q": [1.0, 1.0, 1.0, 1.05]}}}
    assert paired_rule(noise, "a", "b", "q", "higher").verdict == INCONCLUSIVE
    assert paired_rule(swap_arms("a", "b")(up), "a", "b", "q", "higher").verdict == REFUTED


def test_threshold_rule_outcomes():
    assert threshold_rule(0.1, "<", 0.2, "x").verdict == SUPPORTED
    assert threshold_rule(0.3, "<", 0.2, "x").verdict == REFUTED
    assert threshold_rule(0.21, "<", 0.2, "x", margin=0.05).verdict == INCONCLUSIVE


@pytest.mark.parametrize("claim_id", CHEAP)
def test_cheap_claims_run_for_real_and_their_swap_refutes(claim_id, tmp_path):
    c = get(claim_id)
    data = c.run(c.settings("quick"), Context(tmp_path))
    assert c.judge(data).verdict == SUPPORTED
    assert c.judge(c.swap(data)).verdict == REFUTED


def test_engine_caches_and_reruns_when_the_settings_change(tmp_path):
    c = get("bn-parameter-count")
    first = run_claim(c, "quick", tmp_path)
    assert not first["cached"] and (tmp_path / c.id / "plot.png").is_file()
    again = run_claim(c, "quick", tmp_path)
    assert again["cached"] and again["when"] == first["when"]
    assert settings_key(c, "full") == settings_key(c, "quick")  # no full settings of its own: same numbers
    other = get("adam-bias-correction")
    assert settings_key(other, "quick") != settings_key(other, "full") or other.full == {}


def test_cli_run_report_and_json(tmp_path):
    out = subprocess.run([sys.executable, "-m", "trainlab", "claims", "run", "bn-parameter-count", "sigmoid-saturation",
                          "--dir", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "[1/2] bn-parameter-count" in out.stdout and "supported" in out.stdout
    page = (tmp_path / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "trainlab claims run sigmoid-saturation --quick" in page
    j = json.loads((tmp_path / "claims.json").read_text())
    assert j["counts"] == {"supported": 2} and {c["id"] for c in j["claims"]} == {"bn-parameter-count", "sigmoid-saturation"}
    listing = subprocess.run([sys.executable, "-m", "trainlab", "claims", "list"], capture_output=True, text=True,
                             timeout=120, env={"COLUMNS": "200", "PATH": ""})
    assert listing.returncode == 0 and f"{len(CLAIMS)} lecture claims" in listing.stdout


@pytest.mark.parametrize("args, says", [
    (["run", "no-such-claim"], "unknown claim 'no-such-claim'"),
    (["report", "bn-higher-lr"], "claims report takes no claim ids"),
    (["list", "--full"], "claims list takes no --quick/--full, --jobs or --storage"),
    (["run", "--jobs", "0"], "--jobs 0 must be >= 1"),
])
def test_bad_claims_input_is_one_line_and_exit_2(tmp_path, capsys, args, says):
    from trainlab.cli import main

    assert main(["claims", *args, "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())


def test_page_lists_claims_not_run_yet(tmp_path):
    run_claim(get("sigmoid-saturation"), "quick", tmp_path)
    page = write_page(tmp_path).read_text()
    assert "1 of " in page and "Not run yet:" in page and "bn-higher-lr" in page
