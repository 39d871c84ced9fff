"""Tests for the ImageNet families with explicit cfgs: surgery, named targets, L1 / slimming / ThiNet / regression.

Random weights, small inputs (64x64) and 10 classes; the VGGs used for surgery and reconstruction have small
explicit cfgs (the head keeps torchvision's 4096-wide FC layers). Architecture-only checks of the full-size
models (named targets, FLOPs at 224x224) run on the meta device. All single-threaded.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from conftest import masked
from nbprune.flops import count_flops, count_params, default_input_size, macs
from nbprune.models import create_model, default_cfg, model_spec, named_target_cfg
from nbprune.models.imagenet import ImageNetResNet, ImageNetVGG
from nbprune.prune import apply_plan, make_plan
from nbprune.prune.reconstruct import (
    REGRESSION_TARGETS,
    THINET_TARGETS,
    apply_reconstruction,
    regression,
    thinet,
)
from nbprune.prune.structured import l1, slimming, target_widths
from nbprune.prune.surgery import Unit, block_indices, channel_units, prune_channels, pruned_cfg
from test_methods2 import output_of
from test_surgery import random_keep, randomised

TOL = 1e-5
STAGES = (64, 128, 256, 512)
BLOCKS = (3, 4, 6, 3)
SMALL_VGG16 = [16, 16, "M", 24, 24, "M", 32, 32, 32, "M", 40, 40, 40, "M", 48, 48, 48]
SMALL_VGG11 = [8, "M", 16, "M", 24, 24, "M", 32, 32, "M", 40, 40]
# (model, cfg, kwargs) per ImageNet family for the surgery tests
FAMILIES = [
    ("imagenet-vgg11", SMALL_VGG11, {"batch_norm": True}),
    ("imagenet-vgg16", SMALL_VGG16, {"batch_norm": True}),
    ("imagenet-vgg16", SMALL_VGG16, {"batch_norm": False}),
    ("imagenet-resnet34", None, {}),
    ("imagenet-resnet50", None, {}),
]
IDS = ["vgg11-bn", "vgg16-bn", "vgg16-plain", "resnet34", "resnet50"]


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def output(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x)


def same_architecture(a: nn.Module, b: nn.Module) -> bool:
    shapes = [(k, tuple(v.shape)) for k, v in a.state_dict().items()]
    return str(a) == str(b) and shapes == [(k, tuple(v.shape)) for k, v in b.state_dict().items()]


def numpy_top_k(weight: torch.Tensor, k: int) -> list[int]:
    """Independent reference: the k filters of largest sum |W| over (C_in, k, k), ties to the lower index."""
    norms = np.abs(weight.detach().numpy()).reshape(weight.shape[0], -1).sum(1)
    order = sorted(range(len(norms)), key=lambda i: (-norms[i], i))
    return sorted(order[:k])


def meta(name: str, **kwargs) -> nn.Module:
    """The architecture only (no memory, no init cost): enough for cfgs, units, params and FLOPs."""
    with torch.device("meta"):
        return create_model(name, **kwargs)


# ---- models ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "tv", "kwargs"),
    [
        ("imagenet-vgg11", "vgg11", {"batch_norm": False}),
        ("imagenet-vgg16", "vgg16_bn", {}),
        ("imagenet-resnet34", "resnet34", {}),
        ("imagenet-resnet50", "resnet50", {}),
    ],
)
def test_default_cfg_has_torchvision_layout(name, tv, kwargs):
    ours, theirs = meta(name, num_classes=10, **kwargs), None
    with torch.device("meta"):
        theirs = getattr(torchvision.models, tv)(weights=None, num_classes=10)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in theirs.state_dict().items()
    ]
    assert ours.cfg == default_cfg(name)
    assert count_params(ours) == count_params(theirs)


@pytest.mark.slow
def test_vgg_default_init_matches_torchvision_seed_for_seed():
    torch.manual_seed(3)
    ours = create_model("imagenet-vgg11", num_classes=10, batch_norm=False)
    torch.manual_seed(3)
    theirs = torchvision.models.vgg11(weights=None, num_classes=10)
    assert all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(), theirs.state_dict().values()))


def test_explicit_cfgs_build_the_widths():
    vgg = meta("imagenet-vgg16", cfg=SMALL_VGG16, batch_norm=False)
    convs = [m for m in vgg.features if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [v for v in SMALL_VGG16 if v != "M"]
    assert vgg.classifier[0].in_features == 48 * 7 * 7 and isinstance(vgg.features[-1], nn.MaxPool2d)
    cfg34 = [[5, 6, 7], [8] * 4, [9] * 6, [10, 11, 12]]
    r34 = meta("imagenet-resnet34", cfg=cfg34)
    block = r34.layer1[2]
    assert (block.conv1.out_channels, block.bn1.num_features, block.conv2.in_channels) == (7, 7, 7)
    assert r34.layer4[0].conv1.stride == (2, 2) and r34.layer4[0].conv2.out_channels == 512
    cfg50 = [[[3, 4]] * 3, [[5, 6]] * 4, [[7, 8]] * 6, [[9, 10]] * 3]
    block = meta("imagenet-resnet50", cfg=cfg50).layer2[0]
    assert (block.conv1.out_channels, block.conv2.in_channels, block.conv2.out_channels) == (5, 5, 6)
    assert (block.conv2.stride, block.conv3.in_channels, block.conv3.out_channels) == ((2, 2), 6, 512)
    real = create_model("imagenet-resnet50", num_classes=10, cfg=cfg50).eval()
    assert output(real, torch.randn(1, 3, 64, 64)).shape == (1, 10)
    assert same_architecture(real, create_model(**model_spec(real)))


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"name": "imagenet-vgg16", "cfg": SMALL_VGG16[:-1]}, "a list of 17 entries"),
        ({"name": "imagenet-vgg16", "cfg": [*SMALL_VGG16, "M"]}, "final max-pool is implied"),
        ({"name": "imagenet-vgg16", "cfg": [0, *SMALL_VGG16[1:]]}, "positive ints"),
        ({"name": "imagenet-vgg11", "cfg": [8, 8, 16, "M", 24, "M", 32, 32, "M", 40, 40, "M"]}, "'M' at positions"),
        ({"name": "imagenet-resnet34", "cfg": [[64] * 3, [128] * 4, [256] * 6]}, "4 lists"),
        ({"name": "imagenet-resnet34", "cfg": [[64] * 2, [128] * 4, [256] * 6, [512] * 3]}, "3, 4, 6, 3 positive"),
        ({"name": "imagenet-resnet34", "cfg": [[64, -1, 64], [128] * 4, [256] * 6, [512] * 3]}, "positive ints"),
        ({"name": "imagenet-resnet34", "cfg": [[64, 0, 64], [128] * 4, [256] * 6, [512] * 3]}, "positive ints"),
        ({"name": "imagenet-resnet50", "cfg": [[64] * 3, [128] * 4, [256] * 6, [512] * 3]}, "[conv1, conv2] pairs"),
        ({"name": "imagenet-resnet50", "cfg": [[[64, 64, 64, 64]] * 3, [[128, 128]] * 4, [[256, 256]] * 6,
                                               [[512, 512]] * 3]}, "[conv1, conv2] pairs"),
        ({"name": "imagenet-resnet50", "cfg": [[[65, 64, 64]] * 3, [[128, 128]] * 4, [[256, 256]] * 6,
                                               [[512, 512]] * 3]}, "kept inputs at most"),
        ({"name": "imagenet-resnet50", "cfg": [[[64, 0]] * 3, [[128, 128]] * 4, [[256, 256]] * 6,
                                               [[512, 512]] * 3]}, "positive ints"),
        ({"name": "imagenet-resnet50-50", "cfg": [[[1, 1]]]}, "named target"),
    ],
)
def test_bad_cfg_names_cfg_and_what_is_allowed(kwargs, fragment):
    with pytest.raises(ValueError) as err:
        meta(**kwargs)
    message = str(err.value)
    assert message.startswith("cfg: ") and fragment in message and "\n" not in message


def test_bad_width():
    with pytest.raises(ValueError, match=r"^width: imagenet-resnet34-a supports only width 1.0"):
        named_target_cfg("imagenet-resnet34-a", 0.5)
    with pytest.raises(ValueError, match=r"^width: imagenet-vgg16 supports only width 1.0"):
        meta("imagenet-vgg16", width=0.5)


# ---- surgery -----------------------------------------------------------------------------------------------
def test_units_per_family():
    vgg = channel_units(meta("imagenet-vgg16"))
    assert list(vgg)[:3] == ["features.0", "features.3", "features.7"] and len(vgg) == 13
    assert vgg["features.40"] == Unit(512, "features.40", "features.41", None, ("classifier.0",), (16,), 49)
    plain = channel_units(meta("imagenet-vgg16", batch_norm=False))
    assert list(plain)[:3] == ["features.0", "features.2", "features.5"] and plain["features.2"].bn is None
    assert plain["features.28"].consumers == ("classifier.0",) and plain["features.28"].consumer_block == 49
    assert len(channel_units(meta("imagenet-vgg11"))) == 8
    r34 = channel_units(meta("imagenet-resnet34"))
    assert len(r34) == 16 and r34["layer3.5.conv1"] == Unit(256, "layer3.5.conv1", "layer3.5.bn1", None,
                                                           ("layer3.5.conv2",), (2, 5))
    r50 = channel_units(meta("imagenet-resnet50"))
    assert len(r50) == 32 and r50["layer4.2.conv2"] == Unit(512, "layer4.2.conv2", "layer4.2.bn2", None,
                                                           ("layer4.2.conv3",), (3, 2, 1))
    assert r50["layer1.0.conv1"].cfg_index == (0, 0, 0) and r50["layer1.0.conv1"].size == 64


@pytest.mark.parametrize(("name", "cfg", "kwargs"), FAMILIES, ids=IDS)
def test_surgery_matches_masked_model(name, cfg, kwargs):
    model = randomised(name, cfg=cfg, **kwargs)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    units = channel_units(model)
    gen = torch.Generator().manual_seed(1)
    single = list(units)[len(units) // 2]
    keep = random_keep(units, gen, single)
    last = list(units)[-1]  # always prune the unit read by the head (VGG: 49 columns per channel)
    keep[last] = torch.randperm(units[last].size, generator=gen)[: units[last].size // 2].sort().values
    new = prune_channels(model, keep)

    x = torch.randn(2, 3, 64, 64, generator=gen)
    reference = output(masked(model, keep), x)
    assert float((output(new, x) - reference).abs().max()) <= TOL
    assert float((output(model, x) - reference).abs().max()) > 100 * TOL  # the pruning changed the function
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # parent untouched
    assert not new.training and type(new) is type(model)
    assert isinstance(new, ImageNetResNet if name.startswith("imagenet-resnet") else ImageNetVGG)

    new_units = channel_units(new)
    assert list(new_units) == list(units)
    for unit_name, unit in units.items():
        assert new_units[unit_name].size == (keep[unit_name].numel() if unit_name in keep else unit.size)
    assert new_units[single].size == 1
    assert new.cfg == pruned_cfg(model, keep)
    assert model_spec(new) == {**model_spec(model), "cfg": new.cfg}
    assert same_architecture(new, create_model(**model_spec(new)))
    assert count_params(new) < count_params(model)
    assert count_flops(new, (3, 64, 64)) < count_flops(model, (3, 64, 64))


def test_vgg_head_keeps_the_columns_of_kept_channels():
    model = randomised("imagenet-vgg16", cfg=SMALL_VGG16, batch_norm=False)
    kept = torch.tensor([1, 4, 47])
    new = prune_channels(model, {"features.28": kept})
    columns = torch.cat([torch.arange(49) + 49 * c for c in kept.tolist()])
    assert torch.equal(block_indices(kept, 49), columns)
    assert torch.equal(new.classifier[0].weight, model.classifier[0].weight[:, columns])
    assert torch.equal(new.classifier[0].bias, model.classifier[0].bias)
    assert torch.equal(new.features[28].bias, model.features[28].bias[kept])
    assert new.cfg[-1] == 3 and new.classifier[0].in_features == 3 * 49


def test_bad_keep_on_an_imagenet_unit():
    model = meta("imagenet-resnet34")
    with pytest.raises(ValueError, match=r"^keep\['layer2.0.conv1'\]: keeps no channel"):
        pruned_cfg(model, {"layer2.0.conv1": []})
    with pytest.raises(ValueError, match=r"^keep: unknown 'layer2.0.conv2'"):
        pruned_cfg(model, {"layer2.0.conv2": [0]})


# ---- named targets -----------------------------------------------------------------------------------------
def resnet34_expected(skip: tuple[int, ...], ratios: tuple[float, ...]) -> dict[str, int]:
    """PROTOCOL.md's reading, from the modules: number the stem and every 3x3 conv (not the 1x1 downsample
    convs) in forward order from 1; a block's first conv keeps int(C * (1 - p_stage)) unless its id is skipped."""
    model = meta("imagenet-resnet34")
    widths, conv_id = {}, 0
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1):
            conv_id += 1
            if name.endswith("conv1") and name != "conv1":
                stage = int(name[len("layer")]) - 1
                c = m.out_channels
                widths[name] = c if conv_id in skip else int(c * (1 - ratios[stage]))
    assert conv_id == 33 and len(widths) == 16
    return widths


