import json
import os
import subprocess
import sys
import time

import pytest
import torch

from nbprune import runs as runs_mod
from nbprune.runs import RunLock, RunStore, StoreError
from nbprune.train import RunConfig
from test_train import synthetic

TINY = dict(model="resnet20", width=0.25, epochs=2, batch_size=32)


@pytest.mark.slow
def test_a_finished_run_is_never_trained_again(tmp_path, monkeypatch):
    store = RunStore(tmp_path / "store")
    data = synthetic()
    first = store.run(RunConfig(**TINY), data=data, progress=False)
    assert first.dir.name == first.run_id and (first.dir / "metrics.json").exists()
    monkeypatch.setattr(runs_mod, "train", lambda *a, **k: pytest.fail("retrained a finished run"))
    second = store.run(RunConfig(**TINY), data=data, progress=False)
    assert second.metrics == first.metrics
    prov = json.loads((first.dir / "provenance.json").read_text())
    assert torch.__version__.startswith(prov["packages"]["torch"])
    assert "git_commit" in prov and prov["python"].count(".") == 2
    assert prov["data"]["source"] == "synthetic" and prov["device"].startswith("cpu")


@pytest.mark.slow
def test_chained_runs_reference_their_parent(tmp_path):
    store = RunStore(tmp_path / "store")
    data = synthetic()
    parent = store.run(RunConfig(**TINY), data=data, progress=False)
    child = store.run(RunConfig(**{**TINY, "epochs": 0, "parent": parent.run_id, "init": "parent"}),
                      data=data, progress=False)
    ticket = store.run(RunConfig(**{**TINY, "parent": parent.run_id, "init": "parent-init"}), data=data, progress=False)
    assert len({parent.run_id, child.run_id, ticket.run_id}) == 3
    # zero epochs from the parent's final weights evaluates exactly the parent's final model
    assert child.metrics["test_acc"] == parent.metrics["test_acc"]
    assert torch.equal(ticket.state_dict("init")["conv1.weight"], parent.state_dict("init")["conv1.weight"])
    df = store.dataframe()
    assert set(df["run_id"]) == {parent.run_id, child.run_id, ticket.run_id}
    assert set(df["status"]) == {"finished"} and "test_acc" in df
    assert store.check() == []
    with pytest.raises(FileNotFoundError, match="run_id: no run 'nope'"):
        store.run(RunConfig(**{**TINY, "parent": "nope", "init": "parent"}), data=data)


@pytest.mark.slow
def test_changed_default_is_not_silently_reused(tmp_path):
    store = RunStore(tmp_path / "store")
    res = store.run(RunConfig(**TINY), data=synthetic(), progress=False)
    cfg_file = res.dir / "config.json"
    stored = json.loads(cfg_file.read_text())
    stored["momentum"] = 0.95  # as if the run had been made when the default was different
    cfg_file.write_text(json.dumps(stored))
    with pytest.raises(StoreError, match=r"stored config differs .* \['momentum'\]"):
        store.get(RunConfig(**TINY))
    assert any("config hash is" in p for _, p in store.check())


@pytest.mark.slow
def test_check_finds_broken_runs(tmp_path):
    store = RunStore(tmp_path / "store")
    res = store.run(RunConfig(**TINY), data=synthetic(), progress=False)
    (res.dir / "final.pt").write_bytes(b"garbage")
    problems = store.check()
    assert len(problems) == 1 and problems[0][0] == res.run_id and "final.pt does not load" in problems[0][1]


