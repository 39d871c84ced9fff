"""The paper's training protocol for one run: SGD with step lr, fine-tuning, Scratch-E and Scratch-B.

A run is described completely by a :class:`RunConfig`. :func:`train` executes it in a directory: it
checkpoints every epoch (atomically), resumes from the last complete checkpoint, and writes
``metrics.json`` (per-epoch history, final and best accuracy, wall time, the training FLOPs it spent).
Which directory a config owns, caching and locking are the run store's business (:mod:`nbprune.runs`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn as nn

from . import data as data_mod
from .atomic import atomic_save, atomic_write_json  # noqa: F401  (re-exported)
from .step import make_step_model, resolve_step

CONFIG_VERSION = 1
# bump CONFIG_VERSION when the meaning of an existing field changes (old runs then stop matching)
INITS = ("random", "parent", "parent-init", "parent-random")
NORMALIZATIONS = ("cifar", "sfp")  # nbprune.data.NORMS: the paper's CIFAR constants, or Soft Filter Pruning's


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a training run's result. Defaults are the paper's CIFAR recipe.

    Fields left at their default do not enter the run's hash, so adding a field later keeps old runs valid.
    Derived runs name a ``parent`` run (by id) and a ``prune`` spec (a method and its settings, applied to
    the parent's final weights, see :mod:`nbprune.prune`). ``init`` says where the weights come from:
    ``"random"`` (drawn from ``seed``; Scratch-E/B; masks of an unstructured prune are kept),
    ``"parent"`` (the parent's pruned final weights: fine-tuning), ``"parent-init"`` (the parent's own
    random init, pruned the same way: a lottery ticket) or ``"parent-random"`` (a fresh draw of the
    parent's unpruned architecture from ``init_seed``, pruned the same way: the lottery ticket's control,
    which then differs from the ticket in its values only, not in its init scale).

    ``init_seed`` seeds the random init when it differs from ``seed`` (which also orders the data): the
    from-scratch runs of a chain draw from a stream the large model's init does not use (see
    :func:`fresh_seed`). ``selections`` fixes which input channels each ``ChannelSelection`` reads, as
    ``(module name, indices)`` pairs for the selections that differ from "the first k": a pruned
    PreResNet/DenseNet architecture is its widths *and* its selections.
    """

    model: str
    dataset: str = "cifar10"
    cfg: tuple | None = None  # explicit per-layer channel configuration (None: the model's default)
    width: float = 1.0
    model_kwargs: tuple = ()  # extra create_model keyword arguments as sorted (key, value) pairs
    epochs: int = 160
    lr: float = 0.1
    milestones: tuple[int, ...] | None = None  # epochs where lr is multiplied by gamma (None: 50% and 75%)
    gamma: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    nesterov: bool = False
    batch_size: int = 64
    seed: int = 0
    train_subset: int | None = None
    test_subset: int | None = None
    val_size: int = 0
    parent: str | None = None
    prune: tuple = ()  # sorted (key, value) pairs, e.g. (("method", "l1"), ("target", "vgg16-a"))
    init: str = "random"
    bn_sparsity: float = 0.0  # Network Slimming: s in s*sign(gamma) added to every BN weight's gradient
    sfp_rate: float = 0.0  # Soft Filter Pruning: zero this fraction of every conv's filters after each epoch
    sss_penalty: float = 0.0  # Sparse Structure Selection: L1 penalty on per-block scales (proximal step)
    amp: bool = False  # bf16 autocast of convs/linears (CUDA or CPU); fp32 master weights and loss
    tag: str = ""  # free label (e.g. "scratch-b"); enters the hash so equal recipes can be told apart
    init_seed: int | None = None  # seed of the random init (None: ``seed``)
    selections: tuple = ()  # sorted (ChannelSelection module name, kept input-channel indices) pairs
    warmup_epochs: int = 0  # the first epochs train at ``warmup_lr`` (Soft Filter Pruning's recipe: 1 at 0.01)
    warmup_lr: float = 0.0
    normalization: str = "cifar"  # input normalisation constants, one of NORMALIZATIONS

    # --------------------------------------------------------------------------------- construction
    @classmethod
    def from_preset(cls, preset, model: str, **overrides) -> "RunConfig":
        """A large-model run at a preset's budget (epochs, width, subsets); ``overrides`` win."""
        from .presets import get_preset

        p = get_preset(preset)
        kw = dict(model=model, epochs=p.epochs, width=p.width, batch_size=p.batch_size,
                  train_subset=p.train_subset, test_subset=p.test_subset, amp=p.amp)
        kw.update(overrides)
        return cls(**kw)

    def __post_init__(self) -> None:
        # normalise lists to tuples so configs hash and compare by value
        if self.cfg is not None and not isinstance(self.cfg, tuple):
            object.__setattr__(self, "cfg", _freeze(self.cfg))
        for name in ("model_kwargs", "prune", "selections"):
            v = getattr(self, name)
            if isinstance(v, dict):
                object.__setattr__(self, name, tuple(sorted((k, _freeze(x)) for k, x in v.items())))
            elif isinstance(v, list):
                object.__setattr__(self, name, tuple(tuple(_freeze(x)) for x in v))
        if self.milestones is not None and not isinstance(self.milestones, tuple):
            object.__setattr__(self, "milestones", tuple(self.milestones))
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first bad field; no work has started yet."""
        from .data import DATASETS

        def bad(name: str, allowed: str) -> None:
            raise ValueError(f"{name}: must be {allowed}, got {getattr(self, name)!r}")

        if self.dataset not in DATASETS:
            import difflib

            close = difflib.get_close_matches(str(self.dataset), DATASETS, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ValueError(f"dataset: unknown {self.dataset!r}{hint} allowed: {', '.join(DATASETS)}")
        for name in ("epochs", "seed", "val_size", "warmup_epochs"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                bad(name, "an integer >= 0")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            bad("batch_size", "an integer >= 1")
        for name in ("train_subset", "test_subset"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                bad(name, "a positive integer or None")
        if self.init_seed is not None and (not isinstance(self.init_seed, int) or isinstance(self.init_seed, bool)
                                           or self.init_seed < 0):
            bad("init_seed", "None or an integer >= 0")
        if self.normalization not in NORMALIZATIONS:
            bad("normalization", f"one of {', '.join(NORMALIZATIONS)}")
        if self.selections and (not isinstance(self.selections, tuple) or any(
                len(pair) != 2 or not isinstance(pair[0], str) or not isinstance(pair[1], tuple) for pair in self.selections)):
            bad("selections", "a mapping module name -> list of kept channel indices")
        for name in ("lr", "momentum", "weight_decay", "gamma", "bn_sparsity", "sss_penalty", "width", "warmup_lr"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
                bad(name, "a finite number >= 0")
        if self.width <= 0:
            bad("width", "a number > 0")
        if isinstance(self.sfp_rate, bool) or not isinstance(self.sfp_rate, (int, float)) or not 0 <= self.sfp_rate < 1:
            bad("sfp_rate", "a number in [0, 1)")
        if self.milestones is not None and any(not isinstance(m, int) or m < 0 for m in self.milestones):
            bad("milestones", "a list of epoch numbers >= 0")
        if self.init not in INITS:
            bad("init", f"one of {', '.join(INITS)}")
        if self.init != "random" and self.parent is None:
            raise ValueError(f"init: {self.init!r} needs a parent run (parent=<run_id>)")
        if self.prune and self.parent is None:
            raise ValueError("prune: a pruning spec needs a parent run to prune (parent=<run_id>)")
        if self.prune and "method" not in dict(self.prune):
            bad("prune", "a mapping with at least a 'method' key")

    # ------------------------------------------------------------------------------------- identity
    def non_default(self) -> dict[str, Any]:
        """The fields that differ from their defaults, as JSON-ready values."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.default is dataclasses.MISSING or v != f.default:
                out[f.name] = _thaw(v)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Every field (defaults included), as JSON-ready values."""
        return {f.name: _thaw(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @staticmethod
    def to_dict_value(value: Any) -> Any:
        """A field value as it appears in :meth:`to_dict`."""
        return _thaw(value)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"config: unknown fields {sorted(unknown)}; allowed: {sorted(known)}")
        return cls(**d)

    @property
    def run_id(self) -> str:
        """Content hash of the non-default fields: the run's directory name."""
        payload = json.dumps({"v": CONFIG_VERSION, **self.non_default()}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def replace(self, **changes) -> "RunConfig":
        return dataclasses.replace(self, **changes)

    def lr_milestones(self) -> tuple[int, ...]:
        """The epochs where lr steps down: given, or int(0.5*E) and int(0.75*E) as the paper."""
        if self.milestones is not None:
            return self.milestones
        return (int(0.5 * self.epochs), int(0.75 * self.epochs))

    def lr_at(self, epoch: int) -> float:
        """The lr of ``epoch`` (0-based): ``warmup_lr`` in the warm-up epochs, else the step schedule."""
        if epoch < self.warmup_epochs:
            return self.warmup_lr
        return self.lr * self.gamma ** sum(epoch >= m for m in self.lr_milestones())


def fresh_seed(seed: int) -> int:
    """The init seed of a chain's from-scratch runs for data seed ``seed``: a deterministic stream that no
    large model's init uses (large models draw from ``seed`` itself, a small integer), so a Scratch or
    control run shares no initial value with the large model it is compared with."""
    return int(hashlib.sha256(f"nbprune-fresh-init-{seed}".encode()).hexdigest()[:8], 16) | (1 << 31)


def _freeze(v):
    if isinstance(v, (list, tuple)):
        return tuple(_freeze(x) for x in v)
    return v


def _thaw(v):
    if isinstance(v, tuple):
        return [_thaw(x) for x in v]
    return v


# ----------------------------------------------------------------------------------------------- helpers
def resolve_device(device: str | torch.device = "auto", param: str = "device") -> torch.device:
    """"auto" -> cuda when available, else cpu; else "cpu", "cuda" or "cuda:N" of a device this machine has.

    Anything else is a ValueError of one line that names ``param`` and what is allowed on this machine.
    """
    has_cuda = torch.cuda.is_available()
    count = torch.cuda.device_count() if has_cuda else 0
    allowed = ", ".join(["auto", "cpu"] + (["cuda"] + [f"cuda:{i}" for i in range(count)] if count else []))
    if str(device) == "auto":
        return torch.device("cuda" if has_cuda else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"{param}: unknown {device!r}; allowed: {allowed}") from None
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"{param}: unknown {device!r}; allowed: {allowed}")
    if dev.type == "cuda" and not has_cuda:
        raise ValueError(f"{param}: {str(device)} was asked for but torch.cuda.is_available() is False on this "
                         f"machine; allowed: {allowed}")
    if dev.type == "cuda" and dev.index is not None and dev.index >= count:
        raise ValueError(f"{param}: {str(device)} was asked for but this machine has {count} CUDA device(s); "
                         f"allowed: {allowed}")
    return dev


