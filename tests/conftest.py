"""Shared fixtures: isolated caches/stores, tiny generated datasets, the real CIFAR-10 when present; the masked
reference model of the surgery tests."""

from __future__ import annotations

import copy
import os
import tarfile
from pathlib import Path

import pytest
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
SHARED_CIFAR = REPO.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory, monkeypatch):
    """Every test gets its own dataset cache and run store; NBPRUNE_DATA stays as the caller set it."""
    monkeypatch.setenv("NBPRUNE_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("NBPRUNE_STORE", str(tmp_path_factory.mktemp("store")))
    from nbprune import data

    data._MEMO.clear()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture
def one_thread():
    """Tiny CPU models run fastest (and steadiest on a shared machine) single-threaded. Function scope, so it
    runs after ``_isolated``'s thread setting; modules opt in with ``pytestmark = pytest.mark.usefixtures(
    "one_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def real_cifar_path() -> Path | None:
    env = os.environ.get("NBPRUNE_DATA")
    if env and Path(env).exists():
        return Path(env)
    return SHARED_CIFAR if SHARED_CIFAR.exists() else None


@pytest.fixture
def cifar_path() -> Path:
    path = real_cifar_path()
    if path is None:
        pytest.skip("real CIFAR-10 not available: set NBPRUNE_DATA or provide ../shared/data/cifar10-jpeg.tar.gz")
    return path


def make_imagefolder(root: Path, classes: int = 10, train_per_class: int = 6, test_per_class: int = 3,
                     fmt: str = "PNG", seed: int = 0) -> Path:
    """Write a tiny ImageFolder tree of random 32x32 images whose mean colour depends on the class."""
    from PIL import Image

    g = torch.Generator().manual_seed(seed)
    for split, n in (("train", train_per_class), ("test", test_per_class)):
        for c in range(classes):
            d = root / split / f"class{c:03d}"
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                base = torch.full((32, 32, 3), 20 * (c % 10), dtype=torch.int32)
                img = (base + torch.randint(0, 60, (32, 32, 3), generator=g, dtype=torch.int32)).clamp(0, 255)
                Image.fromarray(img.to(torch.uint8).numpy()).save(d / f"{i:04d}.{fmt.lower()}", fmt)
    return root


@pytest.fixture
def tiny_folder(tmp_path) -> Path:
    return make_imagefolder(tmp_path / "tiny")


@pytest.fixture
def tiny_archive(tmp_path, tiny_folder) -> Path:
    out = tmp_path / "tiny.tar.gz"
    with tarfile.open(out, "w:gz") as tar:
        tar.add(tiny_folder, arcname="cifar10")
    return out


@torch.no_grad()
def masked(model: nn.Module, keep: dict[str, torch.Tensor]) -> nn.Module:
    """A copy of ``model`` whose pruned channels carry exactly 0 after their BN + ReLU: the same function as
    removing them, the reference the surgery tests compare a pruned model with.

    ``keep`` maps a channel unit (``nbprune.prune.surgery.channel_units``) to the unit channels it keeps; units
    not listed keep everything. A dropped channel has its BN gamma and beta zeroed (with a ``ChannelSelection``
    in front, unit channel j is BN channel ``indices[j]``), or, for a unit without BN (plain VGG), its conv
    filter and bias. Every unit's BN (or conv) is followed by a ReLU and read only by the unit's consumers, so a
    zeroed channel adds nothing downstream.
    """
    from nbprune.prune.surgery import channel_units  # here, so test files without models do not load them

    ref = copy.deepcopy(model)
    for name, unit in channel_units(ref).items():
        if name not in keep:
            continue
        dropped = torch.ones(unit.size, dtype=torch.bool)
        dropped[keep[name]] = False
        positions = torch.nonzero(dropped).flatten()
        if unit.select is not None:
            positions = ref.get_submodule(unit.select).indices[positions]
        if unit.bn is None:
            conv = ref.get_submodule(unit.conv)
            conv.weight[positions] = 0.0
            conv.bias[positions] = 0.0
        else:
            bn = ref.get_submodule(unit.bn)
            bn.weight[positions] = 0.0
            bn.bias[positions] = 0.0
    return ref
