"""Export and import of a run store without weights: atomic under kills, conflicts reported, foreign data and
other CONFIG_VERSIONs refused, other code flagged, nothing ever unpickled."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from nbprune import store_io
from nbprune.atomic import StoreError
from nbprune.cli import main
from nbprune.provenance import compare_provenance, describe_differences, provenance
from nbprune.runs import RunStore
from nbprune.store_io import export_runs, import_runs, same_result
from nbprune.train import RunConfig
from test_train import synthetic

SHA = "d" * 64


def fake_run(store: RunStore, seed: int, test_acc: float = 50.0, sha: str = SHA, **prov) -> str:
    """Write a finished run's JSON files into ``store`` (no training); its id."""
    cfg = RunConfig(model="vgg11", epochs=1, seed=seed)
    d = store.path / cfg.run_id
    d.mkdir(parents=True)
    history = [{"epoch": 1, "test_acc": test_acc, "train_loss": float("nan"), "time_s": random.random()}]
    metrics = {"status": "finished", "test_acc": test_acc, "best_test_acc": test_acc, "epochs": 1,
               "history": history, "wall_time_s": random.random()}
    p = {**provenance(), "data": {"dataset": "cifar10", "sha256": sha}, **prov}
    for name, obj in (("config.json", cfg.to_dict()), ("metrics.json", metrics), ("provenance.json", p)):
        (d / name).write_text(json.dumps(obj))
    return cfg.run_id


def tree(path: Path) -> dict[str, str]:
    """Every file under ``path`` (relative name -> sha256)."""
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture
def trained(tmp_path):
    store = RunStore(tmp_path / "a")
    res = store.run(RunConfig(model="resnet20", width=0.25, epochs=1, batch_size=32), data=synthetic(), progress=False)
    return store, res


@pytest.mark.slow
def test_an_imported_run_is_finished_with_metrics_and_no_weights(tmp_path, trained):
    store, res = trained
    (res.dir / "plan.json").write_text('{"cfg": [1, 2]}')  # any other JSON the run holds travels too
    out = export_runs(store, tmp_path / "export")
    assert out.run_ids == [res.run_id]
    assert not list((tmp_path / "export").rglob("*.pt")) and (tmp_path / "export" / res.run_id / "plan.json").exists()
    dest = RunStore(tmp_path / "b")
    report = import_runs(tmp_path / "export", dest)
    assert report.imported == [res.run_id] and not report.conflicts
    got = dest.get(res.config)
    assert got is not None and got.metrics == res.metrics and dest.load(res.run_id).metrics == res.metrics
    assert got.imported["host"] == json.loads((res.dir / "provenance.json").read_text())["host"]
    with pytest.raises(StoreError, match="imported without weights"):
        got.state_dict()
    with pytest.raises(StoreError, match="is an export"):
        RunStore(tmp_path / "export").load(res.run_id).model()
    assert dest.check() == []
    assert dest.run(res.config, data=synthetic()).metrics == res.metrics  # never retrained
    assert report.flagged.runs == 1 and report.flagged.code == 0


@pytest.mark.slow
def test_a_reexport_keeps_plan_summaries_of_the_same_result_but_not_of_another(tmp_path, trained):
    store, res = trained
    plan = res.dir / "plan-0123456789abcdef.json"
    plan.write_text('{"cfg": [1, 2]}')
    export_runs(store, tmp_path / "export")
    plan.unlink()  # the run's directory replaced by a copy trained again to the same result
    again = export_runs(store, tmp_path / "export")
    assert again.kept == 1 and (tmp_path / "export" / res.run_id / plan.name).read_text() == '{"cfg": [1, 2]}'
    assert import_runs(tmp_path / "export", RunStore(tmp_path / "b")).imported == [res.run_id]  # manifest lists it
    metrics = json.loads((res.dir / "metrics.json").read_text())
    metrics["history"][-1]["test_acc"] += 1.0  # another result under the same id: its plans are not carried
    (res.dir / "metrics.json").write_text(json.dumps(metrics))
    third = export_runs(store, tmp_path / "export")
    assert third.kept == 0 and not (tmp_path / "export" / res.run_id / plan.name).exists()


