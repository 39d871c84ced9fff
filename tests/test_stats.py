"""The equivalence verdicts (nbprune.stats): TOST at the preset's margin beside the difference test."""

import math

import pytest

from nbprune.stats import agreement, compare, seeds_needed


def test_tost_interval_matches_a_hand_computation():
    c = compare([0.1, 0.3, 0.2, 0.4, 0.0], margin=1.0)
    # mean 0.2, sd 0.158114, n 5: t_{0.95, 4} = 2.131847 -> 90% half width 0.150742
    assert c.mean == pytest.approx(0.2) and c.high90 - c.mean == pytest.approx(2.131847 * 0.158114 / math.sqrt(5), rel=1e-5)
    # its 95% interval [+0.004, +0.396] excludes 0: the verdict names the side ahead
    assert c.outcome == "equivalent" and c.text("scratch", "fine-tuned") == "equivalent within ±1 (scratch ahead, by less than 1)"


def test_an_equivalence_names_a_side_only_where_its_difference_is_significant():
    plain = compare([0.3, -0.2, 0.1, 0.0, -0.1], margin=1.0)
    assert plain.outcome == "equivalent" and plain.low95 < 0 < plain.high95
    assert plain.text("scratch", "fine-tuned") == "equivalent within ±1"
    behind = compare([-0.1, -0.3, -0.2, -0.4, 0.0], margin=1.0)
    assert behind.text("scratch", "fine-tuned") == "equivalent within ±1 (fine-tuned ahead, by less than 1)"
    from dataclasses import replace
    adjusted = replace(behind, p_diff_adj=0.2)  # Holm-adjusted over a family: no longer significant
    assert adjusted.text("scratch", "fine-tuned") == "equivalent within ±1"


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


def test_inconclusive_rows_say_how_many_seeds_would_decide_at_80_percent_power():
    from nbprune.stats import difference_power, tost_power

    c = compare([-1.0, 1.2, 0.1], margin=1.0)  # mean 0.1, sd 1.1: too wide for 3 seeds
    assert c.outcome == "inconclusive" and c.seeds_needed is not None and c.seeds_needed > 3
    n, sd = c.seeds_needed, c.sd
    assert c.decides == "equivalence"  # a mean of 0.1 is far nearer equivalence than a difference
    assert tost_power(c.mean, sd, 1.0, n) >= 0.8 > tost_power(c.mean, sd, 1.0, n - 1)
    assert f"about {n} seeds needed to show equivalence" in c.text("a", "b")
    # a mean far outside the margin is decided as a difference, and far sooner than any equivalence
    n_diff, what = seeds_needed(2.0, 3.0, 1.0)
    assert what == "difference" and difference_power(2.0, 3.0, n_diff) >= 0.8 > difference_power(2.0, 3.0, n_diff - 1)
    assert seeds_needed(0.0, 5.0, 0.1) == (None, "equivalence")  # a tight margin, a huge spread: not within 1000


@pytest.mark.parametrize("mean, sd, margin, n", [(0.2, 1.0, 1.0, 10), (0.5, 1.2, 1.0, 20), (1.5, 2.0, 1.0, 8)])
def test_the_power_functions_agree_with_simulation(mean, sd, margin, n):
    """TOST and the difference test run on simulated seeds decide as often as the power functions say."""
    import numpy as np

    from nbprune.stats import _decide, _p_values, difference_power, tost_power

    rng = np.random.default_rng(0)
    sims = 4000
    draws = rng.normal(mean, sd, (sims, n))
    outcomes = [_decide(d.mean(), *_p_values(d.mean(), d.std(ddof=1), n, margin)) for d in draws]
    eq = sum(o == "equivalent" for o in outcomes) / sims
    assert eq == pytest.approx(tost_power(mean, sd, margin, n), abs=0.03)
    if tost_power(mean, sd, margin, n) < 0.01:  # nothing is called equivalent: every decision is a difference test
        diff = sum(o in ("a better", "b better") for o in outcomes) / sims
        assert diff == pytest.approx(difference_power(mean, sd, n), abs=0.03)


def test_p_values_decide_as_the_intervals_do():
    """The p-value form of the rule (used after Holm's adjustment) is the interval rule for one comparison."""
    import numpy as np

    rng = np.random.default_rng(1)
    for _ in range(300):
        n = int(rng.integers(2, 9))
        diffs = rng.normal(rng.normal(0, 1.5), rng.uniform(0.1, 3), n).tolist()
        c = compare(diffs, 1.0)
        inside = -1.0 < c.low90 and c.high90 < 1.0
        expect = "equivalent" if inside else "a better" if c.low95 > 0 else "b better" if c.high95 < 0 else "inconclusive"
        assert c.outcome == expect
        assert (c.p_equiv < 0.05) == inside and (c.p_diff < 0.05) == (c.low95 > 0 or c.high95 < 0)


def test_holm_adjusts_a_family_and_can_undo_a_borderline_verdict():
    from nbprune.stats import holm

    borderline = compare([-0.2, -1.9, -0.9, -1.5, -0.3], 1.0)  # alone: fine-tuned better at p just under 0.05
    strong = compare([-3.0, -2.5, -3.5, -2.8, -3.1], 1.0)
    noise = compare([2.0, -2.0, 1.0, -1.5, 0.3], 1.0)
    assert borderline.outcome == "b better" and 0.01 < borderline.p_diff < 0.05
    adjusted = holm([borderline, strong, noise])
    assert [c.family for c in adjusted] == [3, 3, 3]
    assert adjusted[1].outcome == "b better" and adjusted[1].p_diff_adj == pytest.approx(3 * strong.p_diff)
    assert adjusted[0].outcome == "inconclusive" and adjusted[0].p_diff_adj > 0.05 and adjusted[0].seeds_needed
    assert holm([borderline])[0].outcome == "b better"  # a family of one is not adjusted


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
