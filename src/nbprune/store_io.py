"""Export and import of a run store without weights: results that travel between machines as data.

An export is a directory in the store's own layout, so it can be read as a (weightless) store::

    <out>/manifest.json          format, CONFIG_VERSION, nbprune version, every file's sha256
    <out>/<run_id>/config.json   and metrics.json, provenance.json and any other JSON the run holds
                                 (a pruning plan, what a figure plots); never a .pt file

:func:`export_runs` builds the export in a temporary directory next to ``out`` and swaps it into place, so
an interrupted export leaves ``out`` as it was or complete. :func:`import_runs` checks everything first
(manifest, checksums, file kinds, config hashes, data checksum, CONFIG_VERSION) and changes nothing when
anything is refused; it then moves each new run into the store with one rename, so every run is either
absent or complete, and running the same import again finishes an interrupted one. An import never
unpickles: JSON files are parsed as JSON, a tensor file must load with ``torch.load(weights_only=True)``,
and any other file is refused. A run id that is already in the store is kept: an identical copy (the same
metrics up to timing) merges quietly, a different one is reported with both provenances.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .atomic import StoreError, atomic_write_bytes, atomic_write_json, json_bytes, write_error
from .provenance import ProvenanceDiff, compare_provenance, describe_differences, provenance_line
from .runs import RunLock, RunStore, read_json
from .train import CONFIG_VERSION, RunConfig

FORMAT = "nbprune-export"
FORMAT_VERSION = 1
REQUIRED = ("config.json", "metrics.json", "provenance.json")
NOT_EXPORTED = ("imported.json",)  # written by the importing store itself
TIMING = ("wall_time_s", "session_time_s", "resumed_after_epochs")  # differ between identical runs
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


# ------------------------------------------------------------------------------------------------- export
@dataclass
class ExportResult:
    """What an export wrote: its directory, the run ids and the total size in bytes."""

    path: Path
    run_ids: list[str]
    bytes: int
    kept: int = 0  # plan summaries carried over from the earlier export of the same results


def exportable_files(run_dir: Path) -> list[Path]:
    """The files of a run that travel: its JSON files (no weights, no lock, no temporary files)."""
    return sorted(p for p in run_dir.iterdir()
                  if p.suffix == ".json" and p.is_file() and not p.is_symlink() and _NAME.match(p.name)
                  and p.name not in NOT_EXPORTED)


def finished_run_ids(store: RunStore) -> list[str]:
    """The ids of the store's finished runs."""
    return [r for r in store.run_ids() if store.finished(r)]


