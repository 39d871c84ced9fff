"""Tests for the model registry and the CIFAR / ImageNet model families."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from nbprune.models import (
    ChannelSelection,
    create_model,
    default_cfg,
    list_models,
    list_targets,
    model_spec,
    named_target_cfg,
)

CIFAR_BASES = [
    "vgg11", "vgg13", "vgg16", "vgg19",
    "resnet20", "resnet32", "resnet50", "resnet56", "resnet110",
    "preresnet56", "preresnet110", "preresnet164", "densenet40", "densenet-bc-100",
]  # fmt: skip
TARGETS = ["resnet110-a", "resnet110-b", "resnet56-a", "resnet56-b", "vgg16-a"]
IMAGENET = ["imagenet-resnet34", "imagenet-resnet50", "imagenet-vgg11", "imagenet-vgg16"]
IMAGENET_TARGETS = [
    "imagenet-resnet34-a", "imagenet-resnet34-b", "imagenet-resnet50-30", "imagenet-resnet50-50",
    "imagenet-resnet50-70", "imagenet-vgg16-5x", "imagenet-vgg16-conv", "imagenet-vgg16-gap", "imagenet-vgg16-tiny",
    "imagenet-resnet50-2x", "imagenet-resnet41", "imagenet-resnet32", "imagenet-resnet26",
]  # fmt: skip


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def _pruned_cfg(name: str, width: float) -> list:
    """A valid non-default cfg: every prunable width of the default cfg reduced (ResNet: one block fewer)."""
    cfg = default_cfg(name, width)
    if name.startswith("vgg"):
        return [v if v == "M" else max(1, v - 1 - i % 3) for i, v in enumerate(cfg)]
    if name.startswith("resnet"):
        return [[max(1, c - 1 - i % 2) for i, c in enumerate(stage[:-1])] for stage in cfg]
    groups = cfg[:3] if name.startswith("preresnet") else cfg  # lists of per-block / per-layer lists
    fixed = 1 if name == "preresnet110" else 0  # no channel selections: a block reads its whole input
    shrunk = [[entry[:fixed] + [max(1, w - 1 - i % 2) for w in entry[fixed:]] for i, entry in enumerate(group)]
              for group in groups]
    return [*shrunk, cfg[3] - 1 + fixed] if name.startswith("preresnet") else shrunk


def _same_architecture(a: nn.Module, b: nn.Module) -> bool:
    def shapes(m: nn.Module) -> list[tuple[str, tuple[int, ...]]]:
        return [(k, tuple(v.shape)) for k, v in m.state_dict().items()]

    return str(a) == str(b) and shapes(a) == shapes(b)


def test_registry_lists() -> None:
    names = list_models()
    assert set(CIFAR_BASES + TARGETS + IMAGENET + IMAGENET_TARGETS) == set(names)
    assert names == sorted(names)
    assert list_targets() == sorted(TARGETS + IMAGENET_TARGETS)


@pytest.mark.parametrize("name", CIFAR_BASES)
def test_forward_shape_width_quarter(name: str) -> None:
    model = create_model(name, num_classes=100, width=0.25)
    model.eval()
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 100)
    model.train()
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 100)


@pytest.mark.parametrize("name", CIFAR_BASES)
def test_attributes_and_rebuild_round_trip(name: str) -> None:
    cfg = _pruned_cfg(name, 0.25)
    model = create_model(name, num_classes=7, cfg=cfg, width=0.25)
    assert (model.arch, model.num_classes, model.width) == (name, 7, 0.25)
    assert model.cfg == cfg
    assert json.loads(json.dumps(model.cfg)) == model.cfg
    same = create_model(model.arch, num_classes=model.num_classes, cfg=model.cfg, width=model.width)
    assert _same_architecture(model, same)
    assert _same_architecture(model, create_model(**model_spec(model)))
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 7)
    assert create_model(name, width=0.25).cfg == default_cfg(name, 0.25)


@pytest.mark.parametrize("name", TARGETS)
def test_named_targets_keep_base_arch(name: str) -> None:
    model = create_model(name)
    assert model.arch == name.split("-")[0]
    assert model.cfg == named_target_cfg(name) == default_cfg(name)
    assert _same_architecture(model, create_model(**model_spec(model)))


def test_named_target_cfgs() -> None:
    assert named_target_cfg("vgg16-a") == [32, 64, "M", 128, 128, "M", 256, 256, 256, "M", *[256] * 3, "M", *[256] * 3]
    assert named_target_cfg("resnet56-a") == [
        [14] * 7 + [16] + [14],  # conv id 16 = block 7 skipped
        [32] + [28] * 8,  # id 20 = block 9
        [64] + [57] * 7 + [64],  # ids 38, 54 = blocks 18, 26
    ]
    assert named_target_cfg("resnet56-b") == [[6] * 7 + [16, 16], [32] + [22] * 6 + [32] + [22], [64] + [57] * 7 + [64]]
    assert named_target_cfg("resnet110-a") == [[8] * 17 + [16], [32] * 18, [64] * 18]
    assert named_target_cfg("resnet110-b") == [[8] * 17 + [16], [32] + [19] * 17, [64] + [44] * 17]
    # width != 1: int(C * (1 - p)) of the scaled C
    half = [[3] * 7 + [8, 8], [16] + [11] * 6 + [16] + [11], [32] + [28] * 7 + [32]]
    assert named_target_cfg("resnet56-b", 0.5) == half
    assert named_target_cfg("vgg16-a", 0.5)[:3] == [16, 32, "M"]
    assert create_model("vgg16-a").head == "mlp"


def test_width_multiplier() -> None:
    assert default_cfg("vgg16", 0.5) == [32, 32, "M", 64, 64, "M", 128, 128, 128, "M", *[256] * 3, "M", *[256] * 3]
    assert default_cfg("resnet20", 0.1) == [[2] * 3, [3] * 3, [6] * 3]  # round(1.6), round(3.2), round(6.4)
    assert default_cfg("resnet20", 0.01) == [[1] * 3] * 3  # never below 1
    model = create_model("resnet20", cfg=[[5], [6, 7], [8]], width=0.5)
    assert [m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d)] == [8, 5, 8, 6, 16, 7, 16, 8, 32]
    assert model.fc.in_features == 32
    mlp = create_model("vgg16", width=0.5).classifier
    assert (mlp[0].in_features, mlp[0].out_features) == (256, 256)
    dense = create_model("densenet-bc-100", width=0.5)
    layer = dense.dense1[0]
    assert (dense.conv1.out_channels, layer.conv1.out_channels, layer.conv2.out_channels) == (12, 24, 6)


def test_vgg_heads() -> None:
    assert [create_model(n, width=0.25).head for n in ("vgg11", "vgg13", "vgg16", "vgg19")] == [
        "linear", "linear", "mlp", "linear",
    ]  # fmt: skip
    linear = create_model("vgg16", head="linear", width=0.25)
    assert len(linear.classifier) == 1 and model_spec(linear)["head"] == "linear"
    mlp = create_model("vgg19", head="mlp", width=0.25)
    assert isinstance(mlp.classifier[1], nn.BatchNorm1d)
    assert _same_architecture(mlp, create_model(**model_spec(mlp)))


def test_default_cfg_formats() -> None:
    pre = default_cfg("preresnet164")
    assert pre[0] == [[16, 16, 16]] + [[64, 16, 16]] * 17
    assert pre[1] == [[64, 32, 32]] + [[128, 32, 32]] * 17
    assert pre[2] == [[128, 64, 64]] + [[256, 64, 64]] * 17
    assert pre[3] == 256
    p110 = default_cfg("preresnet110")  # Table 6's: bottleneck, 12 blocks per stage (weight-level code)
    assert p110[1][:2] == [[64, 32, 32], [128, 32, 32]] and p110[3] == 256 and [len(s) for s in p110[:3]] == [12] * 3
    d40 = default_cfg("densenet40")
    assert [len(b) for b in d40] == [13, 13, 13]
    assert [e[0] for e in d40[0]] == list(range(24, 169, 12))
    assert (d40[1][0], d40[1][-1], d40[2][0], d40[2][-1]) == ([168], [312], [312], [456])
    bc = default_cfg("densenet-bc-100")
    assert [len(b) for b in bc] == [17, 17, 17]
    assert (bc[0][0], bc[0][-1], bc[1][0], bc[1][-1], bc[2][0], bc[2][-1]) == (
        [24, 48], [216], [108, 48], [300], [150, 48], [342],
    )  # fmt: skip


def test_resnet_fewer_blocks_and_option_a_shortcut() -> None:
    model = create_model("resnet56", cfg=[[16], [32, 32], [64]])
    assert [len(s) for s in (model.layer1, model.layer2, model.layer3)] == [1, 2, 1]
    shortcut = model.layer2[0].shortcut
    assert not list(shortcut.parameters())
    x = torch.randn(2, 16, 32, 32)
    y = shortcut(x)
    assert y.shape == (2, 32, 16, 16)
    assert torch.equal(y[:, :16], x[:, :, ::2, ::2]) and not y[:, 16:].any()


def test_channel_selection_buffer() -> None:
    cfg = default_cfg("preresnet164", 0.25)
    cfg[1][3][0] = 5  # block 3 of stage 2 keeps 5 of its 32 input channels
    model = create_model("preresnet164", cfg=cfg, width=0.25)
    block = model.layer2[3]
    assert block.bn1.num_features == 32 and block.conv1.in_channels == 5
    assert block.select.indices.tolist() == [0, 1, 2, 3, 4]
    assert "layer2.3.select.indices" in model.state_dict()
    block.select.indices.copy_(torch.tensor([1, 3, 8, 20, 31]))
    copy = create_model(**model_spec(model))
    copy.load_state_dict(model.state_dict())
    assert copy.layer2[3].select.indices.tolist() == [1, 3, 8, 20, 31]
    x = torch.arange(2 * 32).float().reshape(1, 32, 1, 2)
    assert torch.equal(ChannelSelection(2)(x), x[:, :2])
    assert torch.equal(block.select(x), x[:, [1, 3, 8, 20, 31]])
    model.eval()
    copy.eval()
    inp = torch.randn(2, 3, 32, 32)
    assert torch.allclose(model(inp), copy(inp))


def test_densenet_slimmed_cfg() -> None:
    cfg = default_cfg("densenet40", 0.25)
    cfg[0][-1] = [4]  # transition 1 keeps 4 channels
    cfg[2][-1] = [2]  # final BN keeps 2
    model = create_model("densenet40", cfg=cfg, width=0.25)
    assert model.trans1.conv1.in_channels == 4 and model.trans1.bn1.num_features == cfg[0][-2][0] + 3
    assert model.fc.in_features == 2
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_init_statistics() -> None:
    torch.manual_seed(0)
    vgg = create_model("vgg16")
    conv = vgg.features[-3]
    assert isinstance(conv, nn.Conv2d) and conv.weight.shape == (512, 512, 3, 3)
    expected = math.sqrt(2.0 / (9 * 512))
    assert abs(conv.weight.std().item() / expected - 1) < 0.01
    assert abs(conv.weight.mean().item()) < expected * 0.01
    lin = vgg.classifier[0]
    assert abs(lin.weight.std().item() / 0.01 - 1) < 0.02 and not lin.bias.any()
    expected_gamma = {"vgg19": 0.5, "preresnet164": 0.5, "densenet40": 0.5, "resnet20": 1.0}
    for name, gamma in expected_gamma.items():
        bns = [m for m in create_model(name, width=0.25).modules() if isinstance(m, nn.BatchNorm2d)]
        assert all(torch.all(b.weight == gamma) and not b.bias.any() for b in bns), name
    assert torch.all(vgg.classifier[1].weight == 1.0)  # BatchNorm1d keeps PyTorch's default


@pytest.mark.parametrize(
    ("kwargs", "param", "fragment"),
    [
        ({"name": "resnt56"}, "model", "did you mean 'resnet56'?"),
        ({"name": "resnet56", "width": 0}, "width", "0 < width <= 4"),
        ({"name": "resnet56", "width": 4.5}, "width", "0 < width <= 4"),
        ({"name": "resnet56", "width": float("nan")}, "width", "0 < width <= 4"),
        ({"name": "resnet56", "width": True}, "width", "0 < width <= 4"),
        ({"name": "resnet56", "num_classes": 1}, "num_classes", ">= 2"),
        ({"name": "resnet56", "num_classes": 10.0}, "num_classes", ">= 2"),
        ({"name": "vgg16", "head": "mpl"}, "head", "did you mean 'mlp'?"),
        ({"name": "resnet20", "head": "mlp"}, "head", "not accepted"),
        ({"name": "resnet56-a", "cfg": [[16], [32], [64]]}, "cfg", "named target"),
        ({"name": "vgg11", "cfg": [64, "M", 128]}, "cfg", "12 entries"),
        ({"name": "vgg11", "cfg": [64, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, 7]}, "cfg", "'M' at"),
        ({"name": "vgg11", "cfg": [0, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512]}, "cfg", "positive"),
        ({"name": "vgg11", "cfg": [6.5, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512]}, "cfg", "positive"),
        ({"name": "resnet20", "cfg": [[16] * 3, [32] * 3]}, "cfg", "3 lists"),
        ({"name": "resnet20", "cfg": [[16] * 4, [32] * 3, [64] * 3]}, "cfg", "1 to 3"),
        ({"name": "resnet20", "cfg": [[], [32] * 3, [64] * 3]}, "cfg", "1 to 3"),
        ({"name": "resnet20", "cfg": [[16, -1, 16], [32] * 3, [64] * 3]}, "cfg", "positive"),
        ({"name": "resnet20", "cfg": [[16, "16", 16], [32] * 3, [64] * 3]}, "cfg", "positive"),
        ({"name": "resnet20", "cfg": [[16, True, 16], [32] * 3, [64] * 3]}, "cfg", "positive"),
        ({"name": "preresnet164", "cfg": [[[16, 16, 16]], [[65, 32, 32]], [[128, 64, 64]], 256]}, "cfg", "k_in <="),
        ({"name": "preresnet164", "cfg": [[[16, 16, 16]], [[64, 32]], [[128, 64, 64]], 256]}, "cfg", "[k_in, c1, c2]"),
        ({"name": "preresnet164", "cfg": [[[16, 16, 16]], [[64, 32, 32]], [[128, 64, 64]], 257]}, "cfg", "k_final <= 256"),
        ({"name": "preresnet164", "cfg": [[[16, 16, 16]], [[64, 32, 32]], [[128, 64, 64]]]}, "cfg", "k_final"),
        ({"name": "preresnet110", "cfg": [[[16, 16, 16]], [[60, 32, 32]], [[128, 64, 64]], 256]}, "cfg", "k_in =="),
        ({"name": "densenet40", "cfg": [[[24]] * 13] * 2}, "cfg", "3 lists"),
        ({"name": "densenet40", "cfg": [[[24]] * 12] * 3}, "cfg", "12 layer entries"),
        ({"name": "densenet-bc-100", "cfg": [[[24]] * 17] * 3}, "cfg", "[k_in, c_mid]"),
        ({"name": "imagenet-resnet34", "cfg": [1]}, "cfg", "4 lists"),
        ({"name": "imagenet-resnet34", "width": 0.5}, "width", "only width 1.0"),
        ({"name": "imagenet-vgg11", "batch_norm": "yes"}, "batch_norm", "True or False"),
    ],
)
def test_bad_inputs_name_the_parameter(kwargs: dict, param: str, fragment: str) -> None:
    with pytest.raises(ValueError) as err:
        create_model(**kwargs)
    message = str(err.value)
    assert message.startswith(f"{param}: ") and fragment in message and "\n" not in message


def test_bad_inputs_of_lookups() -> None:
    with pytest.raises(ValueError, match=r"^model: unknown 'resnt56'; did you mean 'resnet56'\? allowed: densenet"):
        default_cfg("resnt56")
    with pytest.raises(ValueError, match=r"^target: unknown 'resnet56'; did you mean 'resnet56-[ab]'\?"):
        named_target_cfg("resnet56")
    with pytest.raises(ValueError, match=r"^width: "):
        default_cfg("vgg16", 0.0)


def test_explicit_cfg_accepts_integer_like_values() -> None:
    cfg = [[torch.tensor(3).item(), 4], [np.int64(5)], [6]]
    model = create_model("resnet20", cfg=cfg, width=0.25)
    assert model.cfg == [[3, 4], [5], [6]] and type(model.cfg[1][0]) is int
    assert json.loads(json.dumps(model.cfg)) == model.cfg


def test_imagenet_models() -> None:
    resnet = create_model("imagenet-resnet34", num_classes=1000)
    widths34 = [[64] * 3, [128] * 4, [256] * 6, [512] * 3]
    assert (resnet.arch, resnet.cfg, resnet.num_classes, resnet.width) == ("imagenet-resnet34", widths34, 1000, 1.0)
    resnet.eval()
    assert resnet(torch.zeros(1, 3, 64, 64)).shape == (1, 1000)
    assert _same_architecture(resnet, create_model(**model_spec(resnet)))
    assert default_cfg("imagenet-resnet50") == [[[w, w]] * n for w, n in zip((64, 128, 256, 512), (3, 4, 6, 3))]
    plain = create_model("imagenet-vgg11", batch_norm=False)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in plain.modules())
    vgg11 = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512]
    spec = {"name": "imagenet-vgg11", "num_classes": 10, "cfg": vgg11, "width": 1.0, "batch_norm": False}
    assert model_spec(plain) == spec


def test_weight_level_vgg16_is_the_weight_level_codes_vgg16_bn() -> None:
    """Table 9's VGG-16: conv biases (zero at init), fan-in He std, BN gamma 1, one Linear; the default VGG-16
    (Table 1's) has none of these, and the kwargs are checked."""
    from nbprune.models.vgg import WEIGHT_LEVEL_VGG

    torch.manual_seed(0)
    wl = create_model("vgg16", **dict(WEIGHT_LEVEL_VGG))
    convs = [m for m in wl.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.bias is not None and not c.bias.any() for c in convs)
    last = convs[-1]  # 512 -> 512: fan-in and fan-out agree; the first conv (3 -> 64) tells them apart
    assert abs(convs[0].weight.std().item() - math.sqrt(2 / 27)) < 0.02 and last.weight.shape[1] == 512
    assert all(m.weight.eq(1).all() for m in wl.modules() if isinstance(m, nn.BatchNorm2d))
    assert [type(m) for m in wl.classifier] == [nn.Linear]
    assert create_model(**model_spec(wl)).features[0].bias is not None  # the bias is architecture: in the spec
    plain = create_model("vgg16")
    assert plain.features[0].bias is None and abs(plain.features[0].weight.std().item() - math.sqrt(2 / 576)) < 0.01
    with pytest.raises(ValueError, match="conv_init: unknown 'fan'"):
        create_model("vgg16", conv_init="fan")
    with pytest.raises(ValueError, match="conv_bias: must be True or False"):
        create_model("vgg16", conv_bias=1)


def test_cifar_resnet50_is_the_weight_level_codes_basic_block_resnet() -> None:
    """ResNet-50 of Table 9: 8 basic blocks per stage, 1x1-conv + BN shortcuts where the shape changes."""
    model = create_model("resnet50")
    assert [len(s) for s in model.cfg] == [8, 8, 8]
    projections = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1)]
    assert len(projections) == 2 and all(p.stride == (2, 2) for p in projections)
    assert sum(isinstance(m, nn.Conv2d) for m in model.modules()) == 1 + 48 + 2
