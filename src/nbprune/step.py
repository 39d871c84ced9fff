"""How the training step's forward and backward run: eagerly, through ``torch.compile``, or as a CUDA graph.

The step itself is :func:`nbprune.train.train_step`; this module only prepares the callable it runs the
model through (``step_model``), so the training loop, the benchmark and the device check time one function:

* ``eager``: the model as it is (the default; the reference every other choice is compared with).
* ``compile``: ``torch.compile(model)`` (inductor). Its first step compiles (tens of seconds per
  architecture from an empty cache).
* ``cuda-graph``: the model's forward and backward for a full batch captured once as CUDA graphs
  (:func:`torch.cuda.make_graphed_callables`) and replayed every step, which removes the per-kernel launch
  cost that dominates small batches on a GPU. The last, partial batch of an epoch runs eagerly. CUDA only.

The math is the same in all three (the same kernels, up to the generated ones of ``compile`` and the
usual run-to-run nondeterminism of cuDNN), so results agree in distribution, not bit for bit; the
optimizer step and the pruning methods' hooks run eagerly after the step, in every case.

The implementation a run uses is an argument of :func:`nbprune.train.train` (``step=``); when it is not
given, the process default applies: :func:`set_default_step`, else ``$NBPRUNE_STEP``, else ``eager``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator

import torch
from torch import nn

STEP_IMPLS = ("eager", "compile", "cuda-graph")
STEP_ENV = "NBPRUNE_STEP"
_default: str | None = None


def check_step(step: str, param: str = "step") -> str:
    """``step`` if it names an implementation; ValueError naming ``param`` and the allowed ones otherwise."""
    if step not in STEP_IMPLS:
        raise ValueError(f"{param}: unknown {step!r}; allowed: {', '.join(STEP_IMPLS)}")
    return step


def set_default_step(step: str | None) -> None:
    """Set (None: clear) the step implementation of runs that do not name one, in this process."""
    global _default
    _default = None if step is None else check_step(step)


@contextlib.contextmanager
def default_step(step: str | None) -> Iterator[None]:
    """:func:`set_default_step` for the duration of a ``with`` block (None: leave the default alone)."""
    before = _default
    if step is not None:
        set_default_step(step)
    try:
        yield
    finally:
        set_default_step(before)


def resolve_step(step: str | None, device: torch.device, compile_model: bool = False) -> str:
    """The implementation a run on ``device`` uses: ``step``, else ``compile`` when ``compile_model``, else the
    process default. ``cuda-graph`` on another device is a ValueError (one line, naming what is allowed)."""
    if step is None:
        step = "compile" if compile_model else _default or os.environ.get(STEP_ENV) or "eager"
        param = "step" if compile_model or _default else f"step (${STEP_ENV})"
    else:
        param = "step"
    check_step(step, param)
    if step == "cuda-graph" and torch.device(device).type != "cuda":
        allowed = ", ".join(s for s in STEP_IMPLS if s != "cuda-graph")
        raise ValueError(f"{param}: 'cuda-graph' needs a CUDA device, this run is on {torch.device(device)}; "
                         f"allowed here: {allowed}")
    return step


class _Forward(nn.Module):
    """A wrapper whose forward is the model's: graphing it leaves the model's own forward untouched."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class GraphedStep:
    """The model's forward+backward as CUDA graphs for inputs of one shape; other shapes run eagerly."""

    def __init__(self, model: nn.Module, sample: torch.Tensor, amp: bool) -> None:
        self.model, self.shape = model, tuple(sample.shape)
        state = _buffers(model)  # the warm-up and capture passes update BatchNorm statistics: put them back
        was_training = model.training
        model.train()
        wrapper = _Forward(model)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp, cache_enabled=False):
            self.graphed = torch.cuda.make_graphed_callables(wrapper, (sample,), allow_unused_input=True)
        _restore(model, state)
        model.train(was_training)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        # the graph copies ``x`` into its static input (any strides); a partial batch runs eagerly
        return self.graphed(x) if tuple(x.shape) == self.shape else self.model(x)


def _buffers(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of every buffer (BatchNorm running statistics and counters, masks)."""
    return {k: v.detach().clone() for k, v in model.named_buffers()}


def _restore(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy ``state`` back into the model's buffers in place (their addresses are what the graphs replay)."""
    current = dict(model.named_buffers())
    with torch.no_grad():
        for k, v in state.items():
            current[k].copy_(v)


def make_step_model(model: nn.Module, step: str, batch_shape: tuple[int, ...], device: torch.device,
                    amp: bool = False) -> Callable[[torch.Tensor], torch.Tensor]:
    """The callable :func:`nbprune.train.train_step` runs ``model`` through, for implementation ``step``
    (already resolved by :func:`resolve_step`); ``batch_shape`` is a full training batch's (N, C, H, W)."""
    if step == "eager":
        return model
    if step == "compile":
        return torch.compile(model)
    sample = torch.zeros(batch_shape, device=device).contiguous(memory_format=torch.channels_last)
    return GraphedStep(model, sample, amp)
