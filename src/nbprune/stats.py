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
3. otherwise **inconclusive**, with the number of seeds that would probably decide it: at the observed spread,
   the smallest ``n`` whose 90% interval around the observed mean fits inside the margin (when the observed
   mean is inside it) or whose 95% interval excludes 0 (when it is not).

A non-significant difference is never reported as equivalence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_SEEDS = 1000  # "more than this many seeds" is reported as such


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

    def text(self, a: str, b: str) -> str:
        """The outcome in words, with ``a`` and ``b`` the names of the two sides."""
        if self.outcome == "a better":
            return f"{a} better"
        if self.outcome == "b better":
            return f"{b} better"
        if self.outcome == "equivalent":
            return f"equivalent within ±{self.margin:g}"
        if self.outcome == "one seed":
            return "inconclusive: one seed"
        more = f"more than {MAX_SEEDS}" if self.seeds_needed is None else f"about {self.seeds_needed}"
        return f"inconclusive: {more} seeds would be needed"


def _half_width(sd: float, n: int, level: float) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n))


def seeds_needed(mean: float, sd: float, margin: float) -> int | None:
    """The smallest number of seeds that would probably decide the comparison at this mean and spread: an
    equivalence when ``|mean| < margin``, a difference otherwise (None: more than :data:`MAX_SEEDS`)."""
    if sd == 0:
        return 2
    for n in range(2, MAX_SEEDS + 1):
        if abs(mean) < margin and abs(mean) + _half_width(sd, n, 0.90) < margin:
            return n
        if abs(mean) >= margin and abs(mean) - _half_width(sd, n, 0.95) > 0:
            return n
    return None


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
        return Comparison(n, mean, nan, nan, nan, nan, margin, "one seed", None)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    h95, h90 = _half_width(sd, n, 0.95), _half_width(sd, n, 0.90)
    lo95, hi95, lo90, hi90 = mean - h95, mean + h95, mean - h90, mean + h90
    if -margin < lo90 and hi90 < margin:
        outcome = "equivalent"
    elif lo95 > 0:
        outcome = "a better"
    elif hi95 < 0:
        outcome = "b better"
    else:
        outcome = "inconclusive"
    needed = seeds_needed(mean, sd, margin) if outcome == "inconclusive" else None
    return Comparison(n, mean, lo95, hi95, lo90, hi90, margin, outcome, needed)


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