# ---- model families ------------------------------------------------------------------------------------


def test_families_register_their_properties() -> None:
    """Each CIFAR family registers the paper's names and, where Network Slimming runs on it, its penalty; a
    named target belongs to its base's family."""
    from nbprune.models import family_of, list_families, models_with, paper_name, slimming_penalty

    assert sorted(list_families()) == ["densenet", "imagenet-resnet", "imagenet-vgg", "preresnet", "resnet", "vgg"]
    assert sorted(list_families("slimming_penalty")) == ["densenet", "preresnet", "vgg"]
    assert [paper_name(m) for m in ("vgg16", "resnet110", "preresnet164", "densenet-bc-100")] == [
        "VGG-16", "ResNet-110", "PreResNet-164", "DenseNet-BC-100"]
    assert (slimming_penalty("vgg19"), slimming_penalty("preresnet164"), slimming_penalty("densenet40")) == (
        1e-4, 1e-5, 1e-5)
    assert family_of("vgg16-a").name == "vgg" and family_of("resnet56-b").name == "resnet"
    assert sorted(models_with("slimming_penalty")) == sorted(
        ["vgg11", "vgg13", "vgg16", "vgg19", "preresnet56", "preresnet110", "preresnet164", "densenet40",
         "densenet-bc-100"])
    assert family_of(create_model("resnet20", width=0.25)).name == "resnet"
    # every CIFAR model the book's grids may name has a paper name (no fallback to the registry name)
    for m in list_models():
        if not m.startswith("imagenet") and m not in list_targets():
            assert paper_name(m)[0].isupper(), m


