"""Atomic writers for every file the run store writes, and the error they raise when the disk says no.

Each writer writes a temporary file next to its target (``.<name>.tmp<pid>``), fsyncs it and renames it over
the target, so a reader sees the previous file or the new one, never a torn one. When the write fails (a full
disk, a read-only filesystem, no permission, a quota), the temporary file is removed, the previous file is left
as it was, and :class:`StoreError` says in one line which file, how many bytes it needed and how many were free.
"""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

WHAT = {  # what each store file is, for the one-line error
    "init.pt": "the random init",
    "checkpoint.pt": "the epoch checkpoint",
    "final.pt": "the final weights",
    "metrics.json": "the metrics",
    "config.json": "the run config",
    "provenance.json": "the provenance",
    "imported.json": "the import record",
    "manifest.json": "the export manifest",
    "lock": "the run lock",
}


class StoreError(RuntimeError):
    """The store cannot be used (unwritable, full, or a run's files contradict its config)."""


def temp_path(path: Path) -> Path:
    """The temporary file a writer uses for ``path`` (one per process)."""
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


def is_temp_name(name: str) -> bool:
    """True for the name of a writer's temporary file (``.<name>.tmp<pid>``)."""
    head, sep, pid = name.rpartition(".tmp")
    return name.startswith(".") and bool(sep) and bool(head) and pid.isdigit()


def human_bytes(n: int | None) -> str:
    """``n`` bytes as a short readable size (``6.1 MB``); ``?`` when unknown."""
    if n is None:
        return "?"
    for unit in ("bytes", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


def free_bytes(path: Path) -> int | None:
    """Free space on the filesystem holding ``path`` (or its nearest existing parent), None if unknown."""
    for p in (path, *path.parents):
        try:
            return shutil.disk_usage(p).free
        except OSError:
            continue
    return None


_HINTS = {
    errno.ENOSPC: "free space (or give another store) and run the same command again: a run resumes from its "
                  "last checkpoint",
    errno.EDQUOT: "the disk quota is used up: free space and run the same command again",
    errno.EROFS: "the filesystem is read-only: give a writable store (store= / --store / NBPRUNE_STORE)",
    errno.EACCES: "no permission: give a writable store (store= / --store / NBPRUNE_STORE)",
    errno.EPERM: "no permission: give a writable store (store= / --store / NBPRUNE_STORE)",
}


def write_error(path: Path, err: OSError, needed: int | None, what: str | None = None) -> StoreError:
    """The one-line StoreError for a failed write of ``needed`` bytes to ``path``."""
    what = what or WHAT.get(path.name, path.name)
    reason = err.strerror or type(err).__name__
    hint = _HINTS.get(err.errno or 0, "the previous file is intact")
    return StoreError(f"store: cannot write {what} to {path} ({reason}; {human_bytes(needed)} needed, "
                      f"{human_bytes(free_bytes(path.parent))} free); nothing was replaced: {hint}")


def write_atomically(path: Path, write: Callable[[Any], None], size: Callable[[], int | None],
                     what: str | None = None) -> None:
    """Write ``path`` through a temporary file: ``write(f)`` fills a binary file, ``size()`` says how many
    bytes it needs (only asked after a failure). Any failure removes the temporary file; an OSError becomes a
    StoreError, anything else (an interrupt) is re-raised as it is."""
    path = Path(path)
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as f:
            sink = _Sink(f)
            try:
                write(sink)
            except Exception:
                if sink.error is not None:  # torch.save turns a failed write into a RuntimeError
                    raise sink.error from None
                raise
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        _remove(tmp)
        raise write_error(path, e, size(), what) from None
    except BaseException:
        _remove(tmp)
        raise


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


class _Sink(io.RawIOBase):
    """A file's writer that remembers the OSError a write raised (a full disk), which torch.save would
    otherwise report as an unrelated RuntimeError."""

    def __init__(self, f) -> None:
        self.f, self.error = f, None

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        try:
            return self.f.write(b)
        except OSError as e:
            self.error = e
            raise


class _Counter(io.RawIOBase):
    """A sink that only counts what is written to it (how many bytes a torch.save needs)."""

    def __init__(self) -> None:
        self.n = 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self.n += len(b)
        return len(b)


def torch_size(obj: Any) -> int | None:
    """How many bytes ``torch.save(obj)`` writes (counted, not kept in memory)."""
    import torch

    try:
        c = _Counter()
        torch.save(obj, c)
        return c.n
    except Exception:  # noqa: BLE001 - only for the error message
        return None


def atomic_save(obj: Any, path: Path, *, what: str | None = None) -> None:
    """torch.save ``obj`` to ``path`` atomically; a failed write raises StoreError and leaves ``path`` as it was."""
    import torch

    write_atomically(Path(path), lambda f: torch.save(obj, f), lambda: torch_size(obj), what)


def atomic_write_bytes(data: bytes, path: Path, *, what: str | None = None) -> None:
    """Write ``data`` to ``path`` atomically (StoreError on failure, ``path`` left as it was)."""
    write_atomically(Path(path), lambda f: f.write(data), lambda: len(data), what)


def atomic_write_text(text: str, path: Path, *, what: str | None = None) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (a results CSV, a table)."""
    atomic_write_bytes(text.encode(), path, what=what)


def json_bytes(obj: Any) -> bytes:
    """``obj`` as the store writes JSON: indented, keys sorted, UTF-8."""
    return json.dumps(obj, indent=1, sort_keys=True).encode()


def atomic_write_json(obj: Any, path: Path, *, what: str | None = None) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (StoreError on failure, ``path`` left as it was)."""
    atomic_write_bytes(json_bytes(obj), path, what=what)


def remove_temp_files(directory: Path) -> list[str]:
    """Remove writers' temporary files left in ``directory`` by killed processes; the names removed.

    Only call it while holding the directory's lock (no live writer is then using them)."""
    removed = []
    try:
        entries = list(Path(directory).iterdir())
    except OSError:
        return removed
    for p in entries:
        if is_temp_name(p.name) and p.is_file():
            _remove(p)
            removed.append(p.name)
    return removed
