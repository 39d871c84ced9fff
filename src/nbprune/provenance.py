"""Provenance recorded with every result: versions, git commit, device, data source and checksum."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import time
from importlib import metadata
from pathlib import Path

import torch

PACKAGES = ("torch", "torchvision", "numpy", "pandas", "pillow", "matplotlib", "seaborn", "jupyter-book",
            "papermill", "jupytext", "nbval")


def git_commit(path: str | os.PathLike | None = None) -> str | None:
    """The commit of the checkout holding nbprune (with ``+dirty`` when it has local changes), or None."""
    where = Path(path) if path else Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True,
                             timeout=5).stdout.strip()
        if not sha:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions() -> dict[str, str | None]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def device_name(device: torch.device | str | None = None) -> str:
    """A human-readable name of the device a run used."""
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads"


def provenance(data=None, device: torch.device | str | None = None) -> dict:
    """Everything needed to tell where a result came from. ``data`` is an ImageData (or None)."""
    from . import __version__

    return {
        "nbprune": __version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "packages": package_versions(),
        "device": device_name(device),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "data": None if data is None else data.describe(),
    }
