"""The paper's training protocol for one run: SGD with step lr, fine-tuning, Scratch-E and Scratch-B.

A run is described completely by a :class:`RunConfig` (:mod:`nbprune.config`, re-exported here). :func:`train`
executes it in a directory: it checkpoints every epoch (atomically), resumes from the last complete
checkpoint, and writes ``metrics.json`` (per-epoch history, final and best accuracy, wall time, the training
FLOPs it spent). Which directory a config owns, caching and locking are the run store's business
(:mod:`nbprune.runs`).

Pruning methods that act during training do so through training hooks (:mod:`nbprune.hooks`): this module
calls them at fixed points and knows no method; :func:`nbprune.prune.hooks_for` makes them from a config.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn as nn

from . import data as data_mod
from . import distributed as dist_mod
from .atomic import atomic_save, atomic_write_json  # noqa: F401  (re-exported)
from .config import (  # noqa: F401  (re-exported: notebooks and tests import them from here)
    CONFIG_VERSION,
    INITS,
    NORMALIZATIONS,
    RunConfig,
    _freeze,
    fresh_seed,
    thaw,
)
from .flops import count_flops, count_params
from .hooks import TrainHook, check_hooks
from .models import create_model, set_selections
from .precision import bf16_autocast, bf16_kind, cpu_has_fast_bf16  # noqa: F401  (cpu_has_fast_bf16 re-exported)
from .step import make_step_model, resolve_step


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


def build_model(config: RunConfig, num_classes: int, hooks: Sequence[TrainHook] = ()) -> nn.Module:
    """The config's architecture with the paper's random init drawn from ``config.seed`` (or ``init_seed``),
    then each hook's ``on_build``. A config whose method changes the model as it is built needs its hooks
    (:func:`nbprune.prune.hooks_for`); without them this is a ValueError, not a model without the method."""
    hooks = check_hooks(config.regularizer_fields(at_build=True), config.regularizer_fields(), hooks)
    torch.manual_seed(config.seed if config.init_seed is None else config.init_seed)
    cfg = None if config.cfg is None else thaw(config.cfg)
    model = create_model(config.model, num_classes=num_classes, cfg=cfg, width=config.width,
                         **dict(config.model_kwargs))
    if config.selections:
        set_selections(model, {name: list(idx) for name, idx in config.selections})
    for hook in hooks:
        hook.on_build(model)
    return model


def make_optimizer(model: nn.Module, config: RunConfig, hooks: Sequence[TrainHook] = (), **options) -> torch.optim.SGD:
    """The run's SGD (lr, momentum, weight decay, Nesterov from ``config``): one parameter group, plus a group
    without weight decay for the parameters the hooks name (``no_decay``). ``options`` go to SGD (e.g.
    ``foreach=True``)."""
    exempt = {id(p) for hook in hooks for p in hook.no_decay(model)}
    groups = [{"params": [p for p in model.parameters() if id(p) not in exempt]}]
    if exempt:  # their sparsity comes from a hook (a proximal step), not from weight decay
        groups.append({"params": [p for p in model.parameters() if id(p) in exempt], "weight_decay": 0.0})
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay,
                           nesterov=config.nesterov, **options)


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, amp: bool = False,
             norm: str = "cifar") -> tuple[float, float]:
    """(mean cross-entropy loss, accuracy in %) on uint8 images ``x``, batch 256, eval mode; ``norm`` names
    the normalisation (:data:`nbprune.data.NORMS`)."""
    was_training = model.training
    model.eval()
    loss_sum, correct = 0.0, 0
    for xb, yb in data_mod.eval_batches(x, y, 256, norm=norm):
        with bf16_autocast(x.device.type, amp):
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
    zeroed (set to None) and computed. Returns (logits, loss). :func:`train_batch` then runs the hooks and
    ``opt.step()``. ``step_model`` is the model or its compiled / graphed form
    (:func:`nbprune.step.make_step_model`); :func:`train` and ``nbprune bench`` both time this function."""
    with bf16_autocast(xb.device.type, amp):
        out = step_model(xb)
        loss = nn.functional.cross_entropy(out.float(), yb)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    return out, loss


