"""The run store: one directory per run config, named by the config's hash. Finished runs never retrain.

Layout of ``<store>/<run_id>/``::

    config.json        the full RunConfig (defaults included) the run was made from
    provenance.json    versions, git commit, device, data source and checksum
    init.pt            the random init (lottery tickets start from it)
    checkpoint.pt      the last complete epoch (model, optimizer, history), written atomically
    final.pt           the final weights
    metrics.json       status "finished", final/best accuracy, history, wall time, training FLOPs
    lock               present while a process trains the run (pid and host inside)
    imported.json      present when the run was imported from another store (JSON only, no weights;
                       see :mod:`nbprune.store_io`)

Every file is written atomically through :mod:`nbprune.atomic`: a full disk or a read-only store raises a
one-line :class:`StoreError` and leaves the previous file (the last checkpoint) as it was.

A run is "finished" when ``metrics.json`` says so and its stored config equals the asked-for config in
every field, defaults included: a run made under a different default is never silently reused.
"""

from __future__ import annotations

import json
import os
import socket
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from . import distributed as dist_mod
from .atomic import StoreError, atomic_write_json, remove_temp_files, write_error
from .choices import unknown_choice
from .config import thaw
from .data import load_data
from .log import LOGGER
from .plans import plan_for
from .provenance import provenance
from .prune import derive_state, hooks_for
from .train import RunConfig, build_model, register_masks, resolve_device, train

__all__ = ["RunResult", "RunStore", "RunLock", "StoreError", "config_differences"]

LOCK_HEARTBEAT_S = 30.0  # the lock holder touches its lock file this often
LOCK_STALE_S = 300.0  # a lock held on another host is stale after this long without a heartbeat


@dataclass
class RunResult:
    """A finished run: its id, directory, config and metrics."""

    run_id: str
    dir: Path
    config: RunConfig
    metrics: dict[str, Any]

    @property
    def imported(self) -> dict | None:
        """Where the run was imported from (``imported.json``), None for a run trained in this store."""
        return read_json(self.dir / "imported.json")

    def state_dict(self, which: str = "final") -> dict:
        """The run's ``final`` or ``init`` weights (read as tensors only, never unpickled)."""
        path = self.dir / f"{which}.pt"
        if not path.exists():
            raise StoreError(_missing_weights(self, path))
        return torch.load(path, map_location="cpu", weights_only=True)

    def model(self, which: str = "final"):
        """The run's architecture with its ``final`` (or ``init``) weights loaded, in eval mode."""
        m = build_model(self.config, self.config.classes, hooks_for(self.config))
        state = self.state_dict(which)
        register_masks(m, state)
        m.load_state_dict(state)
        return m.eval()


RECORDS = ("config", "metrics", "provenance")  # the JSON records of a run directory


def _missing_weights(res: RunResult, path: Path) -> str:
    """The one line for a finished run whose weights file is absent (imported, exported, or removed)."""
    imported = res.imported
    if imported is not None:
        return (f"run {res.run_id}: imported without weights (from {imported.get('source', '?')}, trained on "
                f"host {imported.get('host', '?')}); {path.name} exists only where it was trained. Remove "
                f"{res.dir} to train it here")
    if (res.dir.parent / "manifest.json").exists():
        return f"run {res.run_id}: {res.dir.parent} is an export (JSON only, no weights); {path.name} is not in it"
    return f"run {res.run_id}: {path.name} is missing from {res.dir}"


