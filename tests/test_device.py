"""The GPU path, tested where no GPU is (issue 19): device errors, the step implementations' choice, that the
benchmark times train()'s own step, and the device check's dry run (every stage on the CPU at toy scale)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import torch

from nbprune import bench, step, train
from nbprune.data import ImageData
from nbprune.train import RunConfig, resolve_device

REPO = Path(__file__).resolve().parents[1]


def _tool(name: str):
    """A script of tools/ imported as a module (registered in sys.modules: its dataclasses look it up there)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "tools" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod
TINY = dict(model="vgg11", width=0.0625, epochs=1, batch_size=32)


def _no_cuda(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


def _synthetic(n_train: int = 80, n_test: int = 20) -> ImageData:
    g = torch.Generator().manual_seed(0)
    y, yt = torch.arange(n_train) % 10, torch.arange(n_test) % 10
    make = lambda n: torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)  # noqa: E731
    return ImageData("cifar10", make(n_train), y, make(n_test), yt, None, None, [str(c) for c in range(10)],
                     "synthetic", "0")


# ------------------------------------------------------------------------------------------ devices
def test_absent_cuda_is_one_clear_line(monkeypatch):
    _no_cuda(monkeypatch)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError) as e:
        resolve_device("cuda")
    assert str(e.value) == ("device: cuda was asked for but torch.cuda.is_available() is False on this machine; "
                            "allowed: auto, cpu")
    with pytest.raises(ValueError, match=r"^devices: cuda:1 was asked for .* allowed: auto, cpu$"):
        resolve_device("cuda:1", param="devices")
    for bad in ("tpu", "gpu0", "meta"):
        with pytest.raises(ValueError, match=rf"^device: unknown '{bad}'; allowed: auto, cpu$"):
            resolve_device(bad)


def test_cuda_index_beyond_the_machine(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match=r"^device: cuda:3 was asked for but this machine has 1 CUDA device\(s\); "
                                         r"allowed: auto, cpu, cuda, cuda:0$"):
        resolve_device("cuda:3")


# ------------------------------------------------------------------------------ step implementations
def test_step_choice_and_its_errors(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.delenv(step.STEP_ENV, raising=False)
    assert step.resolve_step(None, cpu) == "eager"
    assert step.resolve_step(None, cpu, compile_model=True) == "compile"
    assert step.resolve_step("compile", cpu) == "compile"
    with pytest.raises(ValueError, match=r"^step: 'cuda-graph' needs a CUDA device, this run is on cpu; "
                                         r"allowed here: eager, compile$"):
        step.resolve_step("cuda-graph", cpu)
    with pytest.raises(ValueError, match=r"^step: unknown 'warp'; allowed: eager, compile, cuda-graph$"):
        step.resolve_step("warp", cpu)
    monkeypatch.setenv(step.STEP_ENV, "compile")
    assert step.resolve_step(None, cpu) == "compile"
    monkeypatch.setenv(step.STEP_ENV, "fast")
    with pytest.raises(ValueError, match=r"^step \(\$NBPRUNE_STEP\): unknown 'fast'"):
        step.resolve_step(None, cpu)
    monkeypatch.delenv(step.STEP_ENV)
    with step.default_step("compile"):
        assert step.resolve_step(None, cpu) == "compile"
    assert step.resolve_step(None, cpu) == "eager"  # the context manager put the default back
    assert step.make_step_model(torch.nn.Linear(2, 2), "eager", (1, 2), cpu) is not None


def test_cuda_graph_training_on_a_cpu_is_refused_before_any_epoch(tmp_path):
    with pytest.raises(ValueError, match="step: 'cuda-graph' needs a CUDA device"):
        train.train(RunConfig(**TINY), tmp_path, _synthetic(), torch.device("cpu"), progress=False, step="cuda-graph")
    assert not (tmp_path / "checkpoint.pt").exists()


def test_bench_refuses_cuda_graphs_on_a_cpu():
    args = bench.add_arguments(__import__("argparse").ArgumentParser()).parse_args(
        ["--quick", "--device", "cpu", "--step", "cuda-graph"])
    with pytest.raises(ValueError, match="step: 'cuda-graph' needs a CUDA device"):
        bench.run(args)


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_train_and_the_benchmark_time_the_same_step(tmp_path, monkeypatch):
    """train() and bench's NbpruneLoop both call nbprune.train.train_step, once per batch."""
    calls: list[str] = []
    real = train.train_step

    def counting(*a, **kw):
        calls.append("step")
        return real(*a, **kw)

    monkeypatch.setattr(train, "train_step", counting)
    data = _synthetic(n_train=80)
    train.train(RunConfig(**TINY), tmp_path, data, torch.device("cpu"), progress=False)
    assert len(calls) == 3  # 80 images in batches of 32: 32, 32, 16
    x, y = bench._random_images(bench.BATCH * 3)
    bench.NbpruneLoop("vgg11", 0.0625, x, y, torch.device("cpu")).steps(2)
    assert len(calls) == 5


@pytest.mark.usefixtures("one_thread")
def test_step_agreement_of_one_implementation_with_itself_is_exact():
    out = _tool("bench_explore").step_agreement("vgg11", 0.0625, torch.device("cpu"), ["eager", "eager"], steps=3)
    assert len(out["losses"]["eager"]) == 3 and out["max_abs_diff"] == {"eager": 0.0}
    assert all(v > 0 for v in out["losses"]["eager"])


def test_copy_bandwidth_on_the_cpu():
    out = bench.copy_bandwidth(torch.device("cpu"), megabytes=4, samples=2)
    assert out["device_copy_gb_s"] > 0 and "host_to_device_gb_s" not in out


# ------------------------------------------------------------------------------------- device check
def _device_check():
    return _tool("device_check")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")
def test_device_check_without_a_gpu_says_so_in_one_line(tmp_path):
    with pytest.raises(SystemExit) as e:
        _device_check().main(["--out", str(tmp_path / "out"), "--work", str(tmp_path / "work")])
    assert str(e.value) == ("device_check: device: cuda was asked for but torch.cuda.is_available() is False on "
                            "this machine; allowed: auto, cpu; without a GPU run --dry-run")
    assert not (tmp_path / "out").exists()


def _run_dry(out: Path, work: Path) -> tuple[subprocess.CompletedProcess, float]:
    t = time.time()
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "device_check.py"), "--dry-run", "--out", str(out),
                           "--work", str(work)], capture_output=True, text=True, timeout=600)
    return proc, time.time() - t


