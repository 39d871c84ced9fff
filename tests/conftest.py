"""Shared fixtures: isolated caches/stores, tiny generated datasets, the real CIFAR-10 when present."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
import torch

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
