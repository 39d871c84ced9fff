"""Soft Filter Pruning as its authors ran it (issue 30 §1; the paper's Tables 10 and 11).

Facts from the authors' code (Eric-mingjie/rethinking-network-pruning, cifar/soft-filter-pruning/):
``pruning_cifar10_resnet.py`` masks the parameters ``range(layer_begin, layer_end + 1, layer_inter)`` of
``model.parameters()`` (ResNet-56: ``--layer_begin 0 --layer_end 162 --layer_inter 3``, every conv);
``pruning_resnet_scratch.py`` draws the full-size network afresh with std ``sqrt(2 / n)``,
``n = mask.sum() / in_channels``, multiplies it by the pruned model's mask and masks the gradients at every step.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

from nbprune.config import RunConfig
from nbprune.flops import count_flops, scratch_b_epochs
from nbprune.models import create_model
from nbprune.pipeline import derived_configs
from nbprune.plans import compute_plan
from nbprune.presets import get_preset
from nbprune.prune import PrunePlan, apply_plan, derive_state, hooks_for, make_plan
from nbprune.prune.sfp import SFP_RECIPE, sfp_convs, sfp_step

ROOT = Path(__file__).resolve().parent.parent
STORES = [ROOT / "results" / p / "store" for p in ("cpu", "quick")]
ALL = {"fraction": 0.4, "convs": "all"}


def _conv_names(model: nn.Module) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def _zero_filters(conv: nn.Conv2d) -> int:
    return int((conv.weight.detach().flatten(1).abs().sum(1) == 0).sum())


# ---- run ids ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("store", STORES, ids=lambda p: p.parent.name)
def test_every_committed_config_keeps_its_run_id(store):
    """A new RunConfig field (``sfp_convs``) leaves every committed run's id as it is."""
    if not store.is_dir():
        pytest.skip(f"no committed store at {store}")
    dirs = [d for d in sorted(store.iterdir()) if (d / "config.json").exists()]
    assert dirs
    wrong = {d.name: RunConfig.from_dict(json.loads((d / "config.json").read_text())).run_id for d in dirs}
    assert {k: v for k, v in wrong.items() if k != v} == {}


@pytest.mark.slow
@pytest.mark.parametrize("preset, changed", [("cpu", 0), ("quick", 0)])
def test_only_chapter_1s_sfp_rows_get_other_run_ids(preset, changed):
    """Every committed row of every chapter (curves and follow-up stages included) is still named by the
    chapter's grid. The `cpu` book's SFP rows were re-run with the authors' scope ("all"), its preset's default;
    the `quick` book keeps SFP's earlier scope (``Preset.sfp_scope == "units"``) until its SFP rows are re-run:
    with the authors' scope exactly its 9 SFP rows would change (test_the_authors_scope_changes_only_the_sfp_rows)."""
    from nbprune.chapters import CHAPTERS
    from nbprune.graph import grid_graph
    from nbprune.presets import budget_seeds, get_preset
    from nbprune.runner import collect, stage_patterns
    from nbprune.runs import RunStore

    folder = ROOT / "results" / preset
    if not (folder / "predefined-cifar10.csv").exists():
        pytest.skip(f"no committed {preset} results")
    store, p = RunStore(folder / "store"), get_preset(preset)
    unnamed, sfp = set(), set()
    for name, chapter in CHAPTERS.items():
        rows = pd.concat([pd.read_csv(f) for f in sorted(folder.glob(f"{name}-*.csv"))])
        sfp |= set(rows.loc[rows["method"] == "sfp", "run_id"])
        grid = chapter.grid(p)
        if chapter.followups:
            grid = grid + chapter.followups(*stage_patterns(collect(store, grid, p, p.seeds, partial=True).chains),
                                            p, False)
        named = {n.run_id for n in grid_graph(store, grid, p, p.seeds).nodes}
        if chapter.curve:  # the curve's seeds continue the chapter's where a point has more (cpu: 8 at 32 epochs)
            named |= {n.run_id for n in grid_graph(store, chapter.curve(p), p, budget_seeds(p, p.seeds)).nodes}
        unnamed |= set(rows["run_id"]) - named
    assert len(unnamed) == changed and unnamed <= sfp