def export_runs(store: RunStore | str | os.PathLike | None, out: str | os.PathLike,
                run_ids: Iterable[str] | None = None) -> ExportResult:
    """Export the finished runs ``run_ids`` (None: all) of ``store`` to directory ``out``, replacing an
    earlier export there; StoreError (one line) when a run is unknown or unfinished or ``out`` is something
    else."""
    store = store if isinstance(store, RunStore) else RunStore(store)
    out = Path(out).expanduser().resolve()
    finished = finished_run_ids(store)
    ids = finished if run_ids is None else list(dict.fromkeys(run_ids))
    missing = [r for r in ids if r not in finished]
    if missing:
        raise StoreError(f"export: {missing[0]} is not a finished run in {store.path}"
                         + (f" (nor {len(missing) - 1} more)" if len(missing) > 1 else ""))
    _check_destination(out)
    _mkdir(out.parent, parents=True)
    _recover(out)
    _refuse_dropping_runs_in_training(store, out)
    tmp = out.with_name(f".{out.name}.export-tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _mkdir(tmp)
        total, kept = _write_export(store, ids, tmp, out if (out / "manifest.json").exists() else None)
        _place(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return ExportResult(out, ids, total, kept)


def _mkdir(path: Path, parents: bool = False) -> None:
    """mkdir, with a full disk or a read-only filesystem reported as one StoreError line."""
    try:
        path.mkdir(parents=parents, exist_ok=parents)
    except OSError as e:
        raise write_error(path, e, None, "a directory") from None


def _check_destination(out: Path) -> None:
    """``out`` must be new, empty, or an earlier export (it is replaced whole)."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "manifest.json").exists())):
        raise StoreError(f"export: {out} exists and is not an nbprune export; give a new or empty directory")


def unfinished_in_store(store: RunStore, export: str | os.PathLike) -> list[str]:
    """The runs the export at ``export`` lists that ``store`` holds unfinished: runs being trained again (a
    large model replayed for its lost weights, say). An export taken meanwhile would drop them, and chapters
    executed meanwhile would not see them ([] when ``export`` is no export)."""
    earlier = read_json(Path(export) / "manifest.json") if (Path(export) / "manifest.json").is_file() else None
    listed = earlier.get("runs") if isinstance(earlier, dict) else None
    if not isinstance(listed, dict):
        return []
    return [r for r in map(str, listed) if _NAME.match(r) and (store.path / r / "config.json").exists()
            and not store.finished(r)]


def _refuse_dropping_runs_in_training(store: RunStore, out: Path) -> None:
    """StoreError when replacing the earlier export at ``out`` would drop a run ``store`` is training again."""
    training = unfinished_in_store(store, out)
    if training:
        raise StoreError(f"export: {training[0]} of the earlier export at {out} is unfinished in {store.path} "
                         "(training again?)" + (f" (and {len(training) - 1} more)" if len(training) > 1 else "")
                         + "; export when it has finished, nothing written")


def _carried_plans(earlier: Path | None, run_dir: Path) -> list[Path]:
    """Plan summaries (``plan-*.json``) the earlier export of this run holds and the store's copy lacks, when
    both are the same result (metrics equal up to timing): a run trained again to the same result, after its
    directory was replaced, has lost the plans of children that were made from its first copy."""
    if earlier is None or not (earlier / run_dir.name / "metrics.json").is_file():
        return []
    old, new = read_json(earlier / run_dir.name / "metrics.json"), read_json(run_dir / "metrics.json")
    if not old or not new or not same_result(old, new):
        return []
    have = {p.name for p in run_dir.iterdir()}
    return sorted(p for p in (earlier / run_dir.name).glob("plan-*.json")
                  if p.is_file() and not p.is_symlink() and p.name not in have and _NAME.match(p.name))


def _write_export(store: RunStore, ids: list[str], tmp: Path, earlier: Path | None = None) -> tuple[int, int]:
    """Copy every run's JSON files into ``tmp`` (and plan summaries :func:`_carried_plans` keeps from the
    ``earlier`` export) and write the manifest last; the bytes written and the plans kept."""
    runs, total, kept = {}, 0, 0
    for run_id in ids:
        _mkdir(tmp / run_id)
        files = {}
        carried = _carried_plans(earlier, store.path / run_id)
        kept += len(carried)
        for src in exportable_files(store.path / run_id) + carried:
            data = src.read_bytes()
            try:
                json.loads(data)  # only valid JSON travels
            except ValueError:
                raise StoreError(f"export: {src} is not valid JSON (run nbprune runs --check)") from None
            atomic_write_bytes(data, tmp / run_id / src.name, what=f"the export of run {run_id}")
            files[src.name] = hashlib.sha256(data).hexdigest()
            total += len(data)
        runs[run_id] = files
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "config_version": CONFIG_VERSION,
                "nbprune": __version__, "runs": runs}
    data = json_bytes(manifest)
    atomic_write_bytes(data, tmp / "manifest.json")
    _fsync_dir(tmp)
    return total + len(data), kept


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False where not supported."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _place(tmp: Path, out: Path) -> None:
    """Put the finished directory ``tmp`` at ``out``: one rename onto a new or empty ``out``, an atomic
    exchange with an earlier export, or (where exchange is unsupported) two renames that :func:`_recover`
    completes if interrupted between them. The earlier export ends up at ``tmp`` and is removed."""
    try:
        os.rename(tmp, out)  # out absent, or an empty directory
        return
    except OSError:
        pass
    if _exchange(tmp, out):
        return
    old = out.with_name(f".{out.name}.old{os.getpid()}")
    os.rename(out, old)
    os.rename(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def _recover(out: Path) -> None:
    """Finish what a killed export left: put back an earlier export moved aside (``.<out>.old<pid>``) when
    ``out`` is missing, and remove temporary directories of processes that are gone."""
    parent = out.parent
    if not parent.is_dir():
        return
    for p in sorted(parent.glob(f".{out.name}.old*")):
        if not out.exists():
            os.rename(p, out)
        else:
            shutil.rmtree(p, ignore_errors=True)
    for p in parent.glob(f".{out.name}.export-tmp*"):
        if not _alive(p.name.rpartition("tmp")[2]):
            shutil.rmtree(p, ignore_errors=True)


def _alive(pid: str) -> bool:
    """Whether process ``pid`` (a string of digits) runs on this host."""
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


# ------------------------------------------------------------------------------------------------- import
@dataclass
class Conflict:
    """A run id that arrived with other results than the store holds (kept as the store has it)."""

    run_id: str
    ours: dict
    theirs: dict
    ours_provenance: dict | None
    theirs_provenance: dict | None

    def fields(self) -> list[str]:
        """The metrics that differ (timing excluded)."""
        a, b = comparable(self.ours), comparable(self.theirs)
        return sorted(k for k in set(a) | set(b) if json.dumps(a.get(k)) != json.dumps(b.get(k)))

    def describe(self) -> str:
        """Three lines: which run, this store's result and provenance, the imported one's."""
        def side(m: dict, prov: dict | None) -> str:
            return f"test acc {m.get('test_acc')} ({provenance_line(prov)})"

        return (f"run {self.run_id}: arrived with different results ({', '.join(self.fields())}); kept this "
                f"store's, not overwritten\n    here:     {side(self.ours, self.ours_provenance)}\n"
                f"    imported: {side(self.theirs, self.theirs_provenance)}")


@dataclass
class ImportResult:
    """What an import did: runs added, identical copies, conflicts, runs skipped (with why), and how the
    imported runs' provenance differs from this machine's code (accepted, but to be flagged)."""

    source: Path
    imported: list[str] = field(default_factory=list)
    identical: list[str] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    flagged: ProvenanceDiff | None = None

    def summary(self) -> str:
        """One line: the counts, and the provenance of what was imported."""
        line = (f"{self.source}: {len(self.imported)} imported, {len(self.identical)} identical, "
                f"{len(self.conflicts)} conflicting, {len(self.skipped)} skipped")
        if self.flagged is not None and self.flagged.runs:
            line += f"; {describe_differences(self.flagged)}"
        return line


@dataclass
class _Run:
    """A checked run of an export: its id, files (name -> bytes) and parsed JSON."""

    run_id: str
    files: dict[str, bytes]
    config: RunConfig
    metrics: dict
    provenance: dict


def comparable(metrics: dict) -> dict:
    """A run's metrics without what differs between identical runs (wall and session times, resumes)."""
    out = {k: v for k, v in metrics.items() if k not in TIMING}
    if isinstance(out.get("history"), list):
        out["history"] = [{k: v for k, v in h.items() if k != "time_s"} if isinstance(h, dict) else h
                          for h in out["history"]]
    return out


def same_result(a: dict, b: dict) -> bool:
    """Whether two metrics records are the same result (NaN equal to NaN, timing ignored)."""
    return json.dumps(comparable(a), sort_keys=True) == json.dumps(comparable(b), sort_keys=True)


def import_runs(source: str | os.PathLike, store: RunStore | str | os.PathLike | None = None,
                data_sha256: dict[str, str] | None = None) -> ImportResult:
    """Import the export at ``source`` into ``store``. Refused whole (StoreError, one line, nothing changed)
    when the export is damaged, holds a file that is not JSON or plain tensors, was made under another
    CONFIG_VERSION, or holds a run made from other data than ``data_sha256`` (dataset -> sha256; default:
    the checksums of the store's own runs, else the export's runs must agree among themselves)."""
    store = store if isinstance(store, RunStore) else RunStore(store)
    source = Path(source).expanduser().resolve()
    runs = read_export(source)
    _check_data(runs, _expected_data(store, data_sha256))
    store.path.mkdir(parents=True, exist_ok=True)
    _remove_stale_stages(store)
    stage = store.path / f".import-tmp{os.getpid()}"
    result = ImportResult(source)
    try:
        for run in runs:
            _import_one(store, run, stage, source, result)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    result.flagged = compare_provenance([store.path / r for r in result.imported])
    return result


def read_export(source: Path) -> list[_Run]:
    """Every run of the export at ``source``, checked; StoreError (one line) on the first problem."""
    manifest = _manifest(source)
    listed = manifest["runs"]
    extra = sorted(p.name for p in source.iterdir() if p.name != "manifest.json" and not p.name.startswith(".")
                   and p.name not in listed)
    if extra:
        raise StoreError(f"import: {source / extra[0]} is not listed in the export's manifest; refused, nothing "
                         "imported")
    bad = [r for r, files in listed.items() if not _NAME.match(str(r)) or not isinstance(files, dict)
           or not all(_NAME.match(str(n)) and isinstance(h, str) for n, h in files.items())]
    if bad:
        raise StoreError(f"import: the manifest of {source} lists run {bad[0]!r} with invalid names; refused, "
                         "nothing imported")
    return [_read_run(source, run_id, files) for run_id, files in sorted(listed.items())]


def _manifest(source: Path) -> dict:
    """The export's manifest, checked for format and CONFIG_VERSION."""
    if not source.is_dir():
        raise StoreError(f"import: {source} is not a directory (give the directory nbprune export wrote)")
    data = read_json(source / "manifest.json")
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("runs"), dict):
        raise StoreError(f"import: {source} is not an nbprune export (no valid manifest.json); make one with "
                         "nbprune export")
    if data.get("format_version") != FORMAT_VERSION:
        raise StoreError(f"import: {source} has export format {data.get('format_version')!r}, this nbprune reads "
                         f"{FORMAT_VERSION}; refused, nothing imported")
    if data.get("config_version") != CONFIG_VERSION:
        raise StoreError(f"import: {source} was made under CONFIG_VERSION {data.get('config_version')!r}, this code "
                         f"has {CONFIG_VERSION}: its runs mean other configs; refused, nothing imported")
    return data


