"""A full (or read-only) disk: every store write fails in one line, keeps the previous file, leaves no temporary
file, and the same call resumes to the same result once there is space. On a real small tmpfs where the machine
allows mounting one, else with writes that fail on purpose."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import make_imagefolder
from nbprune import atomic
from nbprune import runs as runs_mod
from nbprune.atomic import StoreError, atomic_save, atomic_write_json, is_temp_name
from nbprune.cli import main
from nbprune.runs import RunLock, RunStore
from nbprune.store_io import same_result
from nbprune.train import RunConfig
from test_train import synthetic

TINY = dict(model="resnet20", width=0.25, epochs=3, batch_size=32)
pytestmark = pytest.mark.usefixtures("one_thread")


def temp_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*") if is_temp_name(p.name))


def fail_writes_of(monkeypatch, name: str, nth: int = 1, err: int = errno.ENOSPC) -> None:
    """Make the ``nth`` write of a file called ``name`` fail with ``err`` after some bytes reached the disk."""
    real, seen = atomic.write_atomically, {"n": 0}

    def write_atomically(path, write, size, what=None):
        if Path(path).name == name:
            seen["n"] += 1
            if seen["n"] == nth:
                def broken(f):
                    f.write(b"x" * 1000)
                    raise OSError(err, os.strerror(err))
                return real(path, broken, size, what)
        return real(path, write, size, what)

    monkeypatch.setattr(atomic, "write_atomically", write_atomically)


# ------------------------------------------------------------------------------------------------ writers
@pytest.mark.parametrize("err, hint", [(errno.ENOSPC, "free space"), (errno.EROFS, "read-only"),
                                       (errno.EACCES, "no permission")])
@pytest.mark.parametrize("writer, obj", [(atomic_save, {"w": torch.ones(1000)}), (atomic_write_json, {"a": [1] * 500})])
def test_a_failed_write_keeps_the_previous_file_and_no_temporary(tmp_path, monkeypatch, writer, obj, err, hint):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"previous")
    fail_writes_of(monkeypatch, path.name, err=err)
    with pytest.raises(StoreError) as e:
        writer(obj, path)
    msg = str(e.value)
    assert path.read_bytes() == b"previous" and temp_files(tmp_path) == []
    assert "\n" not in msg and str(path) in msg and "the epoch checkpoint" in msg and hint in msg
    assert f"{atomic.human_bytes(len(atomic.json_bytes(obj)) if writer is atomic_write_json else atomic.torch_size(obj))} needed" in msg


def test_an_interrupt_mid_write_removes_the_temporary_file(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text("{}")

    def interrupted(f):
        f.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic.write_atomically(path, interrupted, lambda: 4)
    assert path.read_text() == "{}" and temp_files(tmp_path) == []


def test_a_lock_that_cannot_be_written_is_not_left_behind(tmp_path, monkeypatch):
    lock = tmp_path / "lock"

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(StoreError, match="cannot write the run lock"):
        with RunLock(lock, timeout_s=1):
            pass
    assert not lock.exists()  # a half-written lock would look held (by nobody) forever
    monkeypatch.undo()
    with RunLock(lock, timeout_s=1):
        assert json.loads(lock.read_text())["pid"] == os.getpid()


def test_the_write_probe_is_removed_when_the_disk_is_full(tmp_path, monkeypatch):
    real = Path.write_bytes

    def half(self, data):
        real(self, data[:10])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, "write_bytes", half)
    with pytest.raises(StoreError, match="No space left on device"):
        RunStore(tmp_path / "store")._check_writable()
    assert list((tmp_path / "store").iterdir()) == []


# ------------------------------------------------------------------------------------------ store runs
@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The run that never failed, on one thread like the tests (module scope: set before ``one_thread``)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return RunStore(tmp_path_factory.mktemp("ref")).run(RunConfig(**TINY), data=synthetic(), progress=False)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.slow
@pytest.mark.parametrize("name, nth", [("config.json", 1), ("provenance.json", 1), ("init.pt", 1),
                                       ("checkpoint.pt", 2), ("final.pt", 1), ("metrics.json", 1)])
def test_a_full_disk_during_a_run_then_the_same_call_resumes_to_the_same_result(tmp_path, monkeypatch, reference,
                                                                                   name, nth):
    store = RunStore(tmp_path / "store")
    cfg = RunConfig(**TINY)
    fail_writes_of(monkeypatch, name, nth)
    with pytest.raises(StoreError) as e:
        store.run(cfg, data=synthetic(), progress=False)
    assert "\n" not in str(e.value) and str(store.path) in str(e.value) and "needed" in str(e.value)
    d = store.run_dir(cfg)
    assert temp_files(d) == [] and not (d / "lock").exists()
    assert not (d / "metrics.json").exists()  # not marked failed: it is resumable
    if name == "checkpoint.pt":  # the previous checkpoint is intact
        assert torch.load(d / "checkpoint.pt", weights_only=True)["epoch"] == 1
    monkeypatch.undo()
    again = store.run(cfg, data=synthetic(), progress=False)
    assert same_result(again.metrics, reference.metrics)
    a, b = again.state_dict(), reference.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert store.check() == []


@pytest.mark.slow
def test_an_oserror_from_elsewhere_in_training_is_one_store_error_and_not_failed(tmp_path, monkeypatch):
    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "x.pt"))

    monkeypatch.setattr(runs_mod, "train", full)
    store = RunStore(tmp_path / "store")
    with pytest.raises(StoreError, match=r"x\.pt \(No space left on device"):
        store.run(RunConfig(**TINY), data=synthetic(), progress=False)
    assert not (store.run_dir(RunConfig(**TINY)) / "metrics.json").exists()


def test_the_cli_says_a_full_disk_in_one_line_with_exit_2(tmp_path, tiny_archive, monkeypatch, capsys):
    fail_writes_of(monkeypatch, "checkpoint.pt")
    argv = ["train", "--model", "resnet20", "--width", "0.25", "--epochs", "1", "--store", str(tmp_path / "s"),
            "--data", str(tiny_archive), "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("nbprune: error: store: cannot write the epoch checkpoint to " + str(tmp_path / "s"))
    assert "No space left on device" in err and "needed" in err and "free space" in err
    monkeypatch.undo()
    assert main(argv) == 0


# ------------------------------------------------------------------------------------ a real small disk
@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs mounted at ``tmp_path/disk`` (root only); ``resize(bytes)`` changes its size."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root and mount(8); the monkeypatched tests cover the rest")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")

    def resize(n: int) -> None:
        subprocess.run(["mount", "-o", f"remount,size={n}", str(disk)], check=True)

    yield disk, resize
    subprocess.run(["umount", "-l", str(disk)], check=False)


def _cli(store: Path, data: Path) -> list[str]:
    return [sys.executable, "-m", "nbprune.cli", "train", "--model", "vgg11", "--width", "0.125", "--epochs", "3",
            "--store", str(store), "--data", str(data), "--json", "--quiet", "--batch-size", "16"]


@pytest.mark.slow
def test_a_real_full_tmpfs_one_line_exit_2_then_resume_after_freeing_space(tmp_path, small_disk):
    disk, resize = small_disk
    data = make_imagefolder(tmp_path / "data", train_per_class=20, test_per_class=5)
    ref = subprocess.run(_cli(tmp_path / "ref", data), capture_output=True, text=True, timeout=600)
    assert ref.returncode == 0, ref.stderr
    out = json.loads(ref.stdout)
    ref_dir = tmp_path / "ref" / out["run_id"]
    init, ckpt = (ref_dir / "init.pt").stat().st_size, (ref_dir / "checkpoint.pt").stat().st_size
    # room for the init, one checkpoint and half another: the second epoch's checkpoint does not fit
    resize(init + ckpt + ckpt // 2 + 64 * 1024)
    full = subprocess.run(_cli(disk / "store", data), capture_output=True, text=True, timeout=600)
    assert full.returncode == 2, full.stderr
    lines = full.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in full.stderr, full.stderr
    assert str(disk / "store") in lines[0] and "No space left on device" in lines[0] and "needed" in lines[0]
    run_dir = disk / "store" / out["run_id"]
    assert temp_files(run_dir) == [] and not (run_dir / "lock").exists()
    assert torch.load(run_dir / "checkpoint.pt", weights_only=True)["epoch"] == 1
    resize(16 * 1024 * 1024)  # space freed
    again = subprocess.run(_cli(disk / "store", data), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    res = json.loads(again.stdout)
    assert {k: res[k] for k in ("run_id", "test_acc", "best_test_acc")} == \
        {k: out[k] for k in ("run_id", "test_acc", "best_test_acc")}
    a, b = torch.load(ref_dir / "final.pt"), torch.load(run_dir / "final.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((run_dir / "metrics.json").read_text())["resumed_after_epochs"] == [1]
    print(f"tmpfs of {init + ckpt + ckpt // 2 + 64 * 1024} bytes: init.pt {init} B, checkpoint.pt {ckpt} B; "
          f"stderr: {lines[0]}")
