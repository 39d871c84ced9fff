import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nbprune.cli import main
from nbprune.presets import get_preset

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "nbprune.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def test_info_json(capsys):
    assert main(["info", "resnet56-b", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["arch"] == "resnet56" and out["params"] > 0 and out["flops"] > out["macs"] > 0
    main(["info", "resnet56", "--json"])
    full = json.loads(capsys.readouterr().out)
    assert 1 - out["flops"] / full["flops"] == pytest.approx(0.275, abs=0.002)


@pytest.mark.slow
@pytest.mark.parametrize("args, needle", [
    (["info", "resnt56"], "did you mean 'resnet56'"),
    (["info", "vgg16", "--width", "0"], "width must be a number in (0, 4]"),
    (["info", "vgg16", "--dataset", "mnist"], "invalid choice: 'mnist'"),
    (["train", "--model", "vgg16", "--epochs", "-3"], "epochs must be >= 0"),
    (["train", "--model", "vgg17", "--epochs", "1"], "model: unknown 'vgg17'"),
    (["train", "--model", "vgg16", "--preset", "quik"], "preset: unknown 'quik'; did you mean 'quick'"),
    (["grid", "predefined", "--workers", "0"], "workers: must be 'auto' or an integer >= 1"),
    (["grid", "predefined", "--threads", "0"], "threads must be >= 1, got 0"),
    (["grid", "predefined", "--executor", "slurm", "--threads", "2"], "threads: --threads sets the local"),
    (["train", "--model", "vgg16", "--epochs", "1", "--data", "/no/such/dir"], "data_root: '/no/such/dir' does not exist"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle):
    r = run_cli(*args)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in r.stderr


@pytest.mark.slow
def test_train_then_cached_then_listed(tmp_path, tiny_archive):
    store = tmp_path / "store"
    args = ["train", "--model", "resnet20", "--width", "0.25", "--epochs", "1", "--store", str(store),
            "--data", str(tiny_archive), "--json", "--quiet"]
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    out = json.loads(first.stdout)
    assert {"test_acc", "best_test_acc", "run_id"} <= set(out)
    second = run_cli(*args)
    assert json.loads(second.stdout) == out
    listing = run_cli("runs", "--store", str(store))
    assert out["run_id"] in listing.stdout and "finished" in listing.stdout
    assert run_cli("runs", "--store", str(store), "--check").returncode == 0


def _train_args(store, data, *extra):
    return ["train", "--model", "resnet20", "--dataset", "cifar10", "--epochs", "2", "--seed", "0",
            "--store", str(store), "--train-subset", "5000", "--data", str(data), "--json", "--quiet", *extra]


@pytest.mark.data
@pytest.mark.slow
def test_real_cifar_resnet20_trains_caches_and_resumes_after_kill(tmp_path, cifar_path):
    """The engine's acceptance test: 2 epochs of ResNet-20 on 5,000 real CIFAR-10 images."""
    ref_store, killed_store = tmp_path / "ref", tmp_path / "killed"
    ref = run_cli(*_train_args(ref_store, cifar_path), timeout=900)
    assert ref.returncode == 0, ref.stderr
    ref_out = json.loads(ref.stdout)
    assert ref_out["test_acc"] > 15  # 10 classes: chance is 10%
    t0 = time.time()
    cached = run_cli(*_train_args(ref_store, cifar_path))
    assert json.loads(cached.stdout) == ref_out and time.time() - t0 < 60
    # kill a second copy with SIGKILL as soon as its first epoch's checkpoint exists, then resume
    proc = subprocess.Popen([sys.executable, "-m", "nbprune.cli", *_train_args(killed_store, cifar_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ckpt = killed_store / ref_out["run_id"] / "checkpoint.pt"
    deadline = time.time() + 600
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed_store / ref_out["run_id"] / "metrics.json").exists()
    resumed = run_cli(*_train_args(killed_store, cifar_path), timeout=900)
    assert resumed.returncode == 0, resumed.stderr
    res_out = json.loads(resumed.stdout)
    assert res_out["test_acc"] == ref_out["test_acc"] and res_out["run_id"] == ref_out["run_id"]
    import torch

    a = torch.load(ref_store / ref_out["run_id"] / "final.pt")
    b = torch.load(killed_store / ref_out["run_id"] / "final.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)


# ------------------------------------------------------------------------- the CLI names the chapters' runs
def _train_config(*argv):
    from nbprune.cli import build_parser, train_config

    return train_config(build_parser().parse_args(["train", *argv]))


def _flags(overrides: dict) -> list[str]:
    """``nbprune train`` flags for a chapter's large-model overrides: a named flag where there is one, else
    ``--set FIELD=VALUE`` with the value as JSON (as a user would type it)."""
    from nbprune.cli import TRAIN_OVERRIDES
    from nbprune.train import RunConfig

    out = []
    for k, v in overrides.items():
        if k in TRAIN_OVERRIDES and k != "amp":
            out += [f"--{k.replace('_', '-')}", str(v)]
        else:
            out += ["--set", f"{k}={json.dumps(RunConfig.to_dict_value(v))}"]
    return out


@pytest.mark.parametrize("preset", ["smoke", "quick", "paper"])
def test_train_applies_every_field_the_preset_sets(preset):
    from nbprune.pipeline import large_config

    cfg = _train_config("--model", "vgg16", "--preset", preset, "--seed", "0")
    assert cfg == large_config(get_preset(preset), "vgg16", 0)
    if preset == "quick":
        assert cfg.amp  # the preset's bf16 is no longer dropped without --amp
        assert cfg.run_id == "70a13fff5220a0e7"  # chapter 1's unpruned VGG-16, seed 0 (issue 20)
    explicit = _train_config("--model", "vgg16", "--preset", preset, "--no-amp", "--epochs", "2", "--lr", "0.05",
                             "--batch-size", "32", "--set", "epochs=7", "--set", "milestones=[1]")
    assert (explicit.amp, explicit.epochs, explicit.lr, explicit.batch_size) == (False, 2, 0.05, 32)
    assert explicit.milestones == (1,)


@pytest.mark.parametrize("preset", ["smoke", "quick", "paper"])
def test_the_cli_config_of_every_chapters_large_model_has_the_chapters_run_id(preset):
    from nbprune.chapters import CHAPTERS
    from nbprune.graph import large_for

    seen = 0
    for chapter in CHAPTERS.values():
        for exp in chapter.experiments(preset):
            if getattr(exp, "previous", None) is not None or getattr(exp, "pretrained", ()):
                continue  # a later round of iterative pruning starts from a ticket, Table 11 from a trained model
            for seed in (0, 3):
                want = large_for(exp, get_preset(preset), seed)
                got = _train_config("--model", exp.model, "--preset", preset, "--seed", str(seed),
                                    *_flags(dict(exp.large)))
                assert got.run_id == want.run_id, (chapter, exp.label, got.non_default(), want.non_default())
                seen += 1
    assert seen >= 10


@pytest.mark.slow
@pytest.mark.parametrize("args, needle", [
    (["import", "/no/such/export"], "import: /no/such/export is not a directory"),
    (["train", "--model", "vgg16", "--set", "epoch=3"], "set: must be FIELD=VALUE with FIELD one of model,"),
    (["export", "--store", "/no/such/store", "--out", "/no/such/out", "--runs", "0123456789abcdef"],
     "export: 0123456789abcdef is not a finished run in /no/such/store"),
])
def test_export_and_import_bad_input_is_one_line_and_exit_2(args, needle):
    r = run_cli(*args)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in r.stderr
