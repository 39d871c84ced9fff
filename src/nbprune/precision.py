"""bf16 autocast, and how it is computed on a CPU without bf16 hardware.

A run with ``amp`` trains under bf16 autocast: each convolution and linear layer casts its input, weight and
bias to bf16, multiplies them with fp32 accumulation and returns bf16; everything else (BatchNorm, ReLU,
pooling, the residual additions) runs on whatever dtype reaches it, the master weights stay fp32, and a
weight's gradient reaches it rounded to bf16 (the backward of autocast's cast). CUDA and CPUs with AVX-512 BF16
or AMX do this in hardware through ``torch.autocast``.

On a CPU without them, oneDNN emulates the bf16 kernels, slowly and, in the backward pass, less accurately
than the hardware: measured on a 2-core AVX2-only AMD EPYC VM (one thread, batch 64, at 1/8 width), a VGG-16
training step took 0.71 s under ``torch.autocast`` against 0.044 s in fp32, and a 16 -> 32-channel 3x3 conv's
input gradient was 4.1e-3 from the exact one (relative norm) where rounding the exact result to bf16 gives
1.7e-3. There :func:`bf16_autocast` computes the same thing another way (:class:`RoundedBF16`): the operands
are rounded to bf16 exactly as autocast rounds them, multiplied by fp32 kernels (a product of two bf16 numbers
is exact in fp32) and the result rounded to bf16; the backward pass is autograd's through those casts, so
both gradients are rounded to bf16 as autocast's are. Each result is the exactly rounded bf16 of an fp32
accumulation, as the hardware's is, up to the order of summation (which also differs between thread counts,
CPUs and GPUs, see the environment appendix). The VGG-16 step above took 0.070 s this way.

A run's metrics record which was used (``bf16``: ``hardware``, ``rounded-fp32`` or ``onednn``). It is not part
of the run's config or id: what is trained is the same. ``NBPRUNE_CPU_BF16`` chooses: ``auto`` (the default, as
above), ``onednn`` (``torch.autocast`` even without bf16 hardware) or ``rounded`` (:class:`RoundedBF16` even on
a CPU with bf16 hardware).

Replaying a run on another CPU. A run's weights are not committed, so a run whose children need them (a large
model that is fine-tuned) is trained again where they are missing. On the same torch and thread count it
retrains to the same weights when the kernels compute the same sums: the same ``bf16`` way and the same
instruction set. Measured on a 2-core AMD EPYC with AVX-512 BF16 (one thread, torch 2.14.1): a committed
VGG-16-A run (2 epochs, ``cpu`` preset) trained with hardware bf16 repeated its per-epoch losses exactly with
the defaults; runs trained with ``rounded-fp32`` on an AVX2-only VM repeated exactly only with
``NBPRUNE_CPU_BF16=rounded ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2``:
chapter 1's 64-epoch VGG-16 (seed 3) gave every epoch's losses and accuracies back (76.98% at the end), while
with ``rounded`` alone (AVX-512 kernels) a VGG-16-A run's first train loss was 1.95831 against 1.90798.
A run's provenance records the instruction set torch used (``cpu_capability``) for this.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

CHOICES = ("auto", "onednn", "rounded")

log = logging.getLogger("nbprune")


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (AVX-512 BF16 or AMX), which ``torch.autocast`` needs to be
    fast on a CPU; without it oneDNN emulates bf16 (see the module's docstring)."""
    flags = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)(), \
        getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    return any(flags)


def requested() -> str:
    """``NBPRUNE_CPU_BF16`` (default ``auto``), checked: a bad value is a one-line ValueError."""
    value = os.environ.get("NBPRUNE_CPU_BF16", "auto").strip() or "auto"
    if value not in CHOICES:
        raise ValueError(f"NBPRUNE_CPU_BF16: {value!r} is not allowed; allowed: {', '.join(CHOICES)}")
    return value


def bf16_kind(device_type: str) -> str:
    """How bf16 autocast is computed on ``device_type`` here: ``hardware`` (CUDA, or a CPU with bf16 hardware),
    ``rounded-fp32`` (:class:`RoundedBF16`: a CPU without it, or any CPU with ``NBPRUNE_CPU_BF16=rounded``) or
    ``onednn`` (``torch.autocast`` emulated by oneDNN)."""
    if device_type != "cpu":
        return "hardware"
    how = requested()
    if how == "rounded":
        return "rounded-fp32"
    if cpu_has_fast_bf16():
        return "hardware"
    return "onednn" if how == "onednn" else "rounded-fp32"


def _bf16_exact(t: torch.Tensor | None) -> torch.Tensor | None:
    """``t`` rounded to bf16 as autocast casts it, widened back to fp32 (exactly); autograd rounds its gradient
    to bf16 on the way back, as the backward of autocast's cast does."""
    return None if t is None else t.to(torch.bfloat16).float()


class RoundedBF16(TorchFunctionMode):
    """bf16 autocast for convolutions and linear layers, computed by fp32 kernels on bf16-rounded operands and
    rounded to bf16 (see the module's docstring). Every other function runs as it is called, as under
    ``torch.autocast``, which lowers no other function these models call."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.conv2d or func is F.linear:
            x, w, *rest = args
            bias = rest[0] if rest else kwargs.pop("bias", None)
            out = func(_bf16_exact(x), _bf16_exact(w), _bf16_exact(bias), *rest[1:], **kwargs)
            return out.to(torch.bfloat16)
        return func(*args, **kwargs)


@functools.cache
def _log_kind(kind: str) -> None:
    if kind == "rounded-fp32" and cpu_has_fast_bf16():
        log.info("amp: NBPRUNE_CPU_BF16=rounded: bf16 autocast is computed by fp32 kernels on bf16-rounded operands "
                 "although this CPU has bf16 hardware (nbprune.precision)")
    elif kind == "rounded-fp32":
        log.info("amp: this CPU has no hardware bf16 (AVX-512 BF16 or AMX); bf16 autocast is computed by fp32 "
                 "kernels on bf16-rounded operands (nbprune.precision)")
    elif kind == "onednn":
        log.warning("amp: this CPU has no hardware bf16 (AVX-512 BF16 or AMX) and NBPRUNE_CPU_BF16=onednn: oneDNN "
                    "emulates bf16, about 10 times slower than fp32 (VGG-16 at 1/8 width, one thread)")


@contextlib.contextmanager
def bf16_autocast(device_type: str, enabled: bool) -> Iterator[None]:
    """bf16 autocast on ``device_type`` when ``enabled``: ``torch.autocast``, or :class:`RoundedBF16` on a CPU
    without bf16 hardware or with ``NBPRUNE_CPU_BF16=rounded`` (:func:`bf16_kind`)."""
    if not enabled:
        yield
        return
    kind = bf16_kind(device_type)
    _log_kind(kind)
    if kind == "rounded-fp32":
        with RoundedBF16():
            yield
    else:
        with torch.autocast(device_type, dtype=torch.bfloat16):
            yield