def _read_run(source: Path, run_id: str, listed: dict) -> _Run:
    """One run of an export: every file a listed JSON or tensor file with the listed checksum, its config
    hashing to its id, its metrics finished."""
    d = source / run_id
    if d.is_symlink() or not d.is_dir():
        raise StoreError(f"import: run {run_id!r} of {source} is not a directory; refused, nothing imported")
    names = sorted(p.name for p in d.iterdir())
    for name in sorted(set(names) | set(listed)):
        if not _NAME.match(name):
            raise StoreError(f"import: {d / name} is not a file an export holds; refused, nothing imported")
        _check_file(d / name, name in listed)
    files = {name: (d / name).read_bytes() for name in names}
    for name, data in files.items():
        if hashlib.sha256(data).hexdigest() != listed[name]:
            raise StoreError(f"import: {d / name} does not match its checksum in the manifest (damaged or edited "
                             "copy); refused, nothing imported")
    absent = [n for n in REQUIRED if n not in files]
    if absent:
        raise StoreError(f"import: run {run_id} of {source} has no {absent[0]}; refused, nothing imported")
    parsed = {n: json.loads(files[n]) for n in REQUIRED}
    config = _config(source, run_id, parsed["config.json"])
    if parsed["metrics.json"].get("status") != "finished":
        raise StoreError(f"import: run {run_id} of {source} has not finished; refused, nothing imported")
    return _Run(run_id, files, config, parsed["metrics.json"], parsed["provenance.json"])