def train_batch(step_model: Callable[[torch.Tensor], torch.Tensor], model: nn.Module, opt: torch.optim.Optimizer,
                xb: torch.Tensor, yb: torch.Tensor, amp: bool, lr: float, hooks: Sequence[TrainHook] = (),
                masks: list[tuple[torch.Tensor, torch.Tensor]] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimiser step on one batch, as :func:`train` runs it and ``nbprune bench`` times it:
    :func:`train_step` (forward, backward), every hook's ``after_backward``, ``opt.step()``, every hook's
    ``after_step(model, lr)``, then ``masks`` (:func:`mask_pairs`) re-applied. Returns (logits, loss)."""
    out, loss = train_step(step_model, opt, xb, yb, amp)
    for hook in hooks:
        hook.after_backward(model)
    opt.step()
    for hook in hooks:
        hook.after_step(model, lr)
    if masks:
        _apply_masks(model, masks)
    return out, loss


def evaluate_data(model: nn.Module, data, device: torch.device, amp: bool = False, norm: str = "cifar",
                  split: str = "test") -> tuple[float, float]:
    """(mean cross-entropy loss, accuracy in %) of ``model`` on a run's data: CIFAR tensors (``split`` "test"
    or "val", :func:`evaluate`) or an ImageFolder's test images (:class:`nbprune.data.FolderData`: the
    centre crops of ``val/``, shared among the processes of a DDP run and summed over them)."""
    dist_mod.broadcast_buffers(model)  # DDP: every process evaluates rank 0's model (its BatchNorm statistics)
    if isinstance(data, data_mod.ImageData):
        x, y = (data.test_x, data.test_y) if split == "test" else (data.val_x, data.val_y)
        return evaluate(model, x.to(device), y.to(device), amp, norm)
    rank, world = dist_mod.rank_world()
    was_training = model.training
    model.eval()
    sums = torch.zeros(3, device=device, dtype=torch.float64)  # loss sum, correct, images
    with torch.no_grad():
        for xb, yb in data.eval_batches(device, 256, rank, world):
            with bf16_autocast(device.type, amp):
                out = model(xb)
            sums[0] += nn.functional.cross_entropy(out.float(), yb, reduction="sum")
            sums[1] += (out.argmax(1) == yb).sum()
            sums[2] += len(yb)
    model.train(was_training)
    loss, correct, n = dist_mod.all_reduce_sum(sums).tolist()
    return loss / n, 100.0 * correct / n


def train(config: RunConfig, run_dir: Path, data: data_mod.ImageData | data_mod.FolderData, device: torch.device,
          init_state: dict | None = None, progress: bool | str = "auto",
          on_epoch: Callable[[int], None] | None = None, compile_model: bool = False,
          step: str | None = None, hooks: Sequence[TrainHook] = (), stop_after_step: int | None = None) -> dict | None:
    """Train ``config`` in ``run_dir`` (resuming from its last checkpoint) and return the final metrics.

    ``init_state`` is the state dict the run starts from (fine-tuning / lottery tickets); masks in it
    (buffers named ``*_mask``) are kept by the model. ``on_epoch(epoch)`` is called after each epoch's
    checkpoint is on disk (tests use it to interrupt runs). ``step``: how the step's forward and backward
    run (:data:`nbprune.step.STEP_IMPLS`; None: ``compile`` if ``compile_model``, else the process default).
    ``hooks``: the training hooks of the config's pruning method (:func:`nbprune.prune.hooks_for`); a config
    that sets a method field without its hook is a ValueError before any work. ``stop_after_step``: stop
    (returning None, no checkpoint or metrics) after that many steps, once the step's rewind snapshot is
    saved: how :meth:`nbprune.runs.RunStore.run` replays the start of a large model whose snapshot is missing.

    ``data``: CIFAR as tensors (:class:`nbprune.data.ImageData`) or an ImageFolder read by DataLoaders
    (:class:`nbprune.data.FolderData`, ImageNet). In a process group (:mod:`nbprune.distributed`: torchrun or
    Slurm tasks) the model trains with DistributedDataParallel, each process taking its share of every
    batch; the metrics are all-reduced and only rank 0 writes files, so the run directory is a one-process run's.
    """
    hooks = check_hooks(config.regularizer_fields(), config.regularizer_fields(), hooks)
    rank, world = dist_mod.rank_world()
    main = rank == 0
    run_dir.mkdir(parents=True, exist_ok=True)
    if progress == "auto":
        progress = sys.stderr.isatty() and main
    t_start = time.time()
    folder = not isinstance(data, data_mod.ImageData)
    model = build_model(config, data.num_classes, hooks)
    init_path = run_dir / "init.pt"
    if main and not init_path.exists():  # the random init, kept for lottery-ticket experiments
        atomic_save(model.state_dict(), init_path)
    if init_state is not None:
        register_masks(model, init_state)
        model.load_state_dict(init_state)
        _apply_masks(model)
    # per image at the size trained on (an ImageFolder's crop; the Scratch-B budgets count at 224, nbprune.flops)
    flops_per_image = count_flops(model, (3, data.image_size, data.image_size) if folder else None, masked=True)
    model = model.to(device).to(memory_format=torch.channels_last)
    opt = make_optimizer(model, config, hooks)
    history: list[dict] = []
    start_epoch, elapsed_before, resumes = 0, 0.0, []
    ckpt = load_checkpoint(run_dir / "checkpoint.pt")
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        history, start_epoch, elapsed_before = ckpt["history"], ckpt["epoch"], ckpt["elapsed"]
        resumes = [*ckpt.get("resumes", []), start_epoch]  # the epochs this run was resumed after
    for hook in hooks:
        hook.on_train_start(model, start_epoch)
    impl = resolve_step(step, device, compile_model)
    if folder:
        x = y = None
        n_train, n_batches = data.n_train, data.batches_per_epoch(config.batch_size)
        sample_shape = (config.batch_size, 3, data.image_size, data.image_size)
    else:
        x, y = data.train_x.to(device), data.train_y.to(device)
        n_train, n_batches = len(y), math.ceil(len(y) / config.batch_size)
        sample_shape = (config.batch_size, *data.train_x.shape[1:])
    if world > 1:  # DDP: the gradients are averaged over the processes during backward
        if impl == "cuda-graph":
            raise ValueError("step: 'cuda-graph' does not run under DistributedDataParallel; allowed: eager, compile")
        ddp = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        step_model = torch.compile(ddp) if impl == "compile" else ddp
    else:
        step_model = make_step_model(model, impl, sample_shape, device, config.amp)
    masks = mask_pairs(model)  # the step re-applies these; looked up once, not per step
    # the steps whose weights a rewound ticket restarts from, counted in the steps this data makes (a data set
    # smaller than the config's subset, as in the tests, still keeps the snapshots its derived runs name)
    rewind = set(config.rewind_steps())
    per_step_lr = config.per_step_lr  # looked up once: the step loop only tests a local
    amp = config.amp  # bf16 autocast (nbprune.precision): in hardware, or fp32 kernels on bf16-rounded operands
    t_resume = time.time()
    for epoch in range(start_epoch, config.epochs):
        lr = config.lr_at(epoch)
        for group in opt.param_groups:
            group["lr"] = lr
        model.train()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        bar = _progress(n_batches, f"{config.model} epoch {epoch + 1}/{config.epochs}", progress)
        batches = (data.train_batches(config.batch_size, config.seed, epoch, device, rank, world) if folder else
                   data_mod.train_batches(x, y, config.batch_size, config.seed, epoch, norm=config.normalization))
        for i, (xb, yb) in enumerate(batches):
            if world > 1 and not folder:  # CIFAR under DDP: this process's share of the global batch
                xb, yb = xb[rank::world], yb[rank::world]
            if per_step_lr:  # a named schedule: the lr of every step (the step schedule: once an epoch)
                lr = config.lr_at(epoch, (i + 1) / n_batches)
                for group in opt.param_groups:
                    group["lr"] = lr
            out, loss = train_batch(step_model, model, opt, xb, yb, amp, lr, hooks, masks)
            if rewind and epoch * n_batches + i + 1 in rewind:  # the weights a rewound ticket restarts from
                if main:
                    atomic_save(model.state_dict(), run_dir / f"rewind-{epoch * n_batches + i + 1}.pt")
                if epoch * n_batches + i + 1 == stop_after_step:
                    bar.close()
                    return None
            loss_sum += loss.detach() * len(yb)
            correct += (out.detach().argmax(1) == yb).sum()
            bar.update(1)
        bar.close()
        dist_mod.all_reduce_sum(loss_sum)
        dist_mod.all_reduce_sum(correct)
        train_loss = loss_sum.item() / n_train
        if not math.isfinite(train_loss):
            raise NonFiniteLoss(f"run {run_dir.name}: training loss became {train_loss} in epoch {epoch + 1} "
                                f"(lr {lr}); the run is marked failed")
        for hook in hooks:
            hook.on_epoch_end(model, epoch)
        test_loss, test_acc = evaluate_data(model, data, device, amp, config.normalization)
        row = {"epoch": epoch + 1, "lr": config.lr_at(epoch, 1 / n_batches), "train_loss": train_loss,
               "train_acc": 100.0 * correct.item() / n_train, "test_loss": test_loss, "test_acc": test_acc,
               "train_flops": 3 * flops_per_image * n_train, "time_s": time.time() - t_resume + elapsed_before}
        if data.val_x is not None:
            row["val_loss"], row["val_acc"] = evaluate_data(model, data, device, amp, config.normalization, "val")
        history.append(row)
        if main:
            atomic_save({"model": model.state_dict(), "optimizer": opt.state_dict(), "history": history,
                         "epoch": epoch + 1, "elapsed": row["time_s"], "resumes": resumes}, run_dir / "checkpoint.pt")
        dist_mod.barrier()  # every process resumes from the same checkpoint
        if on_epoch is not None:
            on_epoch(epoch + 1)
    if not history:  # epochs == 0: evaluate the initial (or inherited) weights once
        test_loss, test_acc = evaluate_data(model, data, device, amp, config.normalization)
        history = [{"epoch": 0, "lr": config.lr, "train_loss": float("nan"), "train_acc": float("nan"),
                    "test_loss": test_loss, "test_acc": test_acc, "train_flops": 0, "time_s": 0.0}]
    if main:
        atomic_save(model.state_dict(), run_dir / "final.pt")
    final = history[-1]
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
    if amp:  # how this session computed bf16 (nbprune.precision); not part of what is trained
        metrics["bf16"] = bf16_kind(device.type)
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
