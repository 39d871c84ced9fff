"""The memory layout a run trains in: channels-last (NHWC) or contiguous (NCHW).

Channels-last is the fast layout wherever bf16 runs in hardware (CUDA; CPUs with AVX-512 BF16 or AMX) and in
fp32, and it is what every committed run was trained in. On a CPU that *emulates* bf16 autocast, the better
layout depends on the model: measured on a 2-core AVX2-only AMD EPYC VM, one thread, batch 64, bf16 autocast,
a ResNet-56 step at 1/8 width took 0.90 s channels-last and 0.32 s contiguous, while a VGG-16-size conv was
5 times faster channels-last. There :func:`choose_memory_format` times a few steps of each layout on a copy of
the model and trains in the faster one.

The layout is not part of a run's config or id: it changes how the arithmetic is laid out, not what is trained
(the two differ in floating-point rounding only, as two machines do). The choice is logged and recorded in the
run's metrics (``memory_format``); ``NBPRUNE_MEMORY_FORMAT`` fixes it (``channels_last`` or ``contiguous``;
``auto``, the default, chooses as above).
"""

from __future__ import annotations

import copy
import logging
import os
import time

import torch
import torch.nn as nn

CHOICES = ("auto", "channels_last", "contiguous")
FORMATS = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format}
# contiguous is chosen only when it is clearly faster: at least this factor over channels-last's median step
MARGIN = 1.25
TIMED_STEPS = 3

log = logging.getLogger("nbprune")


def requested_format() -> str:
    """``NBPRUNE_MEMORY_FORMAT`` (default ``auto``), checked: a bad value is a one-line ValueError."""
    value = os.environ.get("NBPRUNE_MEMORY_FORMAT", "auto").strip() or "auto"
    if value not in CHOICES:
        raise ValueError(f"NBPRUNE_MEMORY_FORMAT: {value!r} is not allowed; allowed: {', '.join(CHOICES)}")
    return value


def _step_seconds(model: nn.Module, shape: tuple[int, ...], fmt: torch.memory_format, amp: bool) -> float:
    """Median seconds of a forward, backward and (zero-lr) SGD step of ``model`` on random input in ``fmt``."""
    model = model.to(memory_format=fmt).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    x = torch.randn(shape).contiguous(memory_format=fmt)
    times = []
    for i in range(TIMED_STEPS + 1):  # the first step warms oneDNN's caches and is not counted
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            out = model(x)
        loss = out.float().logsumexp(1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i:
            times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def choose_memory_format(model: nn.Module, sample_shape: tuple[int, ...], device: torch.device, amp: bool,
                         emulated_bf16: bool) -> str:
    """The layout to train ``model`` in (``channels_last`` or ``contiguous``), see the module's docstring.

    It is measured only on a CPU under bf16 autocast without hardware bf16 (``emulated_bf16``), on a deep copy
    of ``model`` inside :func:`torch.random.fork_rng`, so the run's weights and random streams are untouched.
    """
    requested = requested_format()
    if requested != "auto":
        return requested
    if device.type != "cpu" or not (amp and emulated_bf16):
        return "channels_last"
    with torch.random.fork_rng(devices=[]):
        seconds = {name: _step_seconds(copy.deepcopy(model).cpu(), sample_shape, fmt, amp)
                   for name, fmt in FORMATS.items()}
    choice = "contiguous" if seconds["contiguous"] * MARGIN < seconds["channels_last"] else "channels_last"
    log.info("memory format: %s (a step took %.3f s channels-last, %.3f s contiguous; bf16 is emulated on this "
             "CPU)", choice, seconds["channels_last"], seconds["contiguous"])
    return choice
