"""Tests for ThiNet, regression-based reconstruction, Soft Filter Pruning and Sparse Structure Selection.

Tiny random models (BN statistics calibrated on random images) and random data; all single-threaded.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nbprune.flops import count_flops
from nbprune.models import create_model
from nbprune.prune import (
    apply_plan,
    make_plan,
    structured,  # noqa: F401  (registers l1)
)
from nbprune.prune.reconstruct import (
    REGRESSION_TARGETS,
    THINET_TARGETS,
    _patches,
    apply_reconstruction,
    contributions,
    lasso_select,
    thinet_remove,
)
from nbprune.prune.sfp import SFP_MEAN, SFP_RECIPE, SFP_STD, filter_norms, sfp_step
from nbprune.prune.sss import add_block_scales, apply_block_removal, block_scales, sss_prox_step
from nbprune.prune.surgery import channel_units

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


@torch.no_grad()
def calibrated(model: nn.Module, data: torch.Tensor) -> nn.Module:
    """``model`` with BN running statistics of ``data`` (one train-mode pass), in eval mode."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None
            m.reset_running_stats()
    model.train()
    model(data)
    return model.eval()


def setup(arch: str, width: float, seed: int = 0, n: int = 16) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A BN-calibrated random model, ``n`` calibration images and 16 held-out ones."""
    torch.manual_seed(seed)
    model = create_model(arch, width=width)
    data, held_out = torch.randn(n, 3, 32, 32), torch.randn(16, 3, 32, 32)
    return calibrated(model, data), data, held_out


@torch.no_grad()
def output_of(model: nn.Module, name: str, x: torch.Tensor) -> torch.Tensor:
    got = {}
    handle = model.get_submodule(name).register_forward_hook(lambda m, i, o: got.setdefault("y", o.detach()))
    model.eval()(x)
    handle.remove()
    return got["y"]


def rel_error(parent: nn.Module, pruned: nn.Module, name: str, x: torch.Tensor) -> float:
    ref = output_of(parent, name, x)
    return float((output_of(pruned, name, x) - ref).norm() / ref.norm())


def flops_match_cfg(model: nn.Module, pruned: nn.Module, cfg) -> None:
    rebuilt = create_model(model.arch, num_classes=model.num_classes, cfg=cfg, width=model.width)
    assert count_flops(pruned) == count_flops(rebuilt) < count_flops(model)
    assert sum(p.numel() for p in pruned.parameters()) < sum(p.numel() for p in model.parameters())


# ---- sampling -------------------------------------------------------------------------------------------
def test_sampled_contributions_sum_to_the_conv_output():
    torch.manual_seed(0)
    conv = nn.Conv2d(5, 7, 3, stride=2, padding=1, bias=False)
    x = torch.randn(3, 5, 9, 9)
    y = conv(x).detach()
    gen = torch.Generator().manual_seed(0)
    patches, target = _patches(conv, x, y, 20, gen)
    weight = conv.weight.detach().reshape(7, 5, 9)
    assert torch.allclose(torch.einsum("sck,ock->so", patches, weight), target, atol=1e-5)
    a, t = contributions(patches, weight, target, max_rows=50, gen=gen)
    assert a.shape == (50, 5) and torch.allclose(a.sum(1), t, atol=1e-5)


def test_thinet_greedy_and_lasso_pick_the_weak_channels():
    torch.manual_seed(0)
    a = torch.randn(200, 6) * torch.tensor([1.0, 0.01, 1.0, 0.02, 1.0, 1.0])
    assert sorted(thinet_remove(a, 2).tolist()) == [1, 3]
    assert lasso_select(a, a.sum(1), 4).tolist() == [0, 2, 4, 5]


# ---- ThiNet / regression ----------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["thinet", "regression"])
@pytest.mark.parametrize("arch,width,unit", [("resnet20", 0.5, "layer2.1.conv1"), ("vgg16", 0.25, "features.7")])
def test_single_layer_reconstruction_beats_l1(method, arch, width, unit):
    """Pruning one unit by half: the consumer's held-out output is reconstructed better than by L1 selection."""
    import nbprune.prune.reconstruct  # noqa: F401  (registers the methods)

    model, data, held_out = setup(arch, width)
    units = channel_units(model)
    consumer, size = units[unit].consumers[0], units[unit].size
    plan = make_plan(model, method, data=data, widths={unit: size // 2}, locations=1000)
    assert plan.info["widths"][unit] == size // 2 and set(plan.info["weights"]) == {consumer}
    ours = apply_reconstruction(model, plan)
    l1 = apply_plan(model, make_plan(model, "l1", ratios=[0.5 if n == unit else 0.0 for n in units]))
    assert rel_error(model, ours, consumer, held_out) < 0.9 * rel_error(model, l1, consumer, held_out)


@pytest.mark.parametrize("method", ["thinet", "regression"])
@pytest.mark.parametrize("arch,width,probe,n,margin", [("resnet20", 0.5, "layer3", 16, 1.0),
                                                         ("vgg16", 0.125, "classifier.0", 64, 0.8)])
def test_whole_model_reconstruction_beats_l1_and_matches_cfg(method, arch, width, probe, n, margin):
    """Every unit pruned by half, layer by layer: closer to the parent's features than L1-norm pruning."""
    import nbprune.prune.reconstruct  # noqa: F401

    model, data, held_out = setup(arch, width, n=n)
    plan = make_plan(model, method, data=data, fraction=0.5, locations=1000)
    ours = apply_reconstruction(model, plan)
    l1 = apply_plan(model, make_plan(model, "l1", ratios=0.5))
    assert plan.cfg == l1.cfg == ours.cfg
    flops_match_cfg(model, ours, plan.cfg)
    assert rel_error(model, ours, probe, held_out) < margin * rel_error(model, l1, probe, held_out)


def test_apply_reconstruction_without_refit_is_plain_surgery():
    import nbprune.prune.reconstruct  # noqa: F401

    model, data, held_out = setup("resnet20", 0.25)
    plan = make_plan(model, "thinet", data=data, fraction=0.5, refit="none", locations=200)
    a, b = apply_reconstruction(model, plan), apply_plan(model, plan)
    assert torch.allclose(a(held_out), b(held_out), atol=1e-6)


def test_imagenet_targets():
    def conv_macs(cfg: list) -> int:
        h, c, total = 224, 3, 0
        for v in cfg:
            if v == "M":
                h //= 2
            else:
                total, c = total + 9 * c * v * h * h, v
        return total

    fc = 512 * 49 * 4096 + 4096 * 4096 + 4096 * 1000
    vgg16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512]
    assert abs(2 * (conv_macs(THINET_TARGETS["vgg-conv"]) + fc) / 1e9 - 9.58) < 0.01  # ThiNet-Conv's GFLOPs
    assert 4 < conv_macs(vgg16) / conv_macs(REGRESSION_TARGETS["vgg16-5x"]) < 5
    assert [len(s) for s in THINET_TARGETS["resnet50-30"]] == [3, 4, 6, 3]
    assert THINET_TARGETS["resnet50-50"][0][0] == [32, 32]


# ---- Soft Filter Pruning ----------------------------------------------------------------------------------
def test_sfp_zeroes_recovers_and_reselects():
    torch.manual_seed(0)
    model = create_model("resnet20", width=0.25)
    with torch.no_grad():  # trained-like BN shifts (at beta = 0 a zeroed channel sits at ReLU's kink, no gradient)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.bias.uniform_(0.1, 0.5)
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    zeroed = sfp_step(model, 0.5)
    convs = {n: m for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    assert set(zeroed) == {u.conv for u in channel_units(model).values()}  # the convs the removal can remove
    for name, idx in zeroed.items():
        assert len(idx) == convs[name].out_channels // 2
        assert bool((convs[name].weight[idx] == 0).all())
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    F.cross_entropy(model(x), y).backward()
    opt.step()
    conv = convs["layer2.0.conv1"]
    recovered = filter_norms(conv)[zeroed["layer2.0.conv1"]]
    assert bool((recovered > 0).any())  # soft: the zeroed filters are trained too
    # grow one zeroed filter a lot: the next step must keep it and zero another one instead
    grow = int(zeroed["layer2.0.conv1"][0])
    opt.zero_grad()
    (-100 * conv.weight[grow].sum()).backward()
    opt.step()
    again = sfp_step(model, 0.5)
    assert grow not in again["layer2.0.conv1"].tolist()
    assert again["layer2.0.conv1"].tolist() != zeroed["layer2.0.conv1"].tolist()
    for name, idx in again.items():
        assert bool((convs[name].weight[idx] == 0).all())


def test_sfp_method_removes_the_zeroed_filters():
    import nbprune.prune.sfp  # noqa: F401

    torch.manual_seed(0)
    model = create_model("resnet20", width=0.5)
    units = channel_units(model)
    zeroed = sfp_step(model, 0.3, convs=[u.conv for u in units.values()])
    plan = make_plan(model, "sfp", fraction=0.3)
    for name, unit in units.items():
        removed = sorted(set(range(unit.size)) - set(plan.keep[name].tolist()))
        assert removed == zeroed[unit.conv].tolist()
    assert all(v == 0 for v in plan.info["zero_kept"].values())
    flops_match_cfg(model, apply_plan(model, plan), plan.cfg)


def test_sfp_recipe_is_a_valid_run_config():
    from nbprune.train import RunConfig

    config = RunConfig(model="resnet56", **SFP_RECIPE)
    assert config.lr_at(59) == 0.1 and config.nesterov and config.weight_decay == 5e-4
    assert config.lr_at(60) == pytest.approx(0.02) and config.lr_at(160) == pytest.approx(0.1 * 0.2 ** 3)
    assert abs(SFP_MEAN[0] - 125.3 / 255) < 1e-12 and abs(SFP_STD[2] - 66.7 / 255) < 1e-12


# ---- Sparse Structure Selection -------------------------------------------------------------------------
def test_sss_prox_step_soft_thresholds():
    model = create_model("resnet20", width=0.25)
    scales = add_block_scales(model)
    with torch.no_grad():
        for i, s in enumerate(scales.values()):
            s.fill_(0.05 * (i - 4))
    sss_prox_step(model, lr=0.1, penalty=0.6)  # threshold 0.06
    values = [float(s.detach()) for s in block_scales(model).values()]
    expected = [max(abs(0.05 * (i - 4)) - 0.06, 0) * (1 if i > 4 else -1) for i in range(9)]
    assert values == pytest.approx(expected, abs=1e-7)
    assert values[3] == 0.0 and values[4] == 0.0 and values[5] == 0.0


def test_sss_removes_zero_blocks_exactly():
    import nbprune.prune.sss  # noqa: F401

    torch.manual_seed(0)
    model = create_model("resnet20", width=0.25)
    scales = add_block_scales(model)
    x = torch.randn(8, 3, 32, 32)
    model.train()(x)  # non-trivial BN statistics
    model.eval()
    zero = {"layer1.0", "layer1.2", "layer2.1", "layer3.0", "layer3.2"}  # layer3.0 downsamples: kept
    with torch.no_grad():
        for name, s in scales.items():
            s.fill_(0.0 if name in zero else float(torch.rand(()) + 0.5))
    plan = make_plan(model, "sss")
    assert plan.info["blocks"] == [[1], [0, 2], [0, 1]]
    assert plan.info["kept_zero"] == ["layer3.0"] and plan.info["depth"] == 12
    shallow = apply_block_removal(model, plan)
    assert plan.cfg == shallow.cfg and [len(s) for s in shallow.cfg] == [1, 2, 2]
    assert not any(n.endswith("scale") for n, _ in shallow.named_parameters())
    with torch.no_grad():
        assert torch.allclose(shallow(x), model(x), atol=1e-5)
    flops_match_cfg(create_model("resnet20", width=0.25), shallow, plan.cfg)


# ---- wiring into training, the run store and the pipeline -----------------------------------------------
def _synthetic():
    from test_train import synthetic

    return synthetic(n_train=48, n_test=16)


@pytest.mark.slow
def test_sfp_training_leaves_the_weakest_filters_zero_and_prunes_them(tmp_path):
    from nbprune.runner import run_chain
    from nbprune.runs import RunStore
    from nbprune.train import RunConfig

    torch.set_num_threads(1)
    store = RunStore(tmp_path / "store")
    large = RunConfig(model="resnet20", width=0.25, epochs=2, batch_size=16, sfp_rate=0.3)
    chain = run_chain(store, large, "sfp", {"fraction": 0.3}, "smoke", variants=("fine-tuned",), data=_synthetic(),
                        progress=False)
    final = chain.large.state_dict()
    conv = final["layer1.0.conv1.weight"]
    zero_filters = int((conv.flatten(1).abs().sum(1) == 0).sum())
    assert zero_filters == int(conv.shape[0] * 0.3)  # the last epoch ended with an SFP step
    assert chain.flops_pruned < chain.flops_large
    assert chain.runs["fine-tuned"].config.cfg is not None


@pytest.mark.slow
def test_sss_training_learns_block_scales_and_removes_blocks(tmp_path):
    from nbprune.runner import run_chain
    from nbprune.runs import RunStore
    from nbprune.train import RunConfig

    torch.set_num_threads(1)
    store = RunStore(tmp_path / "store")
    large = RunConfig(model="resnet20", width=0.25, epochs=2, batch_size=16, sss_penalty=10.0)
    res = store.run(large, data=_synthetic(), progress=False)
    scales = {k: float(v) for k, v in res.state_dict().items() if k.endswith(".scale")}
    assert len(scales) == 9 and any(v == 0.0 for v in scales.values())  # the proximal step zeroes some
    chain = run_chain(store, large, "sss", {}, "smoke", variants=("fine-tuned", "scratch-e"), data=_synthetic(),
                        progress=False)
    blocks = sum(len(stage) for stage in chain.plan.cfg)
    assert blocks < 9 and chain.runs["fine-tuned"].config.cfg == chain.runs["scratch-e"].config.cfg


@pytest.mark.slow
def test_thinet_chain_fine_tunes_the_reconstructed_model(tmp_path, tiny_archive, monkeypatch):
    from nbprune.runner import run_chain
    from nbprune.runs import RunStore
    from nbprune.train import RunConfig

    torch.set_num_threads(1)
    monkeypatch.setenv("NBPRUNE_DATA", str(tiny_archive))
    store = RunStore(tmp_path / "store")
    large = RunConfig(model="vgg11", width=0.125, epochs=1, batch_size=16)
    chain = run_chain(store, large, "thinet", {"fraction": 0.5}, "smoke", variants=("fine-tuned",), progress=False)
    assert chain.flops_pruned < chain.flops_large
    assert chain.runs["fine-tuned"].metrics["status"] == "finished"


def test_every_method_registers_what_the_package_needs_to_know_about_it():
    """needs_data and data_driven come with the registration (no name list elsewhere)."""
    from nbprune.prune import METHOD_INFO, list_methods, method_info

    assert set(METHOD_INFO) == set(list_methods())
    assert {m for m in list_methods() if method_info(m).needs_data} == {"thinet", "regression"}
    assert {m for m in list_methods() if not method_info(m).data_driven} == {
        "l1", "random-channels", "magnitude", "uniform-channels", "uniform-sparsity", "architecture"}
    with pytest.raises(ValueError, match="method: unknown 'nope'; registered: "):
        method_info("nope")
