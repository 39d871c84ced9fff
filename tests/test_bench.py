"""`nbprune bench --quick`: the JSON it returns has every key, and every number is positive and finite.

No timing assertions: speed is checked by running the benchmark, never by timed tests.
"""

from __future__ import annotations

import argparse
import json
import math

import pytest

from nbprune import bench


def _parse(argv: list[str]) -> argparse.Namespace:
    return bench.add_arguments(argparse.ArgumentParser()).parse_args(argv)


def _positive(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


@pytest.mark.slow
def test_quick_bench_json(capsys):
    result = bench.run(_parse(["--quick", "--json", "--device", "cpu"]))
    printed = json.loads(capsys.readouterr().out)
    assert printed["models"].keys() == result["models"].keys()

    machine = result["machine"]
    for key in ("cpu", "cores", "torch_threads", "torch", "device"):
        assert key in machine
    assert machine["device"] == "cpu"
    assert _positive(machine["peak_flops_per_s"])

    assert list(result["models"]) == ["vgg11@0.0625", "resnet20@0.25"]
    for name, m in result["models"].items():
        for key in ("nbprune_img_s", "reference_img_s", "ratio", "train_flops_per_s", "peak_flops_per_s",
                    "fraction_of_peak", "peak_mem_mb", "flops_per_image", "of_target"):
            assert _positive(m[key]), (name, key, m.get(key))
        assert m["of_target"] == pytest.approx(m["nbprune_img_s"] / bench.TARGET_IMG_S)
        assert m["step"] == "eager" and m["amp"] is False
        assert len(m["nbprune_samples"]) == len(m["reference_samples"]) == 2
        assert m["ratio"] == pytest.approx(m["nbprune_img_s"] / m["reference_img_s"])
    assert "concurrency" not in result  # on a CPU only when asked for

    assert set(result["pairs"]) == {"vgg16/vgg16-a", "resnet56/resnet56-b"}
    for name, p in result["pairs"].items():
        for key in ("latency_speedup", "flops_speedup", "latency_over_flops_speedup"):
            assert _positive(p[key]), (name, key, p.get(key))
        assert all(_positive(v) for v in p["latency_ms"].values())
        assert p["flops_speedup"] > 1  # the pruned model has fewer FLOPs
        assert p["latency_over_flops_speedup"] == pytest.approx(p["latency_speedup"] / p["flops_speedup"])


def test_table_output_and_options(capsys):
    import torch

    threads = torch.get_num_threads()
    args = _parse(["--quick", "--device", "cpu", "--models", "resnet20@0.125", "--no-pairs", "--no-reference",
                   "--repeats", "1", "--steps", "1", "--threads", "1"])
    result = bench.run(args)
    out = capsys.readouterr().out
    assert "resnet20@0.125" in out and "wall time" in out
    m = result["models"]["resnet20@0.125"]
    assert _positive(m["nbprune_img_s"]) and "reference_img_s" not in m
    assert result["pairs"] == {}
    assert result["machine"]["torch_threads"] == 1
    assert torch.get_num_threads() == threads  # the benchmark puts the thread count back


@pytest.mark.parametrize("bad", [["--models", "vgg17"], ["--models", "vgg16@x"], ["--models", "vgg16@9"],
                                 ["--repeats", "0"], ["--steps", "-1"], ["--device", "tpu"], ["--step", "warp"],
                                 ["--concurrency", "0"], ["--concurrency"]])
def test_bad_arguments_exit_2(bad):
    with pytest.raises(SystemExit) as e:
        _parse(bad)
    assert e.value.code == 2


def test_model_spec_parsing():
    assert bench._model_spec("vgg16") == ("vgg16", 1.0)
    assert bench._model_spec("vgg16-a@0.5") == ("vgg16-a", 0.5)
    settings = bench._settings(_parse([]))
    assert settings["models"] == [("vgg16", 0.25), ("resnet20", 1.0)]
    assert settings["repeats"] == 3 and settings["pair_width"] == 1.0 and settings["pair_batch"] == 256


@pytest.mark.slow
def test_steps_fit_the_budget():
    import torch

    s = dict(steps=None, min_steps=1, max_steps=2, warmup=1, repeats=1)
    cpu = torch.device("cpu")
    tight = bench.bench_model("vgg11", 0.0625, cpu, s, reference=False, budget_s=1e-9)
    loose = bench.bench_model("vgg11", 0.0625, cpu, s, reference=False, budget_s=1e9)
    assert tight["steps"] == 1 and loose["steps"] == 2  # --steps not given: as many as fit, within bounds
    assert bench.bench_model("vgg11", 0.0625, cpu, {**s, "steps": 3}, reference=False)["steps"] == 3


def _bench_explore():
    """tools/bench_explore.py imported as a module."""
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "tools" / "bench_explore.py"
    spec = importlib.util.spec_from_file_location("bench_explore", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_explore"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_the_benchmark_step_is_the_training_step(monkeypatch):
    """NbpruneLoop runs train.train_batch, which calls train.train_step once per step, as train() does."""
    import torch

    from nbprune import train

    calls = []
    real = train.train_step

    def counting(*a, **kw):
        calls.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(train, "train_step", counting)
    x, y = bench._random_images(bench.BATCH * 2)
    loop = bench.NbpruneLoop("vgg11", 0.0625, x, y, torch.device("cpu"))
    loop.steps(3)
    assert len(calls) == 3
    assert bench.train_batch is train.train_batch and loop.hooks == []
    assert [len(g["params"]) for g in loop.opt.param_groups] == [len(list(loop.model.parameters()))]


def test_explore_lives_in_tools_and_run_takes_extra_measurements(capsys):
    assert not hasattr(bench, "explore") and not hasattr(bench, "step_agreement")
    with pytest.raises(ValueError, match="explore: .* run python tools/bench_explore.py"):
        bench.run(_parse(["--quick", "--device", "cpu", "--explore"]))
    args = _parse(["--quick", "--device", "cpu", "--models", "vgg11@0.0625", "--no-pairs", "--no-reference",
                   "--repeats", "1", "--steps", "1"])
    seen = []
    result = bench.run(args, extra=lambda s, device: seen.append(device.type) or {"extra": 1}, show=False)
    assert result["extra"] == 1 and seen == ["cpu"] and capsys.readouterr().out == ""
    tool = _bench_explore()
    assert tool.format_explore({}) == [] and set(tool.VARIANTS) >= {"torch.compile", "foreach SGD"}


@pytest.mark.slow
def test_explore_workers_measures_one_process_against_one_per_core():
    """The comparison behind the local executor's workers (tools/bench_explore.py): both sides measured, fp32
    and bf16."""
    from nbprune.executors import cpu_cores

    s = {**bench._settings(_parse(["--quick"])), "repeats": 1, "steps": 1}
    out = _bench_explore().explore_workers("vgg11", 0.0625, s)
    if cpu_cores() < 2:
        assert out == {}
        return
    assert out["cores"] == cpu_cores()
    for precision in ("fp32", "bf16"):
        r = out[precision]
        assert _positive(r["one_process_img_s"]) and _positive(r["per_core_processes_img_s"])
        assert r["ratio"] == pytest.approx(r["per_core_processes_img_s"] / r["one_process_img_s"])
        assert len(r["samples"]["many"]) == 1


def test_gpu_options_and_device_defaults():
    import torch

    args = _parse(["--amp", "--step", "compile", "--concurrency", "1", "2"])
    s = bench._settings(args)
    assert s["amp"] is True and s["step"] == "compile" and s["concurrency"] == [1, 2]
    plain = _parse([])
    on_cpu = bench._device_settings(bench._settings(plain), torch.device("cpu"), plain)
    assert on_cpu["concurrency"] == [] and on_cpu["max_steps"] == 8
    on_cuda = bench._device_settings(bench._settings(plain), torch.device("cuda"), plain)  # no CUDA call made
    assert on_cuda["concurrency"] == list(bench.CUDA_CONCURRENCY) and on_cuda["max_steps"] == bench.CUDA_MAX_STEPS
    off = _parse(["--no-concurrency"])
    assert bench._device_settings(bench._settings(off), torch.device("cuda"), off)["concurrency"] == []
