"""Statistics across seeds, from scipy.stats: what a comparison of techniques reports.

Per arm: mean, standard deviation and a 95% bootstrap confidence interval of the mean
(`scipy.stats.bootstrap`, BCa). Per arm against the baseline, paired by seed: the mean
difference with its t-interval, the paired t-test (`ttest_rel`), the Wilcoxon signed-rank
test (`wilcoxon`), the effect size d_z = mean difference / sd of the differences, and how
many seeds a paired t-test would need to detect the observed difference with 80% power.

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


def summarize(values: Sequence[float], confidence: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """n, mean, std (ddof=1) and a bootstrap CI of the mean; with one value the CI is that value."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    out: dict[str, Any] = {"n": n, "mean": float(x.mean()) if n else math.nan,
                           "std": float(x.std(ddof=1)) if n > 1 else 0.0}
    if n < 2 or np.all(x == x[0]):
        out["ci"] = [out["mean"], out["mean"]]
    else:
        res = stats.bootstrap((x,), np.mean, confidence_level=confidence, n_resamples=9999, method="BCa",
                              random_state=np.random.default_rng(seed))
        lo, hi = res.confidence_interval
        if not (math.isfinite(lo) and math.isfinite(hi)):  # BCa degenerates on tiny samples: percentile
            res = stats.bootstrap((x,), np.mean, confidence_level=confidence, n_resamples=9999,
                                  method="percentile", random_state=np.random.default_rng(seed))
            lo, hi = res.confidence_interval
        out["ci"] = [float(lo), float(hi)]
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


def paired(arm: Sequence[float], base: Sequence[float], confidence: float = 0.95,
           alpha: float = ALPHA) -> dict[str, Any]:
    """Arm minus baseline, paired by seed (the same index is the same seed)."""
    a, b = np.asarray(arm, dtype=float), np.asarray(base, dtype=float)
    if len(a) != len(b):
        raise ValueError(f"paired comparison needs the same seeds: {len(a)} against {len(b)} values")
    d = a - b
    n = len(d)
    out: dict[str, Any] = {"n": n, "mean_diff": float(d.mean()) if n else math.nan}
    sd = float(d.std(ddof=1)) if n > 1 else math.nan
    out["sd_diff"] = sd
    if n < 2:
        out.update(ci=[math.nan, math.nan], t=math.nan, p_t=math.nan, p_wilcoxon=math.nan, d_z=math.nan,
                   significant=False, seeds_needed=None)
        return out
    if sd == 0:  # every seed moved by the same amount: no spread to test against
        same = out["mean_diff"] == 0
        out.update(ci=[out["mean_diff"]] * 2, t=math.nan if same else math.copysign(math.inf, out["mean_diff"]),
                   p_t=1.0 if same else 0.0, p_wilcoxon=math.nan, d_z=0.0 if same else math.inf,
                   significant=not same, seeds_needed=None)
        return out
    tt = stats.ttest_rel(a, b)
    half = stats.t.ppf(1 - (1 - confidence) / 2, n - 1) * sd / math.sqrt(n)
    try:
        p_w = float(stats.wilcoxon(a, b).pvalue)
    except ValueError:  # all differences zero
        p_w = 1.0
    d_z = out["mean_diff"] / sd
    out.update(ci=[out["mean_diff"] - half, out["mean_diff"] + half], t=float(tt.statistic),
               p_t=float(tt.pvalue), p_wilcoxon=p_w, d_z=float(d_z), significant=bool(tt.pvalue < alpha),
               seeds_needed=seeds_needed(d_z, alpha))
    return out


def verdict(p: dict[str, Any], metric: str, alpha: float = ALPHA) -> str:
    """One sentence for people: the difference, its CI, the test, and what more seeds would need."""
    if p["n"] < 2:
        return f"{metric}: one seed only; run at least 2 (better 5) seeds to compare"
    diff, (lo, hi) = p["mean_diff"], p["ci"]
    head = f"{metric} {diff:+.4f} (95% CI {lo:+.4f} to {hi:+.4f}), paired t p={p['p_t']:.3g}"
    if p["significant"]:
        return f"{head}: significant at {alpha:.0%} ({'higher' if diff > 0 else 'lower'} than the baseline)"
    more = p.get("seeds_needed")
    tail = (f"; about {more} seeds would detect a difference this size with 80% power" if more and more > p["n"]
            else "")
    return f"{head}: no significant difference at {alpha:.0%}{tail}"
