"""bf16 autocast on a CPU without bf16 hardware (nbprune.precision): fp32 kernels on bf16-rounded operands give
each convolution's and linear layer's output and both gradients as the exactly rounded bf16 of the fp32
computation, in the dtypes torch.autocast gives, and a run records which way it computed bf16."""

import logging

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from nbprune import precision
from nbprune.models import create_model
from nbprune.precision import RoundedBF16, bf16_autocast, bf16_kind
from nbprune.train import RunConfig, train
from test_train import synthetic


@pytest.fixture
def no_bf16_hardware(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    monkeypatch.delenv("NBPRUNE_CPU_BF16", raising=False)


def _exact(layer: nn.Module, x: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Output, input gradient and weight gradient in fp64 from the bf16-rounded input, weight and gradient."""
    x64 = x.to(torch.bfloat16).double().requires_grad_()
    w64 = layer.weight.detach().to(torch.bfloat16).double().requires_grad_()
    b = None if layer.bias is None else layer.bias.detach().to(torch.bfloat16).double()
    fn = (lambda a, w: F.conv2d(a, w, b, layer.stride, layer.padding)) if isinstance(layer, nn.Conv2d) else \
        (lambda a, w: F.linear(a, w, b))
    out = fn(x64, w64)
    out.backward(g.double())
    return out.detach(), x64.grad, w64.grad


@pytest.mark.parametrize("layer, shape", [(nn.Conv2d(16, 32, 3, padding=1, bias=False), (8, 16, 12, 12)),
                                          (nn.Conv2d(8, 8, 3, stride=2, padding=1), (4, 8, 9, 9)),
                                          (nn.Linear(64, 10), (8, 64))])
def test_rounded_bf16_is_the_exactly_rounded_result_in_autocasts_dtypes(layer, shape):
    torch.manual_seed(0)
    x = torch.randn(shape).to(torch.bfloat16).requires_grad_()
    with RoundedBF16():
        out = layer(x)
    g = torch.randn(out.shape).to(torch.bfloat16)
    out.backward(g)
    assert (out.dtype, x.grad.dtype, layer.weight.grad.dtype) == (torch.bfloat16, torch.bfloat16, torch.float32)
    grad_w = layer.weight.grad
    assert torch.equal(grad_w, grad_w.to(torch.bfloat16).float())  # reaches the fp32 weight rounded to bf16
    for got, exact in zip((out, x.grad, grad_w), _exact(layer, x.detach(), g)):
        rounded = exact.to(torch.bfloat16).double()
        # fp32 accumulation may turn a tie the other way now and then: at most a few in a thousand differ
        assert (got.double() == rounded).float().mean() > 0.995
        assert ((got.double() - exact).norm() / exact.norm()) < 3e-3  # a bf16 rounding is at most 2^-9 = 2e-3


@pytest.mark.parametrize("name", ["vgg16", "resnet56", "preresnet56", "densenet40"])
def test_a_model_under_rounded_bf16_has_autocasts_dtypes_and_outputs(name):
    torch.manual_seed(0)
    model = create_model(name, width=0.25)
    seen = {}
    for m in model.modules():
        if not list(m.children()):
            m.register_forward_hook(lambda m, i, o, key=m: seen.setdefault(ctx, {}).__setitem__(key, o.dtype))
    x = torch.randn(4, 3, 32, 32)
    outs = {}
    for ctx, cm in (("autocast", lambda: torch.autocast("cpu", dtype=torch.bfloat16)), ("rounded", RoundedBF16)):
        with cm():
            outs[ctx] = model(x).float()
    assert seen["rounded"] == seen["autocast"]
    assert ((outs["rounded"] - outs["autocast"]).norm() / outs["autocast"].norm()) < 0.05


def test_which_bf16_a_device_gets(monkeypatch, no_bf16_hardware):
    assert bf16_kind("cpu") == "rounded-fp32" and bf16_kind("cuda") == "hardware"
    monkeypatch.setenv("NBPRUNE_CPU_BF16", "onednn")
    assert bf16_kind("cpu") == "onednn"
    monkeypatch.setenv("NBPRUNE_CPU_BF16", "emulate")
    with pytest.raises(ValueError, match=r"^NBPRUNE_CPU_BF16: 'emulate' is not allowed; allowed: auto, onednn, "
                                         r"rounded$"):
        bf16_kind("cpu")
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    monkeypatch.setenv("NBPRUNE_CPU_BF16", "auto")
    assert bf16_kind("cpu") == "hardware" and precision.cpu_has_fast_bf16()
    # rounded: RoundedBF16 on a CPU with bf16 hardware too (to replay a run made on one without it)
    monkeypatch.setenv("NBPRUNE_CPU_BF16", "rounded")
    assert bf16_kind("cpu") == "rounded-fp32" and bf16_kind("cuda") == "hardware"


def test_rounded_on_bf16_hardware_says_so_once(monkeypatch, no_bf16_hardware, caplog):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    monkeypatch.setenv("NBPRUNE_CPU_BF16", "rounded")
    precision._log_kind.cache_clear()
    with caplog.at_level(logging.INFO, logger="nbprune"):
        for _ in range(2):
            with bf16_autocast("cpu", True):
                assert isinstance(torch.overrides._get_current_function_mode(), RoundedBF16)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("amp:")]
    assert lines == [lines[0]] and "NBPRUNE_CPU_BF16=rounded" in lines[0] and "has bf16 hardware" in lines[0]
    precision._log_kind.cache_clear()


def test_the_way_is_logged_once_per_process(no_bf16_hardware, caplog):
    precision._log_kind.cache_clear()
    with caplog.at_level(logging.INFO, logger="nbprune"):
        for _ in range(2):
            with bf16_autocast("cpu", True):
                pass
    lines = [r.getMessage() for r in caplog.records if "no hardware bf16" in r.getMessage()]
    assert len(lines) == 1 and "bf16-rounded operands" in lines[0]
    precision._log_kind.cache_clear()


@pytest.mark.parametrize("way, kind", [("auto", "rounded-fp32"), ("onednn", "onednn"), ("rounded", "rounded-fp32")])
def test_a_run_records_how_it_computed_bf16_and_repeats_exactly(monkeypatch, no_bf16_hardware, tmp_path, way, kind):
    monkeypatch.setenv("NBPRUNE_CPU_BF16", way)
    config = RunConfig(model="resnet20", width=0.25, epochs=2, batch_size=32, amp=True)
    runs = [train(config, tmp_path / str(i), synthetic(), torch.device("cpu"), progress=False) for i in range(2)]
    losses = [[(h["train_loss"], h["test_loss"]) for h in r["history"]] for r in runs]
    assert runs[0]["bf16"] == kind and losses[0] == losses[1]
    assert "bf16" not in train(config.replace(amp=False), tmp_path / "fp32", synthetic(), torch.device("cpu"),
                               progress=False)


def test_provenance_records_the_instruction_set_a_replay_must_match():
    import os
    import platform
    import subprocess
    import sys

    from nbprune.provenance import provenance

    here = provenance()["cpu_capability"]
    assert here == torch.backends.cpu.get_cpu_capability() and here
    if platform.machine() != "x86_64" or here not in ("AVX2", "AVX512"):
        pytest.skip("lowering the instruction set is shown on an x86_64 CPU with AVX2 or AVX-512")
    code = "from nbprune.provenance import provenance; print(provenance()['cpu_capability'])"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "ATEN_CPU_CAPABILITY": "avx2"},
                         capture_output=True, text=True, check=True).stdout.split()
    assert out[-1] == "AVX2"
