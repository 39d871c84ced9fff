"""The grid as a graph of runs, the local executor, the slurm executor's checks (no cluster needed), and the
run lock across hosts. tests/test_slurm.py runs the slurm executor on a real one-node cluster."""

from __future__ import annotations

import json
import os
import socket
import stat
import time
import warnings

import pytest

from conftest import make_imagefolder
from nbprune import executors, graph, projection, runs
from nbprune import experiments as grids
from nbprune.chapters import chapter_grid
from nbprune.cli import main
from nbprune.executors import make_executor
from nbprune.graph import grid_graph
from nbprune.presets import get_preset
from nbprune.runner import complete_grid, run_grid
from nbprune.runs import RunLock, RunStore


@pytest.fixture
def tiny(tmp_path):
    return make_imagefolder(tmp_path / "data", train_per_class=20, test_per_class=5)


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch):
    """sinfo/sbatch stand-ins on PATH: sinfo lists partitions, sbatch records that it was called and fails."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    called = tmp_path / "sbatch-called"
    (bin_dir / "sinfo").write_text("#!/bin/sh\nprintf 'debug*\\ngpu\\n'\n")
    (bin_dir / "sbatch").write_text(f"#!/bin/sh\ntouch {called}\nexit 1\n")
    for f in bin_dir.iterdir():
        f.chmod(f.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return called


@pytest.mark.slow
def test_graph_is_named_in_stages_and_local_completion_fills_it(tmp_path, tiny):
    store = RunStore(tmp_path / "store")
    grid = grids.l1_grid(["vgg16-a"])
    graph = grid_graph(store, grid, get_preset("smoke"), [0, 1], data_root=tiny)
    assert [n.role for n in graph.nodes] == ["large", "large"]  # derived runs wait on the large models
    assert graph.waiting == [("VGG-16-A", 0), ("VGG-16-A", 1)]
    assert {n.run_id for n in graph.missing(store)} == {n.run_id for n in graph.nodes}

    done = complete_grid(store, grid, "smoke", [0, 1], data_root=tiny, device="cpu", progress=False)
    assert not done.waiting and not done.missing(store)
    roles = sorted(n.role for n in done.nodes)
    assert roles.count("large") == 2 and "fine-tuned" in roles and "scratch-e" in roles
    # the graph names exactly the runs run_grid reads back, and run_grid trains nothing more
    before = set(store.run_ids())
    res = run_grid(store, grid, "smoke", [0, 1], data_root=tiny, device="cpu", progress=False)
    assert set(store.run_ids()) == before
    assert {r["run_id"] for r in res.rows} == {n.run_id for n in done.nodes}


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_parallel_local_executor_trains_the_same_runs_bit_for_bit(tmp_path, tiny, caplog):
    """Two worker processes of one thread each give the same run ids, histories and final weights as one
    thread training the runs in turn (the one_thread fixture), and print a line per finished run."""
    import torch

    grid = grids.l1_grid(["vgg16-a"])
    seq, par = RunStore(tmp_path / "seq"), RunStore(tmp_path / "par")
    kw = dict(data_root=tiny, device="cpu", progress=False)
    a = run_grid(seq, grid, "smoke", [0, 1], **kw)
    with caplog.at_level("INFO", logger="nbprune"):
        b = run_grid(par, grid, "smoke", [0, 1], executor=make_executor("local", workers=2, threads=1), **kw)
    assert [r["run_id"] for r in a.rows] == [r["run_id"] for r in b.rows]
    out = caplog.text  # logged by the executor
    assert "2 at a time with 1 thread(s) each" in out and "[2/2]" in out
    for run_id in seq.run_ids():
        ra, rb = seq.load(run_id), par.load(run_id)
        assert [h["train_loss"] for h in ra.metrics["history"]] == [h["train_loss"] for h in rb.metrics["history"]]
        wa, wb = ra.state_dict(), rb.state_dict()
        assert all(torch.equal(wa[k], wb[k]) for k in wa), run_id


@pytest.mark.slow
def test_parallel_local_executor_reports_failed_runs(tmp_path, tiny):
    store = RunStore(tmp_path / "store")
    nodes = grid_graph(store, grids.l1_grid(["vgg16-a"]), get_preset("smoke"), [0, 1], data_root=tiny).missing(store)
    ex = make_executor("local", workers=2, threads=1)
    with pytest.raises(RuntimeError, match=r"2 of 2 run\(s\) failed: vgg16 large seed \d: FileNotFoundError: data_root"):
        ex.run(store, nodes, data_root=tmp_path / "no-such-data", device="cpu")
    assert not any((store.path / n.run_id / "metrics.json").exists() for n in nodes)


def test_local_executor_workers():
    assert executors.LocalExecutor().workers_for(10, "cpu") == min(executors.cpu_cores(), 4)
    assert executors.LocalExecutor().workers_for(1, "cpu") == 1
    assert executors.LocalExecutor(workers=3).workers_for(2, "cpu") == 2
    assert not executors.LocalExecutor(workers=1).parallel and executors.LocalExecutor().parallel
    for bad in (0, -1, "many", 1.5, True):
        with pytest.raises(ValueError, match="workers: must be 'auto' or an integer >= 1"):
            make_executor("local", workers=bad)
    with pytest.raises(ValueError, match="threads: must be None or an integer >= 1"):
        make_executor("local", threads=0)


def test_one_worker_trains_with_the_threads_asked_for_then_restores_them(monkeypatch, tmp_path):
    import torch

    seen = []
    monkeypatch.setattr(executors, "train_node", lambda *a, **k: seen.append(torch.get_num_threads()) or {})
    nodes = grid_graph(RunStore(tmp_path / "s"), chapter_grid("predefined", "smoke"), get_preset("smoke"), [0]).nodes[:2]
    before = torch.get_num_threads()
    want = 1 if before > 1 else 2
    executors.LocalExecutor(workers=1, threads=want).run(RunStore(tmp_path / "s"), nodes, device="cpu")
    assert seen == [want, want] and torch.get_num_threads() == before
    seen.clear()
    executors.LocalExecutor(workers=1).run(RunStore(tmp_path / "s"), nodes, device="cpu")
    assert seen == [before, before]


def test_make_executor_rejects_bad_input():
    with pytest.raises(ValueError, match="executor: unknown 'kubernetes'; allowed: local, slurm"):
        make_executor("kubernetes")
    with pytest.raises(ValueError, match="only apply to executor='slurm'"):
        make_executor("local", partition="debug")
    assert make_executor("local").name == "local"


def test_slurm_missing_is_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sinfo, no sbatch
    with pytest.raises(RuntimeError, match="executor: 'slurm' needs Slurm's sbatch and sinfo"):
        make_executor("slurm")


def test_slurm_options_are_checked_before_submitting(fake_slurm, tmp_path):
    with pytest.raises(ValueError, match="slurm: unknown option\\(s\\) gpu; allowed"):
        make_executor("slurm", gpu=1)
    with pytest.raises(ValueError, match="partition: unknown 'cpu'; this cluster has: debug, gpu"):
        make_executor("slurm", partition="cpu")
    with pytest.raises(ValueError, match="cpus: must be an integer >= 1"):
        make_executor("slurm", cpus=0)
    with pytest.raises(ValueError, match="mem_gb"):
        make_executor("slurm", mem_gb=-1)
    ex = make_executor("slurm", partition="gpu", time_min=1, folder=tmp_path / "logs")
    # a 5-epoch VGG-16 at the quick preset is far longer than a minute at the assumed CPU rate
    store = RunStore(tmp_path / "store")
    graph = grid_graph(store, chapter_grid("predefined", "quick"), get_preset("quick"), [0])
    with pytest.raises(ValueError, match="time_min: 1 min is shorter than the longest run's projection"):
        ex.run(store, graph.missing(store), device="cpu")
    assert not fake_slurm.exists(), "nothing may be submitted when the time limit is too short"


@pytest.mark.slow
def test_projection_uses_the_rate_the_store_measured(tmp_path, tiny):
    store = RunStore(tmp_path / "store")
    rate, how = projection.measured_rate(store, "cpu")
    assert rate == projection.DEFAULT_FLOPS_PER_S["cpu"] and how.startswith("assumed")
    grid = grids.l1_grid(["vgg16-a"])
    complete_grid(store, grid, "smoke", [0], data_root=tiny, device="cpu", progress=False)
    rate, how = projection.measured_rate(store, "cpu")
    metrics = [json.loads((store.path / r / "metrics.json").read_text()) for r in store.run_ids()]
    assert how == f"measured over {len(metrics)} finished run(s) in {store.path}"
    assert rate == pytest.approx(sum(m["train_flops"] for m in metrics) / sum(m["wall_time_s"] for m in metrics))
    assert projection.measured_rate(store, "cuda")[1].startswith("assumed")  # those runs were on the CPU
    widths = {json.loads((store.path / r / "config.json").read_text())["width"] for r in store.run_ids()}
    (width,) = widths
    assert projection.measured_rate(store, "cpu", width=width) == (rate, how.replace(" in ", f" of width {width:g} in "))
    (model,) = {json.loads((store.path / r / "config.json").read_text())["model"] for r in store.run_ids()}
    assert projection.measured_rate(store, "cpu", width=width, model=model)[0] == rate
    assert projection.measured_rate(store, "cpu", model="resnet56")[1].startswith("assumed (no finished runs of resnet56")
    other, how_other = projection.measured_rate(store, "cpu", width=width * 2)  # no runs of that width
    assert other == projection.DEFAULT_FLOPS_PER_S["cpu"] and "of width" in how_other and how_other.startswith("assumed")


def test_cli_grid_status_lists_missing_runs(tmp_path, capsys):
    rc = main(["grid", "predefined", "--preset", "smoke", "--store", str(tmp_path / "s"), "--status"])
    out = capsys.readouterr().out
    assert rc == 0
    # the large models of L1-norm VGG-16-A and Soft Filter Pruning, and their three variants each, planned ahead
    assert "6 planned: waits on its large model, 2 missing" in out
    rc = main(["grid", "nonsense", "--status"])
    assert rc == 2 and "chapter: unknown 'nonsense'" in capsys.readouterr().err


def test_cli_grid_slurm_without_slurm_is_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    rc = main(["grid", "predefined", "--preset", "smoke", "--executor", "slurm"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "needs Slurm's sbatch and sinfo" in err


# ----------------------------------------------------------------------------------------- the lock
def _foreign_lock(path, age_s: float):
    path.write_text(json.dumps({"pid": 1, "host": "some-other-node", "token": "x", "time": time.time() - age_s}))
    t = time.time() - age_s
    os.utime(path, (t, t))


def test_lock_from_a_dead_node_is_taken_over(tmp_path):
    lock = tmp_path / "lock"
    _foreign_lock(lock, runs.LOCK_STALE_S + 60)
    with pytest.warns(UserWarning, match="taking over a stale lock"):
        with RunLock(lock, timeout_s=5):
            info = json.loads(lock.read_text())
            assert info["host"] == socket.gethostname() and info["pid"] == os.getpid()
    assert not lock.exists()


def test_lock_held_by_a_live_node_is_respected(tmp_path):
    lock = tmp_path / "lock"
    _foreign_lock(lock, 5)  # heartbeat 5 s ago: alive
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no take-over warning either
        with pytest.raises(TimeoutError):
            with RunLock(lock, timeout_s=0.3, poll_s=0.1):
                pass
    assert json.loads(lock.read_text())["host"] == "some-other-node"  # untouched


def test_lock_heartbeat_keeps_the_lock_fresh(tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "LOCK_HEARTBEAT_S", 0.05)
    lock = tmp_path / "lock"
    with RunLock(lock):
        old = time.time() - 3600
        os.utime(lock, (old, old))
        time.sleep(0.5)
        assert time.time() - lock.stat().st_mtime < 5
    assert not lock.exists()


def test_release_never_removes_someone_elses_lock(tmp_path):
    lock = tmp_path / "lock"
    with RunLock(lock):
        lock.write_text(json.dumps({"pid": 1, "host": "some-other-node", "token": "theirs", "time": time.time()}))
    assert lock.exists()  # it was no longer ours: left alone


# ------------------------------------------------------------------------------- placement on devices
def test_device_slots_are_round_robin():
    assert executors.device_slots(["cuda:0", "cuda:1"], 4) == ["cuda:0", "cuda:1"] * 4
    assert executors.device_slots(["cpu"], 3) == ["cpu"] * 3


def test_plan_placement_is_longest_first_to_the_first_free_slot():
    # longest first: 5 -> slot 0, 3 -> slot 1, 2 -> slot 1 (free at 3), 1 -> slot 0 (both free at 5: the lower)
    plan = executors.plan_placement([1.0, 5.0, 3.0, 2.0], ["cuda:0", "cuda:1"])
    assert plan == [[1, 0], [2, 3]]
    assert executors.plan_placement([2.0, 2.0, 2.0], ["a", "b", "c", "d"]) == [[0], [1], [2], []]
    assert executors.plan_placement([], ["a"]) == [[]]


def test_local_executor_devices_are_checked_before_any_work(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    ex = make_executor("local", devices=["cpu", "cpu"], runs_per_device=2)
    assert ex.slots() == ["cpu"] * 4 and ex.workers_for(10) == 4 and ex.workers_for(3) == 3 and ex.parallel
    assert not executors.LocalExecutor(devices=["cpu"]).parallel
    assert executors.LocalExecutor(runs_per_device=3).slots("cpu") == ["cpu"] * 3
    cases = [
        (dict(devices=[]), r"^devices: must be a non-empty list of devices such as \['cuda:0', 'cuda:1'\] or "
                           r"\['cpu'\], got \[\]$"),
        (dict(devices="cuda:0"), r"^devices: must be a non-empty list"),
        (dict(devices=["tpu"]), r"^devices: unknown 'tpu'; allowed: auto, cpu$"),
        (dict(devices=["cuda:0"]), r"^devices: cuda:0 was asked for but torch.cuda.is_available\(\) is False on "
                                   r"this machine; allowed: auto, cpu$"),
        (dict(devices=["cpu"], runs_per_device=0), r"^runs_per_device: must be an integer >= 1, got 0$"),
        (dict(devices=["cpu"], workers=2), r"^workers: give workers or devices, not both"),
        (dict(devices=["cpu"], step="cuda-graph"), r"^step: 'cuda-graph' needs a CUDA device, this run is on cpu"),
        (dict(step="warp"), r"^step: unknown 'warp'; allowed: eager, compile, cuda-graph$"),
    ]
    for kwargs, match in cases:
        with pytest.raises(ValueError, match=match):
            make_executor("local", **kwargs)


def test_a_worker_slot_takes_its_device_from_the_queue():
    import queue

    q = queue.Queue()
    for d in ("cpu", "cuda:1"):
        q.put(d)
    executors._init_slot(q)
    assert executors._slot_device == "cpu"
    executors._init_slot(q)
    assert executors._slot_device == "cuda:1"
    executors._slot_device = None


_ORPHAN_SCRIPT = """
import multiprocessing, os, sys, time
from concurrent.futures import ProcessPoolExecutor
from nbprune import executors