SKIP34 = (2, 8, 14, 16, 26, 28, 30, 32)


@pytest.mark.parametrize(
    ("target", "ratios", "cfg"),
    [
        ("imagenet-resnet34-a", (0.3, 0.3, 0.3, 0.0),
         [[64, 44, 44], [128, 89, 89, 128], [256, 179, 179, 179, 179, 256], [512] * 3]),
        ("imagenet-resnet34-b", (0.5, 0.6, 0.4, 0.0),
         [[64, 32, 32], [128, 51, 51, 128], [256, 153, 153, 153, 153, 256], [512] * 3]),
    ],
)
def test_resnet34_l1_targets(target, ratios, cfg):
    model = meta(target, num_classes=1000)
    assert model.arch == "imagenet-resnet34" and model.cfg == cfg == named_target_cfg(target)
    expected = resnet34_expected(SKIP34, ratios)
    assert {n: model.get_submodule(n).out_channels for n in expected} == expected
    base = meta("imagenet-resnet34", num_classes=1000)
    # parameters removed, counted by hand: a dropped filter of conv1 takes its 3x3xC_in weights, its BN
    # gamma/beta and its 3x3xC_out column of conv2
    removed = 0
    for s, (c, n) in enumerate(zip(STAGES, BLOCKS)):
        for b in range(n):
            c_in = c // 2 if s > 0 and b == 0 else c
            removed += (c - cfg[s][b]) * (9 * c_in + 2 + 9 * c)
    assert count_params(base) - count_params(model) == removed
    assert count_flops(model) < count_flops(base)


