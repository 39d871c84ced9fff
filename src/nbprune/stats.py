"""Paired comparisons that can say "as good as": an equivalence test (TOST) beside the usual difference test.

A chapter compares two variants of the same pruned model seed by seed (Scratch-E minus fine-tuned, ticket minus
random init, ...). The differences are paired by seed because both runs of a seed share what the seed fixes
for the chain: the large model they are derived from (its pruned architecture or mask) and the order of the
training data, so pairing removes the seed-to-seed spread they have in common.

:func:`compare` decides, for the mean paired difference ``d = a - b`` and a margin ``delta`` fixed before the
runs (the preset's ``margin``), in this order:

1. **equivalent within ±delta** when the 90% t-interval of the mean lies inside ``(-delta, +delta)``: both
   one-sided tests (TOST, each at the 5% level) reject a difference of ``delta`` or more. This holds even
   when the 95% interval excludes 0: a difference that is significant but smaller than the margin is, by the
   margin's definition, too small to matter;
2. **a better** / **b better** when the 95% interval lies above / below 0 (and the 90% one is not inside the
   margin);
3. otherwise **inconclusive**, with the number of seeds that would decide it (:func:`seeds_needed`): taking
   the observed mean and spread as the truth, the smallest ``n`` at which the decision that is nearer (a
   difference, or equivalence when the mean is inside the margin) is reached with 80% power.

Equivalently, in p-values: equivalence when the TOST p (the larger of the two one-sided p's) is below 5%, a
difference when the two-sided t-test p is. That form is what multiplicity control needs: :func:`holm` adjusts
the p's of a family of comparisons (one claim's) by Holm's step-down method, separately for the difference
tests and for the equivalence tests, and decides each comparison again from its adjusted p's, so that the
chance of any false "better" (or any false "equivalent") verdict within the family stays at most 5%.

A non-significant difference is never reported as equivalence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_SEEDS = 1000  # "more than this many seeds" is reported as such
ALPHA = 0.05  # each test's level: the 95% interval of the difference test, the 90% interval of TOST
POWER = 0.8  # the power at which "seeds needed" is computed


@dataclass(frozen=True)
class Comparison:
    """The paired comparison of ``a - b`` over ``n`` seeds."""

    n: int
    mean: float
    low95: float
    high95: float
    low90: float
    high90: float
    margin: float
    outcome: str  # "a better", "b better", "equivalent", "inconclusive", "one seed"
    seeds_needed: int | None  # for an inconclusive outcome: about how many seeds would decide it
    p_diff: float = float("nan")  # two-sided paired t-test of mean 0
    p_equiv: float = float("nan")  # TOST against ±margin (the larger one-sided p)
    family: int = 1  # how many comparisons the p's were adjusted over (1: not adjusted)
    p_diff_adj: float = float("nan")  # Holm-adjusted within the family (== p_diff when family is 1)
    p_equiv_adj: float = float("nan")
    decides: str = ""  # for seeds_needed: "difference" or "equivalence", the decision it is computed for
    sd: float = float("nan")  # the sample sd of the differences

    def text(self, a: str, b: str) -> str:
        """The outcome in words, with ``a`` and ``b`` the names of the two sides. An equivalence whose difference
        test is also significant (its 95% interval, Holm-adjusted where the p's are, excludes 0) names the side
        ahead: "equivalent within ±1 (scratch ahead, by less than 1)"."""
        if self.outcome == "a better":
            return f"{a} better"
        if self.outcome == "b better":
            return f"{b} better"
        if self.outcome == "equivalent":
            p = self.p_diff if math.isnan(self.p_diff_adj) else self.p_diff_adj
            if p < ALPHA:  # significant yet inside the margin: say who is ahead, so the interval reads right
                return f"equivalent within ±{self.margin:g} ({a if self.mean > 0 else b} ahead, by less than {self.margin:g})"
            return f"equivalent within ±{self.margin:g}"
        if self.outcome == "one seed":
            return "inconclusive: one seed"
        more = f"more than {MAX_SEEDS}" if self.seeds_needed is None else f"about {self.seeds_needed}"
        what = f" to show {'a difference' if self.decides == 'difference' else 'equivalence'}" if self.decides else ""
        return f"inconclusive: {more} seeds needed{what}"


def _half_width(sd: float, n: int, level: float) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n))


def tost_power(mean: float, sd: float, margin: float, n: int, alpha: float = ALPHA) -> float:
    """The power of TOST at level ``alpha`` with ``n`` paired differences whose true mean and sd are ``mean``
    and ``sd``: the chance that the 1 - 2 alpha interval falls inside ``(-margin, margin)``. Computed from the
    two one-sided statistics' noncentral t distributions (the usual approximation, exact as the two
    rejections become disjoint, which they are whenever the power is of interest)."""
    from scipy import stats

    if n < 2 or abs(mean) >= margin:
        return 0.0
    if sd == 0:
        return 1.0
    se, df = sd / math.sqrt(n), n - 1
    crit = stats.t.ppf(1 - alpha, df)
    lower = _or_one(stats.nct.sf(crit, df, (mean + margin) / se))  # P(reject mean <= -margin)
    upper = _or_one(stats.nct.cdf(-crit, df, (mean - margin) / se))  # P(reject mean >= +margin)
    return max(0.0, float(lower + upper - 1))


def _or_one(p: float) -> float:
    """scipy's noncentral t gives nan where the noncentrality is so large that the probability is 1 (the
    callers only evaluate probabilities whose noncentrality lies on the rejecting side)."""
    return 1.0 if math.isnan(p) else float(p)


def difference_power(mean: float, sd: float, n: int, alpha: float = ALPHA) -> float:
    """The power of the two-sided paired t-test at level ``alpha`` with ``n`` differences of true ``mean``
    and ``sd`` (statsmodels' :class:`~statsmodels.stats.power.TTestPower`)."""
    from statsmodels.stats.power import TTestPower

    if n < 2 or mean == 0:
        return 0.0 if mean == 0 else float(n >= 2)
    if sd == 0:
        return 1.0
    return _or_one(TTestPower().power(effect_size=abs(mean) / sd, nobs=n, alpha=alpha, alternative="two-sided"))


def seeds_needed(mean: float, sd: float, margin: float, power: float = POWER) -> tuple[int | None, str]:
    """(n, decision): taking ``mean`` and ``sd`` as the truth, the fewest seeds at which the comparison is
    decided with probability ``power``: an equivalence (only possible when ``|mean| < margin``,
    :func:`tost_power`) or a difference (:func:`difference_power`), whichever needs fewer. n is None when
    neither is reached within :data:`MAX_SEEDS` (the decision named is then the one the mean is nearer).
    Multiplicity is not counted: this is the n for one comparison at the 5% level."""
    def smallest(power_at) -> int | None:  # the powers rise with n: bisect for the first n that reaches it
        if power_at(MAX_SEEDS) < power:
            return None
        lo, hi = 1, MAX_SEEDS  # power_at(lo) < power <= power_at(hi)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if power_at(mid) >= power else (mid, hi)
        return hi

    n_eq = smallest(lambda n: tost_power(mean, sd, margin, n)) if abs(mean) < margin else None
    n_diff = smallest(lambda n: difference_power(mean, sd, n)) if mean != 0 else None
    if n_eq is None and n_diff is None:
        return None, "difference" if abs(mean) >= margin / 2 else "equivalence"
    if n_diff is None or (n_eq is not None and n_eq <= n_diff):
        return n_eq, "equivalence"
    return n_diff, "difference"


def _p_values(mean: float, sd: float, n: int, margin: float) -> tuple[float, float]:
    """(two-sided t-test p of mean 0, TOST p against ±margin) of ``n`` differences."""
    from scipy import stats

    if sd == 0:
        return (0.0 if mean != 0 else 1.0), (0.0 if abs(mean) < margin else 1.0)
    se, df = sd / math.sqrt(n), n - 1
    p_diff = float(2 * stats.t.sf(abs(mean) / se, df))
    p_equiv = float(max(stats.t.sf((mean + margin) / se, df), stats.t.cdf((mean - margin) / se, df)))
    return p_diff, p_equiv


def _decide(mean: float, p_diff: float, p_equiv: float, alpha: float = ALPHA) -> str:
    if p_equiv < alpha:
        return "equivalent"
    if p_diff < alpha:
        return "a better" if mean > 0 else "b better"
    return "inconclusive"


def compare(diffs, margin: float) -> Comparison:
    """TOST equivalence and the two-sided difference test of the paired differences ``diffs`` (a - b)."""
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not margin > 0:
        raise ValueError(f"margin: must be a number > 0 (accuracy points), got {margin!r}")
    values = [float(d) for d in diffs if not math.isnan(float(d))]
    n = len(values)
    nan = float("nan")
    if n == 0:
        raise ValueError("diffs: no paired differences to compare")
    mean = sum(values) / n
    if n < 2:
        return Comparison(n, mean, nan, nan, nan, nan, margin, "one seed", None, nan, nan, 1, nan, nan, "", nan)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    h95, h90 = _half_width(sd, n, 0.95), _half_width(sd, n, 0.90)
    lo95, hi95, lo90, hi90 = mean - h95, mean + h95, mean - h90, mean + h90
    p_diff, p_equiv = _p_values(mean, sd, n, margin)
    outcome = _decide(mean, p_diff, p_equiv)
    needed, decides = seeds_needed(mean, sd, margin) if outcome == "inconclusive" else (None, "")
    return Comparison(n, mean, lo95, hi95, lo90, hi90, margin, outcome, needed, p_diff, p_equiv, 1, p_diff,
                      p_equiv, decides, sd)


def holm(comparisons: list[Comparison], alpha: float = ALPHA) -> list[Comparison]:
    """The comparisons of one family (one claim's) decided again after Holm's step-down adjustment
    (statsmodels' ``multipletests(method="holm")``) of their difference p's and, separately, of their TOST
    p's: each keeps its mean and unadjusted intervals and gets ``family``, ``p_diff_adj``, ``p_equiv_adj`` and
    the outcome of :func:`compare`'s rule applied to the adjusted p's. One-seed comparisons are left out of
    the family and returned as they are."""
    from dataclasses import replace

    from statsmodels.stats.multitest import multipletests

    tested = [i for i, c in enumerate(comparisons) if c.outcome != "one seed"]
    out = list(comparisons)
    if not tested:
        return out
    m = len(tested)
    p_diff = multipletests([comparisons[i].p_diff for i in tested], alpha=alpha, method="holm")[1]
    p_equiv = multipletests([comparisons[i].p_equiv for i in tested], alpha=alpha, method="holm")[1]
    for k, i in enumerate(tested):
        c = comparisons[i]
        outcome = _decide(c.mean, float(p_diff[k]), float(p_equiv[k]), alpha)
        needed, decides = (c.seeds_needed, c.decides) if outcome == "inconclusive" else (None, "")
        if outcome == "inconclusive" and c.outcome != "inconclusive":  # decided alone, not in the family
            needed, decides = seeds_needed(c.mean, c.sd, c.margin)
        out[i] = replace(c, outcome=outcome, seeds_needed=needed, decides=decides, family=m,
                         p_diff_adj=float(p_diff[k]), p_equiv_adj=float(p_equiv[k]))
    return out


def agreement(outcome: str, claim: str) -> str:
    """Whether an outcome supports the paper's claim about ``a - b``: ``claim`` is "a >= b" (a is at least as
    good as b: scratch vs fine-tuned), "a <= b" (a is no better than b: ticket vs random init), "a > b",
    "b > a" or "a = b" (about equal). Returns "agrees", "disagrees" or "undecided"."""
    supports = {"a >= b": {"a better", "equivalent"}, "a <= b": {"b better", "equivalent"},
                "a > b": {"a better"}, "b > a": {"b better"}, "a = b": {"equivalent"}}
    contradicts = {"a >= b": {"b better"}, "a <= b": {"a better"}, "a > b": {"b better", "equivalent"},
                   "b > a": {"a better", "equivalent"}, "a = b": {"a better", "b better"}}
    if claim not in supports:
        raise ValueError(f"claim: must be one of {', '.join(supports)}, got {claim!r}")
    if outcome in supports[claim]:
        return "agrees"
    if outcome in contradicts[claim]:
        return "disagrees"
    return "undecided"