class RunStore:
    """A directory of runs keyed by config hash (``path`` None: ``$NBPRUNE_STORE`` or ``./store``)."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path or os.environ.get("NBPRUNE_STORE") or "store").expanduser().resolve()

    def __repr__(self) -> str:
        return f"RunStore({str(self.path)!r})"

    def run_dir(self, config: RunConfig) -> Path:
        return self.path / config.run_id

    # ------------------------------------------------------------------------------------------ query
    def get(self, config: RunConfig) -> RunResult | None:
        """The finished run for ``config``, or None if it has not finished."""
        d = self.run_dir(config)
        metrics = read_json(d / "metrics.json")
        if not metrics or metrics.get("status") != "finished":
            return None
        stored = read_json(d / "config.json") or {}
        diff = config_differences(stored, config)
        if diff:
            raise StoreError(f"run {d.name}: its stored config differs from the asked-for one in {diff} "
                             "(a default changed?); refusing to reuse it. Move the run away or bump CONFIG_VERSION")
        return RunResult(config.run_id, d, config, metrics)

    def load(self, run_id: str) -> RunResult:
        """A finished run by id."""
        d = self.path / run_id
        cfg = read_json(d / "config.json")
        if cfg is None:
            raise FileNotFoundError(f"run_id: no run {run_id!r} in {self.path}")
        res = self.get(RunConfig.from_dict(cfg))
        if res is None:
            raise FileNotFoundError(f"run_id: run {run_id!r} in {self.path} has not finished")
        return res

    def init_state(self, config: RunConfig) -> dict | None:
        """The state a derived run starts from (None: plain random init from its seed).

        The parent's final weights are pruned by ``config.prune``; ``init`` picks the parent's pruned final
        weights (fine-tuning), its pruned random init (lottery ticket) or a fresh init that keeps only the
        prune's masks (scratch training of an unstructured prune).
        """
        if config.parent is None:
            return None
        parent = self.load(config.parent)
        if not config.prune:
            if config.init == "random":
                return None
            return parent.state_dict("final" if config.init == "parent" else "init")
        settings = {k: thaw(v) for k, v in config.prune if k != "method"}
        return derive_state(parent, config, plan_for(parent, dict(config.prune)["method"], settings).plan)

    # -------------------------------------------------------------------------------------------- run
    def run(self, config: RunConfig, data_root: str | os.PathLike | None = None, device: str = "auto",
            progress: bool | str = "auto", data=None, compile_model: bool = False,
            lock_timeout_s: float | None = None, on_epoch=None) -> RunResult:
        """Return the finished run for ``config``, training it first (or resuming it) if needed.

        When another process is training the same run, wait for it and return its result. In a process group
        (:mod:`nbprune.distributed`) every process trains the run with DistributedDataParallel and only rank 0
        takes the lock and writes; the others return once rank 0's files are on disk.
        """
        done = self.get(config)
        if done is not None:
            return done
        dev = resolve_device(device)
        if config.init == "parent-rewind":
            self._ensure_rewind(config, data_root, dev, data)
        init_state = self.init_state(config)
        main = dist_mod.is_main()
        if main:
            self._check_writable()
        if data is None:
            data = load_data(config, data_root)
        elif data.num_classes != config.classes:
            raise ValueError(f"data: {data.source} has {data.num_classes} classes but the run's num_classes is "
                             f"{config.classes}")
        d = self.run_dir(config)
        d.mkdir(parents=True, exist_ok=True)
        if not main:  # DDP: rank 0 holds the lock and writes every file; this process trains its share
            metrics = self._train(config, d, data, dev, init_state, progress=False, on_epoch=on_epoch,
                                  compile_model=compile_model)
            dist_mod.barrier()  # rank 0 has written metrics.json
            return RunResult(config.run_id, d, config, metrics)
        with RunLock(d / "lock", timeout_s=lock_timeout_s):
            done = self.get(config)  # another process may have finished it while we waited
            if done is not None:
                return done
            remove_temp_files(d)  # left by a process killed mid-write: they only take space
            (d / "imported.json").unlink(missing_ok=True)  # an unfinished import is trained here after all
            atomic_write_json(config.to_dict(), d / "config.json")
            atomic_write_json(provenance(data=data, device=dev), d / "provenance.json")
            metrics = self._train(config, d, data, dev, init_state, progress=progress, on_epoch=on_epoch,
                                  compile_model=compile_model)
            atomic_write_json(metrics, d / "metrics.json")
        dist_mod.barrier()
        return RunResult(config.run_id, d, config, metrics)

    def _ensure_rewind(self, config: RunConfig, data_root, dev, data=None) -> None:
        """A rewound ticket needs its parent's weights after ``config.rewind_step`` steps. A large model trained
        before it kept such snapshots (or on data of another size) lacks the file: its first steps are then
        replayed here from its init, with its own seed, data order, schedule and hooks (the same computation,
        so on the same device and thread count the same weights), the snapshot is saved in the parent's
        directory and ``rewind-<step>.json`` records that it was replayed."""
        parent = self.load(config.parent)
        name = f"rewind-{config.rewind_step}.pt"
        if (parent.dir / name).exists():
            return
        if config.rewind_step not in parent.config.rewind_steps():
            raise ValueError(f"rewind_step: the parent {parent.run_id} keeps its weights after steps "
                             f"{list(parent.config.rewind_steps())}, not {config.rewind_step}")
        if parent.config.parent is not None or not (parent.dir / "init.pt").exists():
            raise StoreError(_missing_weights(parent, parent.dir / name))
        import tempfile

        pc = parent.config
        same = data is not None and all(getattr(pc, f) == getattr(config, f) for f in
                                        ("dataset", "train_subset", "test_subset", "val_size"))
        if not same:  # the data the parent was trained on (the run's own, when it was handed the same images)
            data = load_data(pc, data_root)
        with tempfile.TemporaryDirectory(dir=parent.dir, prefix=".replay-") as tmp:
            train(pc, Path(tmp), data, dev, progress=False, hooks=hooks_for(pc), stop_after_step=config.rewind_step)
            snapshot = Path(tmp) / name
            if not snapshot.exists():
                raise RuntimeError(f"run {parent.run_id}: replaying its first {config.rewind_step} steps made no "
                                   f"{name}")
            os.replace(snapshot, parent.dir / name)
        atomic_write_json({"replayed": True, "step": config.rewind_step, "provenance": provenance(data=data, device=dev)},
                          parent.dir / f"rewind-{config.rewind_step}.json")

    @staticmethod
    def _train(config: RunConfig, d: Path, data, dev, init_state, **kw) -> dict:
        """:func:`train` in ``d`` with the config's training hooks (:func:`nbprune.prune.hooks_for`); a storage
        failure leaves the run resumable (no "failed" status), any other failure marks it failed."""
        try:
            return train(config, d, data, dev, init_state=init_state, hooks=hooks_for(config), **kw)
        except StoreError:
            raise  # the checkpoint before it is intact: the same call resumes once there is space
        except OSError as e:  # a write that did not go through nbprune.atomic
            remove_temp_files(d)
            raise write_error(Path(e.filename) if e.filename else d, e, None) from None
        except Exception as e:
            if not dist_mod.is_main():
                raise  # rank 0 records the failure
            try:
                atomic_write_json({"status": "failed", "error": f"{type(e).__name__}: {e}"}, d / "metrics.json")
            except StoreError:
                pass  # cannot even record the failure; the original error says what happened
            raise

    def _check_writable(self) -> None:
        """Fail early, in one line, when the store cannot take even a small file."""
        probe = self.path / f".write-test-{os.getpid()}"
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"x" * 4096)
        except OSError as e:
            raise StoreError(f"store: cannot write to {self.path} ({e.strerror}); "
                             "give a writable directory (store= / --store / NBPRUNE_STORE)") from None
        finally:
            try:
                probe.unlink(missing_ok=True)
            except OSError:
                pass

    # ----------------------------------------------------------------------------------------- listing
    def run_ids(self) -> list[str]:
        """The ids of every run the store holds a config of, sorted."""
        if not self.path.is_dir():
            return []
        return sorted(p.name for p in self.path.iterdir() if (p / "config.json").exists())

    def record(self, run_id: str, name: str) -> dict | None:
        """One of a run's JSON records as stored: ``name`` is ``"config"``, ``"metrics"`` or ``"provenance"``
        (None when the run has none, or it cannot be read)."""
        if name not in RECORDS:
            raise unknown_choice("name", name, RECORDS)
        return read_json(self.path / run_id / f"{name}.json")

    def rewind_replayed(self, run_id: str, step: int) -> bool:
        """Whether the large model ``run_id``'s weights after ``step`` steps were replayed from its init (it
        predates the snapshots: ``rewind-<step>.json`` records it) rather than kept while it trained."""
        return bool((read_json(self.path / run_id / f"rewind-{step}.json") or {}).get("replayed"))

    def finished(self, run_id: str) -> bool:
        """Whether the run ``run_id`` has finished in this store (its metrics say so)."""
        metrics = self.record(run_id, "metrics")
        return bool(metrics) and metrics.get("status") == "finished"

    def dataframe(self, history: bool = False):
        """Every run in the store as one pandas DataFrame row: config fields, status and final metrics."""
        import pandas as pd

        rows = []
        for run_id in self.run_ids():
            d = self.path / run_id
            cfg = read_json(d / "config.json") or {}
            metrics = read_json(d / "metrics.json") or {"status": "running" if (d / "lock").exists() else "incomplete"}
            row = {"run_id": run_id, **cfg, "status": metrics.get("status")}
            row.update({k: v for k, v in metrics.items() if k not in ("history", "status")})
            if history:
                row["history"] = metrics.get("history")
            rows.append(row)
        return pd.DataFrame(rows)

    def check(self) -> list[tuple[str, str]]:
        """Verify every run: config hash matches its directory, metrics complete, weights load.

        Returns (run_id, problem) pairs; an empty list means the store is sound.
        """
        problems = []
        for p in sorted(self.path.iterdir()) if self.path.is_dir() else []:
            if not p.is_dir() or p.name.startswith("."):
                continue
            cfg = read_json(p / "config.json")
            if cfg is None:
                problems.append((p.name, "config.json missing or unreadable"))
                continue
            try:
                config = RunConfig.from_dict(cfg)
            except (TypeError, ValueError) as e:
                problems.append((p.name, f"config invalid: {e}"))
                continue
            if config.run_id != p.name:
                problems.append((p.name, f"config hash is {config.run_id}, not the directory name"))
                continue
            metrics = read_json(p / "metrics.json")
            if metrics is None:
                if not (p / "lock").exists():
                    problems.append((p.name, "unfinished (no metrics.json); it resumes on the next call"))
                continue
            if metrics.get("status") != "finished":
                problems.append((p.name, f"status {metrics.get('status')}: {metrics.get('error', '')}"))
                continue
            hist = metrics.get("history") or []
            if config.epochs and len(hist) != config.epochs:
                problems.append((p.name, f"history has {len(hist)} epochs, config says {config.epochs}"))
            if (p / "imported.json").exists():
                continue  # imported without weights: its JSON files are all there is
            for name in ("final.pt", "init.pt"):
                try:
                    torch.load(p / name, map_location="cpu", weights_only=True)
                except Exception as e:  # noqa: BLE001
                    problems.append((p.name, f"{name} does not load ({type(e).__name__})"))
        return problems


def config_differences(stored: dict, config: RunConfig) -> list[str]:
    """Fields where a stored config differs from ``config``. A field the stored config lacks counts as equal
    when ``config`` has it at its default (an option added after the run was made)."""
    import dataclasses

    defaults = {f.name: f.default for f in dataclasses.fields(RunConfig)}
    current = config.to_dict()
    diff = []
    for k in sorted(set(stored) | set(current)):
        if k not in stored:
            if current[k] != RunConfig.to_dict_value(defaults[k]):
                diff.append(k)
        elif stored[k] != current.get(k):
            diff.append(k)
    return diff


def read_json(path: Path) -> Any:
    """A JSON file's content, or None when it is missing or unreadable (a run being written)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


