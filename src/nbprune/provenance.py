"""Provenance recorded with every result: versions, git commit, device, threads, data source and checksum.

:func:`compare_provenance` tells a chapter how many of the runs it uses were made by other code, other
libraries, on other data or on another kind of machine than the one executing it (runs merged from several
machines, #17), and :func:`describe_differences` says so in one line for the chapter's box.
"""

from __future__ import annotations

import json
import os
import platform
import re
import socket
import subprocess
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from . import __version__
from .config import CONFIG_VERSION

PACKAGES = ("torch", "torchvision", "numpy", "pandas", "pillow", "matplotlib", "seaborn", "jupyter-book",
            "papermill", "jupytext", "nbval")


BOOK_INPUTS = ("src", "notebooks", "tools", "pyproject.toml", "requirements.txt", "_config.yml", "_toc.yml")
"""What the executed book is made from besides the results: a commit that changes none of these (one that only
commits the re-executed book and its results) leaves :func:`inputs_commit` as it was."""


def _git(cwd: Path, *args: str) -> str:
    """``git args`` in ``cwd``: its stripped standard output ("" when git fails)."""
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5).stdout.strip()


def _commit(where: Path, log: tuple[str, ...], status: tuple[str, ...]) -> str | None:
    """The commit ``git <log>`` names in ``where``, with ``+dirty`` when ``git status --porcelain <status>``
    lists changes; None outside a checkout or without git."""
    try:
        sha = _git(where, *log)
        if not sha:
            return None
        return sha + ("+dirty" if _git(where, "status", "--porcelain", "--untracked-files=no", *status) else "")
    except (OSError, subprocess.SubprocessError):
        return None


def inputs_commit(path: str | os.PathLike | None = None, inputs: tuple[str, ...] = BOOK_INPUTS) -> str | None:
    """The last commit that changed the book's inputs (``inputs``, paths relative to the checkout's root),
    with ``+dirty`` when any of them has local changes; None outside a git checkout. Unlike
    :func:`git_commit` it does not move when the re-executed book itself is committed, so re-executing an
    unchanged tree writes the same notebook."""
    where = Path(path) if path else Path(__file__).resolve().parent
    try:
        root = _git(where, "rev-parse", "--show-toplevel")
    except (OSError, subprocess.SubprocessError):
        return None
    return _commit(Path(root), ("log", "-1", "--format=%H", "--", *inputs), ("--", *inputs)) if root else None


def git_commit(path: str | os.PathLike | None = None) -> str | None:
    """The commit of the checkout holding nbprune (with ``+dirty`` when it has local changes), or None."""
    return _commit(Path(path) if path else Path(__file__).resolve().parent, ("rev-parse", "HEAD"), ())


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


def cpu_capability() -> str | None:
    """The instruction set torch's CPU kernels use here (``AVX2``, ``AVX512``, ...; ``ATEN_CPU_CAPABILITY``
    lowers it): with the thread count and the bf16 way (:mod:`nbprune.precision`), what a bit-identical replay
    of a run on another CPU must match."""
    try:
        return torch.backends.cpu.get_cpu_capability()
    except (AttributeError, RuntimeError):
        return None