# ---- 1. what SFP zeroes -----------------------------------------------------------------------------------
def test_the_authors_layer_indices_are_every_conv_of_resnet56():
    """``--layer_begin 0 --layer_end 162 --layer_inter 3`` over ResNet-56's parameter list (stem conv, BN weight,
    BN bias, then conv1, BN, BN, conv2, BN, BN per block, as in the authors' CifarResNet) picks every conv."""
    model = create_model("resnet56")
    names = [n for n, _ in model.named_parameters()]
    picked = [names[i] for i in range(0, 162 + 1, 3)]
    assert picked == [f"{c}.weight" for c in sfp_convs(model, "all")] == [f"{c}.weight" for c in _conv_names(model)]
    assert len(picked) == 55 and names[165:] == ["fc.weight", "fc.bias"]  # mask_index: range(0, 165, 3)


def test_sfp_zeroes_every_conv_when_the_run_says_all():
    config = RunConfig(model="resnet20", width=0.5, sfp_rate=0.3, sfp_convs="all")
    (hook,) = hooks_for(config)
    torch.manual_seed(0)
    model = create_model("resnet20", width=0.5)
    hook.on_train_start(model, 0)
    convs = {n: m for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    assert {n: _zero_filters(m) for n, m in convs.items()} == {n: int(m.out_channels * 0.3) for n, m in convs.items()}
    torch.manual_seed(0)
    units = create_model("resnet20", width=0.5)
    hooks_for(config.replace(sfp_convs="units"))[0].on_train_start(units, 0)  # the default: block conv1s only
    assert {n for n, m in units.named_modules() if isinstance(m, nn.Conv2d) and _zero_filters(m)} == \
        {n for n in convs if n.endswith(".conv1") and n != "conv1"}
    assert config.replace(sfp_convs="units").run_id == RunConfig(model="resnet20", width=0.5, sfp_rate=0.3).run_id
    with pytest.raises(ValueError, match="^sfp_convs: must be one of units, all"):
        RunConfig(model="resnet20", sfp_rate=0.3, sfp_convs="every")
    with pytest.raises(ValueError, match="^sfp_convs: 'all' .* needs sfp_rate > 0"):
        RunConfig(model="resnet20", sfp_convs="all")


# ---- 2. the pruned model and the Scratch runs are masked full-size networks --------------------------------
def _sfp_trained(width=0.5, fraction=0.4, seed=0) -> nn.Module:
    torch.manual_seed(seed)
    model = create_model("resnet20", width=width)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):  # trained-looking BN statistics
                m.running_mean.uniform_(-0.2, 0.2)
                m.bias.uniform_(-0.2, 0.2)
    sfp_step(model, fraction, "all")
    return model


def test_the_plan_masks_the_zeroed_filters_of_every_conv_and_keeps_the_architecture():
    model = _sfp_trained()
    plan = make_plan(model, "sfp", **ALL)
    assert not plan.structured and plan.cfg == model.cfg and set(plan.masks) == {f"{n}.weight" for n in _conv_names(model)}
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            assert torch.equal(plan.masks[f"{name}.weight"], (m.weight != 0).float())  # the authors' mask: weight != 0
    assert set(plan.info["zero_kept"].values()) == {0}
    pruned = apply_plan(model, plan)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():  # the masked network as it is: what the authors evaluate (no physical removal)
        assert torch.equal(pruned.eval()(x), model.eval()(x))


