import math
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from nbprune.report import (HISTOGRAM_BINS, mean_std, paired_table, paper_shaped_table, paper_table, paper_value,
                            results_frame, t_interval, weight_distribution_figure, weight_histogram)


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


REPO = Path(__file__).resolve().parents[1]


def _report_names_used() -> dict[str, set[str]]:
    """Every name the notebooks, tools, the package and the tests take from nbprune.report: ``report.<name>``
    in files that import ``report`` from nbprune, and the names of ``from nbprune.report import ...``."""
    files = [*REPO.glob("notebooks/*.py"), *REPO.glob("tools/*.py"), *REPO.glob("tests/*.py"),
             *(f for f in REPO.glob("src/nbprune/**/*.py") if "report" not in f.parent.parts[-1:])]
    used: dict[str, set[str]] = {}
    for path in files:
        text = path.read_text()
        names = set()
        if re.search(r"^\s*from (nbprune|\.) import [^\n]*\breport\b", text, re.M):
            names |= set(re.findall(r"\breport\.(\w+)", text))
        for group in re.findall(r"from (?:nbprune|\.)\.?report import (?:\(([^)]*)\)|([\w, ]+)$)", text, re.M):
            names |= {n.strip() for n in ",".join(group).split(",") if n.strip()}
        if names:
            used[str(path.relative_to(REPO))] = names
    return used


def test_every_name_the_notebooks_use_from_report_exists():
    import nbprune.report

    used = _report_names_used()
    assert {"notebooks/01_predefined.py", "tests/test_report.py"} <= set(used)  # the scan finds the callers
    missing = {f: sorted(n for n in names if not hasattr(nbprune.report, n)) for f, names in used.items()}
    assert not any(missing.values()), missing
    assert not hasattr(nbprune.report, "curve_figure")  # removed: nothing used it


def test_report_imports_no_module_above_it():
    code = ("import sys, nbprune.report; print(' '.join(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('nbprune', 'matplotlib', 'seaborn', 'torch'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(out.split())
    above = {"nbprune.pipeline", "nbprune.runs", "nbprune.executors", "nbprune.train",
             "nbprune.cli", "nbprune.bench", "nbprune.step", "nbprune.store_io", "nbprune.data", "nbprune.runner",
             "nbprune.chapters", "nbprune.experiments", "nbprune.graph", "nbprune.plans"}
    assert not loaded & above, loaded & above
    assert {"nbprune.paper", "nbprune.report.tables", "nbprune.report.verdicts", "nbprune.report.figures"} <= loaded
    assert not loaded & {"matplotlib", "seaborn", "torch"}  # imported only when a figure or table needs them


def _state(seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    out = {}
    for i, c in enumerate((4, 8, 8)):
        w = torch.randn(c, 3, 3, 3, generator=g)
        w[:1] = 0  # a pruned channel: its zeros are left out of the histogram
        out[f"features.{i}.weight"], out[f"features.{i}.bias"] = w, torch.zeros(c)
    return out


def test_weight_histogram_is_the_density_of_the_nonzero_weights():
    state = _state(0)
    h = weight_histogram(state)  # default layer: the middle conv
    w = state["features.1.weight"]
    assert set(h) == {"edges", "density", "nonzero"}
    assert int(h["nonzero"]) == int((w != 0).sum()) == 7 * 27
    assert len(h["edges"]) == HISTOGRAM_BINS + 1 and h["edges"][-1] == pytest.approx(float(w.abs().max()))
    assert float((h["density"] * np.diff(h["edges"])).sum()) == pytest.approx(1.0)
    same = weight_histogram(w, limit=4.0, bins=8)  # a tensor on given bins
    assert np.allclose(same["edges"], np.linspace(-4, 4, 9))
    counts = np.histogram(w[w != 0].numpy(), bins=same["edges"])[0]
    assert np.allclose(same["density"], counts / counts.sum() / 1.0)
    assert not weight_histogram(torch.zeros(3, 3, 3, 3))["density"].any()
    with pytest.raises(ValueError, match="layer: 'conv9' is not in the state dict"):
        weight_histogram(state, "conv9")
    with pytest.raises(ValueError, match="bins: must be an integer >= 1"):
        weight_histogram(w, bins=0)
    with pytest.raises(ValueError, match="limit: must be a number > 0"):
        weight_histogram(w, limit=0)


def test_weight_distribution_figure_draws_one_curve_per_variant():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = lambda state: types.SimpleNamespace(state_dict=lambda: state)  # noqa: E731
    chain = types.SimpleNamespace(large=run(_state(0)),
                                  runs={"fine-tuned": run(_state(1)), "scratch-e": run(_state(2))})
    ax = weight_distribution_figure(chain, "weights", layer="features.0.weight")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "unpruned (81 non-zero)", "Fine-tuned (81 non-zero)", "Scratch-E (81 non-zero)"]
    assert ax.get_xlabel() == "weight value (conv layer 1 of 3)"
    plt.close(ax.figure)
