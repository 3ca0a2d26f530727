"""What a lecture claim is: its words and source, an experiment, a verdict rule fixed in advance,
and a plot.

An experiment returns `data`, a JSON-able dict of the numbers measured; `judge(data)` turns them
into a `Verdict` (supported, refuted or inconclusive, with a sentence and the numbers); `plot(data,
path)` draws them. Two kinds of experiment:

- arms of training runs (`arms_experiment`): config overrides run through `trainlab.compare`
  across seeds; data["arms"][arm][quantity] is the per-seed list of a quantity (a final metric,
  a train/validation gap, a weight norm, ...);
- a short function for claims that need no training (derivatives, parameter counts, 2-D
  trajectories): it returns its numbers directly.

Every claim can be *swapped*: `swap(data)` exchanges the two things the claim compares, and the
rule must then say something else. Tests check this for every registered claim: a rule that
cannot come out "refuted" is a defect.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ...registry import Registry
from .. import stats

SUPPORTED, REFUTED, INCONCLUSIVE = "supported", "refuted", "inconclusive"
ALPHA = 0.05


@dataclass
class Verdict:
    verdict: str  # supported | refuted | inconclusive
    because: str  # one sentence with the numbers
    test: str  # the rule and the test used, said before the numbers were seen
    numbers: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "because": self.because, "test": self.test, "numbers": self.numbers}


@dataclass
class Claim:
    id: str  # short, e.g. "bn-higher-lr"
    deck: str  # "000" .. "004", as in shared/seeds/
    topic: str
    text: str  # the claim in the deck's words
    measures: str  # what is measured
    why: str  # why these settings show the effect at quick settings
    caveat: str  # when the claim would not hold
    run: Callable[[dict[str, Any], "Context"], dict[str, Any]]  # (settings, context) -> data
    judge: Callable[[dict[str, Any]], Verdict]
    plot: Callable[[dict[str, Any], Path], None]
    swap: Callable[[dict[str, Any]], dict[str, Any]]  # data with the compared things exchanged
    quick: dict[str, Any] = field(default_factory=dict)  # settings: seeds, epochs, ...
    full: dict[str, Any] = field(default_factory=dict)
    version: int = 1  # bump when the experiment or rule changes: cached results are then redone
    full_why: str = ""  # why the full settings meet the lecture's conditions (written before the full run)
    quick_note: str = ""  # where quick settings cannot show the effect: why (the page says it beside the verdict)
    source: str = ""  # the claim's module file (set by `register`); its text is part of the cache key

    def settings(self, mode: str) -> dict[str, Any]:
        return {**self.quick, **(self.full if mode == "full" else {})}


@dataclass
class Context:
    """Where a claim's runs go and how many workers they may use."""

    folder: Path
    jobs: int | None = None
    quiet: bool = True
    storage: str | None = None  # a queue the claim's runs go through (workers elsewhere take their share)
    enqueue_only: bool = False  # with storage: enqueue the runs and return None (no data yet)

    def experiment(self, claim_runs: str = "runs") -> str:
        """The name of the claim's compare: "runs" in its folder; through a queue, a name no other
        claim or mode shares (the queue holds every claim's runs)."""
        return claim_runs if self.storage is None else f"{self.folder.parent.name}-{self.folder.name}"