@pytest.mark.slow
def test_device_check_dry_run_runs_every_stage_and_resumes(tmp_path):
    """Every stage runs on the CPU; the output is at most 8 flat files (what a device machine returns); the
    export holds configs, metrics and provenance but no weights; a second call skips the stages done."""
    out, work = tmp_path / "out", tmp_path / "work"
    proc, _ = _run_dry(out, work)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    dc = _device_check()
    for stage in dc.STAGES[:-1]:
        rec = json.loads((out / f"{stage}.json").read_text())
        assert rec["status"] == "done" and rec["dry_run"] is True, (stage, rec.get("error"))
    files = sorted(p.name for p in out.iterdir())
    assert len(files) <= 8 and all((out / f).is_file() for f in files), files
    bench_rec = json.loads((out / "bench.json").read_text())["result"]
    m = bench_rec["models"]["vgg11@0.0625"]
    assert m["reference_img_s"] > 0 and m["of_target"] == pytest.approx(m["nbprune_img_s"] / bench.TARGET_IMG_S)
    conc = json.loads((out / "concurrency.json").read_text())["result"]["vgg11@0.0625"]["n"]
    assert set(conc) == {"1", "2"} and all(r["aggregate_img_s"] > 0 for r in conc.values())
    row = json.loads((out / "train.json").read_text())["result"]
    assert set(row["runs"]) == {"unpruned", "fine-tuned", "scratch-e", "scratch-b"}
    assert all(r["state"] == "finished" for r in row["runs"].values()) and all(row["plan_check"].values())
    with tarfile.open(out / "export.tar.gz") as tar:
        names = tar.getnames()
    assert "export/manifest.json" in names and not any(n.endswith(".pt") for n in names)
    for r in row["runs"].values():
        assert {f"export/{r['run_id']}/{f}" for f in ("config.json", "metrics.json", "provenance.json")} <= set(names)
    assert "| scratch-b |" in (out / "summary.md").read_text()

    again, _ = _run_dry(out, work)
    assert again.returncode == 0, again.stderr[-3000:]
    for stage in ("ceilings", "bench", "variants", "concurrency", "train"):
        assert f"== {stage}: done earlier" in again.stdout
