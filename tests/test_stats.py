"""The equivalence verdicts (nbprune.stats): TOST at the preset's margin beside the difference test."""

import math

import pytest

from nbprune.stats import agreement, compare, seeds_needed


def test_tost_interval_matches_a_hand_computation():
    c = compare([0.1, 0.3, 0.2, 0.4, 0.0], margin=1.0)
    # mean 0.2, sd 0.158114, n 5: t_{0.95, 4} = 2.131847 -> 90% half width 0.150742
    assert c.mean == pytest.approx(0.2) and c.high90 - c.mean == pytest.approx(2.131847 * 0.158114 / math.sqrt(5), rel=1e-5)
    assert c.outcome == "equivalent" and c.text("scratch", "fine-tuned") == "equivalent within ±1"


@pytest.mark.parametrize("diffs, margin, outcome", [
    ([0.1, 0.3, 0.2, 0.4, 0.0], 1.0, "equivalent"),
    ([0.1, 0.3, 0.2, 0.4, 0.0], 0.2, "a better"),  # significant, and the 90% interval leaves the tight margin
    ([0.1, 0.3, 0.2, 0.4, 0.25], 1.0, "equivalent"),  # significantly > 0 yet inside the margin: equivalence wins
    ([-2.0, -3.0, -2.5], 1.0, "b better"),
    ([-3.0, 4.0, 0.5], 1.0, "inconclusive"),  # a non-significant difference is not equivalence
    ([1.0], 1.0, "one seed"),
])
def test_decision_rules(diffs, margin, outcome):
    assert compare(diffs, margin).outcome == outcome


def test_inconclusive_rows_say_how_many_seeds_would_decide():
    c = compare([-1.0, 1.2, 0.1], margin=1.0)  # mean 0.1, sd 1.1: too wide for 3 seeds
    assert c.outcome == "inconclusive" and c.seeds_needed is not None and c.seeds_needed > 3
    n = c.seeds_needed
    sd = math.sqrt(sum((d - c.mean) ** 2 for d in (-1.0, 1.2, 0.1)) / 2)
    # at the observed spread, n seeds would put the 90% interval inside the margin and n - 1 would not
    assert compare([c.mean + sd * z for z in _unit(n)], 1.0).outcome == "equivalent"
    assert compare([c.mean + sd * z for z in _unit(n - 1)], 1.0).outcome != "equivalent"
    assert f"about {n} seeds" in c.text("a", "b")
    assert seeds_needed(0.99, 5.0, 1.0) is None  # a mean at the margin's edge never fits


def _unit(n):
    """n values with mean 0 and sample std 1."""
    raw = [i - (n - 1) / 2 for i in range(n)]
    sd = math.sqrt(sum(r * r for r in raw) / (n - 1))
    return [r / sd for r in raw]


def test_agreement_with_the_papers_claims():
    assert agreement("equivalent", "a >= b") == "agrees" and agreement("b better", "a >= b") == "disagrees"
    assert agreement("inconclusive", "a >= b") == "undecided"
    assert agreement("equivalent", "a <= b") == "agrees" and agreement("a better", "a <= b") == "disagrees"
    assert agreement("equivalent", "a > b") == "disagrees" and agreement("equivalent", "a = b") == "agrees"
    with pytest.raises(ValueError, match="claim: must be one of"):
        agreement("equivalent", "a ~ b")


def test_bad_margin_is_one_line():
    with pytest.raises(ValueError, match=r"margin: must be a number > 0"):
        compare([1.0, 2.0], margin=0)