# ============================================================== verdict rules
def paired_rule(data: dict[str, Any], arm: str, base: str, quantity: str, direction: str,
                min_effect: float = 0.0, log: bool = False, worst: float | None = None) -> Verdict:
    """Supported when `arm` minus `base` on `quantity` is significantly (paired t, 5%) in `direction`
    ("higher" or "lower") by more than `min_effect`; refuted when it is significant the other way;
    inconclusive otherwise (no significant difference, or one too small to matter). log=True compares
    the logarithms (for losses whose spread across seeds spans orders of magnitude: ratios compare).

    A seed with no number (its run diverged before measuring it) takes `worst`, the quantity's worst
    value (chance accuracy, every unit dead), so an arm that diverges more is not flattered; with
    worst=None the seed drops out of both arms, and the sentence says how many did."""
    raw = list(zip(data["arms"][arm][quantity], data["arms"][base][quantity]))
    if worst is not None:
        raw = [(x if _finite(x) else worst, y if _finite(y) else worst) for x, y in raw]
    pairs = [(x, y) for x, y in raw if _finite(x) and _finite(y)]
    missing = len(raw) - len(pairs)
    filled = {side: sum(not _finite(v) for v in data["arms"][side][quantity]) for side in (arm, base)} \
        if worst is not None else {}
    if log:
        pairs = [(math.log(x), math.log(y)) for x, y in pairs if x > 0 and y > 0]
    a, b = [x for x, _ in pairs], [y for _, y in pairs]
    n = len(pairs)
    p = stats.paired(a, b)
    sign = 1 if direction == "higher" else -1
    diff = p["mean_diff"]
    lo, hi = p["ci"]
    test = (f"paired t-test over {n} seeds at 5%: {arm} against {base} on {'log ' if log else ''}{quantity}; supported if "
            f"{direction} by more than {min_effect:g}, refuted if significantly {'lower' if sign > 0 else 'higher'}")
    nums = {"arm": arm, "base": base, "quantity": quantity, "direction": direction, "log": log, "mean_arm": _mean(a),
            "mean_base": _mean(b), "mean_diff": diff, "ci": [lo, hi], "p": p["p_t"], "n": n, "dropped": missing,
            **({"worst": worst, f"diverged_{arm}": filled[arm], f"diverged_{base}": filled[base]} if filled else {})}
    note = f", {missing} seed(s) without a number left out" if missing else ""
    if filled and (filled[arm] or filled[base]):
        note += f", diverged runs counted as {worst:g}: {arm} {filled[arm]}, {base} {filled[base]}"
    head = (f"{'log ' if log else ''}{quantity}: {arm} {_mean(a):.4g} vs {base} {_mean(b):.4g}, difference {diff:+.4g} "
            f"(95% CI {lo:+.4g} to {hi:+.4g}, p={p['p_t']:.3g}, n={n}{note})")
    if p["significant"] and sign * diff > min_effect:
        return Verdict(SUPPORTED, head, test, nums)
    if p["significant"] and sign * diff < 0:
        return Verdict(REFUTED, head + ": significantly the other way", test, nums)
    return Verdict(INCONCLUSIVE, head + ": not a significant difference in the claimed direction", test, nums)


def rises_rule(data: dict[str, Any], high: str, low: str, quantity: str, by: float) -> Verdict:
    """A robust rule for a quantity that can explode on some seeds: per seed, does `high` exceed
    `low` by more than the factor (1 + by)? Supported when significantly more than half the seeds
    say yes (exact two-sided sign test, 5%); refuted when significantly fewer do; a seed whose value
    is missing or non-finite in `high` (it exploded) counts as a yes, one missing in `low` as a no.
    Only each seed's direction counts, so one seed at e^16 weighs what any other seed weighs."""
    pairs = list(zip(data["arms"][high][quantity], data["arms"][low][quantity]))
    yes = sum(1 for h, lo in pairs if (not _finite(h)) or (_finite(lo) and h > lo * (1 + by)))
    no = len(pairs) - yes
    p = stats.sign_test(yes, no)
    ratios = sorted(h / lo for h, lo in pairs if _finite(h) and _finite(lo) and lo > 0)
    median = ratios[len(ratios) // 2] if len(ratios) % 2 else (sum(ratios[len(ratios) // 2 - 1:len(ratios) // 2 + 1]) / 2
                                                               if ratios else math.nan)
    test = (f"exact sign test over {len(pairs)} seeds at 5%: on how many is {high} above {low} by more than "
            f"{by:.0%} on {quantity}; supported if significantly more than half, refuted if significantly fewer")
    nums = {"high": high, "low": low, "quantity": quantity, "by": by, "yes": yes, "no": no, "n": len(pairs), "p": p,
            "median_ratio": median}
    head = (f"{quantity}: {high} above {low} by more than {by:.0%} on {yes} of {len(pairs)} seeds "
            f"(median ratio {median:.3g}, sign test p={p:.3g})")
    if len(pairs) >= stats.MIN_SEEDS and p < ALPHA:
        return Verdict(SUPPORTED if yes > no else REFUTED, head, test, nums)
    return Verdict(INCONCLUSIVE, head + ": not a significant majority either way", test, nums)


