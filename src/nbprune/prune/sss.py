"""Sparse Structure Selection (Huang & Wang 2018) for residual blocks of the CIFAR ResNets.

* :func:`add_block_scales` gives every BasicBlock a learnable scalar ``scale`` (init 1) multiplying its
  residual branch: ``relu(scale * bn2(conv2(...)) + shortcut(x))``. The block's class becomes
  :class:`ScaledBasicBlock` in place, so parameter names are unchanged and ``layer<s>.<b>.scale`` is added.
* Sparsity penalty ``penalty * sum |scale|``: applied by a proximal (soft-threshold) step after each
  optimizer step, :func:`sss_prox_step`: ``scale <- sign(scale) * max(|scale| - lr * penalty, 0)``. This
  is proximal SGD (ISTA); the paper uses an accelerated proximal gradient (APG) variant. Scales reach
  exactly zero this way, which a subgradient penalty would not give. Scales should get no weight decay.
* ``sss`` (a registered method): blocks whose |scale| <= ``threshold`` (default 0: exactly zero) are
  removed, giving a shallower ResNet whose cfg lists fewer blocks per stage. A block whose branch is zero
  computes ``relu(x) = x`` (its input is a ReLU output) when its shortcut is the identity, so removing it
  changes nothing. Blocks with a downsampling shortcut (first block of stages 2 and 3) cannot be removed
  and are kept (``info["kept_zero"]``), as is the first block of a stage that would lose every block.
  The plan has no ``keep`` (no channel surgery); ``info["blocks"]`` lists each stage's kept block indices
  and :func:`apply_block_removal` builds the shallower model, with the scales folded into each kept
  block's last BN (gamma and beta times the scale) by :func:`fold_block_scales`.
* :class:`SSSHook`: the training hook of runs with ``sss_penalty`` > 0: scales added as the model is built,
  no weight decay on them, and the proximal step after every optimizer step.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from nbprune.hooks import TrainHook
from nbprune.models import create_model, model_spec
from nbprune.models.resnet import BasicBlock, ResNet
from nbprune.prune.plan import PrunePlan, register_hook, register_method

__all__ = [
    "SSSHook",
    "ScaledBasicBlock",
    "add_block_scales",
    "apply_block_removal",
    "block_scales",
    "fold_block_scales",
    "sss",
    "sss_prox_step",
]


class ScaledBasicBlock(BasicBlock):
    """A BasicBlock whose residual branch is multiplied by the learnable scalar ``scale``."""

    scale: nn.Parameter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(self.scale * out + self.shortcut(x))


def _check_resnet(model: nn.Module) -> None:
    if not isinstance(model, ResNet):
        raise ValueError(f"model: Sparse Structure Selection here supports the CIFAR ResNets (BasicBlock); "
                         f"got {getattr(model, 'arch', type(model).__name__)!r}")


def _blocks(model: nn.Module):
    for s, stage in enumerate((model.layer1, model.layer2, model.layer3)):
        for b, block in enumerate(stage):
            yield s, b, f"layer{s + 1}.{b}", block


def add_block_scales(model: nn.Module, init: float = 1.0) -> dict[str, nn.Parameter]:
    """Give every block of ``model`` (in place) a scale parameter; returns block name -> scale.

    Blocks that already have one keep it. Build the optimizer after calling this.
    """
    _check_resnet(model)
    ref = next(model.parameters())
    scales = {}
    for _, _, name, block in _blocks(model):
        if not isinstance(block, ScaledBasicBlock):
            block.__class__ = ScaledBasicBlock
            block.register_parameter("scale", nn.Parameter(torch.full((), float(init), device=ref.device,
                                                                     dtype=ref.dtype)))
        scales[name] = block.scale
    return scales


def block_scales(model: nn.Module) -> dict[str, nn.Parameter]:
    """Block name -> scale parameter of every scaled block of ``model``."""
    _check_resnet(model)
    return {name: block.scale for _, _, name, block in _blocks(model) if isinstance(block, ScaledBasicBlock)}


@torch.no_grad()
def sss_prox_step(model: nn.Module, lr: float, penalty: float) -> int:
    """Soft-threshold every block scale by ``lr * penalty`` (proximal step of ``penalty * |scale|``).

    Call right after ``optimizer.step()``; returns the number of scales that are exactly zero.
    """
    thr = lr * penalty
    zeros = 0
    for scale in block_scales(model).values():
        scale.copy_(torch.sign(scale) * (scale.abs() - thr).clamp_min(0))
        zeros += int(scale == 0)
    return zeros


@register_hook
class SSSHook(TrainHook):
    """``sss_penalty``: block scales added at build (:func:`add_block_scales`), exempt from weight decay, and
    soft-thresholded by ``lr * penalty`` after every optimizer step (:func:`sss_prox_step`)."""

    field = "sss_penalty"

    def on_build(self, model: nn.Module) -> None:
        add_block_scales(model)

    def no_decay(self, model: nn.Module) -> list[nn.Parameter]:
        return list(block_scales(model).values())

    def after_step(self, model: nn.Module, lr: float) -> None:
        sss_prox_step(model, lr, self.value)


@torch.no_grad()
def fold_block_scales(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with plain BasicBlocks: each scale multiplied into its block's ``bn2`` (gamma, beta)."""
    _check_resnet(model)
    new = copy.deepcopy(model)
    for _, _, _, block in _blocks(new):
        if isinstance(block, ScaledBasicBlock):
            s = block.scale.detach()
            block.bn2.weight.mul_(s)
            block.bn2.bias.mul_(s)
            del block.scale
            block.__class__ = BasicBlock
    return new


