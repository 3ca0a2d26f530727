"""Statistics across seeds, from scipy.stats: what a comparison of techniques reports.

Per arm: mean, standard deviation and a 95% t-interval of the mean. (A bootstrap interval over
5-10 seeds is too narrow: in a simulation with normal data at n = 5, 6 and 10, BCa covered the
true mean 83-89% of the time, the t-interval 95%; tests/experiments/test_experiments_stats.py
checks the coverage by simulation.) Per arm against the baseline, paired by seed: the mean
difference with its t-interval, the paired t-test (`ttest_rel`), the Wilcoxon signed-rank test
(`wilcoxon`), the effect size d_z = mean difference / sd of the differences, and how many seeds a
paired t-test would need for 80% power, as a range from the ends of the difference's interval.

Degenerate cases: fewer than MIN_SEEDS seeds never make a decisive verdict; when every seed's
difference is the same (no spread, so no t-test), the exact sign test decides (2 x 0.5^n: 6 seeds
at least for 5%); Wilcoxon drops zero differences and cannot reach 5% with fewer than 6 left.

    >>> s = summarize([0.91, 0.92, 0.90, 0.93])
    >>> round(s["mean"], 3), s["n"]
    (0.915, 4)
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from scipy import stats

ALPHA = 0.05


MIN_SEEDS = 3  # fewer seeds than this never make a decisive verdict
WILCOXON_MIN = 6  # Wilcoxon's smallest two-sided p with n nonzero differences is 2 / 2^n: 0.0625 at n = 5


def summarize(values: Sequence[float], confidence: float = 0.95) -> dict[str, Any]:
    """n, mean, std (ddof=1) and the t-interval of the mean; with one value the CI is that value."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    out: dict[str, Any] = {"n": n, "mean": float(x.mean()) if n else math.nan,
                           "std": float(x.std(ddof=1)) if n > 1 else 0.0, "ci_method": "t"}
    if n < 2 or np.all(x == x[0]):
        out["ci"] = [out["mean"], out["mean"]]
    else:
        half = stats.t.ppf(1 - (1 - confidence) / 2, n - 1) * out["std"] / math.sqrt(n)
        out["ci"] = [out["mean"] - half, out["mean"] + half]
    return out


def seeds_needed(d_z: float, alpha: float = ALPHA, power: float = 0.8, most: int = 1000) -> int | None:
    """Smallest n for which a two-sided paired t-test at `alpha` has `power` against effect d_z
    (noncentral t); None when d_z is 0 or more than `most` seeds would be needed."""
    if not math.isfinite(d_z) or d_z == 0:
        return None
    for n in range(2, most + 1):
        df = n - 1
        crit = stats.t.ppf(1 - alpha / 2, df)
        nc = abs(d_z) * math.sqrt(n)
        p = stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc)
        if p >= power:
            return n
    return None


def needed_range(lo: float, hi: float, sd: float, alpha: float = ALPHA) -> list[int | None]:
    """Seeds for 80% power at the two ends of the difference's CI (as effect sizes lo/sd, hi/sd): the
    fewest when the true effect is the CI's far end, the most at its near end (None: the CI reaches
    0, so no number of seeds is sure to be enough)."""
    if lo <= 0 <= hi:
        far = max(abs(lo), abs(hi)) / sd
        return [seeds_needed(far, alpha), None]
    near, far = sorted((abs(lo) / sd, abs(hi) / sd))
    return [seeds_needed(far, alpha), seeds_needed(near, alpha)]


