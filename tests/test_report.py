import math

import pandas as pd
import pytest

from nbprune.report import (mean_std, paired_table, paper_shaped_table, paper_table, paper_value, results_frame,
                            t_interval)


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




def test_search_pairs_compare_architectures_at_the_same_fraction():
    from nbprune.report import search_pairs

    rows = []
    for seed, (sl, un, gu) in enumerate([(60.0, 55.0, 59.0), (61.0, 55.5, 61.5), (62.0, 56.0, 60.5)]):
        for method, label, acc in (("slimming", "slimming 70%", sl), ("uniform-channels", "uniform 70%", un),
                                   ("guided-channels", "guided 70%", gu)):
            rows.append({"model": "VGG-16", "method": method, "target": label, "seed": seed, "variant": "scratch-e",
                         "final": acc})
            # the same method on another model (transferred guided pruning) is not mixed into VGG-16's pairs
            rows.append({"model": "VGG-19", "method": method, "target": label, "seed": seed, "variant": "scratch-e",
                         "final": 0.0})
    out = search_pairs(pd.DataFrame(rows))
    assert set(out["model"]) == {"VGG-16", "VGG-19"}
    out = out[out["model"] == "VGG-16"].set_index("comparison")
    assert out.loc["slimming - uniform-channels", "mean diff"] == 5.5
    assert out.loc["slimming - uniform-channels", "verdict"] == "slimming better"
    assert out.loc["slimming - uniform-channels", "paper's claim"] == "agrees"
    assert out.loc["guided-channels - slimming", "verdict"].startswith("inconclusive: about")
    assert out.loc["guided-channels - slimming", "paper's claim"] == "undecided"
    assert (out["seeds"] == 3).all() and (out["pruned"] == "70%").all()


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
    assert paired.loc[0, "paper"] == "+0.37"
    assert paired.loc[0, "verdict"] == "scratch better"  # 95% interval [0.50, 1.50]; 90% [0.66, 1.34] not in ±1
    assert paired.loc[0, "paper's claim"] == "agrees"
    tight = paired_table(df, ["model", "target"], [("scratch-b", "fine-tuned")], paper, margin=2.0)
    assert tight.loc[0, "verdict"] == "equivalent within ±2" and tight.loc[0, "paper's claim"] == "agrees"
