"""Tests for channel surgery: units per family, output equivalence with a masked model, errors."""

from __future__ import annotations

import functools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from conftest import masked
from nbprune.flops import count_flops, count_params
from nbprune.models import create_model, model_spec
from nbprune.prune import PrunePlan, apply_plan
from nbprune.prune.surgery import Unit, channel_units, prune_channels, pruned_cfg, unit_gamma

FAMILIES = [
    ("vgg16", {"head": "mlp"}),
    ("vgg16", {"head": "linear"}),
    ("vgg19", {}),
    ("resnet56", {}),
    ("preresnet164", {}),
    ("preresnet110", {}),
    ("densenet40", {}),
    ("densenet-bc-100", {}),
]
WIDTH = 0.25
TOL = 1e-5


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


@torch.no_grad()
def randomised(name: str, width: float = 1.0, seed: int = 0, **kwargs) -> nn.Module:
    """A 10-class model in eval mode with random BN affine parameters and running statistics, random conv
    biases and O(1)-scaled Linear weights, so a surgery error cannot hide behind BN's default identity."""
    torch.manual_seed(seed)
    model = create_model(name, num_classes=10, width=width, **kwargs)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.weight.uniform_(0.2, 0.8)
            m.bias.normal_(0.0, 0.2)
            m.running_mean.normal_(0.0, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.num_batches_tracked.fill_(int(torch.randint(1, 1000, ())))
        elif isinstance(m, nn.Linear):
            m.weight.normal_(0.0, m.in_features**-0.5)
            m.bias.normal_(0.0, 0.1)
        elif isinstance(m, nn.Conv2d) and m.bias is not None:
            m.bias.normal_(0.0, 0.1)
    return model.eval()


def random_keep(units: dict[str, Unit], gen: torch.Generator, single: str) -> dict[str, torch.Tensor]:
    """A random non-empty kept set for about 3 in 4 units (others absent: kept whole); ``single`` keeps one."""
    keep = {}
    for name, unit in units.items():
        if name != single and torch.rand((), generator=gen) < 0.25:
            continue
        n = 1 if name == single else int(torch.randint(1, unit.size + 1, (), generator=gen))
        keep[name] = torch.randperm(unit.size, generator=gen)[:n].sort().values
    return keep


def max_diff(a: nn.Module, b: nn.Module, x: torch.Tensor) -> float:
    with torch.no_grad():
        return float((a(x) - b(x)).abs().max())


def same_architecture(a: nn.Module, b: nn.Module) -> bool:
    shapes = [(k, tuple(v.shape)) for k, v in a.state_dict().items()]
    return str(a) == str(b) and shapes == [(k, tuple(v.shape)) for k, v in b.state_dict().items()]


@pytest.mark.parametrize(("name", "kwargs"), FAMILIES, ids=[f"{n}-{k.get('head', '')}" for n, k in FAMILIES])
def test_surgery_matches_masked_model(name, kwargs):
    model = randomised(name, WIDTH, **kwargs)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    units = channel_units(model)
    gen = torch.Generator().manual_seed(1)
    single = list(units)[len(units) // 2]
    keep = random_keep(units, gen, single)
    new = prune_channels(model, keep)

    x = torch.randn(3, 3, 32, 32, generator=gen)
    assert max_diff(new, masked(model, keep), x) <= TOL
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # parent untouched
    assert not new.training and type(new) is type(model)

    new_units = channel_units(new)
    assert list(new_units) == list(units)
    for unit_name, unit in units.items():
        expected = keep[unit_name].numel() if unit_name in keep else unit.size
        assert new_units[unit_name].size == expected
    assert new_units[single].size == 1
    assert new.cfg == pruned_cfg(model, keep)
    assert same_architecture(new, create_model(**model_spec(new)))
    assert model_spec(new) == {**model_spec(model), "cfg": new.cfg}
    assert count_params(new) < count_params(model)
    assert count_flops(new) < count_flops(model)


@pytest.mark.parametrize("name", ["preresnet164", "densenet-bc-100"])
def test_selections_compose_over_two_prunes(name):
    model = randomised(name, 0.125)
    units = channel_units(model)
    gen = torch.Generator().manual_seed(2)
    first = random_keep(units, gen, "select")
    once = prune_channels(model, first)
    second = random_keep(channel_units(once), gen, list(units)[0])
    twice = prune_channels(once, second)

    composed = {}
    for unit_name, unit in units.items():
        outer = first.get(unit_name, torch.arange(unit.size))
        composed[unit_name] = outer[second[unit_name]] if unit_name in second else outer
    x = torch.randn(2, 3, 32, 32, generator=gen)
    assert max_diff(twice, masked(model, composed), x) <= TOL
    sel = units["select"].select
    assert torch.equal(twice.get_submodule(sel).indices, model.get_submodule(sel).indices[composed["select"]])
    assert twice.cfg == pruned_cfg(model, composed)


def test_vgg_copies_weights_and_buffers_exactly():
    model = randomised("vgg16", WIDTH, head="mlp").train()
    keep = {"features.0": torch.tensor([1, 4, 7]), "features.40": [0, 2]}
    new = prune_channels(model, keep)
    assert new.training
    assert torch.equal(new.features[0].weight, model.features[0].weight[[1, 4, 7]])
    assert torch.equal(new.features[3].weight, model.features[3].weight[:, [1, 4, 7]])
    for buf in ("weight", "bias", "running_mean", "running_var"):
        assert torch.equal(getattr(new.features[1], buf), getattr(model.features[1], buf)[[1, 4, 7]])
    assert int(new.features[1].num_batches_tracked) == int(model.features[1].num_batches_tracked)
    assert torch.equal(new.classifier[0].weight, model.classifier[0].weight[:, [0, 2]])
    assert torch.equal(new.classifier[3].weight, model.classifier[3].weight)
    assert new.cfg[0] == 3 and new.cfg[-1] == 2
    # parameter count by the VGG formula: 3x3 convs, BN gamma/beta, then the head
    widths = [v for v in new.cfg if v != "M"]
    convs = sum(9 * c_in * c_out + 2 * c_out for c_in, c_out in zip([3, *widths], widths))
    hidden = model.classifier[0].out_features
    head = widths[-1] * hidden + hidden + 2 * hidden + hidden * 10 + 10
    assert count_params(new) == convs + head


def test_units_per_family():
    vgg = channel_units(create_model("vgg16", width=WIDTH))
    assert list(vgg)[:3] == ["features.0", "features.3", "features.7"] and len(vgg) == 13
    assert vgg["features.40"].consumers == ("classifier.0",)
    res = channel_units(create_model("resnet56", width=WIDTH))
    assert len(res) == 27 and res["layer2.3.conv1"] == Unit(8, "layer2.3.conv1", "layer2.3.bn1", None,
                                                             ("layer2.3.conv2",), (1, 3))
    pre = channel_units(create_model("preresnet164", width=WIDTH))
    assert len(pre) == 3 * 18 * 3 + 1
    assert pre["layer2.0.select"] == Unit(16, None, "layer2.0.bn1", "layer2.0.select", ("layer2.0.conv1",), (1, 0, 0))
    assert pre["layer3.17.conv2"].bn == "layer3.17.bn3" and pre["select"].consumers == ("fc",)
    assert len(channel_units(create_model("preresnet110", width=WIDTH))) == 3 * 12 * 2  # no selections
    dense = channel_units(create_model("densenet40", width=WIDTH))
    assert len(dense) == 3 * 12 + 2 + 1 and dense["trans1.select"].cfg_index == (0, 12, 0)
    bc = channel_units(create_model("densenet-bc-100", width=WIDTH))
    assert len(bc) == 3 * 16 * 2 + 2 + 1 and bc["dense1.0.conv1"].consumers == ("dense1.0.conv2",)


def test_unit_gamma_follows_the_selection():
    model = randomised("densenet40", WIDTH)
    once = prune_channels(model, {"dense2.3.select": [0, 5, 6]})
    unit = channel_units(once)["dense2.3.select"]
    assert torch.equal(unit_gamma(once, unit), model.dense2[3].bn1.weight[[0, 5, 6]])


def test_keep_everything_is_the_same_model():
    model = randomised("preresnet110", 0.125)
    new = prune_channels(model, {})
    assert new is not model and new.cfg == model.cfg
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in new.state_dict().items())


def test_apply_plan_uses_surgery():
    model = randomised("resnet56", WIDTH)
    keep = {"layer1.0.conv1": torch.tensor([0, 2])}
    plan = PrunePlan(method="manual", arch="resnet56", cfg=pruned_cfg(model, keep), keep=keep)
    new = apply_plan(model, plan)
    assert new.cfg == plan.cfg and new.cfg[0][0] == 2


@pytest.mark.parametrize(
    ("keep", "match"),
    [
        ({"layer1.0.conv1": []}, r"keep\['layer1.0.conv1'\]: keeps no channel"),
        ({"layer1.0.conv1": torch.tensor([2, 1])}, "sorted and unique"),
        ({"layer1.0.conv1": [1, 1]}, "sorted and unique"),
        ({"layer1.0.conv1": [0, 4]}, r"in \[0, 4\)"),
        ({"layer1.0.conv1": [-1, 0]}, r"in \[0, 4\)"),
        ({"layer1.0.conv1": [0.0, 1.0]}, "integer"),
        ({"layer1.0.conv1": [[0, 1]]}, "1-D"),
        ({"layer1.0.conv1": "ab"}, "1-D"),
        ({"layer1.0.conv": [0]}, r"keep: unknown 'layer1.0.conv'.*layer1.0.conv1.*allowed: layer1.0.conv1, "),
        ([0, 1], "keep: must be a mapping"),
    ],
)
def test_bad_keep_raises_value_error(keep, match):
    model = create_model("resnet20", width=WIDTH)
    with pytest.raises(ValueError, match=match):
        prune_channels(model, keep)


def test_unsupported_family():
    with pytest.raises(ValueError, match="model: 'Sequential' is an instance of no registered family"):
        channel_units(nn.Sequential(nn.Conv2d(3, 4, 3)))


def test_channel_units_come_from_the_family_registration(monkeypatch):
    """surgery reads a family's units from its registration: a family registered without them is refused by
    name, and one registered with them is cut by the generic surgery."""
    from nbprune.models import registry

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.head = nn.Conv2d(4, 2, 1)

    monkeypatch.setattr(registry, "_FAMILIES", dict(registry._FAMILIES))
    registry.register_family("tiny-nounits", Tiny, ("tiny-a",))
    with pytest.raises(ValueError, match="model: the 'tiny-nounits' family registers no channel-unit enumeration"):
        channel_units(Tiny())
    monkeypatch.setattr(registry, "_FAMILIES", dict(registry._FAMILIES))
    del registry._FAMILIES["tiny-nounits"]
    registry.register_family("tiny", Tiny, ("tiny-a",),
                             channel_units=lambda m: iter([("conv", Unit(4, "conv", None, None, ("head",), (0,)))]))
    assert list(channel_units(Tiny())) == ["conv"]
    assert channel_units(Tiny())["conv"].size == 4


# ---- property test ------------------------------------------------------------------------------

SMALL = [("vgg11", {}), ("vgg16", {"head": "mlp"}), ("resnet20", {}), ("preresnet110", {}), ("densenet40", {}),
         ("densenet-bc-100", {})]


@functools.cache
def small_model(i: int, width: float) -> nn.Module:
    name, kwargs = SMALL[i]
    return randomised(name, width, seed=i, **kwargs)


@settings(max_examples=30, deadline=None)
@given(data=st.data(), family=st.integers(0, len(SMALL) - 1), width=st.sampled_from([0.125, 0.1875, 0.25]),
       unknown=st.booleans())
def test_random_keeps_are_equivalent_or_rejected(data, family, width, unknown):
    model = small_model(family, width)
    units = channel_units(model)
    names = data.draw(st.lists(st.sampled_from(list(units)), max_size=6, unique=True))
    keep: dict[str, object] = {}
    for name in names:
        flags = data.draw(st.lists(st.booleans(), min_size=units[name].size, max_size=units[name].size))
        keep[name] = [i for i, f in enumerate(flags) if f]
    if unknown:
        keep["no.such.unit"] = [0]
    bad = [name for name, idx in keep.items() if name not in units or not idx]
    try:
        new = prune_channels(model, keep)
    except ValueError as err:
        assert bad and any(repr(name) in str(err) for name in bad), str(err)
        return
    assert not bad
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(family))
    assert max_diff(new, masked(model, {k: torch.tensor(v) for k, v in keep.items()}), x) <= TOL