def test_unwritable_store_fails_before_training(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setattr(runs_mod, "train", lambda *a, **k: pytest.fail("trained with an unusable store"))
    with pytest.raises(StoreError, match="store: cannot write to"):
        RunStore(blocker / "store").run(RunConfig(**TINY), data=synthetic())


@pytest.mark.slow
def test_failed_run_is_marked_failed_and_not_finished(tmp_path):
    store = RunStore(tmp_path / "store")
    cfg = RunConfig(**{**TINY, "lr": 1e30})
    with pytest.raises(RuntimeError):
        store.run(cfg, data=synthetic(), progress=False)
    assert json.loads((store.run_dir(cfg) / "metrics.json").read_text())["status"] == "failed"
    assert store.get(cfg) is None
    assert not (store.run_dir(cfg) / "lock").exists()


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock = tmp_path / "lock"
    import socket

    lock.write_text(json.dumps({"pid": int(dead.stdout), "host": socket.gethostname(), "time": time.time()}))
    with pytest.warns(UserWarning, match="stale lock"):
        with RunLock(lock, timeout_s=5):
            assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert not lock.exists()


def test_live_lock_is_waited_for(tmp_path):
    lock = tmp_path / "lock"
    with RunLock(lock):
        with pytest.raises(TimeoutError, match="still locked"):
            with RunLock(lock, timeout_s=0.3, poll_s=0.1):
                pass


@pytest.mark.slow
def test_an_option_added_later_keeps_old_runs_valid(tmp_path):
    store = RunStore(tmp_path / "store")
    res = store.run(RunConfig(**TINY), data=synthetic(), progress=False)
    cfg_file = res.dir / "config.json"
    stored = json.loads(cfg_file.read_text())
    del stored["bn_sparsity"]  # as if the run was made before the option existed
    cfg_file.write_text(json.dumps(stored))
    assert store.get(RunConfig(**TINY)).run_id == res.run_id
    stored["amp"] = True  # but a stored value that differs is never reused
    cfg_file.write_text(json.dumps(stored))
    with pytest.raises(StoreError, match=r"\['amp'\]"):
        store.get(RunConfig(**TINY))


# ------------------------------------------------------------------------ checkpoints are data (issue 20)
class _Boom:
    """Unpickling this creates ``marker``: a checkpoint must never run code."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_a_checkpoint_that_would_need_unpickling_is_not_executed(tmp_path):
    from nbprune.train import load_checkpoint

    marker = tmp_path / "ran"
    path = tmp_path / "run" / "checkpoint.pt"
    path.parent.mkdir()
    torch.save({"model": {}, "optimizer": _Boom(str(marker)), "history": [], "epoch": 1}, path)
    with pytest.warns(UserWarning, match="unreadable"):
        assert load_checkpoint(path) is None
    assert not marker.exists()


@pytest.mark.slow
def test_checkpoints_load_as_plain_tensors_and_a_resume_through_the_store_matches(tmp_path):
    cfg = RunConfig(**{**TINY, "epochs": 3})
    ref = RunStore(tmp_path / "ref").run(cfg, data=synthetic(), progress=False)
    store = RunStore(tmp_path / "store")

    def stop(epoch):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.run(cfg, data=synthetic(), progress=False, on_epoch=stop)
    ckpt = torch.load(store.run_dir(cfg) / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert ckpt["epoch"] == 1 and isinstance(ckpt["optimizer"]["state"], dict)
    (store.run_dir(cfg) / ".checkpoint.pt.tmp999999").write_bytes(b"left by a killed process")
    res = store.run(cfg, data=synthetic(), progress=False)
    assert res.metrics["test_acc"] == ref.metrics["test_acc"] and res.metrics["resumed_after_epochs"] == [1]
    assert all(torch.equal(a, b) for a, b in zip(res.state_dict().values(), ref.state_dict().values()))
    assert not (store.run_dir(cfg) / ".checkpoint.pt.tmp999999").exists()


def test_the_store_reads_a_runs_records_for_other_modules(tmp_path):
    """RunStore.record / finished / rewind_replayed: what the projection, the graph and chapter 6 read, so no
    module reads the store's files itself."""
    store = RunStore(tmp_path / "s")
    for run_id, status in (("a", "finished"), ("b", "failed")):
        (store.path / run_id).mkdir(parents=True)
        (store.path / run_id / "config.json").write_text(json.dumps({"model": "vgg16"}))
        (store.path / run_id / "metrics.json").write_text(json.dumps({"status": status}))
    (store.path / "a" / "rewind-7.json").write_text(json.dumps({"replayed": True, "step": 7}))
    assert store.run_ids() == ["a", "b"]
    assert store.record("a", "config") == {"model": "vgg16"} and store.record("a", "provenance") is None
    assert (store.finished("a"), store.finished("b"), store.finished("nope")) == (True, False, False)
    assert store.rewind_replayed("a", 7) and not store.rewind_replayed("a", 8) and not store.rewind_replayed("b", 7)
    with pytest.raises(ValueError, match="name: unknown 'weights'"):
        store.record("a", "weights")
