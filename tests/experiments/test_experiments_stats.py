"""Statistics across seeds equal what scipy gives directly, and can come out either way."""
import math

import numpy as np
import pytest
from scipy import stats as st

from trainlab.experiments.stats import paired, seeds_needed, summarize, verdict


def test_summary_is_the_t_interval():
    x = [0.91, 0.925, 0.90, 0.935, 0.915, 0.92]
    s = summarize(x)
    ref = st.t.interval(0.95, len(x) - 1, loc=np.mean(x), scale=st.sem(x))
    assert s["ci"] == pytest.approx(list(ref), abs=1e-12) and s["ci_method"] == "t"
    assert s["mean"] == pytest.approx(np.mean(x)) and s["std"] == pytest.approx(np.std(x, ddof=1))
    assert s["ci"][0] < s["mean"] < s["ci"][1]


@pytest.mark.parametrize("n", [5, 6, 10])
def test_the_arm_interval_covers_the_true_mean_95_percent_of_the_time(n):
    """500 simulated arms of n seeds (normal scores): the 95% interval must hold the true mean 93-97%
    of the time (the BCa bootstrap trainlab used before covered 83-89% at these n)."""
    rng = np.random.default_rng(n)
    hits = 0
    for _ in range(500):
        lo, hi = summarize(0.9 + 0.01 * rng.standard_normal(n))["ci"]
        hits += lo <= 0.9 <= hi
    assert 0.93 <= hits / 500 <= 0.97, hits / 500


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
    two = paired([0.93, 0.95], [0.90, 0.91])
    assert not two["significant"] and "too few for a verdict" in verdict(two, "val_acc")
    same3 = paired([0.91, 0.92, 0.93], [0.89, 0.90, 0.91])
    if same3["test"] == "sign (no spread)":  # exact float differences: every seed moved by the same amount
        assert same3["p_t"] == pytest.approx(0.25) and not same3["significant"]
    same6 = paired([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [0.5, 1.5, 2.5, 3.5, 4.5, 5.5])  # exactly +0.5 on six seeds
    assert same6["test"] == "sign (no spread)" and same6["p_t"] == pytest.approx(2 * 0.5 ** 6)
    assert same6["significant"] and "exact sign test" in verdict(same6, "val_acc")
    same2 = paired([1.0, 2.0], [0.5, 1.5])  # two seeds can never be significant
    assert not same2["significant"]
    with pytest.raises(ValueError, match="same seeds"):
        paired([1, 2], [1])


def test_wilcoxon_says_when_it_cannot_reach_5_percent():
    p = paired([0.91, 0.92, 0.95, 0.97, 0.99], [0.90, 0.90, 0.90, 0.90, 0.90])
    assert p["p_wilcoxon"] >= 0.0625 and "cannot reach 5% with 5 nonzero differences" in p["wilcoxon_note"]
    assert paired(np.arange(6) + 1.0, np.zeros(6))["wilcoxon_note"] == ""


def test_seeds_needed_is_a_range_from_the_interval():
    rng = np.random.default_rng(4)
    base = rng.normal(0, 1, 5)
    p = paired(base + 1.0 + rng.normal(0, 0.5, 5), base)  # a clear effect: the CI excludes 0
    lo, hi = p["ci"]
    assert p["seeds_needed_range"] == [seeds_needed(hi / p["sd_diff"]), seeds_needed(lo / p["sd_diff"])]
    weak = paired(base + rng.normal(0, 1, 5), base)
    assert weak["ci"][0] < 0 < weak["ci"][1] and weak["seeds_needed_range"][1] is None


def test_the_ensemble_gain_interval_covers_the_true_gain():
    """Simulated members on 2,000 test examples with a known gain: member m's margin for the true
    class is mu + sigma z (right when positive), so a member is right with probability Phi(mu / sigma)
    and the mean-probability ensemble of k with Phi(mu sqrt(k) / sigma). The paired bootstrap over
    examples covers the true gain about 95% of the time and always contains its own estimate."""
    import torch

    from trainlab.experiments.ensemble import Member, analyse

    rng = np.random.default_rng(0)
    n, k, mu, sigma, trials = 2000, 4, 0.5, 0.6, 120
    true_gain = st.norm.cdf(mu * math.sqrt(k) / sigma) - st.norm.cdf(mu / sigma)
    y = torch.zeros(n, dtype=torch.long)
    hits = 0
    for t in range(trials):
        members = []
        for m in range(k):
            margin = mu + sigma * rng.standard_normal(n)
            p0 = torch.tensor(np.clip(0.5 + 0.05 * margin, 1e-3, 1 - 1e-3), dtype=torch.float32)
            probs = torch.stack([p0, 1 - p0], 1)
            members.append(Member(f"m{m}", {"val": probs, "test": probs}, {"val": y, "test": y}))
        res = analyse(members, seed=t)
        lo, hi = res["gain"]["ci"]
        assert lo <= res["gain"]["acc"] <= hi
        hits += lo <= true_gain <= hi
    assert 0.90 <= hits / trials <= 0.99, hits / trials