# ------------------------------------------------------------------------------------------------ locking
class RunLock:
    """An exclusive lock on a run directory: a file created with O_EXCL holding pid, host, a token and time.

    Works across the hosts of a cluster sharing the store (no flock, which NFS does not honour reliably):
    O_EXCL creation is atomic on local filesystems and NFSv3+, and while the lock is held a background thread
    touches the file every ``LOCK_HEARTBEAT_S``. A lock is stale, and taken over, when its process is gone
    (same host) or its heartbeat is older than ``LOCK_STALE_S`` (another host: a preempted or dead node).
    After taking a lock the holder reads it back, so of two processes that both judged a lock stale only the
    one whose token is in the file goes on.
    """

    def __init__(self, path: Path, timeout_s: float | None = None, poll_s: float = 1.0):
        self.path, self.timeout_s, self.poll_s = path, timeout_s, poll_s
        self.token = f"{socket.gethostname()}-{os.getpid()}-{time.time_ns()}"
        self._stop = None
        self._beat = None

    def _stale(self) -> bool:
        info = read_json(self.path)
        try:
            age = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return True
        if info is None:  # unreadable: half-written by a dying process, or removed meanwhile
            return age > 10
        if info.get("host") == socket.gethostname():
            try:
                os.kill(int(info["pid"]), 0)
                return False
            except ProcessLookupError:
                return True
            except PermissionError:
                return False
        return age > LOCK_STALE_S

    def _heartbeat(self) -> None:
        while not self._stop.wait(LOCK_HEARTBEAT_S):
            try:
                os.utime(self.path)
            except OSError:
                pass

    def __enter__(self) -> RunLock:
        import threading

        t0, warned = time.time(), False
        while True:
            try:
                self._create()
                if (read_json(self.path) or {}).get("token") == self.token:
                    self._stop = threading.Event()
                    self._beat = threading.Thread(target=self._heartbeat, daemon=True)
                    self._beat.start()
                    return self
                continue  # lost a take-over race: someone else's lock is in the file now
            except FileExistsError:
                if self._stale():
                    warnings.warn(f"run {self.path.parent.name}: taking over a stale lock", stacklevel=2)
                    self.path.unlink(missing_ok=True)
                    continue
                if not warned:
                    LOGGER.warning(f"run {self.path.parent.name}: another process is training it; waiting")
                    warned = True
                if self.timeout_s is not None and time.time() - t0 > self.timeout_s:
                    raise TimeoutError(f"run {self.path.parent.name}: still locked after {self.timeout_s} s")
                time.sleep(self.poll_s)

    def _create(self) -> None:
        """Create the lock file with O_EXCL (FileExistsError when held); a failed write (a full disk) removes
        the half-made lock, which would otherwise look held forever, and raises StoreError."""
        fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        body = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "token": self.token,
                           "time": time.time()}).encode()
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(body)
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            self.path.unlink(missing_ok=True)
            raise write_error(self.path, e, len(body), "the run lock") from None

    def __exit__(self, *exc) -> None:
        if self._stop is not None:
            self._stop.set()
        if (read_json(self.path) or {}).get("token") == self.token:
            self.path.unlink(missing_ok=True)