def test_identical_copies_merge_quietly_and_different_ones_are_reported_not_overwritten(tmp_path):
    a, b = RunStore(tmp_path / "a"), RunStore(tmp_path / "b")
    same = fake_run(a, 0)
    other = fake_run(a, 1, test_acc=60.94, host="worker", threads=1)
    export_runs(a, tmp_path / "ea")
    import_runs(tmp_path / "ea", b)
    again = import_runs(tmp_path / "ea", b)  # the same export twice: all identical
    assert again.identical == sorted([same, other]) and again.imported == [] and again.conflicts == []
    # the same runs made elsewhere: equal up to timing for one, another accuracy for the other
    c = RunStore(tmp_path / "c")
    fake_run(c, 0)
    fake_run(c, 1, test_acc=60.68, host="laptop", threads=2)
    export_runs(c, tmp_path / "ec")
    before = tree(b.path)
    report = import_runs(tmp_path / "ec", b)
    assert report.identical == [same] and [x.run_id for x in report.conflicts] == [other]
    assert tree(b.path) == before  # not overwritten
    text = report.conflicts[0].describe()
    assert "test_acc" in text and "60.94" in text and "60.68" in text
    assert "host worker" in text and "host laptop" in text and "1 threads" in text and "2 threads" in text
    assert "torch" in text and "git" in text
    assert main(["import", str(tmp_path / "ec"), "--store", str(b.path)]) == 1  # conflicts: exit 1


def test_same_result_ignores_timing_but_not_accuracy():
    m = {"test_acc": 1.0, "wall_time_s": 1, "history": [{"test_acc": 1.0, "time_s": 1, "loss": float("nan")}]}
    assert same_result(m, {**m, "wall_time_s": 2, "history": [{**m["history"][0], "time_s": 5}]})
    assert not same_result(m, {**m, "test_acc": 1.5})


def test_runs_from_other_data_or_config_version_are_refused_whole(tmp_path):
    a, b = RunStore(tmp_path / "a"), RunStore(tmp_path / "b")
    fake_run(b, 0)  # b's cifar10 runs are made from data SHA
    fake_run(a, 1)
    foreign = fake_run(a, 2, sha="e" * 64)
    export_runs(a, tmp_path / "e")
    before = tree(b.path)
    with pytest.raises(StoreError, match=f"run {foreign} was made from other cifar10 data .*nothing imported"):
        import_runs(tmp_path / "e", b)
    assert tree(b.path) == before  # not even the good run went in
    manifest = tmp_path / "e" / "manifest.json"
    m = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**m, "config_version": 0}))
    with pytest.raises(StoreError, match="CONFIG_VERSION 0"):
        import_runs(tmp_path / "e", RunStore(tmp_path / "fresh"))
    manifest.write_text(json.dumps(m))
    cfg = tmp_path / "e" / foreign / "config.json"
    edited = {**json.loads(cfg.read_text()), "epochs": 2}
    cfg.write_text(json.dumps(edited))
    with pytest.raises(StoreError, match="does not match its checksum"):
        import_runs(tmp_path / "e", RunStore(tmp_path / "fresh"))
    m["runs"][foreign]["config.json"] = hashlib.sha256(cfg.read_bytes()).hexdigest()
    manifest.write_text(json.dumps(m))
    with pytest.raises(StoreError, match="hashes to .* another CONFIG_VERSION"):
        import_runs(tmp_path / "e", RunStore(tmp_path / "fresh"))
    assert main(["import", str(tmp_path / "e"), "--store", str(tmp_path / "fresh")]) == 2


def test_runs_from_other_code_are_accepted_and_counted(tmp_path):
    a, b = RunStore(tmp_path / "a"), RunStore(tmp_path / "b")
    fake_run(a, 0)
    fake_run(a, 1, git_commit="0" * 40, nbprune="0.0.1")
    fake_run(a, 2, threads=64)
    export_runs(a, tmp_path / "e")
    report = import_runs(tmp_path / "e", b)
    assert len(report.imported) == 3 and report.flagged.code == 1  # the other nbprune version
    current = {**provenance(), "git_commit": "f" * 40}  # as in a git checkout (this test may run outside one)
    for r in report.imported:  # the fake runs were "made" at commit f...f unless told otherwise
        path = b.path / r / "provenance.json"
        prov = json.loads(path.read_text())
        prov["git_commit"] = prov["git_commit"] if prov["git_commit"] == "0" * 40 else "f" * 40
        path.write_text(json.dumps(prov))
    diff = compare_provenance([b.path / r for r in report.imported], current)
    assert (diff.runs, diff.code, diff.machine, diff.imported) == (3, 1, 1, 3)
    assert diff.fields["git_commit"] == 1 and diff.fields["nbprune"] == 1
    line = describe_differences(diff)
    assert "of 3 runs (3 imported" in line and "1 by other code" in line and "git commit (1)" in line
    here = provenance(data=synthetic(), device="cpu")
    assert compare_provenance([b.path / r for r in report.imported], here).data == 3  # synthetic's checksum is not SHA