def busy(path):
    with open(path, "w") as f:
        f.write(str(os.getpid()))
    while True:  # a run's training loop: Python between short calls
        time.sleep(0.05)

if __name__ == "__main__":
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    queue.put("cpu")
    pool = ProcessPoolExecutor(1, mp_context=ctx, initializer=executors._init_slot,
                               initargs=(queue, os.getpid()))
    pool.submit(busy, sys.argv[1])
    time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by its new parent) is gone too
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


@pytest.mark.skipif(os.name != "posix", reason="kills a process with SIGKILL")
def test_a_pool_worker_stops_when_the_grid_process_is_killed(tmp_path):
    import signal
    import subprocess
    import sys

    script, pid_file = tmp_path / "grid.py", tmp_path / "worker.pid"
    script.write_text(_ORPHAN_SCRIPT)
    grid = subprocess.Popen([sys.executable, str(script), str(pid_file)])
    try:
        deadline = time.time() + 300  # a spawned worker imports torch: minutes on a loaded 2-core machine
        while not (pid_file.exists() and pid_file.read_text()) and time.time() < deadline:
            time.sleep(0.1)
        worker = int(pid_file.read_text())
        assert _alive(worker)
        grid.send_signal(signal.SIGKILL)  # as `kill -9` would: the worker gets no signal of its own
        grid.wait(10)
        deadline = time.time() + 120  # its parent check (2 s), the grace after interrupting its run (10 s), load
        while _alive(worker) and time.time() < deadline:
            time.sleep(0.2)
        assert not _alive(worker), "the orphaned worker kept running"
    finally:
        grid.kill()


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_runs_placed_on_a_device_list_train_in_the_pool(tmp_path, tiny, caplog):
    store = RunStore(tmp_path / "store")
    nodes = grid_graph(store, chapter_grid("predefined", "smoke"), get_preset("smoke"), [0, 1], data_root=tiny).missing(store)
    ex = make_executor("local", devices=["cpu"], runs_per_device=2, threads=1)
    with caplog.at_level("INFO", logger="nbprune"):
        outcomes = ex.run(store, nodes, data_root=tiny, device="cuda")  # the device list wins over device=
    assert sorted(o["run_id"] for o in outcomes) == sorted(n.run_id for n in nodes)
    assert all(o["state"] == "finished" and o["device"] == "cpu" for o in outcomes)
    out = caplog.text  # the executor logs (nbprune.log); the CLI and the notebooks print it
    assert "2 at a time with 1 thread(s) each; cpu x2" in out and "on cpu" in out


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_a_time_limit_stops_runs_resumable_and_unfailed(tmp_path, tiny):
    from nbprune.train import RunConfig

    store = RunStore(tmp_path / "store")
    cfg = RunConfig(model="vgg11", width=0.0625, epochs=2, batch_size=32)
    late = executors.train_node(store, cfg, tiny, "cpu", stop_at=time.time() - 1)
    assert late == {"run_id": cfg.run_id, "device": "cpu", "epochs": 2, "state": "stopped", "test_acc": None,
                    "epochs_done": 0}
    stopped = executors.train_node(store, cfg, tiny, "cpu", stop_at=time.time() + 0.001, progress=False)
    assert stopped["state"] == "stopped" and stopped["epochs_done"] == 1
    assert graph.run_state(store, cfg) == "missing"  # not failed, and its lock is released
    done = executors.train_node(store, cfg, tiny, "cpu", progress=False)
    assert done["state"] == "finished" and done["epochs_done"] == 2
    assert store.get(cfg).metrics["resumed_after_epochs"] == [1]