def build_model(config: RunConfig, num_classes: int) -> nn.Module:
    """The config's architecture with the paper's random init drawn from ``config.seed``."""
    from .models import create_model

    from .models import set_selections

    torch.manual_seed(config.seed if config.init_seed is None else config.init_seed)
    cfg = None if config.cfg is None else _thaw(config.cfg)
    model = create_model(config.model, num_classes=num_classes, cfg=cfg, width=config.width,
                         **dict(config.model_kwargs))
    if config.selections:
        set_selections(model, {name: list(idx) for name, idx in config.selections})
    if config.sss_penalty:
        from .prune.sss import add_block_scales

        add_block_scales(model)
    return model


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, amp: bool = False,
             norm: str = "cifar") -> tuple[float, float]:
    """(mean cross-entropy loss, accuracy in %) on uint8 images ``x``, batch 256, eval mode; ``norm`` names
    the normalisation (:data:`nbprune.data.NORMS`)."""
    was_training = model.training
    model.eval()
    loss_sum, correct = 0.0, 0
    for xb, yb in data_mod.eval_batches(x, y, 256, norm=norm):
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):
            out = model(xb)
        loss_sum += nn.functional.cross_entropy(out.float(), yb, reduction="sum").item()
        correct += (out.argmax(1) == yb).sum().item()
    model.train(was_training)
    return loss_sum / len(y), 100.0 * correct / len(y)