def test_an_unregistered_family_property_is_an_error() -> None:
    """No silent default: ResNet registers no slimming penalty (the paper slims VGG, PreResNet and DenseNet),
    and an ImageNet family names only the models the paper names."""
    from nbprune.models import paper_name, slimming_penalty

    with pytest.raises(ValueError, match="model: the 'resnet' family registers no Network Slimming sparsity "
                                         "penalty; families that do: "):
        slimming_penalty("resnet56")
    assert paper_name("imagenet-vgg16") == "VGG-16"
    with pytest.raises(ValueError, match="model: unknown 'vgg17'"):
        paper_name("vgg17")


def test_register_family_checks_its_arguments(monkeypatch) -> None:
    from nbprune.models import registry

    monkeypatch.setattr(registry, "_FAMILIES", dict(registry._FAMILIES))
    with pytest.raises(ValueError, match="family: 'vgg' is already registered"):
        registry.register_family("vgg", nn.Module, ("x",))
    with pytest.raises(ValueError, match="models: 'vgg16' already belongs to the 'vgg' family"):
        registry.register_family("other", nn.Module, ("vgg16",))
    with pytest.raises(ValueError, match="paper_names: 'y' not among the family's models"):
        registry.register_family("other", nn.Module, ("x",), paper_names={"y": "Y"})
    with pytest.raises(ValueError, match="slimming_penalty: must be None or a number in"):
        registry.register_family("other", nn.Module, ("x",), slimming_penalty=2)
    with pytest.raises(ValueError, match="property: unknown 'width'"):
        registry.family_of("vgg16").require("width")


def test_a_family_module_registers_itself_by_being_in_the_package(tmp_path, monkeypatch) -> None:
    """nbprune.models and nbprune.prune import every module of their package (nbprune.plugins.import_all), in
    name order: a new module's registrations run without a list of names to edit."""
    import sys

    import nbprune.models as models
    import nbprune.prune as prune
    from nbprune.plugins import import_all

    assert {"densenet", "imagenet", "preresnet", "resnet", "vgg"} <= set(models.FAMILY_MODULES)
    assert {"reconstruct", "sfp", "slimming", "sss", "structured", "unstructured"} <= set(prune.METHOD_MODULES)
    pkg = tmp_path / "plugpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("SEEN = []\n")
    for name in ("zeta", "alpha"):
        (pkg / f"{name}.py").write_text(f"from plugpkg import SEEN\nSEEN.append({name!r})\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import plugpkg

    try:
        assert import_all("plugpkg", plugpkg.__path__) == ["alpha", "zeta"] and plugpkg.SEEN == ["alpha", "zeta"]
    finally:
        for name in [n for n in sys.modules if n == "plugpkg" or n.startswith("plugpkg.")]:
            del sys.modules[name]