def test_scratch_runs_are_the_full_size_network_drawn_as_the_authors_draw_it():
    model = _sfp_trained()
    plan = make_plan(model, "sfp", **ALL)
    large = RunConfig(model="resnet20", width=0.5, sfp_rate=0.4, sfp_convs="all", **SFP_RECIPE)
    spec = {"method": "sfp", **ALL}
    configs = derived_configs(large, plan, spec, count_flops(model), count_flops(apply_plan(model, plan), masked=True),
                              get_preset("paper"), ("pruned", "scratch-e", "scratch-b"))
    for v in ("pruned", "scratch-e", "scratch-b"):
        c = configs[v]
        assert (c.model, c.cfg, c.parent, dict(c.prune)) == ("resnet20", None, large.run_id, spec)
        assert c.sfp_rate == 0.0 and c.sfp_convs == "units"  # no soft pruning while they train
    scratch = configs["scratch-e"]
    state = derive_state(None, scratch, plan)
    # the authors' pruning_resnet_scratch.py: n = mask.sum() / in_channels; normal_(0, sqrt(2 / n)); mul_(mask)
    torch.manual_seed(scratch.init_seed)
    ref = create_model("resnet20", width=0.5)
    with torch.no_grad():
        for (name, m), m_ref in zip(ref.named_modules(), model.modules()):
            if isinstance(m, nn.Conv2d):
                mask = m_ref.weight.abs().gt(0).float()
                n = mask.sum() / float(m.in_channels)
                m.weight.normal_(0, math.sqrt(2.0 / n))
                m.weight.mul_(mask)
    for key, value in ref.state_dict().items():
        assert torch.allclose(state[key], value, rtol=1e-6, atol=0), key
        if key.endswith(("conv1.weight", "conv2.weight")):
            assert torch.equal(state[key[:-len("weight")] + "weight_mask"], (value != 0).float())


@pytest.mark.slow
def test_a_masked_chain_trains_keeps_its_zeros_and_reports_sfp_flops(tmp_path):
    from nbprune.runner import run_chain
    from nbprune.runs import RunStore
    from test_train import synthetic

    store = RunStore(tmp_path / "store")
    large = RunConfig(model="resnet20", width=0.25, epochs=2, batch_size=16, sfp_rate=0.4, sfp_convs="all")
    chain = run_chain(store, large, "sfp", ALL, "smoke", variants=("pruned", "scratch-e", "scratch-b"),
                      data=synthetic(n_train=32, n_test=16), progress=False)
    trained = chain.large.model()
    assert all(_zero_filters(m) == int(m.out_channels * 0.4) for m in trained.modules() if isinstance(m, nn.Conv2d))
    assert chain.flops_large == count_flops(trained)  # the large model's training was dense
    assert chain.runs["pruned"].metrics["test_acc"] == chain.large.metrics["test_acc"]  # the masked model as it is
    scratch = chain.runs["scratch-e"]
    weights = scratch.state_dict()
    for key, mask in chain.plan.masks.items():
        assert torch.equal(weights[key] * (1 - mask), torch.zeros_like(mask)), key  # masked through training
        assert bool((weights[key][mask.bool()] != 0).all()), key
    for v in ("pruned", "scratch-e", "scratch-b"):  # the FLOPs counter reads a masked run as SFP counts it
        assert chain.runs[v].metrics["flops"] == chain.flops_pruned
    assert chain.runs["scratch-b"].config.epochs == scratch_b_epochs(chain.flops_large, chain.flops_pruned, 2)