class Boom:
    """Unpickling this would create ``marker``: an import must never do it."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


@pytest.mark.parametrize("name, make", [
    ("plan.pkl", lambda p, marker: p.write_bytes(__import__("pickle").dumps(Boom(marker)))),
    ("plan.pt", lambda p, marker: torch.save({"x": Boom(marker)}, p)),
    ("plan.npy", lambda p, marker: p.write_bytes(b"\x93NUMPY")),
])
def test_a_file_that_would_need_unpickling_is_refused_in_one_line(tmp_path, name, make):
    a = RunStore(tmp_path / "a")
    run_id = fake_run(a, 0)
    export_runs(a, tmp_path / "e")
    marker = tmp_path / "unpickled"
    path = tmp_path / "e" / run_id / name
    make(path, str(marker))
    m = json.loads((tmp_path / "e" / "manifest.json").read_text())
    m["runs"][run_id][name] = hashlib.sha256(path.read_bytes()).hexdigest()
    (tmp_path / "e" / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(StoreError) as e:
        import_runs(tmp_path / "e", RunStore(tmp_path / "b"))
    assert "\n" not in str(e.value) and "refused, nothing imported" in str(e.value) and name in str(e.value)
    assert not marker.exists() and not (tmp_path / "b" / run_id).exists()


def test_plain_tensor_files_are_accepted(tmp_path):
    a = RunStore(tmp_path / "a")
    run_id = fake_run(a, 0)
    export_runs(a, tmp_path / "e")
    path = tmp_path / "e" / run_id / "masks.pt"
    torch.save({"conv1.weight_mask": torch.ones(3)}, path)
    m = json.loads((tmp_path / "e" / "manifest.json").read_text())
    m["runs"][run_id]["masks.pt"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (tmp_path / "e" / "manifest.json").write_text(json.dumps(m))
    assert import_runs(tmp_path / "e", RunStore(tmp_path / "b")).imported == [run_id]


def test_an_unlisted_file_is_refused(tmp_path):
    a = RunStore(tmp_path / "a")
    run_id = fake_run(a, 0)
    export_runs(a, tmp_path / "e")
    (tmp_path / "e" / run_id / "extra.json").write_text("{}")
    with pytest.raises(StoreError, match="not listed in the export's manifest"):
        import_runs(tmp_path / "e", RunStore(tmp_path / "b"))


def test_export_refuses_unknown_runs_and_foreign_directories(tmp_path):
    a = RunStore(tmp_path / "a")
    fake_run(a, 0)
    with pytest.raises(StoreError, match="0123456789abcdef is not a finished run"):
        export_runs(a, tmp_path / "e", ["0123456789abcdef"])
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(StoreError, match="not an nbprune export"):
        export_runs(a, tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


# ------------------------------------------------------------------------------------------ interruption
def fail_after(monkeypatch, n: int) -> None:
    """Make the store_io writers fail (a full disk) after ``n`` files."""
    real, seen = store_io.atomic_write_bytes, {"n": 0}

    def write(data, path, **kw):
        seen["n"] += 1
        if seen["n"] > n:
            raise StoreError("store: cannot write (simulated full disk)")
        return real(data, path, **kw)

    monkeypatch.setattr(store_io, "atomic_write_bytes", write)


def test_a_failed_export_leaves_the_earlier_export_as_it_was(tmp_path, monkeypatch):
    a = RunStore(tmp_path / "a")
    ids = [fake_run(a, s) for s in range(6)]
    export_runs(a, tmp_path / "e", ids[:2])
    before = tree(tmp_path / "e")
    fail_after(monkeypatch, 7)
    with pytest.raises(StoreError):
        export_runs(a, tmp_path / "e")
    assert tree(tmp_path / "e") == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    monkeypatch.undo()
    assert export_runs(a, tmp_path / "e").run_ids == sorted(ids)


def test_a_failed_import_leaves_each_run_absent_or_complete_and_a_rerun_finishes(tmp_path, monkeypatch):
    a, b = RunStore(tmp_path / "a"), RunStore(tmp_path / "b")
    ids = [fake_run(a, s) for s in range(6)]
    export_runs(a, tmp_path / "e")
    fail_after(monkeypatch, 10)
    with pytest.raises(StoreError):
        import_runs(tmp_path / "e", b)
    present = [r for r in ids if (b.path / r).exists()]
    assert 0 < len(present) < len(ids)
    for r in present:
        assert b.get(RunConfig.from_dict(json.loads((a.path / r / "config.json").read_text()))) is not None
    assert [p.name for p in b.path.iterdir() if p.name.startswith(".")] == []
    monkeypatch.undo()
    report = import_runs(tmp_path / "e", b)
    assert sorted(report.imported + report.identical) == sorted(ids)


def test_an_export_refuses_to_drop_a_run_the_store_is_training_again(tmp_path):
    a = RunStore(tmp_path / "a")
    ids = [fake_run(a, s) for s in range(3)]
    export_runs(a, tmp_path / "e", ids)
    before = tree(tmp_path / "e")
    metrics = a.path / ids[1] / "metrics.json"  # replayed: its directory trains again, no finished metrics yet
    metrics.write_text(json.dumps({"status": "running"}))
    assert store_io.unfinished_in_store(a, tmp_path / "e") == [ids[1]]
    with pytest.raises(StoreError, match=f"export: {ids[1]} of the earlier export .* is unfinished"):
        export_runs(a, tmp_path / "e", [ids[0], ids[2]])
    assert tree(tmp_path / "e") == before
    shutil.rmtree(a.path / ids[2])  # a run the store no longer holds at all is not training: no refusal for it
    assert store_io.unfinished_in_store(a, tmp_path / "e") == [ids[1]]
    metrics.unlink()
    assert store_io.unfinished_in_store(a, tmp_path / "e") == [ids[1]]  # config without metrics: unfinished too
    fake_metrics = {"status": "finished", "test_acc": 50.0, "best_test_acc": 50.0, "epochs": 1, "history": []}
    metrics.write_text(json.dumps(fake_metrics))
    assert store_io.unfinished_in_store(a, tmp_path / "e") == []
    res = export_runs(a, tmp_path / "e", [ids[0], ids[1]])  # finished again: the export goes ahead
    assert res.run_ids == [ids[0], ids[1]]
    assert json.loads((tmp_path / "e" / "manifest.json").read_text())["runs"].keys() == {ids[0], ids[1]}
    assert store_io.unfinished_in_store(a, tmp_path / "nothing-here") == []


def test_an_export_swap_interrupted_between_two_renames_is_completed_next_time(tmp_path):
    a = RunStore(tmp_path / "a")
    ids = [fake_run(a, s) for s in range(2)]
    export_runs(a, tmp_path / "e", ids[:1])
    os.rename(tmp_path / "e", tmp_path / ".e.old99999")  # killed after moving the old export aside
    store_io._recover(tmp_path / "e")
    assert json.loads((tmp_path / "e" / "manifest.json").read_text())["runs"].keys() == {ids[0]}


def _script(*lines: str) -> list[str]:
    return [sys.executable, "-c", "; ".join(lines)]


@pytest.mark.slow
def test_an_export_killed_at_random_moments_leaves_the_old_export_or_the_new_one(tmp_path):
    a = RunStore(tmp_path / "a")
    ids = [fake_run(a, s) for s in range(150)]
    export_runs(a, tmp_path / "full", ids)
    new = tree(tmp_path / "full")
    out = tmp_path / "e"
    export_runs(a, out, ids[:3])
    old = tree(out)
    rng, outcomes = random.Random(7), set()
    cmd = _script("from nbprune.store_io import export_runs", f"export_runs({str(a.path)!r}, {str(out)!r})")
    for _ in range(6):
        if tree(out) == new:
            export_runs(a, out, ids[:3])
        proc = subprocess.Popen(cmd)
        time.sleep(rng.uniform(0.3, 2.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = tree(out)
        assert state in (old, new)
        outcomes.add("new" if state == new else "old")
    assert "old" in outcomes  # at least one kill landed mid-export
    export_runs(a, out)  # and the next export cleans up after the killed ones
    assert tree(out) == new and [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.slow
def test_an_import_killed_at_random_moments_leaves_runs_absent_or_complete(tmp_path):
    a = RunStore(tmp_path / "a")
    ids = [fake_run(a, s) for s in range(150)]
    export_runs(a, tmp_path / "e")
    b = tmp_path / "b"
    cmd = _script("from nbprune.store_io import import_runs", f"import_runs({str(tmp_path / 'e')!r}, {str(b)!r})")
    rng = random.Random(11)
    for _ in range(3):
        proc = subprocess.Popen(cmd)
        time.sleep(rng.uniform(0.5, 2.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for r in ids:
            d = b / r
            if d.exists():  # complete: every file, byte for byte, and the import record
                assert {p.name for p in d.iterdir()} == {"config.json", "metrics.json", "provenance.json",
                                                         "imported.json"}
                for name in ("config.json", "metrics.json", "provenance.json"):
                    assert (d / name).read_bytes() == (a.path / r / name).read_bytes()
    report = import_runs(tmp_path / "e", b)
    assert sorted(report.imported + report.identical) == sorted(ids) and not report.conflicts
    assert [p.name for p in b.iterdir() if p.name.startswith(".")] == []


def test_cli_export_and_import(tmp_path, capsys):
    a = RunStore(tmp_path / "a")
    ids = [fake_run(a, s) for s in range(2)]
    assert main(["export", "--store", str(a.path), "--out", str(tmp_path / "e"), "--runs", ids[0], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"] == [ids[0]]
    assert main(["import", str(tmp_path / "e"), "--store", str(tmp_path / "b")]) == 0
    assert "1 imported, 0 identical, 0 conflicting" in capsys.readouterr().out
    assert main(["import", str(tmp_path / "nowhere"), "--store", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a directory" in err