@register_method("sss")
def sss(model: nn.Module, threshold: float = 0.0) -> PrunePlan:
    """Remove the blocks whose |scale| <= ``threshold``; see the module docstring."""
    _check_resnet(model)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or threshold < 0:
        raise ValueError(f"threshold: must be a number >= 0, got {threshold!r}")
    scales = block_scales(model)
    if not scales:
        raise ValueError("model: has no block scales (train it with add_block_scales first)")
    kept: list[list[int]] = [[], [], []]
    removed, kept_zero = [], []
    for s, b, name, block in _blocks(model):
        zero = name in scales and float(scales[name].detach().abs()) <= threshold
        if zero and isinstance(block.shortcut, nn.Identity):
            removed.append(name)
        else:
            kept[s].append(b)
            if zero:
                kept_zero.append(name)
    for s, stage in enumerate(kept):
        if not stage:  # a stage keeps at least its first block
            kept[s] = [0]
            removed.remove(f"layer{s + 1}.0")
            kept_zero.append(f"layer{s + 1}.0")
    cfg = [[model.cfg[s][b] for b in stage] for s, stage in enumerate(kept)]
    depth = 2 + 2 * sum(len(stage) for stage in kept)
    return PrunePlan(method="sss", arch=model.arch, cfg=cfg,
                     info={"blocks": kept, "removed": removed, "kept_zero": kept_zero, "depth": depth,
                           "threshold": float(threshold)})


@torch.no_grad()
def apply_block_removal(model: nn.Module, plan: PrunePlan) -> nn.Module:
    """The shallower plain ResNet of an ``sss`` plan: scales folded, kept blocks copied, others dropped.

    When the removed blocks' scales are exactly zero the result computes what the scaled model computes.
    ``model`` is not modified; the result has its device, dtype and train/eval mode.
    """
    folded = fold_block_scales(model)
    ref = next(folded.parameters())
    new = create_model(**{**model_spec(folded), "cfg": plan.cfg}).to(device=ref.device, dtype=ref.dtype)
    sources = {f"layer{s + 1}.{j}": f"layer{s + 1}.{b}"
               for s, stage in enumerate(plan.info["blocks"]) for j, b in enumerate(stage)}
    state = folded.state_dict()
    out = {}
    for key in new.state_dict():
        parts = key.split(".")
        block = ".".join(parts[:2])
        src = f"{sources[block]}.{'.'.join(parts[2:])}" if block in sources else key
        out[key] = state[src]
    new.load_state_dict(out)
    return new.train(model.training)