def provenance(data=None, device: torch.device | str | None = None) -> dict:
    """Everything needed to tell where a result came from. ``data`` is an ImageData (or None)."""
    return {
        "nbprune": __version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "packages": package_versions(),
        "device": device_name(device),
        "threads": torch.get_num_threads(),
        "cpu_capability": cpu_capability(),
        "config_version": _config_version(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "data": None if data is None else data.describe(),
    }


def _config_version() -> int:
    return CONFIG_VERSION


# what makes a result differ: its code and libraries (a different number is expected), its data (refused when
# importing), and its machine (bit-identical results need the same device, thread count and versions)
CODE_FIELDS = ("nbprune", "git_commit", "python", "torch", "torchvision", "numpy", "config_version")
MACHINE_FIELDS = ("device", "threads", "cpu_capability")


def provenance_fields(prov: dict | None) -> dict[str, Any]:
    """The fields of a provenance record that :func:`compare_provenance` compares, flattened."""
    prov = prov or {}
    packages = prov.get("packages") or {}
    data = prov.get("data") or {}
    out = {k: prov.get(k) for k in ("nbprune", "git_commit", "python", "config_version", *MACHINE_FIELDS)}
    if isinstance(out["device"], str):  # the device itself; its thread count is the field "threads"
        out["device"] = re.sub(r", \d+ threads$", "", out["device"])
    out.update({k: packages.get(k) for k in ("torch", "torchvision", "numpy")})
    out["data"] = data.get("sha256")
    return out


def run_provenance(result) -> dict | None:
    """The provenance record of a run (a :class:`~nbprune.runs.RunResult` or a run directory), None if absent."""
    d = Path(getattr(result, "dir", result))
    try:
        return json.loads((d / "provenance.json").read_text())
    except (OSError, ValueError):
        return None


@dataclass
class ProvenanceDiff:
    """How many of ``runs`` runs differ from the current provenance, and in which fields (counts per field)."""

    runs: int
    code: int = 0  # runs made by other code or libraries (or under another CONFIG_VERSION)
    data: int = 0  # runs made from another data checksum
    machine: int = 0  # runs made on another device, thread count or instruction set (not bit-identical)
    imported: int = 0  # runs imported from another store
    fields: dict[str, int] = field(default_factory=dict)

    @property
    def differ(self) -> int:
        """Runs whose code, libraries or data differ (the ones a chapter must flag)."""
        return max(self.code, self.data)


def compare_provenance(results, current: dict | None = None) -> ProvenanceDiff:
    """Count the runs among ``results`` (RunResults or run directories) whose provenance differs from
    ``current`` (default: this process's, without data; pass ``provenance(data=..., device=...)`` to also
    compare the data checksum and device). A field that either side does not record is not compared (runs
    made before a field was recorded; the config version is part of every run id anyway)."""
    now = provenance_fields(current if current is not None else provenance())
    out = ProvenanceDiff(runs=0)
    for res in results:
        out.runs += 1
        d = Path(getattr(res, "dir", res))
        out.imported += (d / "imported.json").exists()
        theirs = provenance_fields(run_provenance(res))
        diff = [k for k, v in now.items() if None not in (v, theirs.get(k)) and theirs[k] != v]
        for k in diff:
            out.fields[k] = out.fields.get(k, 0) + 1
        out.code += any(k in CODE_FIELDS for k in diff)
        out.data += "data" in diff
        out.machine += any(k in MACHINE_FIELDS for k in diff)
    return out


def describe_differences(diff: ProvenanceDiff) -> str:
    """One line for a chapter's box: how many runs differ from this machine's code, data and device."""
    if diff.runs == 0:
        return "no runs"
    imported = f" ({diff.imported} imported from other stores)" if diff.imported else ""
    if not diff.fields:
        return f"all {diff.runs} runs were made by this code, on this data and this kind of machine{imported}"
    what = ", ".join(f"{k.replace('_', ' ')} ({n})" for k, n in sorted(diff.fields.items(), key=lambda kv: -kv[1]))
    parts = []
    if diff.code:
        parts.append(f"{diff.code} by other code or libraries")
    if diff.data:
        parts.append(f"{diff.data} from other data")
    if diff.machine:
        parts.append(f"{diff.machine} on another device, thread count or instruction set")
    return f"of {diff.runs} runs{imported}, " + "; ".join(parts) + f" (differing: {what})"


def provenance_line(prov: dict | None) -> str:
    """A run's provenance in one line: host, device, threads, versions and git commit (for conflict reports)."""
    f = provenance_fields(prov)
    host = (prov or {}).get("host", "?")
    commit = (f["git_commit"] or "?")[:12] + ("+dirty" if str(f["git_commit"]).endswith("+dirty") else "")
    return (f"host {host}, {f['device']}, {f['threads']} threads, torch {f['torch']}, nbprune {f['nbprune']}, "
            f"git {commit}, made {(prov or {}).get('time_utc', '?')}")
