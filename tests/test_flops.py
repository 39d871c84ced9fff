"""Tests for FLOPs / parameter counting and the Scratch-B budget, pinned to the paper's oracle."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nbprune.flops import count_flops, count_params, macs, scratch_b_epochs, scratch_b_milestones
from nbprune.models import create_model, default_cfg

# (pruned target, unpruned base, FLOPs saved in %, Scratch-B epochs) from PROTOCOL.md
ORACLE = [
    ("vgg16-a", "vgg16", 34.2, 243),
    ("resnet56-a", "resnet56", 10.4, 178),
    ("resnet56-b", "resnet56", 27.5, 220),
    ("resnet110-a", "resnet110", 15.8, 190),
    ("resnet110-b", "resnet110", 38.5, 260),
]


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def _tiny() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, bias=False),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 2),
    )


@pytest.mark.parametrize(("target", "base", "saved", "epochs"), ORACLE)
def test_oracle_flops_saved_and_scratch_b_epochs(target: str, base: str, saved: float, epochs: int) -> None:
    full, pruned = count_flops(create_model(base)), count_flops(create_model(target))
    assert abs(100 * (1 - pruned / full) - saved) <= 0.2
    assert scratch_b_epochs(full, pruned) == epochs


def test_full_size_counts() -> None:
    assert count_flops(create_model("resnet56")) == 252_572_938
    assert count_flops(create_model("vgg16")) == 627_884_042
    assert macs(create_model("resnet56")) == 125_485_696


def test_tiny_model_by_hand() -> None:
    model = _tiny()
    # input 3x8x8: conv 2*9*3*4*64, BN 2*256, ReLU 256, maxpool 4*(4*4*4), adaptive pool 16*4, linear 2*4*2+2
    assert count_flops(model, (3, 8, 8)) == 13824 + 512 + 256 + 256 + 64 + 18
    assert macs(model, (3, 8, 8)) == 9 * 3 * 4 * 64 + 8
    assert count_params(model) == 108 + 8 + 10


def test_adaptive_pool_uneven_windows() -> None:
    # 5 -> 3 outputs per axis: windows [0,2), [1,4), [3,5) -> lengths 2+3+2 = 7 per axis
    assert count_flops(nn.AdaptiveAvgPool2d(3), (2, 5, 5)) == 2 * 7 * 7


def test_masked_counting_halves_a_conv() -> None:
    model = _tiny()
    dense_conv = 2 * 9 * 3 * 4 * 64
    nonzero = count_params(model, masked=True)  # BN beta starts at 0: 126 - 4
    with torch.no_grad():
        model[0].weight.view(-1)[::2] = 0.0
    total = count_flops(model, (3, 8, 8))
    assert count_flops(model, (3, 8, 8), masked=True) == total - dense_conv // 2
    assert (nonzero, count_params(model, masked=True)) == (122, 122 - 54)
    with torch.no_grad():
        model[6].weight.zero_()
    assert count_flops(model, (3, 8, 8), masked=True) == total - dense_conv // 2 - 16
    assert count_flops(model, (3, 8, 8)) == total  # unmasked count ignores zeros


def test_resnet20_params_by_hand() -> None:
    def conv(c_in: int, c_out: int) -> int:
        return 9 * c_in * c_out

    stem = conv(3, 16) + 32
    stage1 = 3 * (2 * conv(16, 16) + 64)
    stage2 = conv(16, 32) + conv(32, 32) + 128 + 2 * (2 * conv(32, 32) + 128)
    stage3 = conv(32, 64) + conv(64, 64) + 256 + 2 * (2 * conv(64, 64) + 256)
    assert count_params(create_model("resnet20")) == stem + stage1 + stage2 + stage3 + 64 * 10 + 10 == 269_722


def test_vgg16_mlp_params_by_hand() -> None:
    widths = [v for v in default_cfg("vgg16") if v != "M"]
    convs = sum(9 * c_in * c_out + 2 * c_out for c_in, c_out in zip([3, *widths], widths))
    head = 512 * 512 + 512 + 2 * 512 + 512 * 10 + 10
    assert count_params(create_model("vgg16")) == convs + head == 14_987_722


def test_known_param_counts() -> None:
    assert count_params(create_model("resnet56")) == 853_018  # ~0.85M
    assert count_params(create_model("resnet56-a")) == 773_336  # Li et al.: 0.77M
    assert count_params(create_model("resnet110-b")) == 1_168_424  # Li et al.: 1.16M
    assert count_params(create_model("vgg16-a")) == 5_397_034  # Li et al.: 5.4M
    assert count_params(create_model("vgg19")) == 20_035_018  # slimming: 20.04M
    assert count_params(create_model("preresnet164")) == 1_703_258  # slimming: 1.70M
    assert count_params(create_model("densenet40")) == 1_059_298  # slimming: 1.06M
    assert count_params(create_model("densenet-bc-100")) == 769_162  # ~0.8M


def test_width_multiplier_scales_flops() -> None:
    full, half = count_flops(create_model("resnet20")), count_flops(create_model("resnet20", width=0.5))
    assert 0.24 < half / full < 0.30  # conv FLOPs ~quadratic in width, BN/ReLU linear


def test_counting_restores_mode_and_removes_hooks() -> None:
    model = create_model("resnet20", width=0.25)
    model.train()
    model.layer2.eval()
    count_flops(model)
    macs(model)
    assert model.training and model.layer1.training and not model.layer2.training
    assert not any(m._forward_hooks for m in model.modules())


def test_scratch_b_epochs_rules() -> None:
    assert scratch_b_epochs(300, 200) == 240  # exact integer floor, no float round-off
    assert scratch_b_epochs(1000, 100) == 1600  # CIFAR: no cap
    assert scratch_b_epochs(1000, 100, epochs=90, dataset="imagenet") == 180
    assert scratch_b_epochs(200, 100, epochs=90, dataset="imagenet") == 180
    assert scratch_b_epochs(150, 100, epochs=90, dataset="imagenet") == 135
    assert scratch_b_epochs(100, 100) == 160


def test_scratch_b_milestones() -> None:
    assert scratch_b_milestones(243) == [121, 182]
    assert scratch_b_milestones(160, "cifar100") == [80, 120]
    assert scratch_b_milestones(180, "imagenet") == [60, 120]
    assert scratch_b_milestones(90, "imagenet") == [30, 60]


@pytest.mark.parametrize(
    ("call", "param"),
    [
        (lambda: scratch_b_epochs(100, 50, dataset="cifar"), "dataset"),
        (lambda: scratch_b_epochs(100, 0), "flops_pruned"),
        (lambda: scratch_b_epochs(100.0, 50), "flops_full"),
        (lambda: scratch_b_epochs(100, 50, epochs=0), "epochs"),
        (lambda: scratch_b_milestones(0), "epochs_b"),
        (lambda: scratch_b_milestones(160, "mnist"), "dataset"),
    ],
)
def test_bad_inputs_name_the_parameter(call, param: str) -> None:
    with pytest.raises(ValueError, match=rf"^{param}: "):
        call()