class NonFiniteLoss(RuntimeError):
    """Training produced a NaN or infinite loss."""


def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="batch", leave=False, disable=not enabled, dynamic_ncols=True)


# ------------------------------------------------------------------------------------------------- train
def train_step(step_model: Callable[[torch.Tensor], torch.Tensor], opt: torch.optim.Optimizer, xb: torch.Tensor,
               yb: torch.Tensor, amp: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """One step's forward and backward: logits (bf16 autocast when ``amp``), fp32 cross-entropy, gradients
    zeroed (set to None) and computed. Returns (logits, loss). The caller then runs the methods' gradient
    hooks and ``opt.step()``. ``step_model`` is the model or its compiled / graphed form
    (:func:`nbprune.step.make_step_model`); :func:`train` and ``nbprune bench`` both time this function."""
    with torch.autocast(xb.device.type, dtype=torch.bfloat16, enabled=amp):
        out = step_model(xb)
        loss = nn.functional.cross_entropy(out.float(), yb)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    return out, loss


def train(config: RunConfig, run_dir: Path, data: data_mod.ImageData, device: torch.device,
          init_state: dict | None = None, progress: bool | str = "auto",
          on_epoch: Callable[[int], None] | None = None, compile_model: bool = False,
          step: str | None = None) -> dict:
    """Train ``config`` in ``run_dir`` (resuming from its last checkpoint) and return the final metrics.

    ``init_state`` is the state dict the run starts from (fine-tuning / lottery tickets); masks in it
    (buffers named ``*_mask``) are kept by the model. ``on_epoch(epoch)`` is called after each epoch's
    checkpoint is on disk (tests use it to interrupt runs). ``step``: how the step's forward and backward
    run (:data:`nbprune.step.STEP_IMPLS`; None: ``compile`` if ``compile_model``, else the process default).
    """
    from .flops import count_flops

    run_dir.mkdir(parents=True, exist_ok=True)
    if progress == "auto":
        progress = sys.stderr.isatty()
    t_start = time.time()
    model = build_model(config, data.num_classes)
    init_path = run_dir / "init.pt"
    if not init_path.exists():  # the random init, kept for lottery-ticket experiments
        atomic_save(model.state_dict(), init_path)
    if init_state is not None:
        register_masks(model, init_state)
        model.load_state_dict(init_state)
        _apply_masks(model)
    flops_per_image = count_flops(model, masked=True)
    model = model.to(device).to(memory_format=torch.channels_last)
    # Network Slimming penalises the conv BatchNorms only (a VGG head's BatchNorm1d is not a channel gate)
    bn_weights = [m.weight for m in model.modules() if isinstance(m, nn.BatchNorm2d) and m.weight is not None]
    scales = {id(p) for n, p in model.named_parameters() if n.endswith(".scale")} if config.sss_penalty else set()
    groups = [{"params": [p for p in model.parameters() if id(p) not in scales]}]
    if scales:  # SSS block scales: no weight decay, their sparsity comes from the proximal step
        groups.append({"params": [p for p in model.parameters() if id(p) in scales], "weight_decay": 0.0})
    opt = torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay,
                          nesterov=config.nesterov)
    history: list[dict] = []
    start_epoch, elapsed_before, resumes = 0, 0.0, []
    ckpt = load_checkpoint(run_dir / "checkpoint.pt")
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        history, start_epoch, elapsed_before = ckpt["history"], ckpt["epoch"], ckpt["elapsed"]
        resumes = [*ckpt.get("resumes", []), start_epoch]  # the epochs this run was resumed after
    if config.sfp_rate and start_epoch == 0:
        from .prune.sfp import sfp_step

        sfp_step(model, config.sfp_rate)
    step_model = make_step_model(model, resolve_step(step, device, compile_model),
                                 (config.batch_size, *data.train_x.shape[1:]), device, config.amp)
    masks = mask_pairs(model)  # the step re-applies these; looked up once, not per step
    x, y = data.train_x.to(device), data.train_y.to(device)
    test_x, test_y = data.test_x.to(device), data.test_y.to(device)
    n_batches = math.ceil(len(y) / config.batch_size)
    amp = config.amp  # bf16 autocast: tensor cores on CUDA, AVX-512 BF16 / AMX through oneDNN on CPUs
    t_resume = time.time()
    for epoch in range(start_epoch, config.epochs):
        lr = config.lr_at(epoch)
        for group in opt.param_groups:
            group["lr"] = lr
        model.train()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        bar = _progress(n_batches, f"{config.model} epoch {epoch + 1}/{config.epochs}", progress)
        for xb, yb in data_mod.train_batches(x, y, config.batch_size, config.seed, epoch,
                                                norm=config.normalization):
            out, loss = train_step(step_model, opt, xb, yb, amp)
            if config.bn_sparsity:
                for w in bn_weights:
                    w.grad.add_(torch.sign(w.detach()), alpha=config.bn_sparsity)
            opt.step()
            if config.sss_penalty:
                from .prune.sss import sss_prox_step

                sss_prox_step(model, lr, config.sss_penalty)
            if masks:
                _apply_masks(model, masks)
            loss_sum += loss.detach() * len(yb)
            correct += (out.detach().argmax(1) == yb).sum()
            bar.update(1)
        bar.close()
        train_loss = loss_sum.item() / len(y)
        if not math.isfinite(train_loss):
            raise NonFiniteLoss(f"run {run_dir.name}: training loss became {train_loss} in epoch {epoch + 1} "
                                f"(lr {lr}); the run is marked failed")
        if config.sfp_rate:  # Soft Filter Pruning: zero the weakest filters again, they may recover next epoch
            from .prune.sfp import sfp_step

            sfp_step(model, config.sfp_rate)
        test_loss, test_acc = evaluate(model, test_x, test_y, amp, config.normalization)
        row = {"epoch": epoch + 1, "lr": lr, "train_loss": train_loss,
               "train_acc": 100.0 * correct.item() / len(y), "test_loss": test_loss, "test_acc": test_acc,
               "train_flops": 3 * flops_per_image * len(y), "time_s": time.time() - t_resume + elapsed_before}
        if data.val_x is not None:
            row["val_loss"], row["val_acc"] = evaluate(model, data.val_x.to(device), data.val_y.to(device), amp,
                                                          config.normalization)
        history.append(row)
        atomic_save({"model": model.state_dict(), "optimizer": opt.state_dict(), "history": history,
                     "epoch": epoch + 1, "elapsed": row["time_s"], "resumes": resumes}, run_dir / "checkpoint.pt")
        if on_epoch is not None:
            on_epoch(epoch + 1)
    if not history:  # epochs == 0: evaluate the initial (or inherited) weights once
        test_loss, test_acc = evaluate(model, test_x, test_y, amp, config.normalization)
        history = [{"epoch": 0, "lr": config.lr, "train_loss": float("nan"), "train_acc": float("nan"),
                    "test_loss": test_loss, "test_acc": test_acc, "train_flops": 0, "time_s": 0.0}]
    atomic_save(model.state_dict(), run_dir / "final.pt")
    final = history[-1]
    from .flops import count_params

    metrics = {
        "status": "finished",
        "test_acc": final["test_acc"],
        "best_test_acc": max(h["test_acc"] for h in history),
        "test_loss": final["test_loss"],
        "train_loss": final["train_loss"],
        "train_acc": final["train_acc"],
        "epochs": config.epochs,
        "params": count_params(model, masked=True),
        "flops": flops_per_image,
        "train_flops": sum(h["train_flops"] for h in history),
        "wall_time_s": (history[-1]["time_s"] if config.epochs else 0.0),
        "session_time_s": time.time() - t_start,
        "resumed_after_epochs": resumes,
        "history": history,
    }
    if "val_acc" in final:
        metrics["val_acc"] = final["val_acc"]
    return metrics