@pytest.mark.parametrize(("target", "keep"), [("imagenet-resnet50-30", 0.3), ("imagenet-resnet50-50", 0.5),
                                              ("imagenet-resnet50-70", 0.7)])
def test_resnet50_thinet_targets(target, keep):
    model = meta(target, num_classes=1000)
    assert model.arch == "imagenet-resnet50"
    assert model.cfg == [[[int(w * keep)] * 2 for _ in range(n)] for w, n in zip(STAGES, BLOCKS)]
    for s, stage in enumerate((model.layer1, model.layer2, model.layer3, model.layer4)):
        for block in stage:
            w = int(STAGES[s] * keep)
            assert (block.conv1.out_channels, block.conv2.out_channels) == (w, w)
            assert block.conv3.out_channels == block.bn3.num_features == 4 * STAGES[s]
    assert THINET_TARGETS[target.replace("imagenet-", "")] == model.cfg
    assert count_params(model) < count_params(meta("imagenet-resnet50", num_classes=1000))


def test_vgg16_thinet_and_regression_targets():
    conv = meta("imagenet-vgg16-conv", num_classes=1000)
    assert model_spec(conv)["batch_norm"] is False  # the plain VGG-16 of ThiNet / He et al.
    assert conv.cfg == [32, 32, "M", 64, 64, "M", 128, 128, 128, "M", 256, 256, 256, "M", 512, 512, 512]
    assert conv.cfg == THINET_TARGETS["vgg-conv"]
    five = meta("imagenet-vgg16-5x", num_classes=1000)
    assert five.cfg == [24, 22, "M", 41, 51, "M", 108, 89, 111, "M", 184, 276, 228, "M", 512, 512, 512]
    assert five.cfg == REGRESSION_TARGETS["vgg16-5x"] and not model_spec(five)["batch_norm"]
    assert [m.out_channels for m in five.features if isinstance(m, nn.Conv2d)] == [v for v in five.cfg if v != "M"]
    assert model_spec(meta("imagenet-vgg16-5x", batch_norm=True))["batch_norm"] is True
    assert same_architecture(conv, meta(**model_spec(conv)))
    base = meta("imagenet-vgg16", num_classes=1000, batch_norm=False)
    for target in (conv, five):
        assert count_params(target) < count_params(base) and count_flops(target) < count_flops(base)
    # VGG-16-5x: about 5x fewer conv multiply-accumulates (He et al.'s name); the FC layers are untouched
    fc = 512 * 49 * 4096 + 4096 * 4096 + 4096 * 1000
    assert 4 < (macs(base) - fc) / (macs(five) - fc) < 5


