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
    assert not first["cached"] and (tmp_path / c.id / "plot-quick.png").is_file()
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
    assert "stderr" not in out.stdout  # neither claim's runs print warnings
    page = (tmp_path / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "trainlab claims run sigmoid-saturation --full" in page
    j = json.loads((tmp_path / "claims.json").read_text())
    assert j["quick"]["counts"] == {"supported": 2} and j["full"]["claims"] == []
    assert {c["id"] for c in j["quick"]["claims"]} == {"bn-parameter-count", "sigmoid-saturation"}
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


FAST = [c for c in CLAIMS.list() if c in json.loads(FIXTURE.read_text())]


def nudged(v, i: int):
    """Every number in a recorded result moved by 1e-6 of itself, in a direction set by its position:
    what another CPU's kernels, another thread count or another job split could change. (Relative:
    an exact zero, such as the change of weights no gradient reaches, stays exactly zero anywhere.)"""
    if isinstance(v, dict):
        return {k: nudged(x, i + n) for n, (k, x) in enumerate(v.items())}
    if isinstance(v, list):
        return [nudged(x, i + n) for n, x in enumerate(v)]
    if isinstance(v, float) and math.isfinite(v):
        return v * (1 + 1e-6 * (1 if i % 2 else -1))
    return v


def one_seed_nudged(data: dict, seed: int) -> dict:
    """The recorded numbers with seed `seed`'s value in every per-seed list moved by 1e-6."""
    data = json.loads(json.dumps(data))
    for arm in (data.get("arms") or {}).values():
        for q, values in arm.items():
            if isinstance(values, list) and len(values) > seed and isinstance(values[seed], float):
                values[seed] = nudged(values[seed], seed + len(q))
    return data


@pytest.mark.parametrize("claim_id", FAST)
def test_a_verdict_survives_a_1e_6_change_in_one_seed(claim_id):
    """Each claim's rule on its recorded numbers, with one seed's numbers (each seed in turn) or, for
    claims without seeds, every number moved by 1e-6: the verdict must not move (a rule that sits on
    a knife's edge gives different verdicts on different machines)."""
    c, rec = get(claim_id), recorded()[claim_id]
    want = c.judge(rec["data"]).verdict
    arms = rec["data"].get("arms") or {}
    seeds = max((len(v) for a in arms.values() for v in a.values() if isinstance(v, list)), default=0)
    variants = [one_seed_nudged(rec["data"], s) for s in range(seeds)] or [nudged(rec["data"], 0), nudged(rec["data"], 1)]
    for i, d in enumerate(variants):
        assert c.judge(d).verdict == want, f"{claim_id}: variant {i} turns {want} into {c.judge(d).verdict}"


def test_rises_rule_counts_seeds_not_sizes():
    from trainlab.experiments.claims.base import rises_rule

    explode = {"arms": {"last": {"q": [1.3, 1.4, 9e6, 1.2, 1.5, 1.25, 1.3, math.nan]},
                        "best": {"q": [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]}}}
    v = rises_rule(explode, "last", "best", "q", by=0.05)
    assert v.verdict == SUPPORTED and v.numbers["yes"] == 8 and v.numbers["p"] == pytest.approx(2 * 0.5 ** 8)
    one = {"arms": {"last": {"q": [1.01, 1.0, 1.02, 1.3, 1.0, 1.0]}, "best": {"q": [1.0] * 6}}}
    assert rises_rule(one, "last", "best", "q", by=0.05).verdict == INCONCLUSIVE  # 1 of 6: p = 2 x 7/64 = 0.22
    none = {"arms": {"last": {"q": [1.01, 1.0, 1.02, 1.04, 1.0, 1.0]}, "best": {"q": [1.0] * 6}}}
    assert rises_rule(none, "last", "best", "q", by=0.05).verdict == REFUTED  # 0 of 6: p = 2 / 64
    assert rises_rule(swap_arms("last", "best")(explode), "last", "best", "q", by=0.05).verdict == REFUTED


def test_paired_rule_counts_a_diverged_seed_as_the_worst_value():
    d = {"arms": {"a": {"q": [0.9, 0.91, math.nan, 0.92, math.nan]}, "b": {"q": [0.8, 0.82, 0.81, 0.8, 0.83]}}}
    dropped = paired_rule(d, "a", "b", "q", "higher")
    assert dropped.numbers["n"] == 3 and dropped.numbers["dropped"] == 2 and "2 seed(s) without a number" in dropped.because
    counted = paired_rule(d, "a", "b", "q", "higher", worst=0.1)
    assert counted.numbers["n"] == 5 and counted.numbers["diverged_a"] == 2 and counted.verdict != SUPPORTED
    assert counted.numbers["mean_arm"] == pytest.approx((0.9 + 0.91 + 0.1 + 0.92 + 0.1) / 5)


def test_the_page_sets_quick_and_full_side_by_side_with_adjusted_p(tmp_path):
    for mode in ("quick", "full"):
        run_claim(get("sigmoid-saturation"), mode, tmp_path)
        run_claim(get("bn-parameter-count"), mode, tmp_path)
    text = write_page(tmp_path).read_text()
    assert text.count("data:image/png;base64,") == 4
    assert "f-deck-001" in text and "#f-full-refuted:checked~table tr.row:not(.full-refuted){display:none}" in text
    assert "<script" not in text
    assert "Holm" in text and "Benjamini-Hochberg" in text and "by chance" in text
    j = json.loads((tmp_path / "claims.json").read_text())
    assert j["quick"]["counts"] == j["full"]["counts"] == {"supported": 2}


def test_the_catalogue_is_adjusted_for_multiple_comparisons_by_holm_and_bh():
    from trainlab.experiments.stats import benjamini_hochberg, holm

    p = [0.01, 0.04, 0.03, 0.005]
    # by hand: sorted 0.005, 0.01, 0.03, 0.04 -> Holm x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> monotone 0.06
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # BH: p_(i) * m / i = 0.02, 0.02, 0.04, 0.04, then the running minimum from the top
    assert benjamini_hochberg(p) == pytest.approx([0.02, 0.04, 0.04, 0.02])


def test_what_runs_write_to_stderr_is_summarised_once(capfd):
    import os

    from trainlab.experiments.claims.engine import stderr_collected, summarise_stderr

    got: dict[str, list[str]] = {"a": [], "b": []}
    for claim_id in got:
        with stderr_collected(got[claim_id]):
            print("trainlab: warning: vflip on digits can turn a 6 into a 9", file=sys.stderr)
            os.write(2, b"from this process's file descriptor\n")
            subprocess.run([sys.executable, "-c", "import sys; print('from a worker process', file=sys.stderr)"])
    assert capfd.readouterr().err == ""  # nothing reached the terminal while collecting
    lines = summarise_stderr(got)
    assert len(lines) == 3 and all(line.lstrip().startswith("2x") and "[a, b]" in line for line in lines)


def test_an_arms_claim_measures_the_same_numbers_with_1_or_2_jobs(tmp_path):
    """Claims pin one thread and fp32 for every run, so the measured numbers (and verdicts) do not
    depend on --jobs, the machine's thread count or its bf16 support."""
    from trainlab.experiments.claims.arms import arms_run, best, last

    run = arms_run({"dataset": "digits", "model": "mlp", "model_options": {"width": 32, "depth": 1}, "epochs": 1,
                    "batch_size": 64, "precision": "auto", "threads": 2},
                   {"a": {}, "b": {"lr": 0.1}}, {"val_acc": best("val_acc"), "loss": last("train_loss")})
    one = run({"seeds": 2}, Context(tmp_path / "one", jobs=1))
    two = run({"seeds": 2}, Context(tmp_path / "two", jobs=2))
    assert one["arms"] == two["arms"]
    import yaml

    for f in (tmp_path / "two").rglob("config.yaml"):  # the saved config says what ran
        cfg = yaml.safe_load(f.read_text())
        assert cfg["threads"] == 1 and cfg["precision"] == "fp32"


def test_every_disagreement_text_names_a_claim():
    """The texts that explain a quick/full disagreement are keyed by claim id: a typo would leave the
    page saying "not explained yet"."""
    from trainlab.experiments.claims.disagreements import DISAGREEMENTS

    assert set(DISAGREEMENTS) <= set(CLAIMS.list())
    assert all(len(text) > 80 for text in DISAGREEMENTS.values())