@pytest.mark.slow
def test_derived_runs_of_a_parent_imported_without_weights_are_blocked_before_training(tmp_path, tiny, capsys):
    from nbprune.atomic import StoreError
    from nbprune.store_io import export_runs, import_runs

    grid = grids.l1_grid(["vgg16-a"])
    a = RunStore(tmp_path / "a")
    complete_grid(a, grid, "smoke", [0], data_root=tiny, device="cpu", progress=False)
    large = graph.large_for(grid[0], get_preset("smoke"), 0)
    export_runs(a, tmp_path / "export", run_ids=[large.run_id])  # the large model only, no weights
    b = RunStore(tmp_path / "b")
    import_runs(tmp_path / "export", b)
    g = grid_graph(b, grid, get_preset("smoke"), [0], data_root=tiny)
    blocked = g.blocked(b)
    roles = {n.role for n, _ in blocked}
    assert roles == {"fine-tuned"} and all(large.run_id in why for _, why in blocked)
    # Scratch-E of a predefined architecture names its cfg and starts from a random init: it needs nothing
    assert {n.role for n in g.missing(b)} - roles == {"scratch-e"}
    before = set(b.run_ids())
    with pytest.raises(StoreError, match=f"cannot train; the first: run .* needs final.pt .* parent {large.run_id}"):
        complete_grid(b, grid, "smoke", [0], data_root=tiny, device="cpu", progress=False)
    assert set(b.run_ids()) == before, "nothing may train when a stage has blocked runs"
    assert set(g.summary(b)["state"]) == {"finished", "missing", "blocked: parent has no weights"}
    # with the parent's weights back, nothing is blocked
    for name in ("final.pt", "init.pt"):
        (b.path / large.run_id / name).write_bytes((a.path / large.run_id / name).read_bytes())
    assert grid_graph(b, grid, get_preset("smoke"), [0], data_root=tiny).blocked(b) == []