def _check_file(path: Path, listed: bool) -> None:
    """A file of an export may only be a listed, plain JSON file or a tensor file that loads with
    ``weights_only=True``: anything that would need unpickling is refused."""
    where = f"{path.parent.name}/{path.name}"
    if not listed or not path.exists():
        raise StoreError(f"import: {path} is {'not listed in' if path.exists() else 'missing but listed in'} the "
                         "export's manifest; refused, nothing imported")
    if path.is_symlink() or not path.is_file():
        raise StoreError(f"import: {path} is not a plain file; refused, nothing imported")
    if path.suffix == ".json":
        try:
            json.loads(path.read_bytes())
        except ValueError:
            raise StoreError(f"import: {where} is not valid JSON; refused, nothing imported") from None
    elif path.suffix == ".pt":
        _check_tensors(path)
    else:
        raise StoreError(f"import: {where} is neither JSON nor a tensor file (an import never unpickles); "
                         "refused, nothing imported")


def _check_tensors(path: Path) -> None:
    """A ``.pt`` file must load as plain tensors (``torch.load(weights_only=True)``)."""
    import torch

    try:
        torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - the restricted unpickler's refusal, or a damaged file
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise StoreError(f"import: {path.parent.name}/{path.name} would need unpickling (not plain tensors: "
                         f"{first[:120]}); refused, nothing imported") from None


