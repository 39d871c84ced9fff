"""What ``nbprune bench`` measures nbprune against and with: the original authors' training pipeline, and a
peak-memory probe.

* :class:`ReferenceLoop` -- the reference contender of the throughput benchmark: a ``Dataset`` that makes a PIL
  image of every uint8 HWC image and applies torchvision's Pad(4)/RandomCrop(32)/RandomHorizontalFlip/ToTensor/
  Normalize (:class:`PILCifar`), a ``DataLoader(shuffle=True, num_workers=1, batch_size=64)``, an fp32 NCHW
  model and plain SGD.
* :class:`MemoryProbe` -- the peak memory of what runs between its creation and :meth:`MemoryProbe.stop`: on
  CPU the growth of the resident set size (:class:`RssSampler` polls /proc every few ms, after
  :func:`trim_heap` returned freed heap to the OS), on CUDA ``torch.cuda.max_memory_allocated`` over the
  allocation before.

Only :mod:`nbprune.bench` (and ``tools/bench_explore.py``) use this module.
"""

from __future__ import annotations

import ctypes
import gc
import os
import resource
import sys
import threading
import time

import torch
from torch import nn

from .data import CIFAR_MEAN, CIFAR_STD
from .train import RunConfig, build_model

BATCH = 64  # the benchmark's batch size (the paper's CIFAR batch)
NUM_CLASSES = 10


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on the CPU), so a timing or a memory reading covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build(name: str, width: float, seed: int = 0) -> nn.Module:
    """A model as nbprune's trainer builds it (:func:`nbprune.train.build_model`), with the benchmark's classes."""
    return build_model(RunConfig(model=name, width=width, seed=seed), NUM_CLASSES)


# ------------------------------------------------------------------------------------------ peak memory
class RssSampler:
    """Highest resident set size (bytes) seen by a background thread polling /proc/self/statm."""

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * self.page
        except OSError:  # no /proc: the process's high-water mark (kB on Linux, bytes on macOS)
            r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            return r if sys.platform == "darwin" else r * 1024

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(self.interval)

    def __enter__(self) -> RssSampler:
        self.peak = self.rss()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())


def trim_heap() -> None:
    """Collect garbage and give freed heap back to the OS, so an RSS baseline means what it says."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class MemoryProbe:
    """Peak memory (MB) of what runs inside, over the level when the probe was created."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        if device.type == "cuda":
            sync(device)
            torch.cuda.reset_peak_memory_stats(device)
            self.base = torch.cuda.memory_allocated(device)
        else:
            trim_heap()
            self.sampler = RssSampler()
            self.sampler.__enter__()
            self.base = self.sampler.peak
            self.maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def stop(self) -> dict:
        if self.device.type == "cuda":
            sync(self.device)
            peak = torch.cuda.max_memory_allocated(self.device) - self.base
            return {"peak_mem_mb": peak / 2**20, "mem_method": "torch.cuda.max_memory_allocated delta"}
        self.sampler.__exit__()
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        scale = 1 if sys.platform == "darwin" else 1024
        return {"peak_mem_mb": max(self.sampler.peak - self.base, 0) / 2**20,
                "maxrss_delta_mb": (maxrss - self.maxrss_before) * scale / 2**20,
                "mem_method": "sampled RSS peak minus RSS before the model was built"}


# ------------------------------------------------------------------------------- the authors' pipeline
class PILCifar(torch.utils.data.Dataset):
    """The authors' input pipeline: uint8 HWC image -> PIL image -> torchvision transforms, one at a time."""

    def __init__(self, x_hwc, labels) -> None:
        import torchvision.transforms as T

        self.x, self.labels = x_hwc, labels
        self.transform = T.Compose([T.Pad(4), T.RandomCrop(32), T.RandomHorizontalFlip(), T.ToTensor(),
                                    T.Normalize(CIFAR_MEAN, CIFAR_STD)])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        from PIL import Image

        return self.transform(Image.fromarray(self.x[i])), int(self.labels[i])


class ReferenceLoop:
    """The original authors' style of loop: PIL/torchvision DataLoader, fp32 NCHW model, plain SGD."""

    def __init__(self, name: str, width: float, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> None:
        self.device = device
        self.model = build(name, width).to(device)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
        ds = PILCifar(x.permute(0, 2, 3, 1).contiguous().numpy(), y.numpy())
        self.loader = torch.utils.data.DataLoader(ds, batch_size=BATCH, shuffle=True, num_workers=1,
                                                  pin_memory=device.type == "cuda",
                                                  generator=torch.Generator().manual_seed(0))
        self.it = iter(self.loader)
        self.losses, self.correct, self.seen = 0.0, 0, 0
        self.model.train()

    def steps(self, n: int) -> None:
        for _ in range(n):
            try:
                inputs, targets = next(self.it)
            except StopIteration:  # a new epoch, as the authors' loop would start
                self.it = iter(self.loader)
                inputs, targets = next(self.it)
            inputs, targets = inputs.to(self.device), targets.to(self.device)
            outputs = self.model(inputs)
            loss = nn.functional.cross_entropy(outputs, targets)
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            self.losses += loss.item() * inputs.size(0)
            self.correct += int((outputs.argmax(1) == targets).sum())
            self.seen += inputs.size(0)
        sync(self.device)

    def settle(self) -> None:
        """Let the worker refill its prefetch queue now, not during the next contender's timing."""
        time.sleep(0.25)

    def close(self) -> None:
        del self.it
