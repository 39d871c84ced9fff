"""Tests for the structured pruning methods: l1 (Li et al.), slimming (Liu et al.), uniform-channels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nbprune.models import create_model, list_targets
from nbprune.prune import apply_plan, list_methods, make_plan
from nbprune.prune.structured import l1, slimming, uniform_channels
from nbprune.prune.surgery import channel_units, unit_gamma

WIDTH = 0.25


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def numpy_top_k(weight: torch.Tensor, k: int) -> list[int]:
    """Independent reference: the k filters of largest sum |W| over (C_in, k, k), ties to the lower index."""
    norms = np.abs(weight.detach().numpy()).reshape(weight.shape[0], -1).sum(1)
    order = sorted(range(len(norms)), key=lambda i: (-norms[i], i))
    return sorted(order[:k])


@torch.no_grad()
def random_gammas(model: nn.Module, seed: int) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.copy_(torch.randn(m.num_features, generator=gen))
    return model


def test_methods_are_registered():
    assert {"l1", "slimming", "uniform-channels"} <= set(list_methods())


def test_l1_ratios_keep_the_top_filters():
    model = create_model("vgg16", width=WIDTH)
    with torch.no_grad():  # exact ties: identical filters 2, 5 and 6 in the first conv
        model.features[0].weight[5] = model.features[0].weight[2]
        model.features[0].weight[6] = model.features[0].weight[2]
    plan = make_plan(model, "l1", ratios=0.5)
    units = channel_units(model)
    for name, unit in units.items():
        k = max(1, int(unit.size * 0.5))
        assert plan.keep[name].tolist() == numpy_top_k(model.get_submodule(name).weight, k)
        assert plan.info["widths"][name] == k
    assert plan.method == "l1" and plan.arch == "vgg16"
    assert plan.cfg == [v if v == "M" else max(1, int(v * 0.5)) for v in model.cfg]
    assert apply_plan(model, plan).cfg == plan.cfg


def test_l1_tie_breaks_to_the_lower_index():
    model = create_model("resnet20", width=WIDTH)
    with torch.no_grad():
        model.layer1[0].conv1.weight.fill_(1.0)
    plan = l1(model, ratios=[0.5, 0.0, 0.0])
    assert plan.keep["layer1.0.conv1"].tolist() == [0, 1]


@pytest.mark.parametrize("target", ["resnet56-a", "resnet56-b", "resnet110-a", "resnet110-b", "vgg16-a"])
def test_l1_named_targets_give_the_target_cfg(target):
    base = create_model(target).arch
    model = create_model(base)
    plan = l1(model, target=target)
    assert plan.cfg == create_model(target).cfg
    for name, idx in plan.keep.items():
        assert idx.tolist() == numpy_top_k(model.get_submodule(name).weight, idx.numel())


def test_l1_target_at_a_reduced_width():
    model = create_model("resnet56", width=0.5)
    assert l1(model, target="resnet56-b").cfg == create_model("resnet56-b", width=0.5).cfg


def test_l1_stage_ratios_and_skip_reproduce_resnet56_b():
    """Conv id 2+2j is block j's first conv: stage j // 9, block j % 9 of ResNet-56."""
    skip = [f"layer{(i - 2) // 2 // 9 + 1}.{(i - 2) // 2 % 9}.conv1" for i in (16, 18, 20, 34, 38, 54)]
    plan = l1(create_model("resnet56"), ratios=[0.6, 0.3, 0.1], skip=skip)
    assert plan.cfg == create_model("resnet56-b").cfg


def test_l1_per_unit_ratios_and_selection_units():
    model = create_model("preresnet164", width=0.125)
    units = channel_units(model)
    ratios = [0.5 if i % 2 else 0.0 for i in range(len(units))]
    plan = l1(model, ratios=ratios)
    for (name, unit), p in zip(units.items(), ratios):
        assert plan.info["widths"][name] == max(1, int(unit.size * (1 - p)))
    sel = plan.keep["layer2.0.select"]  # scored by the consumer's weights on each input channel
    norms = model.layer2[0].conv1.weight.detach().abs().sum((0, 2, 3))
    assert sel.tolist() == sorted(torch.argsort(norms, descending=True, stable=True)[: sel.numel()].tolist())
    apply_plan(model, plan)(torch.zeros(1, 3, 32, 32))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ratios": 1.0}, "^ratios:"),
        ({"ratios": -0.1}, "^ratios:"),
        ({"ratios": float("nan")}, "^ratios:"),
        ({"ratios": True}, "^ratios:"),
        ({"ratios": "0.5"}, "^ratios:"),
        ({"ratios": [0.1, 0.2]}, "^ratios: resnet20 needs .*got a list of 2"),
        ({"ratios": [0.1, 0.2, 1.5]}, "^ratios:"),
        ({"ratios": 0.1, "skip": ["layer1.0.conv2"]}, "^skip: unknown 'layer1.0.conv2'"),
        ({"ratios": 0.1, "skip": "layer1.0.conv1"}, "^skip: must be a list"),
        ({}, "^target, ratios: give exactly one"),
        ({"target": "resnet56-a", "ratios": 0.1}, "^target, ratios: give exactly one"),
        ({"target": "resnet56-a"}, "^target: 'resnet56-a' prunes resnet56"),
        ({"target": "vgg16-a"}, "^target: 'vgg16-a' prunes vgg16"),
        ({"target": "resnet20-a"}, "^target: unknown 'resnet20-a'"),
    ],
)
def test_l1_bad_settings_name_the_parameter(kwargs, match):
    with pytest.raises(ValueError, match=match):
        l1(create_model("resnet20", width=WIDTH), **kwargs)


