"""Reliability: SIGKILL at random moments, two processes racing for one run."""

import json
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import make_imagefolder

EPOCHS = 20  # long enough (a few seconds) that a kill at a random moment usually lands mid-training


def _cli(store, data, epochs, *extra):
    return [sys.executable, "-m", "nbprune.cli", "train", "--model", "vgg11", "--width", "0.125", "--epochs", str(epochs),
            "--store", str(store), "--data", str(data), "--json", "--quiet", "--batch-size", "16", *extra]


@pytest.fixture
def small_data(tmp_path):
    return make_imagefolder(tmp_path / "data", train_per_class=40, test_per_class=5)


def _final(store, run_id):
    return torch.load(store / run_id / "final.pt")


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_is_identical(tmp_path, small_data):
    ref = subprocess.run(_cli(tmp_path / "ref", small_data, EPOCHS), capture_output=True, text=True, timeout=600)
    assert ref.returncode == 0, ref.stderr
    ref_out = json.loads(ref.stdout)
    store = tmp_path / "killed"
    rng = random.Random(1234)
    kills = 0
    for attempt in range(8):
        proc = subprocess.Popen(_cli(store, small_data, EPOCHS), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # let it get past start-up (imports, data) into training, then kill at a random moment
        t0 = time.time()
        while proc.poll() is None and not (store / ref_out["run_id"] / "lock").exists() and time.time() - t0 < 120:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 2.0))
        if proc.poll() is not None:
            break  # finished before the kill
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if (store / ref_out["run_id"] / "metrics.json").exists():
            break  # it finished in the instant before the signal: nothing left to resume
        kills += 1
        if kills == 3:
            break
    final = subprocess.run(_cli(store, small_data, EPOCHS), capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr
    out = json.loads(final.stdout)
    assert kills >= 1
    assert {k: out[k] for k in ("run_id", "test_acc", "best_test_acc")} == \
        {k: ref_out[k] for k in ("run_id", "test_acc", "best_test_acc")}
    a, b = _final(tmp_path / "ref", out["run_id"]), _final(store, out["run_id"])
    assert all(torch.equal(a[k], b[k]) for k in a)
    check = subprocess.run([sys.executable, "-m", "nbprune.cli", "runs", "--store", str(store), "--check"],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout


@pytest.mark.slow
def test_two_processes_asking_for_the_same_run_train_it_once(tmp_path, small_data):
    store = tmp_path / "store"
    procs = [subprocess.Popen(_cli(store, small_data, 4), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e for _, e in outs]
    results = [json.loads(o) for o, _ in outs]
    assert results[0] == results[1]
    waited = [("another process is training it" in e) for _, e in outs]
    assert waited.count(True) == 1, outs
    assert not (store / results[0]["run_id"] / "lock").exists()
