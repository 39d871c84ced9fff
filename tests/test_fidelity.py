"""Paper fidelity (issue 15): each test here failed on the code before the fix it checks.

1. structured scratch runs read the channels the pruned model reads (PreResNet / DenseNet selections);
2. Table 6's PreResNet-110 is the weight-level bottleneck network, and DenseNet-BC-100 is in the grid;
3. the structured lottery control is the ticket's architecture at the unpruned init scale, other values;
4. every parameter of a control (and of a Scratch run) is a fresh draw, the classifier included;
5. Soft Filter Pruning zeroes exactly what it removes, and its recipe (warm-up, normalisation) is run data;
6. Network Slimming's penalty touches the conv BatchNorms only.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nbprune.flops import count_flops, count_params
from nbprune.models import ChannelSelection, create_model, selections_of
from nbprune.presets import get_preset
from nbprune.prune import hooks_for, make_plan
from nbprune.runner import run_chain as prune_chain
from nbprune.runs import RunStore
from nbprune.train import RunConfig, build_model, fresh_seed

pytestmark = pytest.mark.usefixtures("one_thread")


def _synthetic():
    from test_train import synthetic

    return synthetic(n_train=32, n_test=16)


def _selections(model: nn.Module) -> dict[str, list[int]]:
    return {n: m.indices.tolist() for n, m in model.named_modules() if isinstance(m, ChannelSelection)}


# ---- 1. selections ----------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("model", ["preresnet164", "densenet40"])
def test_scratch_runs_read_the_channels_slimming_kept(tmp_path, model):
    store = RunStore(tmp_path / "store")
    large = RunConfig(model=model, width=0.125, epochs=1, batch_size=16, bn_sparsity=1e-5)
    variants = ("fine-tuned", "scratch-e", "scratch-b")
    chain = prune_chain(store, large, "slimming", {"fraction": 0.5}, "smoke", variants=variants,
                        data=_synthetic(), progress=False)
    tuned = _selections(chain.runs["fine-tuned"].model())
    assert any(idx != list(range(len(idx))) for idx in tuned.values())  # slimming did not keep "the first k"
    for v in ("scratch-e", "scratch-b"):
        assert _selections(chain.runs[v].model()) == tuned, v
        assert _selections(chain.runs[v].model("init")) == tuned, v  # trained from scratch with them


def test_selections_are_part_of_the_config_and_checked():
    model = create_model("densenet40", width=0.125)
    name = next(n for n, m in model.named_modules() if isinstance(m, ChannelSelection))
    k = model.get_submodule(name).indices.numel()
    sel = {name: list(range(1, k + 1))}
    config = RunConfig(model="densenet40", width=0.125, selections=sel)
    assert selections_of(build_model(config, 10)) == sel
    assert config.run_id != RunConfig(model="densenet40", width=0.125).run_id
    assert RunConfig.from_dict(config.to_dict()) == config  # survives the JSON round trip of the store
    with pytest.raises(ValueError, match="selections: 'features' is not a ChannelSelection"):
        build_model(RunConfig(model="densenet40", width=0.125, selections={"features": [0]}), 10)
    with pytest.raises(ValueError, match=f"must list {k} distinct"):
        build_model(RunConfig(model="densenet40", width=0.125, selections={name: [0]}), 10)


# ---- 2. Table 6's models ----------------------------------------------------------------------------
def test_table6_preresnet110_is_the_weight_level_bottleneck_network():
    model = create_model("preresnet110")
    blocks = [model.layer1, model.layer2, model.layer3]
    assert [len(s) for s in blocks] == [(110 - 2) // 9] * 3
    assert all(b.conv3.out_channels == 4 * b.conv2.out_channels for s in blocks for b in s)
    assert 1.10e6 < count_params(model) < 1.20e6  # about 1.15 M (the 18-basic-block network has 1.73 M)
    assert all(float(m.weight.detach()[0]) == 1.0 for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert not any(isinstance(m, ChannelSelection) for m in model.modules())


def test_unstructured_paper_grid_has_table6_models_at_gamma_one():
    from nbprune.chapters import chapter_grid

    grid = chapter_grid("unstructured", "paper")
    assert {(e.model, dict(e.settings)["fraction"]) for e in grid} == {
        (m, f) for m in ("vgg19", "preresnet110", "densenet-bc-100") for f in (0.3, 0.8, 0.95)}
    for e in grid:
        kwargs = dict(dict(e.large).get("model_kwargs", ()))
        gamma = kwargs.get("bn_gamma", 1.0 if e.model == "preresnet110" else 0.5)
        assert gamma == 1.0, e


# ---- 3 and 4. lottery controls -------------------------------------------------------------------------
def _lottery(tmp_path, method: str, settings: dict, variants=("winning-ticket", "random-init")):
    store = RunStore(tmp_path / "store")
    large = RunConfig(model="vgg16", width=0.125, epochs=1, batch_size=16)
    chain = prune_chain(store, large, method, settings, "smoke", variants=variants, data=_synthetic(),
                        progress=False)
    return store, chain


def _start(store: RunStore, res) -> dict[str, torch.Tensor]:
    """The weights a derived run started from."""
    return store.init_state(res.config)


@pytest.mark.slow
def test_structured_lottery_control_has_the_tickets_init_scale(tmp_path):
    store, chain = _lottery(tmp_path, "l1", {"target": "vgg16-a"})
    t0, c0 = _start(store, chain.runs["winning-ticket"]), _start(store, chain.runs["random-init"])
    large0 = chain.large.state_dict("init")
    small = build_model(chain.runs["random-init"].config.replace(init="random", parent=None, prune=()), 10).state_dict()
    assert t0.keys() == c0.keys()
    halved = 0
    for key, t in t0.items():
        c = c0[key]
        assert t.shape == c.shape
        if t.dim() == 4 and t.numel() >= 500:  # convs: both at the He init scale of the *unpruned* fan-out
            assert not torch.equal(t, c), key
            assert 0.85 < float(c.std() / t.std()) < 1.15, key
            if large0[key].shape[0] == 2 * t.shape[0]:  # a layer VGG-16-A halves: the small model's own init
                halved += 1                               # would be sqrt(2) wider
                assert float(small[key].std() / c.std()) > 1.25, key
    assert halved >= 3


@pytest.mark.slow
def test_unstructured_controls_share_no_parameter_with_the_ticket(tmp_path):
    store, chain = _lottery(tmp_path, "magnitude", {"fraction": 0.5})
    t0, c0 = _start(store, chain.runs["winning-ticket"]), _start(store, chain.runs["random-init"])
    compared = 0
    for key, t in t0.items():
        if t.is_floating_point() and not key.endswith("_mask") and t.numel() > 1 and float(t.std()) > 0:
            compared += 1
            assert not torch.equal(t, c0[key]), key  # the classifier too
    assert compared >= 15 and "classifier.3.weight" in t0
    assert torch.equal(t0["features.0.weight_mask"], c0["features.0.weight_mask"])
    assert chain.runs["random-init"].config.init_seed == fresh_seed(0)
    # same scale: a fresh draw of the unpruned model, masked (not Scratch's fan-in rescaling)
    key = "features.10.weight"
    assert 0.85 < float(c0[key][c0[key] != 0].std() / t0[key][t0[key] != 0].std()) < 1.15


@pytest.mark.slow
def test_scratch_runs_share_no_parameter_with_the_large_init(tmp_path):
    store, chain = _lottery(tmp_path, "magnitude", {"fraction": 0.5}, variants=("scratch-e",))
    big, scratch = chain.large.state_dict("init"), _start(store, chain.runs["scratch-e"])
    for key in ("classifier.0.weight", "classifier.3.weight"):
        assert not torch.equal(big[key], scratch[key]), key


# ---- 5. Soft Filter Pruning -------------------------------------------------------------------------
def test_sfp_zeroes_exactly_the_filters_it_removes():
    from nbprune.prune.sfp import sfp_step
    from nbprune.prune.surgery import channel_units

    torch.manual_seed(0)
    model = create_model("resnet20", width=0.5)
    sfp_step(model, 0.3)
    zero = {n: (m.weight.flatten(1).abs().sum(1) == 0).nonzero().flatten().tolist()
            for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    plan = make_plan(model, "sfp", fraction=0.3)
    units = channel_units(model)
    removed = {u.conv: sorted(set(range(u.size)) - set(plan.keep[n].tolist())) for n, u in units.items()}
    assert {n: z for n, z in zero.items() if z} == {c: r for c, r in removed.items() if r}


def test_sfp_recipe_is_run_data(tmp_path):
    from nbprune.data import NORMS, SFP_MEAN, train_batches
    from nbprune.prune.sfp import SFP_RECIPE

    config = RunConfig(model="resnet56", **SFP_RECIPE)
    assert [config.lr_at(e) for e in (0, 1, 59, 60, 120, 160)] == pytest.approx([0.01, 0.1, 0.1, 0.02, 0.004, 0.0008])
    assert NORMS[config.normalization][0] == SFP_MEAN
    x = torch.full((4, 3, 32, 32), 128, dtype=torch.uint8)
    y = torch.zeros(4, dtype=torch.long)
    a = next(train_batches(x, y, 4, 0, 0, augment_data=False))[0]
    b = next(train_batches(x, y, 4, 0, 0, augment_data=False, norm="sfp"))[0]
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError, match="normalization: must be one of cifar, sfp"):
        RunConfig(model="resnet56", normalization="imagenet")


@pytest.mark.slow
def test_sfp_chain_scratch_runs_follow_the_recipe_and_are_as_dense_as_the_pruned_model(tmp_path):
    from nbprune.prune import apply_plan

    store = RunStore(tmp_path / "store")
    large = RunConfig(model="resnet20", width=0.25, epochs=10, batch_size=32, sfp_rate=0.4, nesterov=True,
                      weight_decay=5e-4, milestones=(5, 8), gamma=0.2, normalization="sfp", warmup_epochs=1,
                      warmup_lr=0.01)
    large_res = store.run(large, data=_synthetic(), progress=False)
    from nbprune.experiments import experiment
    from nbprune.graph import variant_configs
    from nbprune.plans import plan_for

    exp = experiment("SFP 40%", "resnet20", "sfp", {"fraction": 0.4}, variants=("pruned", "scratch-e", "scratch-b"))
    configs = variant_configs(large_res, exp, get_preset("smoke"))
    chain = plan_for(large_res, "sfp", {"fraction": 0.4})  # plan and FLOPs, as stored beside the large run
    trained = large_res.model()
    pruned = apply_plan(trained, chain.plan)
    live = sum(int((m.weight.flatten(1).abs().sum(1) > 0).sum()) for m in trained.modules() if isinstance(m, nn.Conv2d))
    kept = sum(m.out_channels for m in pruned.modules() if isinstance(m, nn.Conv2d))
    assert live == kept  # what training zeroed is what the plan removed: Scratch runs are no denser
    scratch = build_model(configs["scratch-e"], 10)
    assert count_params(scratch) == count_params(pruned) and count_flops(scratch) == chain.flops_pruned
    for v in ("scratch-e", "scratch-b"):
        c = configs[v]
        assert (c.nesterov, c.weight_decay, c.gamma, c.normalization, c.warmup_epochs) == (True, 5e-4, 0.2, "sfp", 1)
    b = configs["scratch-b"]
    assert b.epochs > 10 and b.milestones == tuple(int(m * b.epochs / 10) for m in (5, 8))
    assert configs["pruned"].epochs == 0 and configs["pruned"].init == "parent"


# ---- 6. Network Slimming's penalty --------------------------------------------------------------------
@pytest.mark.slow
def test_slimming_penalty_gradient_skips_batchnorm1d(tmp_path, monkeypatch):
    """The penalty is added to the gradients of BatchNorm2d weights only: the first step's gradients with and
    without it differ for a conv BN and are equal for the head's BatchNorm1d (VGG-16's mlp head)."""
    from nbprune import train as train_mod

    seen: dict[str, torch.Tensor] = {}
    original = torch.optim.SGD.step

    def spy(self, *a, **kw):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None and p.dim() == 1:
                    seen.setdefault(id(p), p.grad.clone())
        return original(self, *a, **kw)

    data = _synthetic()
    grads = {}
    real_build = train_mod.build_model
    for s in (0.0, 0.5):
        seen.clear()
        monkeypatch.setattr(torch.optim.SGD, "step", spy)
        config = RunConfig(model="vgg16", width=0.125, epochs=1, batch_size=32, bn_sparsity=s)
        model_box = {}

        def build(config, n, *args, _box=model_box, **kw):
            m = real_build(config, n, *args, **kw)
            _box["m"] = m
            return m

        monkeypatch.setattr(train_mod, "build_model", build)
        train_mod.train(config, tmp_path / f"g{s}", data, torch.device("cpu"), progress=False, hooks=hooks_for(config))
        m = model_box["m"]
        grads[s] = {"bn2d": seen[id(m.features[1].weight)], "bn1d": seen[id(m.classifier[1].weight)]}
    assert not torch.allclose(grads[0.0]["bn2d"], grads[0.5]["bn2d"])
    assert torch.allclose(grads[0.0]["bn1d"], grads[0.5]["bn1d"])


# ---- 8. iterative pruning (Figure 7) ---------------------------------------------------------------------
@pytest.mark.slow
def test_iterative_rounds_are_in_the_grids_and_chain_through_tickets(tmp_path):
    from nbprune.chapters import chapter_grid
    from nbprune.experiments import iterative_grid
    from nbprune.graph import large_for as _large_for
    from nbprune.runner import run_grid

    quick = chapter_grid("lottery_ticket", "quick")
    it = [e for e in quick if e.previous is not None]
    assert [e.label for e in it] == ["iterative 36%"]
    one_shot = next(e for e in quick if e.label == "20%")
    assert it[0].previous == one_shot  # round 1 is the one-shot 20% row: its runs are shared
    paper = [e for e in chapter_grid("lottery_ticket", "paper") if e.previous is not None]
    assert max(e.round for e in paper) == 14 and min(dict(e.settings)["fraction"] for e in paper) == 0.36

    store = RunStore(tmp_path / "store")
    grid = iterative_grid("vgg16", 0.5, [1, 2])
    res = run_grid(store, grid, "smoke", [0], data=_synthetic(), progress=False)
    (e1, c1), (e2, c2) = res.chains
    assert c2.large.run_id == c1.runs["winning-ticket"].run_id == _large_for(e2, get_preset("smoke"), 0).run_id
    m1 = store.init_state(c1.runs["winning-ticket"].config)
    m2 = store.init_state(c2.runs["winning-ticket"].config)
    key = "features.3.weight"
    mask1, mask2 = m1[key + "_mask"], m2[key + "_mask"]
    assert bool((mask2 <= mask1).all()) and mask2.sum() < mask1.sum()  # round 2 prunes within round 1's mask
    init = c1.large.state_dict("init")[key]
    assert torch.equal(m2[key], init * mask2)  # the round-2 ticket restarts from the original init
    assert [r["variant"] for r in res.rows].count("unpruned") == 1


# ---- option-A shortcut: He et al.'s and the reference code's -------------------------------------------
def test_reference_shortcut_matches_he_in_outputs_and_gradients():
    from nbprune.models import model_spec

    outs, grads = {}, {}
    for shortcut in ("he", "reference"):
        torch.manual_seed(0)
        model = create_model("resnet20", width=0.5, shortcut=shortcut).eval()
        x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1), requires_grad=True)
        out = model(x)
        out.square().sum().backward()
        outs[shortcut], grads[shortcut] = out.detach(), x.grad
        if shortcut == "reference":
            assert type(model.layer2[0].shortcut).__name__ == "ShortcutReference"
            assert model_spec(model)["shortcut"] == "reference"  # rebuilt by surgery as it was made
    assert torch.allclose(outs["he"], outs["reference"]) and torch.allclose(grads["he"], grads["reference"])
    with pytest.raises(ValueError, match="shortcut"):
        create_model("resnet20", shortcut="b")


@pytest.mark.slow
def test_iterative_rounds_run_stage_by_stage_through_an_executor(tmp_path):
    """The parallel path (complete_grid) names a round's runs only once the ticket it prunes can be trained."""
    from nbprune.executors import LocalExecutor
    from nbprune.experiments import iterative_grid
    from nbprune.runner import complete_grid

    store = RunStore(tmp_path / "store")
    grid = iterative_grid("vgg16", 0.5, [1, 2, 3])
    graph = complete_grid(store, grid, "smoke", [0], executor=LocalExecutor(workers=1), data=_synthetic(),
                          progress=False)
    assert not graph.missing(store) and len(graph.nodes) == 1 + 3 * 2  # large, then ticket + control per round


