"""The memory layout runs train in (nbprune.memory_format): channels-last unless a CPU emulates bf16 and
contiguous is clearly faster there; fixed by NBPRUNE_MEMORY_FORMAT; measured without touching the run's weights
or random streams."""

import pytest
import torch

from nbprune import memory_format as layout
from nbprune.models import create_model
from nbprune.train import RunConfig, train
from test_train import synthetic

CPU = torch.device("cpu")
SHAPE = (8, 3, 32, 32)


@pytest.fixture
def auto(monkeypatch):
    monkeypatch.setenv("NBPRUNE_MEMORY_FORMAT", "auto")


def _timed(monkeypatch, seconds):
    calls = []

    def fake(model, shape, fmt, amp):
        name = "channels_last" if fmt == torch.channels_last else "contiguous"
        calls.append(name)
        return seconds[name]

    monkeypatch.setattr(layout, "_step_seconds", fake)
    return calls


@pytest.mark.usefixtures("auto")
@pytest.mark.parametrize("cl, contiguous, chosen", [(0.90, 0.32, "contiguous"), (0.90, 0.80, "channels_last"),
                                                    (0.06, 0.27, "channels_last")])
def test_a_cpu_that_emulates_bf16_trains_in_the_clearly_faster_layout(monkeypatch, cl, contiguous, chosen):
    calls = _timed(monkeypatch, {"channels_last": cl, "contiguous": contiguous})
    model = create_model("resnet20", width=0.25)
    assert layout.choose_memory_format(model, SHAPE, CPU, amp=True, emulated_bf16=True) == chosen
    assert sorted(calls) == ["channels_last", "contiguous"]


@pytest.mark.usefixtures("auto")
@pytest.mark.parametrize("device, amp, emulated", [("cpu", False, True), ("cpu", True, False), ("meta", True, True)])
def test_channels_last_without_timing_where_bf16_is_not_emulated(monkeypatch, device, amp, emulated):
    calls = _timed(monkeypatch, {"channels_last": 1.0, "contiguous": 0.1})
    model = create_model("resnet20", width=0.25)
    assert layout.choose_memory_format(model, SHAPE, torch.device(device), amp, emulated) == "channels_last"
    assert calls == []


def test_the_environment_fixes_the_layout_and_a_bad_value_is_one_line(monkeypatch):
    calls = _timed(monkeypatch, {"channels_last": 1.0, "contiguous": 0.1})
    model = create_model("resnet20", width=0.25)
    monkeypatch.setenv("NBPRUNE_MEMORY_FORMAT", "contiguous")
    assert layout.choose_memory_format(model, SHAPE, CPU, True, False) == "contiguous"
    monkeypatch.setenv("NBPRUNE_MEMORY_FORMAT", "channels_last")
    assert layout.choose_memory_format(model, SHAPE, CPU, True, True) == "channels_last" and calls == []
    monkeypatch.setenv("NBPRUNE_MEMORY_FORMAT", "nhwc")
    with pytest.raises(ValueError, match=r"^NBPRUNE_MEMORY_FORMAT: 'nhwc' is not allowed; allowed: auto, "
                                         r"channels_last, contiguous$"):
        layout.choose_memory_format(model, SHAPE, CPU, True, True)


@pytest.mark.usefixtures("auto")
def test_timing_leaves_the_weights_and_the_random_stream_as_they_were():
    torch.manual_seed(3)
    model = create_model("resnet20", width=0.25)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state = torch.random.get_rng_state()
    layout.choose_memory_format(model, SHAPE, CPU, amp=True, emulated_bf16=True)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("fmt", ["contiguous", "channels_last"])
def test_a_run_trains_in_the_chosen_layout_and_records_it(monkeypatch, tmp_path, fmt):
    monkeypatch.setenv("NBPRUNE_MEMORY_FORMAT", fmt)
    seen = []
    conv = torch.nn.Conv2d.forward

    def spy(self, x):  # the images' layout, as the stem conv receives them
        if self.in_channels == 3 and len(x) > 1:  # not the FLOPs counter's one image
            seen.append(x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous())
        return conv(self, x)

    monkeypatch.setattr(torch.nn.Conv2d, "forward", spy)
    metrics = train(RunConfig(model="resnet20", width=0.25, epochs=1, batch_size=32, amp=True), tmp_path,
                    synthetic(), CPU, progress=False)
    assert metrics["memory_format"] == fmt
    assert seen and set(seen) == {fmt == "channels_last"}  # training and evaluation batches alike
