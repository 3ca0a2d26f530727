"""Statistics across seeds equal what scipy gives directly, and can come out either way."""
import math

import numpy as np
import pytest
from scipy import stats as st

from trainlab.experiments.stats import paired, seeds_needed, summarize, verdict


def test_summary_matches_scipy_bootstrap():
    x = [0.91, 0.925, 0.90, 0.935, 0.915, 0.92]
    s = summarize(x)
    ref = st.bootstrap((np.array(x),), np.mean, confidence_level=0.95, n_resamples=9999, method="BCa",
                       random_state=np.random.default_rng(0)).confidence_interval
    assert s["ci"] == pytest.approx([ref.low, ref.high], abs=0)
    assert s["mean"] == pytest.approx(np.mean(x)) and s["std"] == pytest.approx(np.std(x, ddof=1))
    assert s["ci"][0] < s["mean"] < s["ci"][1]


def test_paired_matches_scipy_tests():
    rng = np.random.default_rng(1)
    base = 0.9 + rng.normal(0, 0.01, 8)
    arm = base + 0.004 + rng.normal(0, 0.006, 8)
    p = paired(arm, base)
    t = st.ttest_rel(arm, base)
    assert p["t"] == pytest.approx(t.statistic) and p["p_t"] == pytest.approx(t.pvalue)
    assert p["p_wilcoxon"] == pytest.approx(st.wilcoxon(arm, base).pvalue)
    d = arm - base
    half = st.t.ppf(0.975, 7) * d.std(ddof=1) / math.sqrt(8)
    assert p["ci"] == pytest.approx([d.mean() - half, d.mean() + half])
    assert p["d_z"] == pytest.approx(d.mean() / d.std(ddof=1))


def test_no_real_difference_is_not_significant_and_a_large_one_is():
    rng = np.random.default_rng(2)
    base = 0.9 + rng.normal(0, 0.01, 5)
    same = base + rng.normal(0, 0.01, 5)  # noise only
    better = base + 0.05 + rng.normal(0, 0.005, 5)
    p0, p1 = paired(same, base), paired(better, base)
    assert not p0["significant"] and "no significant difference at 5%" in verdict(p0, "val_acc")
    assert p1["significant"] and p1["p_t"] < 0.001 and "significant at 5% (higher" in verdict(p1, "val_acc")


def test_seeds_needed_matches_power_tables():
    # paired t-test, two-sided alpha 0.05, power 0.8 (G*Power): d_z = 0.5 -> 34, d_z = 1.0 -> 10, 0.8 -> 15
    assert seeds_needed(0.5) == 34 and seeds_needed(1.0) == 10 and seeds_needed(0.8) == 15
    assert seeds_needed(0.0) is None and seeds_needed(-1.0) == 10


def test_one_seed_and_identical_shifts():
    assert "one seed only" in verdict(paired([0.9], [0.8]), "val_acc")
    p = paired([0.91, 0.92, 0.93], [0.90, 0.91, 0.92])  # every seed exactly 0.01 better: no spread to test
    assert p["mean_diff"] == pytest.approx(0.01) and p["significant"]
    with pytest.raises(ValueError, match="same seeds"):
        paired([1, 2], [1])