def _config(source: Path, run_id: str, stored: dict) -> RunConfig:
    """The run's config; its hash must be its id (else another CONFIG_VERSION or an edited file)."""
    try:
        config = RunConfig.from_dict(stored)
    except (TypeError, ValueError) as e:
        raise StoreError(f"import: run {run_id} of {source} has an invalid config ({e}); refused, nothing "
                         "imported") from None
    if config.run_id != run_id:
        raise StoreError(f"import: run {run_id} of {source}: its config hashes to {config.run_id} here (made under "
                         "another CONFIG_VERSION or edited); refused, nothing imported")
    return config


def _expected_data(store: RunStore, given: dict[str, str] | None) -> dict[str, set[str]]:
    """dataset -> the data checksums a run may come from: ``given``, else those of the store's runs."""
    if given:
        return {k: {v} for k, v in given.items()}
    seen: dict[str, set[str]] = {}
    for run_id in store.run_ids():
        data = (read_json(store.path / run_id / "provenance.json") or {}).get("data") or {}
        if data.get("dataset") and data.get("sha256"):
            seen.setdefault(data["dataset"], set()).add(data["sha256"])
    return seen


def _check_data(runs: list[_Run], expected: dict[str, set[str]]) -> None:
    """Refuse the import when a run was made from other data (or the export mixes data checksums)."""
    seen = {k: set(v) for k, v in expected.items()}
    for run in runs:
        data = run.provenance.get("data") or {}
        sha, dataset = data.get("sha256"), run.config.dataset
        if not sha:
            raise StoreError(f"import: run {run.run_id} records no data checksum; refused, nothing imported")
        allowed = seen.setdefault(dataset, {sha})
        if sha not in allowed:
            ours = ", ".join(sorted(s[:12] for s in allowed))
            raise StoreError(f"import: run {run.run_id} was made from other {dataset} data (sha256 {sha[:12]}, "
                             f"this store's: {ours}); refused, nothing imported")


def _remove_stale_stages(store: RunStore) -> None:
    """Remove the staging directories of imports that were killed."""
    for p in store.path.glob(".import-tmp*"):
        if not _alive(p.name[len(".import-tmp"):]):
            shutil.rmtree(p, ignore_errors=True)


def _record(source: Path, run: _Run) -> dict:
    """The ``imported.json`` of a run: where it came from and where it was trained."""
    return {"source": str(source), "host": run.provenance.get("host"), "files": sorted(run.files),
            "imported_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def _import_one(store: RunStore, run: _Run, stage: Path, source: Path, result: ImportResult) -> None:
    """Add one run to the store (one rename), or compare it with the copy already there."""
    dest = store.path / run.run_id
    if not dest.exists():
        staged = stage / run.run_id
        _mkdir(staged, parents=True)
        for name, data in run.files.items():
            atomic_write_bytes(data, staged / name)
        atomic_write_json(_record(source, run), staged / "imported.json")
        try:
            os.rename(staged, dest)
            result.imported.append(run.run_id)
            return
        except OSError:
            if not dest.exists():
                raise
            # another process made the run meanwhile: compare with it below
    ours = read_json(dest / "metrics.json") or {}
    if ours.get("status") == "finished":
        _compare(dest, run, result)
    else:
        _complete_unfinished(dest, run, source, result)


def _compare(dest: Path, run: _Run, result: ImportResult) -> None:
    """A run already finished here: identical copies merge quietly, different ones are reported."""
    ours = read_json(dest / "metrics.json") or {}
    if same_result(ours, run.metrics):
        result.identical.append(run.run_id)
    else:
        result.conflicts.append(Conflict(run.run_id, ours, run.metrics, read_json(dest / "provenance.json"),
                                         run.provenance))


def _complete_unfinished(dest: Path, run: _Run, source: Path, result: ImportResult) -> None:
    """A run started here but not finished: give it the imported result, metrics last, under its lock
    (skipped while a process trains it)."""
    try:
        with RunLock(dest / "lock", timeout_s=0, poll_s=0.1):
            for name, data in run.files.items():
                if name != "metrics.json":
                    atomic_write_bytes(data, dest / name)
            atomic_write_json(_record(source, run), dest / "imported.json")
            atomic_write_bytes(run.files["metrics.json"], dest / "metrics.json")
        result.imported.append(run.run_id)
    except TimeoutError:
        result.skipped.append((run.run_id, "a process is training it in this store"))


def describe_import(result: ImportResult) -> list[str]:
    """The lines the CLI prints for an import: the summary, then every conflict."""
    return [result.summary(), *(c.describe() for c in result.conflicts),
            *(f"run {r}: skipped, {why}" for r, why in result.skipped)]