def test_the_package_logs_and_show_log_prints_it_on_stdout(capsys):
    import logging

    from nbprune.log import LOGGER, show_log

    before = (list(LOGGER.handlers), LOGGER.level, LOGGER.propagate)
    try:
        show_log()
        show_log()  # idempotent: one handler
        LOGGER.info("98 runs: all read from the store, nothing trained")
        assert capsys.readouterr().out == "98 runs: all read from the store, nothing trained\n"
        assert sum(type(h).__name__ == "_Stdout" for h in LOGGER.handlers) == 1
    finally:
        LOGGER.handlers[:], LOGGER.level, LOGGER.propagate = before
    assert logging.getLogger("nbprune") is LOGGER


def test_a_grid_trained_locally_advances_one_bar_over_its_runs(tmp_path, tiny, monkeypatch):
    from nbprune import progress
    from nbprune.runner import complete_grid

    seen = []

    class Spy(progress.RunsBar):
        def add(self, nodes):
            nodes = list(nodes)
            seen.append(("add", len(nodes)))
            super().add(nodes)

        def done(self, node, outcome=None):
            seen.append(("done", node.run_id))
            super().done(node, outcome)

    monkeypatch.setattr("nbprune.runner.RunsBar", Spy)
    store = RunStore(tmp_path / "store")
    grid = grids.l1_grid(["vgg16-a"])
    complete_grid(store, grid, "smoke", [0], data_root=tiny, device="cpu")
    adds = [n for kind, n in seen if kind == "add"]
    dones = [r for kind, r in seen if kind == "done"]
    # the large model, then its derived runs once it finished (at smoke Scratch-B is Scratch-E: one run)
    assert adds == [1, 2]
    assert len(dones) == sum(adds) == len(set(dones))  # each run advanced the bar once


def test_the_cli_logs_on_stderr_so_its_json_stays_clean(capsys):
    from nbprune.log import LOGGER, show_log

    before = (list(LOGGER.handlers), LOGGER.level)
    try:
        show_log(stream="stderr")
        LOGGER.info("a line for the person watching")
        out, err = capsys.readouterr()
        assert out == "" and err == "a line for the person watching\n"
        with pytest.raises(ValueError, match="stream: must be 'stdout' or 'stderr'"):
            show_log(stream="file")
    finally:
        LOGGER.handlers[:], LOGGER.level = before