# ---- 3. FLOPs and Scratch-B --------------------------------------------------------------------------------
def _conv_flops(model: nn.Module, masked: bool) -> int:
    from nbprune.flops import _flops_counter, _trace

    count = _flops_counter(masked)  # called for every module: BN and ReLU pass the masked channels on

    def conv_only(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
        n = count(m, x, y)
        return n if isinstance(m, nn.Conv2d) else 0

    return _trace(model, None, conv_only)


@pytest.mark.parametrize("fraction, saved, epochs_b", [(0.1, 12.2, 227), (0.2, 26.6, 272), (0.3, 37.8, 321),
                                                       (0.4, 50.1, 400)])
def test_resnet56_flops_follow_sfps_count_and_scratch_b_the_papers_rule(fraction, saved, epochs_b):
    """A masked filter removes its output and the input channel it feeds directly (a block's conv1 -> conv2, the
    stem -> the first block's conv1); the large model counts dense; Scratch-B = int(200 * ratio)."""
    model = create_model("resnet56")
    sfp_step(model, fraction, "all")
    settings = {"fraction": fraction, "convs": "all"}
    sp = compute_plan(model, "sfp", settings)
    assert sp.flops_large == count_flops(create_model("resnet56")) > count_flops(model, masked=True)
    assert round(100 * (1 - sp.flops_pruned / sp.flops_large), 1) == saved
    k = lambda c: c - int(c * fraction)  # noqa: E731  (kept filters)
    hw = {16: 32 * 32, 32: 16 * 16, 64: 8 * 8}
    convs = 2 * 9 * 3 * k(16) * hw[16]
    for s, c in enumerate((16, 32, 64)):
        for b in range(9):
            c_in = c if b else (16 if s == 0 else c // 2)
            convs += 2 * 9 * (k(16) if s == b == 0 else c_in) * k(c) * hw[c] + 2 * 9 * k(c) * k(c) * hw[c]
    assert _conv_flops(apply_plan(model, sp.plan), masked=True) == convs
    large = RunConfig(model="resnet56", sfp_rate=fraction, sfp_convs="all", **SFP_RECIPE)
    b = derived_configs(large, sp.plan, {"method": "sfp", **settings}, sp.flops_large, sp.flops_pruned, get_preset("paper"),
                        ("scratch-b",))["scratch-b"]
    assert b.epochs == epochs_b == int(200 * sp.flops_large / sp.flops_pruned)
    assert b.milestones == tuple(int(m * epochs_b / 200) for m in (60, 120, 160)) and b.warmup_epochs == 1


def test_a_mask_that_is_not_whole_filters_counts_non_zero_weights_only():
    model = create_model("resnet20", width=0.5)
    plan = make_plan(model, "magnitude", fraction=0.5)
    masked = apply_plan(model, plan)
    conv = masked.get_submodule("layer1.0.conv1")
    conv.weight_mask[:2] = 0  # two whole filters, the rest unstructured
    conv.weight.data.mul_(conv.weight_mask)
    before = _conv_flops(masked, masked=True)
    assert before == sum(2 * int(m.weight.count_nonzero()) * s for m, s in _spatial(masked))


def _spatial(model: nn.Module) -> list[tuple[nn.Conv2d, int]]:
    out = []
    hooks = [m.register_forward_hook(lambda m, x, y: out.append((m, y.shape[-1] * y.shape[-2])))
             for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, 32, 32))
    for h in hooks:
        h.remove()
    return out


# ---- 4. the grids: Table 10's unpruned models, Table 11's rows, chapter 1's cpu row -------------------------
def test_the_paper_grid_has_table_10s_unpruned_models_and_table_11s_pretrained_rows(tmp_path):
    from nbprune.experiments import SFP_TABLE10, paper_refs, predefined_grid
    from nbprune.graph import grid_graph, large_for
    from nbprune.runs import RunStore

    grid = predefined_grid(get_preset("paper"))
    recipe = tuple(sorted(SFP_RECIPE.items()))
    unpruned = {e.model: e for e in grid if e.method == "" and e.paper_table == "10"}
    assert set(unpruned) == set(SFP_TABLE10) and all(e.large == recipe and not e.variants for e in unpruned.values())
    sfp = [e for e in grid if e.method == "sfp"]
    assert all(dict(e.large)["sfp_convs"] == "all" and dict(e.settings)["convs"] == "all" for e in sfp)
    t11 = {(e.model, e.paper_target): e for e in sfp if e.paper_table == "11"}
    assert set(t11) == {("resnet56", "30%"), ("resnet56", "40%"), ("resnet110", "30%")}
    e = t11[("resnet56", "30%")]
    c, base = large_for(e, get_preset("paper"), 0), large_for(unpruned["resnet56"], get_preset("paper"), 0)
    assert (c.parent, c.init, c.lr, c.warmup_lr, c.epochs, c.sfp_rate) == (base.run_id, "parent", 0.01, 0.001, 200, 0.3)
    refs = paper_refs(grid)
    assert refs[("ResNet-56", e.label, "pruned")] == (93.51, 0.26)
    assert refs[("ResNet-56", "SFP's recipe", "unpruned")] == (93.80, 0.12)  # Table 10's, its own row
    assert refs[("ResNet-56", "", "unpruned")] == (93.14, 0.12)  # Table 1's unpruned ResNet-56 (the paper's recipe)
    plan = PrunePlan(method="sfp", arch="resnet56", cfg=None, masks={"conv1.weight": torch.ones(16, 3, 3, 3)})
    scratch = derived_configs(c, plan, {"method": "sfp", **dict(e.settings)}, 2, 1, get_preset("paper"), e.variants, e.lr)
    for v in ("scratch-e", "scratch-b"):  # the authors' scratch scripts: lr 0.01 for an epoch, then 0.1
        assert (scratch[v].lr, scratch[v].warmup_lr, scratch[v].warmup_epochs) == (0.1, 0.01, 1)
    assert (scratch["scratch-b"].epochs, scratch["scratch-b"].milestones) == (400, (120, 240, 320))
    graph = grid_graph(RunStore(tmp_path / "store"), [unpruned["resnet56"], e], get_preset("paper"), [0])
    assert [n.run_id for n in graph.nodes] == [base.run_id]  # the pretrained SFP run waits for its unpruned model


@pytest.mark.parametrize("preset, changed", [("quick", 9)])
def test_the_authors_scope_changes_only_the_sfp_rows(preset, changed):
    """Switched to the authors' scope, a CPU preset's grid names every committed row but its SFP rows:
    sfp-trained, pruned and Scratch-E (= Scratch-B) per seed; what re-running them will replace."""
    from dataclasses import replace

    from nbprune.experiments import predefined_grid
    from nbprune.graph import grid_graph
    from nbprune.presets import get_preset
    from nbprune.runs import RunStore

    folder = ROOT / "results" / preset
    if not (folder / "predefined-cifar10.csv").exists():
        pytest.skip(f"no committed {preset} results")
    p = replace(get_preset(preset), sfp_scope="all")
    rows = pd.read_csv(folder / "predefined-cifar10.csv")
    named = {n.run_id for n in grid_graph(RunStore(folder / "store"), predefined_grid(p), p, p.seeds).nodes}
    unnamed = set(rows["run_id"]) - named
    assert unnamed == set(rows.loc[rows["method"] == "sfp", "run_id"]) and len(unnamed) == changed


def test_the_committed_cpu_sfp_rows_are_the_authors_scope():
    """The `cpu` book's SFP rows, re-run: every SFP-trained model zeroed filters of every conv, and each seed's
    pruned model, Scratch-E and Scratch-B are masked full-size networks of that model, Scratch-B on the paper's
    rule (more epochs than Scratch-E, so other runs)."""
    folder = ROOT / "results" / "cpu"
    if not (folder / "predefined-cifar10.csv").exists():
        pytest.skip("no committed cpu results")
    assert get_preset("cpu").sfp_scope == "all"
    rows = pd.read_csv(folder / "predefined-cifar10.csv")
    rows = rows[rows["method"] == "sfp"]
    assert sorted(rows["seed"].unique()) == [0, 1, 2, 3, 4]
    for variant, group in rows.groupby("variant"):
        for run_id in group["run_id"]:
            config = RunConfig.from_dict(json.loads((folder / "store" / run_id / "config.json").read_text()))
            if variant == "sfp-trained":
                assert (config.sfp_convs, config.sfp_rate) == ("all", 0.4)
            else:
                assert dict(config.prune)["convs"] == "all" and config.sfp_rate == 0.0
    e, b = (rows[rows["variant"] == v].set_index("seed") for v in ("scratch-e", "scratch-b"))
    assert (b["epochs"] > e["epochs"]).all() and not set(b["run_id"]) & set(e["run_id"])


@pytest.mark.parametrize("preset", ["smoke"])
def test_the_cpu_presets_sfp_row_runs_sfp_as_its_authors_did(preset):
    from nbprune.experiments import predefined_grid
    from nbprune.graph import large_for

    preset = get_preset(preset)
    (e,) = [e for e in predefined_grid(preset) if e.method == "sfp"]
    assert e.model == "resnet56" and dict(e.settings) == ALL and e.variants == ("pruned", "scratch-e", "scratch-b")
    c = large_for(e, preset, 0)
    assert (c.sfp_rate, c.sfp_convs, c.parent) == (0.4, "all", None)