def test_flops_default_to_224_for_imagenet_models():
    model = meta("imagenet-resnet34-a", num_classes=1000)
    assert default_input_size(model) == (3, 224, 224)
    assert count_flops(model) == count_flops(model, (3, 224, 224)) > count_flops(model, (3, 32, 32))
    assert macs(model) == macs(model, (3, 224, 224))
    cifar = meta("resnet20")
    assert default_input_size(cifar) == (3, 32, 32) and count_flops(cifar) == count_flops(cifar, (3, 32, 32))


def test_target_widths_fit_the_full_models():
    vgg = meta("imagenet-vgg16", num_classes=10)  # a BN parent: the target is matched in its BN variant
    widths = target_widths(vgg, channel_units(vgg), "imagenet-vgg16-conv")
    assert [widths[n] for n in channel_units(vgg)] == [v for v in THINET_TARGETS["vgg-conv"] if v != "M"]
    r50 = meta("imagenet-resnet50", num_classes=10)
    assert target_widths(r50, channel_units(r50), "imagenet-resnet50-50")["layer3.0.conv2"] == 128
    with pytest.raises(ValueError, match=r"^target: 'imagenet-resnet34-a' prunes imagenet-resnet34"):
        target_widths(r50, channel_units(r50), "imagenet-resnet34-a")