def test_l1_target_needs_a_wide_enough_parent():
    pruned = create_model("resnet56-b", width=WIDTH)
    with pytest.raises(ValueError, match="^target: 'resnet56-a'"):
        l1(pruned, target="resnet56-a")
    assert "resnet56-a" in list_targets()


@pytest.mark.parametrize(("name", "fraction"), [("vgg19", 0.7), ("preresnet164", 0.4), ("densenet40", 0.6)])
def test_slimming_removes_the_globally_smallest_gammas(name, fraction):
    model = random_gammas(create_model(name, width=0.125 if name != "vgg19" else WIDTH), seed=3)
    plan = slimming(model, fraction)
    units = channel_units(model)
    removed, kept = [], []
    for unit_name, unit in units.items():
        gamma = unit_gamma(model, unit).abs()
        mask = torch.zeros(unit.size, dtype=torch.bool)
        mask[plan.keep[unit_name]] = True
        kept.append(gamma[mask])
        removed.append(gamma[~mask])
        assert plan.info["widths"][unit_name] == int(mask.sum())
    total = sum(u.size for u in units.values())
    n_removed = sum(r.numel() for r in removed)
    emptied = plan.info["emptied"]
    assert round(fraction * total) - len(emptied) <= n_removed <= round(fraction * total)
    removed_all = torch.cat(removed)
    assert float(removed_all.max()) == plan.info["threshold"]
    # every kept channel beats every removed one, except the single channel an emptied unit keeps
    kept_ordinary = torch.cat([k for k, n in zip(kept, units) if n not in emptied])
    assert float(kept_ordinary.min()) >= plan.info["threshold"]
    for unit_name in emptied:
        gamma = unit_gamma(model, units[unit_name]).abs()
        assert plan.keep[unit_name].tolist() == [int(torch.argmax(gamma))]
    new = apply_plan(model, plan)
    assert new.cfg == plan.cfg
    new(torch.zeros(1, 3, 32, 32))


def test_slimming_survives_an_all_zero_gamma_layer():
    model = random_gammas(create_model("vgg19", width=WIDTH), seed=4)
    with torch.no_grad():
        model.features[8].weight.zero_()  # the BN of the third conv, unit "features.7"
    plan = make_plan(model, "slimming", fraction=0.5)
    assert plan.info["emptied"] == ["features.7"]
    assert plan.keep["features.7"].tolist() == [0]  # all tied at 0: the lowest index
    assert plan.info["widths"]["features.7"] == 1
    new = apply_plan(model, plan)
    assert new.cfg[3] == 1
    new(torch.zeros(1, 3, 32, 32))


def test_slimming_zero_fraction_keeps_everything():
    model = create_model("densenet40", width=0.125)
    plan = slimming(model, 0.0)
    assert plan.cfg == model.cfg and plan.info["threshold"] is None


@pytest.mark.parametrize("method", [slimming, uniform_channels])
@pytest.mark.parametrize("fraction", [1.0, -0.1, float("inf"), "0.5", None])
def test_bad_fraction(method, fraction):
    with pytest.raises(ValueError, match="^fraction:"):
        method(create_model("vgg11", width=0.125), fraction)


def test_uniform_channels_prunes_every_unit_alike():
    model = create_model("preresnet164", width=0.125)
    plan = make_plan(model, "uniform-channels", fraction=0.5)
    for name, unit in channel_units(model).items():
        assert plan.info["widths"][name] == max(1, int(unit.size * 0.5))
    assert plan.method == "uniform-channels"
    vgg = create_model("vgg16", width=WIDTH)
    vgg_plan = uniform_channels(vgg, 0.25)
    assert vgg_plan.cfg == [v if v == "M" else int(v * 0.75) for v in vgg.cfg]
    assert vgg_plan.keep["features.3"].tolist() == numpy_top_k(vgg.features[3].weight, int(vgg.cfg[1] * 0.75))


def test_guided_pruning_follows_and_transfers_stage_widths():
    from nbprune.prune.structured import stage_keep_fractions, unit_stages

    torch.manual_seed(0)
    vgg16 = create_model("vgg16", width=0.25)
    with torch.no_grad():
        for m in vgg16.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0, 1)
    plans = [make_plan(vgg16, "slimming", fraction=f) for f in (0.5, 0.6)]
    fractions = [stage_keep_fractions(vgg16, p) for p in plans]
    assert len(fractions[0]) == 5 and all(0 < f <= 1 for f in fractions[0])
    guide = [sum(col) / len(col) for col in zip(*fractions)]
    guided = make_plan(vgg16, "guided-channels", stage_keep=guide)
    stages = unit_stages(vgg16)
    for unit, width in guided.info["widths"].items():
        size = channel_units(vgg16)[unit].size
        assert width == max(1, round(size * guide[stages[unit]]))
    # transfer: the VGG-16 guide designs a VGG-19 for 100 classes
    vgg19 = create_model("vgg19", num_classes=100, width=0.25)
    transferred = apply_plan(vgg19, make_plan(vgg19, "guided-channels", stage_keep=guide))
    assert stage_keep_fractions(vgg19, make_plan(vgg19, "guided-channels", stage_keep=guide)) == \
        pytest.approx(guide, abs=0.05)
    assert transferred(torch.zeros(2, 3, 32, 32)).shape == (2, 100)
    with pytest.raises(ValueError, match="stage_keep: must list 5 fractions"):
        make_plan(vgg16, "guided-channels", stage_keep=[0.5, 0.5])