def register_masks(model: nn.Module, state: dict) -> None:
    """Create the ``*_mask`` buffers that ``state`` carries, so ``load_state_dict`` accepts it."""
    modules = dict(model.named_modules())
    for key, value in state.items():
        owner, _, name = key.rpartition(".")
        if name.endswith("_mask") and owner in modules and not hasattr(modules[owner], name):
            modules[owner].register_buffer(name, torch.ones_like(value))


def mask_pairs(model: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(parameter, mask) for every ``<name>_mask`` buffer of ``model`` (found once, outside the training step)."""
    return [(getattr(module, name[:-5]), buf) for module in model.modules()
            for name, buf in module.named_buffers(recurse=False) if name.endswith("_mask")]


def _apply_masks(model: nn.Module, pairs: list[tuple[torch.Tensor, torch.Tensor]] | None = None) -> None:
    """Keep masked weights at exactly zero: every ``<name>_mask`` buffer multiplies parameter ``<name>``."""
    for param, mask in mask_pairs(model) if pairs is None else pairs:
        param.data.mul_(mask)


def load_checkpoint(path: Path) -> dict | None:
    """The checkpoint at ``path``, or None if absent; a torn/corrupt file is reported and ignored."""
    if not path.exists():
        return None
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        if not {"model", "optimizer", "history", "epoch"} <= set(ckpt):
            raise ValueError("missing keys")
        return ckpt
    except Exception as e:  # noqa: BLE001 - any unreadable file means: start over
        import warnings

        warnings.warn(f"run {path.parent.name}: checkpoint {path.name} is unreadable ({type(e).__name__}); "
                      "restarting the run from its initial weights", stacklevel=2)
        bad = path.with_name(path.name + ".corrupt")
        os.replace(path, bad)
        return None
