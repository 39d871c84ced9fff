"""One run trained by several processes with DistributedDataParallel (DDP), launched by torchrun or as the
tasks of one Slurm job (submitit).

A leaf of the package: it knows torch.distributed and the launchers' environment variables, nothing that
trains. The design, in :func:`nbprune.train.train` and :meth:`nbprune.runs.RunStore.run`:

* every process builds the same model from the same seed (DDP also broadcasts rank 0's weights), computes
  the same pruning plan and resumes from the same checkpoint (the store is shared);
* each global batch of ``batch_size`` images (the paper's 256 on ImageNet) is split across the processes
  (:meth:`nbprune.data.FolderData.train_batches`), DDP averages the gradients, so an optimiser step sees
  the one-process run's batch; BatchNorm statistics are per process (as the paper's DataParallel);
* losses, accuracies and the evaluation's sums are all-reduced, so every process holds the same metrics;
* only rank 0 writes: ``config.json``, ``provenance.json``, ``init.pt``, checkpoints, ``final.pt`` and
  ``metrics.json`` are those of a one-process run, and the run lock is rank 0's. The others wait at a
  barrier until rank 0's files are on disk, so a derived run that reads them starts only then.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

__all__ = ["all_reduce_sum", "barrier", "broadcast_buffers", "init_from_env", "is_main", "rank_world"]


def rank_world() -> tuple[int, int]:
    """(this process's rank, number of processes); (0, 1) outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    """Whether this process writes the run's files (rank 0, or no process group)."""
    return rank_world()[0] == 0


def init_from_env(device: str = "auto") -> str:
    """Join the process group the launcher describes (``WORLD_SIZE`` > 1 in the environment: torchrun, or
    submitit's ``TorchDistributedEnvironment().export()`` on Slurm) and return the device this process trains
    on: ``cuda:<LOCAL_RANK>`` when CUDA is there and ``device`` is "auto" or "cuda" (backend NCCL), else
    ``device`` (backend gloo, CPUs). Without such an environment, or when already joined: ``device`` as given."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1 or not dist.is_available():
        return device
    cuda = torch.cuda.is_available() and str(device) in ("auto", "cuda")
    local = int(os.environ.get("LOCAL_RANK", "0") or 0)
    if cuda:
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    elif str(device) == "auto":
        device = "cpu"
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return device


def barrier() -> None:
    """Wait for every process (no-op outside a process group)."""
    if rank_world()[1] > 1:
        dist.barrier()


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """``t`` summed over the processes, in place (no-op outside a process group)."""
    if rank_world()[1] > 1:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def broadcast_buffers(model: torch.nn.Module) -> None:
    """Give every process rank 0's buffers (BatchNorm statistics), so all evaluate the same model."""
    if rank_world()[1] > 1:
        for b in model.buffers():
            dist.broadcast(b, 0)
