"""The slurm executor on a real one-node Slurm cluster (tools/slurm_cluster.sh: slurmctld, slurmd, slurmdbd
with MariaDB, munge). Runs when a cluster answers, or when CI=true / NBPRUNE_SLURM_TEST=1 on a Debian machine
as root (the fixture then installs and starts one); skipped with the reason otherwise."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest
import torch

from conftest import REPO, make_imagefolder
from nbprune import experiments, runner
from nbprune.executors import SlurmExecutor, make_executor, wait
from nbprune.graph import Node
from nbprune.runs import RunStore
from nbprune.train import RunConfig

pytestmark = pytest.mark.slow  # every test trains, on a real Slurm cluster

SCRIPT = REPO / "tools" / "slurm_cluster.sh"


def _status_ok() -> bool:
    try:
        return subprocess.run([str(SCRIPT), "status"], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="module")
def cluster():
    if _status_ok():
        return
    wanted = os.environ.get("CI", "").lower() == "true" or os.environ.get("NBPRUNE_SLURM_TEST") == "1"
    if not wanted:
        pytest.skip("no Slurm cluster answers; CI=true or NBPRUNE_SLURM_TEST=1 starts a local one "
                    "(root and Debian's apt needed)")
    if os.geteuid() != 0:
        pytest.skip("starting the local Slurm cluster needs root")
    if shutil.which("apt-get") is None and shutil.which("slurmctld") is None:
        pytest.skip("starting the local Slurm cluster needs Debian's apt-get (or Slurm already installed)")
    out = subprocess.run([str(SCRIPT), "start"], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, f"tools/slurm_cluster.sh start failed:\n{out.stdout}\n{out.stderr}"


@pytest.fixture
def data(tmp_path):
    return make_imagefolder(tmp_path / "data", train_per_class=60, test_per_class=60)


def _same_runs(store_a: RunStore, store_b: RunStore, run_ids):
    for run_id in run_ids:
        ma = json.loads((store_a.path / run_id / "metrics.json").read_text())
        mb = json.loads((store_b.path / run_id / "metrics.json").read_text())
        assert ma["test_acc"] == mb["test_acc"], run_id
        assert [h["train_loss"] for h in ma["history"]] == [h["train_loss"] for h in mb["history"]], run_id
        wa = torch.load(store_a.path / run_id / "final.pt", weights_only=True)
        wb = torch.load(store_b.path / run_id / "final.pt", weights_only=True)
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), run_id


def test_smoke_grid_on_slurm_equals_local(cluster, tmp_path, data, capsys):
    grid = experiments.l1_grid(["vgg16-a"])
    seeds = [0, 1]
    local_store, slurm_store = RunStore(tmp_path / "local"), RunStore(tmp_path / "slurm")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the jobs run with --cpus-per-task 1 and one torch thread: same arithmetic
    try:
        t0 = time.time()
        local = runner.run_grid(local_store, grid, "smoke", seeds, data_root=data, device="cpu", progress=False)
        t_local = time.time() - t0
    finally:
        torch.set_num_threads(threads)
    ex = make_executor("slurm", cpus=1, mem_gb=2, time_min=10, max_jobs=4, folder=tmp_path / "logs", poll_s=0.5,
                       progress=False)
    t0 = time.time()
    remote = runner.run_grid(slurm_store, grid, "smoke", seeds, data_root=data, device="cpu", executor=ex,
                            progress=False)
    t_slurm = time.time() - t0
    with capsys.disabled():
        print(f"\nsmoke grid (predefined, 2 seeds): local {t_local:.1f} s, slurm {t_slurm:.1f} s")
    ids = [r["run_id"] for r in local.rows]
    assert ids == [r["run_id"] for r in remote.rows]
    assert set(slurm_store.run_ids()) == set(local_store.run_ids()) == set(ids)
    _same_runs(local_store, slurm_store, set(ids))
    logs = list((tmp_path / "logs").rglob("*_log.out"))
    assert len(logs) == len(set(ids)), "one job (and one log) per run"
    # a second pass finds everything in the store: nothing is submitted
    before = len(list((tmp_path / "logs").iterdir()))
    runner.run_grid(slurm_store, grid, "smoke", seeds, data_root=data, device="cpu", executor=ex, progress=False)
    assert len(list((tmp_path / "logs").iterdir())) == before


def test_preempted_job_is_requeued_and_resumes_from_its_checkpoint(cluster, tmp_path, data):
    config = RunConfig.from_preset("smoke", "vgg11", seed=3, epochs=30, train_subset=None, test_subset=None)
    store = RunStore(tmp_path / "store")
    node = Node(config, "large", "", 3)
    ex = SlurmExecutor(cpus=1, mem_gb=2, time_min=10, folder=tmp_path / "logs", poll_s=0.5, progress=False)
    (job,) = ex.submit(store, [node], data_root=data, device="cpu")
    ckpt = store.run_dir(config) / "checkpoint.pt"
    deadline = time.time() + 300
    epochs_before = 0
    while time.time() < deadline:
        if ckpt.exists():
            epochs_before = torch.load(ckpt, weights_only=False)["epoch"]
            if epochs_before >= 2:
                break
        time.sleep(0.2)
    assert 2 <= epochs_before < config.epochs, "the job should be mid-run when it is preempted"
    job._interrupt()  # what Slurm does on preemption: SIGTERM then USR2; submitit checkpoints and requeues
    # the executor's own wait: done when the store has the run (the first attempt's result file may hold an
    # error when submitit's `scontrol requeue` is killed by the requeue itself; the second attempt finishes)
    wait([job], [node], store, poll_s=0.5, progress=False)
    metrics = json.loads((store.run_dir(config) / "metrics.json").read_text())
    assert metrics["status"] == "finished"
    resumed = metrics["resumed_after_epochs"]
    assert len(resumed) == 1 and resumed[0] >= epochs_before, "resumed from its checkpoint, not from zero"
    assert [h["epoch"] for h in metrics["history"]] == list(range(1, config.epochs + 1)), "no epoch twice"
    # Slurm's accounting (slurmdbd) saw the requeue: one record per start (Slurm holds a requeued job ~2 min)
    deadline = time.time() + 120  # the result file is written before Slurm marks the job completed
    while True:
        acct = subprocess.run(["sacct", "-j", job.job_id, "-D", "-X", "-n", "-o", "State"], capture_output=True,
                              text=True, timeout=60).stdout.split()
        if (acct and acct[-1] == "COMPLETED") or time.time() > deadline:
            break
        time.sleep(1)
    assert acct[0] == "REQUEUED" and acct[-1] == "COMPLETED", acct
    # and the result is the one an uninterrupted local run gives
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ref = RunStore(tmp_path / "ref").run(config, data_root=data, device="cpu", progress=False)
    finally:
        torch.set_num_threads(threads)
    _same_runs(RunStore(tmp_path / "ref"), store, [ref.run_id])


def test_a_failing_job_is_reported_with_its_error_and_log(cluster, tmp_path):
    config = RunConfig.from_preset("smoke", "vgg11", seed=5)
    store = RunStore(tmp_path / "store")
    ex = SlurmExecutor(cpus=1, mem_gb=2, time_min=10, folder=tmp_path / "logs", poll_s=0.5, progress=False)
    with pytest.raises(RuntimeError) as err:
        ex.run(store, [Node(config, "large", "", 5)], data_root=tmp_path / "no-such-data", device="cpu")
    msg = str(err.value)
    assert msg.startswith("1 of 1 slurm job(s) failed")
    assert "FileNotFoundError: data_root" in msg and "_log.err" in msg and config.run_id in msg
