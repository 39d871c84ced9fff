import math

import pandas as pd
import pytest

from nbprune.report import (mean_std, paired_table, paper_shaped_table, paper_table, paper_value, results_frame,
                            t_interval, verdict)


def test_paper_numbers_ship_with_the_package():
    assert paper_value(1, "cifar10", "VGG-16", "VGG-16-A", "fine-tuned") == (93.41, 0.12)
    assert paper_value(4, "cifar10", "VGG-19", "70%", "scratch-b") == (93.81, 0.14)
    assert paper_value(1, "cifar10", "VGG-16", "VGG-16-Z", "fine-tuned") is None
    t9 = paper_table("9b")
    assert set(t9["dataset"]) == {"cifar10"} and len(t9) > 0
    with pytest.raises(ValueError, match="table: unknown '99'"):
        paper_table(99)


def test_t_interval_matches_a_hand_computation():
    m, lo, hi = t_interval([1.0, 2.0, 3.0])
    # mean 2, sd 1, n 3: t_{0.975, 2} = 4.302653 -> half width 4.302653 / sqrt(3)
    assert m == 2.0 and hi - m == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5) and m - lo == pytest.approx(hi - m)
    assert math.isnan(t_interval([1.0])[1])


@pytest.mark.parametrize("lo, hi, paper, expected", [
    (0.1, 0.5, 0.37, "agrees (scratch better)"),
    (-0.5, -0.1, 0.37, "disagrees (fine-tuned better)"),
    (-0.2, 0.3, 0.37, "inconclusive (interval contains 0)"),
    (-0.5, -0.1, -0.3, "disagrees (fine-tuned better)"),  # the claim, not the paper's own sign, decides
    (float("nan"), float("nan"), 0.1, "inconclusive (one seed)"),
])
def test_verdicts(lo, hi, paper, expected):
    assert verdict(lo, hi, paper) == expected


def test_lottery_verdicts_follow_the_claim_that_a_ticket_is_no_better():
    from nbprune.report import pair_verdict

    assert pair_verdict(-8.3, -0.8, 0.13, "winning-ticket", "random-init") == "agrees (random init better)"
    assert pair_verdict(0.5, 2.0, 0.13, "winning-ticket", "random-init") == "disagrees (winning ticket better)"
    assert pair_verdict(-1.0, 2.0, 0.13, "winning-ticket", "random-init") == "inconclusive (interval contains 0)"
    assert pair_verdict(4.4, 7.4, 0.37, "scratch-b", "fine-tuned") == "agrees (scratch better)"


def test_search_pairs_compare_architectures_at_the_same_fraction():
    from nbprune.report import search_pairs

    rows = []
    for seed, (sl, un, gu) in enumerate([(60.0, 55.0, 59.0), (61.0, 55.5, 61.5), (62.0, 56.0, 60.5)]):
        for method, label, acc in (("slimming", "slimming 70%", sl), ("uniform-channels", "uniform 70%", un),
                                   ("guided-channels", "guided 70%", gu)):
            rows.append({"method": method, "target": label, "seed": seed, "variant": "scratch-e", "final": acc})
    out = search_pairs(pd.DataFrame(rows)).set_index("comparison")
    assert out.loc["slimming - uniform-channels", "mean diff"] == 5.5
    assert out.loc["slimming - uniform-channels", "verdict"] == "agrees (slimming better)"
    assert out.loc["guided-channels - slimming", "verdict"] == "inconclusive (interval contains 0)"
    assert (out["seeds"] == 3).all() and (out["channels pruned"] == "70%").all()


def test_tables_pair_runs_by_seed():
    rows = []
    for seed, (ft, sb) in enumerate([(60.0, 61.0), (62.0, 63.2), (61.0, 61.8)]):
        rows += [dict(model="VGG-16", target="VGG-16-A", variant="fine-tuned", seed=seed, final=ft, best=ft + 1),
                 dict(model="VGG-16", target="VGG-16-A", variant="scratch-b", seed=seed, final=sb, best=sb)]
    df = results_frame(rows)
    paper = {("VGG-16", "VGG-16-A", "fine-tuned"): (93.41, 0.12), ("VGG-16", "VGG-16-A", "scratch-b"): (93.78, 0.15)}
    shaped = paper_shaped_table(df, ["model", "target"], paper)
    assert "Unpruned (final)" not in shaped
    assert shaped.loc[0, "Fine-tuned (final)"] == mean_std([60.0, 62.0, 61.0]) == "61.00 ± 1.00"
    assert shaped.loc[0, "Scratch-B (paper)"] == "93.78 ± 0.15"
    paired = paired_table(df, ["model", "target"], [("scratch-b", "fine-tuned")], paper)
    assert paired.loc[0, "mean diff"] == 1.0 and paired.loc[0, "seeds"] == 3
    assert paired.loc[0, "paper diff"] == "+0.37"
    assert paired.loc[0, "verdict"] == "agrees (scratch better)"