# ---- 7-9. the paper preset's grids name the paper's models for every CIFAR-10 table ------------------------
@pytest.mark.parametrize("chapter, models, tables", [
    ("predefined", {"vgg16", "resnet56", "resnet110", "resnet20", "resnet32"}, {"1", "10", "11", "14", "16", "17"}),
    ("automatic", {"vgg19", "preresnet56", "preresnet164", "densenet40"}, {"4", "13"}),
    ("unstructured", {"vgg19", "preresnet110", "densenet-bc-100"}, {"6"}),
    ("architecture_search", {"vgg16", "preresnet164"}, {"21", "18"}),
    ("lottery_ticket", {"vgg16", "resnet50", "resnet56", "resnet110"}, {"8a", "8b", "9a", "9b"}),
])
def test_paper_grids_run_the_papers_models(chapter, models, tables):
    from nbprune.chapters import chapter_grid

    grid = chapter_grid(chapter, "paper")
    assert {e.model for e in grid} == models
    assert {e.paper_table for e in grid} - {""} == tables
    if chapter == "architecture_search":  # Figure 3 is VGG-16 (the slimming code's, one Linear), at every preset
        for preset in ("smoke", "quick", "paper"):
            vgg = [e for e in chapter_grid(chapter, preset) if e.method == "slimming" and e.model.startswith("vgg")]
            assert vgg and all(e.model == "vgg16" and ("model_kwargs", (("head", "linear"),)) in e.large for e in vgg)
        assert {e.method for e in grid} >= {"magnitude", "uniform-sparsity"}  # Figure 3's unstructured curve
    if chapter == "predefined":
        assert any(e.method == "sfp" for e in chapter_grid(chapter, "quick"))  # Table 10 runs at the book's preset