def paired(arm: Sequence[float], base: Sequence[float], confidence: float = 0.95,
           alpha: float = ALPHA) -> dict[str, Any]:
    """Arm minus baseline, paired by seed (the same index is the same seed)."""
    a, b = np.asarray(arm, dtype=float), np.asarray(base, dtype=float)
    if len(a) != len(b):
        raise ValueError(f"paired comparison needs the same seeds: {len(a)} against {len(b)} values")
    d = a - b
    n = len(d)
    out: dict[str, Any] = {"n": n, "mean_diff": float(d.mean()) if n else math.nan, "min_seeds": MIN_SEEDS}
    sd = float(d.std(ddof=1)) if n > 1 else math.nan
    out["sd_diff"] = sd
    nonzero = int(np.count_nonzero(d))
    out["wilcoxon_note"] = (f"Wilcoxon cannot reach {alpha:.0%} with {nonzero} nonzero differences (it drops zeros "
                            f"and needs {WILCOXON_MIN})") if nonzero < WILCOXON_MIN else ""
    if n < 2:
        out.update(ci=[math.nan, math.nan], t=math.nan, p_t=math.nan, p_wilcoxon=math.nan, d_z=math.nan,
                   significant=False, seeds_needed=None, seeds_needed_range=[None, None], test="none")
        return out
    if sd == 0:  # every seed moved by the same amount: no spread for a t-test; the exact sign test decides
        same = out["mean_diff"] == 0
        p_sign = 1.0 if same else min(1.0, 2 * 0.5 ** n)
        out.update(ci=[out["mean_diff"]] * 2, t=math.nan, p_t=p_sign, p_wilcoxon=math.nan,
                   d_z=0.0 if same else math.copysign(math.inf, out["mean_diff"]),
                   significant=bool(not same and p_sign < alpha and n >= MIN_SEEDS), seeds_needed=None,
                   seeds_needed_range=[None, None], test="sign (no spread)")
        return out
    tt = stats.ttest_rel(a, b)
    half = stats.t.ppf(1 - (1 - confidence) / 2, n - 1) * sd / math.sqrt(n)
    try:
        p_w = float(stats.wilcoxon(a, b).pvalue)
    except ValueError:  # all differences zero
        p_w = 1.0
    d_z = out["mean_diff"] / sd
    lo, hi = out["mean_diff"] - half, out["mean_diff"] + half
    out.update(ci=[lo, hi], t=float(tt.statistic), p_t=float(tt.pvalue), p_wilcoxon=p_w, d_z=float(d_z),
               significant=bool(tt.pvalue < alpha and n >= MIN_SEEDS), seeds_needed=seeds_needed(d_z, alpha),
               seeds_needed_range=needed_range(lo, hi, sd, alpha), test="paired t")
    return out


def verdict(p: dict[str, Any], metric: str, alpha: float = ALPHA) -> str:
    """One sentence for people: the difference, its CI, the test, and what more seeds would need."""
    if p["n"] < 2:
        return f"{metric}: one seed only; run at least {MIN_SEEDS} (better 5) seeds to compare"
    diff, (lo, hi) = p["mean_diff"], p["ci"]
    if p.get("test") == "sign (no spread)":
        head = f"{metric} {diff:+.4f} on every one of {p['n']} seeds (no spread), exact sign test p={p['p_t']:.3g}"
    else:
        head = f"{metric} {diff:+.4f} (95% CI {lo:+.4f} to {hi:+.4f}), paired t p={p['p_t']:.3g}"
    if p["n"] < MIN_SEEDS:
        return f"{head}: {p['n']} seeds are too few for a verdict; run at least {MIN_SEEDS} (better 5)"
    if p["significant"]:
        return f"{head}: significant at {alpha:.0%} ({'higher' if diff > 0 else 'lower'} than the baseline)"
    few, many = p.get("seeds_needed_range") or [None, None]
    tail = ""
    if few and few > p["n"]:
        tail = (f"; 80% power would need {few} to {many} seeds" if many else
                f"; 80% power would need at least {few} seeds (the CI reaches 0: maybe no number is enough)")
    return f"{head}: no significant difference at {alpha:.0%}{tail}"


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact sign test (binomial, p = 1/2) of `wins` against `losses`; ties left out by
    the caller. Robust where a t-test is not: only each pair's direction counts, so a value that
    explodes on one seed weighs what any other seed weighs."""
    n = wins + losses
    return float(stats.binomtest(wins, n, 0.5).pvalue) if n else 1.0


def holm(p: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error): sorted ascending, the i-th (from 0)
    is multiplied by (m - i), made non-decreasing, capped at 1."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def benjamini_hochberg(p: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (q-values; false discovery rate), scipy's
    `false_discovery_control`."""
    return [float(q) for q in stats.false_discovery_control(np.asarray(p, dtype=float), method="bh")] if len(p) else []