def p_value(numbers: dict[str, Any]) -> float | None:
    """The p-value behind a verdict, for the catalogue's multiple-comparison adjustment: a rule's own
    p; for several parts that must all hold (all_of), the largest part's (intersection-union test);
    None for a rule with no test (a threshold on a computed number)."""
    parts = [n for k, n in numbers.items() if k.startswith("part") and isinstance(n, dict)]
    if parts:  # parts without a test (a computed criterion) do not enter
        ps = [p for p in (p_value(n) for n in parts) if p is not None]
        return max(ps) if ps else None
    p = numbers.get("p")
    return float(p) if isinstance(p, (int, float)) and math.isfinite(p) else None


def threshold_rule(value: float, op: str, threshold: float, what: str, numbers: dict[str, Any] | None = None,
                   margin: float | None = None) -> Verdict:
    """Supported when `value op threshold` holds ("<", ">"); refuted when it does not. With `margin`,
    a value within margin of the threshold is inconclusive."""
    ok = value < threshold if op == "<" else value > threshold
    near = margin is not None and abs(value - threshold) <= margin
    test = f"{what} {op} {threshold:g}" + (f" (inconclusive within {margin:g})" if margin is not None else "")
    nums = {"value": value, "threshold": threshold, **(numbers or {})}
    sentence = f"{what} = {value:.4g} ({'meets' if ok else 'misses'} {op} {threshold:g})"
    if near:
        return Verdict(INCONCLUSIVE, sentence + ", too close to call", test, nums)
    return Verdict(SUPPORTED if ok else REFUTED, sentence, test, nums)


def all_of(verdicts: list[Verdict], test: str) -> Verdict:
    """Supported when every part is; refuted when any part is refuted; inconclusive otherwise."""
    kinds = [v.verdict for v in verdicts]
    verdict = REFUTED if REFUTED in kinds else SUPPORTED if all(k == SUPPORTED for k in kinds) else INCONCLUSIVE
    return Verdict(verdict, "; ".join(v.because for v in verdicts), test,
                   {f"part{i}": v.numbers for i, v in enumerate(verdicts)})


def swap_arms(a: str, b: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The swap of an arms claim: the two compared arms exchange their numbers."""
    def swap(data: dict[str, Any]) -> dict[str, Any]:
        arms = dict(data["arms"])
        arms[a], arms[b] = data["arms"][b], data["arms"][a]
        return {**data, "arms": arms}

    return swap


def swap_roles(a: str, b: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The swap of a function claim: data[a] and data[b] (names of the things compared) exchange."""
    return lambda data: {**data, a: data[b], b: data[a]}


def toggle(key: str, x: Any, y: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The swap of a claim about one thing: data[key] flips between x (the claim's) and y (its foil)."""
    return lambda data: {**data, key: y if data[key] == x else x}


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _mean(x: list[float]) -> float:
    x = [v for v in x if isinstance(v, (int, float)) and math.isfinite(v)]
    return sum(x) / len(x) if x else math.nan


CLAIMS = Registry("claim")  # id -> Claim (as the entry's fn), filled by the claim modules as they are imported
DECKS = ("000", "001", "002", "003", "004")


def register(source: str, claim: Claim) -> Claim:
    """Add `claim`, defined in the module file `source` (its text is part of the claim's cache key:
    an edit there reruns it), to CLAIMS."""
    if claim.deck not in DECKS:
        raise ValueError(f"claim {claim.id!r}: deck {claim.deck!r} is not one of {'..'.join(DECKS[::4])}")
    claim.source = source
    CLAIMS.register(claim.id, fn=claim, description=claim.text)
    return claim