# ---- L1 and slimming ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def resnet34() -> nn.Module:
    torch.manual_seed(0)
    return create_model("imagenet-resnet34", num_classes=10).eval()


@pytest.mark.parametrize("target", ["imagenet-resnet34-a", "imagenet-resnet34-b"])
def test_l1_resnet34_targets_keep_the_top_filters(resnet34, target):
    plan = l1(resnet34, target=target)
    assert plan.cfg == named_target_cfg(target)
    for name, idx in plan.keep.items():
        assert idx.tolist() == numpy_top_k(resnet34.get_submodule(name).weight, idx.numel())
    ratios = (0.3, 0.3, 0.3, 0.0) if target.endswith("a") else (0.5, 0.6, 0.4, 0.0)
    blocks = [f"layer{s + 1}.{b}.conv1" for s, n in enumerate(BLOCKS) for b in range(n)]
    skip = [blocks[(i - 2) // 2] for i in SKIP34]  # conv id 2 + 2j is block j's conv1
    by_ratio = l1(resnet34, ratios=list(ratios), skip=skip)
    assert by_ratio.cfg == plan.cfg
    assert all(torch.equal(by_ratio.keep[n], plan.keep[n]) for n in plan.keep)
    pruned = apply_plan(resnet34, plan)
    assert pruned.cfg == plan.cfg and same_architecture(pruned, meta(target, num_classes=10))
    assert torch.equal(pruned.layer2[1].conv1.weight, resnet34.layer2[1].conv1.weight[plan.keep["layer2.1.conv1"]])
    assert output(pruned, torch.randn(1, 3, 64, 64)).shape == (1, 10)


def test_l1_ratios_on_resnet50_and_vgg():
    torch.manual_seed(1)
    r50 = create_model("imagenet-resnet50", num_classes=10)
    plan = make_plan(r50, "l1", ratios=0.5)
    for name, unit in channel_units(r50).items():
        assert plan.keep[name].tolist() == numpy_top_k(r50.get_submodule(name).weight, unit.size // 2)
    assert plan.cfg == [[[w // 2, w // 2]] * n for w, n in zip(STAGES, BLOCKS)]
    staged = l1(r50, ratios=[0.5, 0.0, 0.0, 0.25])
    assert staged.cfg[0][1] == [32, 32] and staged.cfg[2][0] == [256, 256] and staged.cfg[3][2] == [384, 384]
    with pytest.raises(ValueError, match=r"^ratios: imagenet-resnet50 needs .* or of 4 per-stage ratios"):
        l1(r50, ratios=[0.5, 0.5, 0.5])
    vgg = randomised("imagenet-vgg11", cfg=SMALL_VGG11)
    plan = l1(vgg, ratios=0.5)
    assert plan.cfg == [v if v == "M" else v // 2 for v in SMALL_VGG11]
    for name in channel_units(vgg):
        assert plan.keep[name].tolist() == numpy_top_k(vgg.get_submodule(name).weight, plan.keep[name].numel())
    assert output(apply_plan(vgg, plan), torch.randn(1, 3, 64, 64)).shape == (1, 10)


def test_slimming_on_imagenet_vgg11_bn():
    """Network Slimming's ImageNet model (VGG-11 with BN, 50% in the paper); a plain VGG has no gammas."""
    vgg = randomised("imagenet-vgg11", cfg=SMALL_VGG11)
    plan = slimming(vgg, 0.5)
    total = sum(v for v in SMALL_VGG11 if v != "M")
    assert total - sum(v for v in plan.cfg if v != "M") == round(0.5 * total)
    assert output(apply_plan(vgg, plan), torch.randn(1, 3, 64, 64)).shape == (1, 10)
    with pytest.raises(ValueError, match=r"^unit: 'features.0' has no BatchNorm"):
        slimming(randomised("imagenet-vgg11", cfg=SMALL_VGG11, batch_norm=False), 0.5)


# ---- ThiNet / regression at small scale --------------------------------------------------------------------
@pytest.fixture(scope="module")
def plain_vgg16() -> tuple[nn.Module, torch.Tensor]:
    model = randomised("imagenet-vgg16", cfg=SMALL_VGG16, seed=4, batch_norm=False)
    data = torch.randn(6, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    return model, data


@pytest.mark.parametrize("method", [thinet, regression])
def test_reconstruction_of_the_head_reads_49_features_per_channel(plain_vgg16, method):
    """Pruning only the last conv (read by the first FC layer): before pruning the sampled contributions sum
    to the FC output exactly, and the refit beats keeping the old weights on the same samples."""
    model, data = plain_vgg16
    settings = {"widths": {"features.28": 20}, "locations": 6, "refit": "scale"}
    plan = method(model, data, **settings)
    none = method(model, data, **{**settings, "refit": "none"})
    before, after = plan.info["sampled_error"]["features.28"]
    assert before < 1e-5 and after <= none.info["sampled_error"]["features.28"][1] + 1e-9
    assert plan.cfg == [*SMALL_VGG16[:-1], 20] and plan.info["refit"]["features.28"] == "scale"
    new = apply_reconstruction(model, plan)
    refitted = plan.info["weights"]["classifier.0"]
    assert torch.equal(new.classifier[0].weight, refitted[:, block_indices(plan.keep["features.28"], 49)])
    assert output(new, data).shape == (6, 10)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["thinet", "regression"])
def test_whole_imagenet_vgg16_reconstruction_beats_l1(method):
    """Every conv pruned by half, layer by layer: the first FC layer's held-out output (full width, reads the
    last pruned conv) is closer to the parent's than with L1-norm pruning or with the plan's plain surgery."""
    model = randomised("imagenet-vgg16", cfg=SMALL_VGG16, seed=4, batch_norm=False)
    gen = torch.Generator().manual_seed(5)
    data, held_out = torch.randn(16, 3, 64, 64, generator=gen), torch.randn(8, 3, 64, 64, generator=gen)
    target = [v if v == "M" else v // 2 for v in SMALL_VGG16]
    plan = make_plan(model, method, data=data, cfg=target, locations=500)
    assert plan.cfg == target and len(plan.info["weights"]) == 13 and "classifier.0" in plan.info["weights"]
    ours = apply_plan(model, plan)
    plain = apply_plan(model, plan, reconstruct=False)
    l1_model = apply_plan(model, l1(model, ratios=0.5))
    assert ours.cfg == plain.cfg == l1_model.cfg == target
    ref = output_of(model, "classifier.0", held_out)

    def rel_error(pruned: nn.Module) -> float:
        return float((output_of(pruned, "classifier.0", held_out) - ref).norm() / ref.norm())

    assert rel_error(ours) < 0.8 * min(rel_error(plain), rel_error(l1_model))


def test_thinet_on_imagenet_resnet50_blocks():
    torch.manual_seed(6)
    model = create_model("imagenet-resnet50", num_classes=10).eval()
    data = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(7))
    plan = thinet(model, data, widths={"layer1.0.conv1": 19, "layer1.0.conv2": 19}, locations=200, max_rows=5000)
    assert plan.cfg[0][0] == [19, 19] and plan.cfg[0][1] == [64, 64]
    assert set(plan.info["weights"]) == {"layer1.0.conv2", "layer1.0.conv3"}
    new = apply_plan(model, plan)
    assert new.layer1[0].conv2.weight.shape == (19, 19, 3, 3) and output(new, data).shape == (2, 10)
