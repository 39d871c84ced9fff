"""What chapters 4 and 6 compute from their runs, moved out of the notebooks: the search curves and sizes
(nbprune.report.search) and the later-work setting (nbprune.later_work)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from nbprune import report
from nbprune.later_work import later_work_setup
from nbprune.presets import get_preset
from nbprune.runs import RunStore


def _row(model, method, target, seed, params, final, variant="scratch-e"):
    return {"model": model, "method": method, "target": target, "seed": seed, "params": params, "final": final,
            "best": final + 0.5, "variant": variant}


def _frame():
    rows = [_row("VGG-16", m, f"{m.split('-')[0]} {f}", s, p + s, 90 - s)
            for m, p in (("slimming", 100), ("uniform-channels", 120))
            for f in ("40%", "70%") for s in (0, 1)]
    rows += [_row("VGG-16", "guided-channels", "guided 40%", s, 110, 89) for s in (0, 1)]
    rows += [_row("VGG-19", "guided-channels", "transferred 50%", s, 130, 88) for s in (0, 1)]
    rows += [_row("VGG-16", "slimming", "slimming 40%", 0, 999, 1, variant="unpruned")]
    return report.results_frame(rows)


def test_search_points_put_each_scratch_e_run_on_its_curve():
    points = report.search_points(_frame())
    assert set(points["variant"]) == {"scratch-e"}  # the unpruned row is not a point
    curve = dict(zip(points["target"], points["curve"]))
    assert curve["slimming 40%"] == "Network Slimming architecture"
    assert curve["guided 40%"] == "guided pruning (slimming's mean stage widths)"
    assert curve["transferred 50%"] == "transferred guided pruning (VGG-16's pattern)"


def test_search_summary_and_sizes():
    points = report.search_points(_frame())
    summary = report.search_summary(points)
    assert list(summary.index.names) == ["model", "curve", "target"]
    assert set(summary["seeds"]) == {2}
    assert summary.loc[("VGG-16", "Network Slimming architecture", "slimming 40%"), "params"] == 100.5
    assert summary.loc[("VGG-16", "Network Slimming architecture", "slimming 40%"), "final"] == "89.50 ± 0.71"
    models = list(summary.index.get_level_values("model"))
    assert models == sorted(models)  # one block per model
    sizes = report.search_sizes(points)
    assert list(sizes.index) == [("VGG-16", "40%"), ("VGG-16", "70%"), ("VGG-19", "50%")]
    assert report.fewer_parameters(sizes) == (2, 2)  # the transferred VGG-19 row has neither curve
    assert report.fewer_parameters(sizes.drop(columns="uniform channel pruning")) is None


def test_search_figures_draw_a_lone_model_in_the_first_figure():
    groups = report.search_figure_groups(report.search_points(_frame()))
    assert [name for name, _ in groups] == ["VGG-16 and VGG-19"]
    g = groups[0][1]
    assert "VGG-19: transferred guided pruning (VGG-16's pattern)" in set(g["curve"])
    empty = report.search_figure_groups(report.search_points(_frame()).iloc[:0])
    assert [(name, len(g)) for name, g in empty] == [("", 0)]  # one empty figure, as the notebook drew


def _result(run_id, **config):
    return SimpleNamespace(run_id=run_id, config=SimpleNamespace(**config))


def _run(tmp_path, replayed: bool):
    large = _result("L", steps_per_epoch=lambda: 10)
    l1 = SimpleNamespace(large=large, runs={"fine-tuned": _result("ft"), "lr-rewinding": _result("ft")})
    tickets = [SimpleNamespace(large=_result(f"M{i}"), runs={"rewound-ticket": _result("rw", rewind_step=3)})
               for i in range(2)]
    exps = [SimpleNamespace(method="l1", settings=()), SimpleNamespace(method="magnitude", settings=()),
            SimpleNamespace(method="magnitude", settings=()),
            *(SimpleNamespace(method="random-channels", settings=(("draw", d),)) for d in (0, 1, 2, 0))]
    chains = list(zip(exps, [l1, *tickets, l1, l1, l1, l1]))
    store = RunStore(tmp_path / "store")
    if replayed:
        (store.path / "M1").mkdir(parents=True)
        (store.path / "M1" / "rewind-3.json").write_text(json.dumps({"replayed": True, "step": 3}))
    return SimpleNamespace(chains=chains, preset=get_preset("cpu"), store=store,
                           chapter=SimpleNamespace(name="later_work"))


def test_later_work_setup_reads_the_chains_and_the_store(tmp_path):
    setup = later_work_setup(_run(tmp_path, replayed=True))
    assert (setup.finetune_epochs, setup.epochs, setup.steps) == (1, 4, 40)
    assert (setup.rewind_step, setup.draws, setup.larges, setup.replayed) == (3, 3, 2, 1)
    assert setup.rewinding_is_fine_tuning  # the same run id
    assert later_work_setup(_run(tmp_path / "b", replayed=False)).replayed == 0


def test_later_work_setup_refuses_another_chapter(tmp_path):
    run = _run(tmp_path, replayed=False)
    run.chains = [c for c in run.chains if c[0].method != "magnitude"]
    run.chapter = SimpleNamespace(name="predefined")
    with pytest.raises(ValueError, match="run: chapter 6's run has .*; 'predefined' has no rewound ticket"):
        later_work_setup(run)
