#!/usr/bin/env python
"""Exploratory variants of ``nbprune bench``: what else could make nbprune's training loop faster on this machine.

``python tools/bench_explore.py [nbprune bench options]`` runs ``nbprune bench`` (:mod:`nbprune.bench`, every
option as there) and then, for each model, times variants of nbprune's loop against each other, interleaved
the same way: NCHW instead of channels_last, 1 thread, foreach or fused SGD, torch.compile (its compile time
measured apart, on a CPU also from an empty inductor cache in a fresh process), bf16 autocast; on CUDA also
CUDA graphs, fp32 and bf16, and the losses of a few steps from one init with each step implementation
(:func:`step_agreement`). On a CPU also -- in child processes, alternating, since it must be set before OpenMP
starts -- OpenMP's wait policy (``OMP_WAIT_POLICY`` unset vs ``PASSIVE``), and -- also in child processes,
fp32 and bf16 -- one loop on every core against one one-thread loop per core running at once (what the local
executor's ``workers`` gain); and the cost of the data path alone, nbprune's against the authors' PIL one.
Expect several minutes (torch.compile alone takes ~2).

Every variant is :class:`nbprune.bench.NbpruneLoop` with an option, so each times the step ``train()`` runs.
``tools/device_check.py`` calls :func:`explore` for its ``variants`` stage.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "src") not in sys.path:  # run from a checkout without installing nbprune
    sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402

from nbprune import bench, bench_measure  # noqa: E402
from nbprune.executors import cpu_cores  # noqa: E402

VARIANTS = {
    "default (channels_last, for-loop SGD)": {},
    "NCHW (contiguous)": {"channels_last": False},
    "1 thread": {"threads": 1},
    "foreach SGD": {"optimizer": "foreach"},
    "fused SGD": {"optimizer": "fused"},
    "torch.compile": {"compile_model": True},
    "bf16 autocast (changes math)": {"autocast_bf16": True},
    "CUDA graphs": {"step": "cuda-graph"},
    "bf16 autocast + CUDA graphs": {"autocast_bf16": True, "step": "cuda-graph"},
}
CUDA_ONLY = {"CUDA graphs", "bf16 autocast + CUDA graphs"}


def explore(name: str, width: float, device: torch.device, s: dict, env_ab: bool = True) -> dict:
    """Images/s of each variant of nbprune's loop, interleaved; compile time measured apart."""
    s = {**s, "steps": s["steps"] or s["max_steps"]}
    n_images = bench.BATCH * (s["warmup"] + s["repeats"] * s["steps"] + 4)
    x, y = bench._random_images(n_images)
    loops, notes = {}, {}
    for label, kw in VARIANTS.items():
        if kw.get("autocast_bf16") and device.type == "cpu" and not torch.backends.mkldnn.is_available():
            continue
        if label in CUDA_ONLY and device.type != "cuda":
            continue
        if kw.get("compile_model") and s.get("no_compile"):
            notes[label] = "skipped (no_compile)"
            continue
        try:
            loop = bench.NbpruneLoop(name, width, x, y, device, **kw)
            if kw.get("compile_model"):
                t = time.perf_counter()
                loop.steps(1)  # compiles the forward and backward graphs (inductor's on-disk cache as found)
                notes["compile_s"] = time.perf_counter() - t
                if device.type == "cpu":
                    try:
                        notes["compile_cold_s"] = _cold_compile_seconds(name, width)
                    except Exception as e:  # noqa: BLE001 - reported, the in-process timing stands
                        notes["compile_cold_s"] = f"failed: {type(e).__name__}"
            loop.steps(max(s["warmup"], 1))
        except Exception as e:  # noqa: BLE001 - an unsupported variant is reported, not fatal
            notes[label] = f"failed: {type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
            continue
        loops[label] = loop
    secs = bench._interleave({k: (lambda lp=lp: lp.steps(s["steps"])) for k, lp in loops.items()}, s["repeats"], device)
    img_s = {k: [bench.BATCH * s["steps"] / t for t in v] for k, v in secs.items()}
    base = bench._median(next(iter(img_s.values())))
    out = {"img_s": {k: bench._median(v) for k, v in img_s.items()},
           "relative": {k: bench._median(v) / base for k, v in img_s.items()},
           "samples": img_s, **notes}
    if env_ab and device.type == "cpu":
        out["omp_wait_policy"] = explore_wait_policy(name, width, s)
        out["workers"] = explore_workers(name, width, s)
    if device.type == "cuda":
        impls = ["eager", "cuda-graph"] + ([] if s.get("no_compile") else ["compile"])
        out["agreement"] = step_agreement(name, width, device, impls)
    return out


def step_agreement(name: str, width: float, device: torch.device, impls: list[str], steps: int = 8,
                   amp: bool = False) -> dict:
    """The loss of every step of nbprune's loop with each step implementation in ``impls``, from the same init
    and the same batches, and each one's largest departure from the first implementation's losses: whether a
    faster step still trains the same way (equal up to kernel nondeterminism, never bit for bit)."""
    x, y = bench._random_images(bench.BATCH * (steps + 1))
    losses: dict[str, list[float]] = {}
    for impl in impls:
        loop = bench.NbpruneLoop(name, width, x, y, device, step=impl, autocast_bf16=amp)
        loop.keep_losses = True
        loop.steps(steps)
        losses[impl] = [float(v) for v in torch.stack(loop.losses).cpu()]
    base = losses[impls[0]]
    return {"steps": steps, "amp": amp, "losses": losses, "reference": impls[0],
            "max_abs_diff": {k: max(abs(a - b) for a, b in zip(v, base)) for k, v in losses.items()}}


def explore_workers(name: str, width: float, s: dict) -> dict:
    """Images/s of one loop using every core vs one one-thread loop per core running at once (summed), in
    child processes, fp32 and bf16 autocast: what the local executor's workers gain on this CPU."""
    cores = cpu_cores()
    if cores < 2:
        return {}
    steps = 3 * (s["steps"] or s["max_steps"])  # long enough that the concurrent children overlap
    spec = {"name": name, "width": width, "warmup": max(s["warmup"], 1), "steps": steps, "segments": 3}
    env = bench._child_env()
    out = {"cores": cores}
    for amp in (False, True):
        one, many = [], []
        for r in range(s["repeats"]):
            runs = [lambda: one.append(bench._child({**spec, "threads": cores, "amp": amp}, env)["img_s"]),
                    lambda: many.append(sum(c["img_s"] for c in bench._children(
                        [{**spec, "threads": 1, "amp": amp, "start_at": time.time() + 6}] * cores, env)))]
            for run_ in (runs if r % 2 == 0 else runs[::-1]):
                run_()
        one_s, many_s = bench._median(one), bench._median(many)
        out["bf16" if amp else "fp32"] = {"one_process_img_s": one_s, "per_core_processes_img_s": many_s,
                                          "ratio": many_s / one_s, "samples": {"one": one, "many": many}}
    return out


def _cold_compile_seconds(name: str, width: float) -> float:
    """torch.compile time of nbprune's first training step in a fresh process with an empty inductor cache."""
    cache = tempfile.mkdtemp(prefix="nbprune-bench-inductor-")
    try:
        env = {**bench._child_env(), "TORCHINDUCTOR_CACHE_DIR": cache}
        proc = subprocess.run([sys.executable, __file__, "--compile-child", name, str(width)], env=env,
                              capture_output=True, text=True, check=True)
        return json.loads(proc.stdout.strip().splitlines()[-1])["compile_s"]
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def explore_wait_policy(name: str, width: float, s: dict) -> dict:
    """nbprune's loop with OpenMP's wait policy unset vs PASSIVE, in alternating child processes."""
    spec = {"name": name, "width": width, "warmup": max(s["warmup"], 1), "steps": s["steps"] or s["max_steps"],
            "segments": 2,
            "threads": torch.get_num_threads()}
    base_env = {k: v for k, v in bench._child_env().items() if k != "OMP_WAIT_POLICY"}
    envs = {"unset": base_env, "PASSIVE": {**base_env, "OMP_WAIT_POLICY": "PASSIVE"}}
    samples: dict[str, list[float]] = {k: [] for k in envs}
    for r in range(s["repeats"]):
        order = list(envs) if r % 2 == 0 else list(envs)[::-1]
        for k in order:
            samples[k].append(bench._child(spec, envs[k])["img_s"])
    return {"img_s": {k: bench._median(v) for k, v in samples.items()}, "samples": samples,
            "passive_over_unset": bench._median(samples["PASSIVE"]) / bench._median(samples["unset"])}


def augment_cost(device: torch.device, batches: int = 50) -> dict:
    """Milliseconds per batch of 64 of nbprune's data path alone, and of the authors' PIL path."""
    x, y = bench._random_images(bench.BATCH * batches)
    x = x.to(device)
    it = bench.train_batches(x, y.to(device), bench.BATCH, 0, 0)
    t = time.perf_counter()
    for _ in it:
        pass
    bench_measure.sync(device)
    nb = (time.perf_counter() - t) / batches
    ds = bench_measure.PILCifar(x.cpu().permute(0, 2, 3, 1).contiguous().numpy(), y.numpy())
    t = time.perf_counter()
    for i in range(bench.BATCH * 5):
        ds[i]
    pil = (time.perf_counter() - t) / 5
    return {"nbprune_ms_per_batch": 1e3 * nb, "pil_ms_per_batch": 1e3 * pil}


def format_explore(r: dict) -> list[str]:
    """Table lines of the ``augmentation`` and ``explore`` results (after :func:`nbprune.bench.format_table`'s)."""
    lines: list[str] = []
    if "augmentation" in r:
        a = r["augmentation"]
        lines += ["", f"data path per batch of 64: nbprune {a['nbprune_ms_per_batch']:.2f} ms, "
                      f"PIL/torchvision {a['pil_ms_per_batch']:.1f} ms (one process)"]
    for k, v in r.get("explore", {}).items():
        lines += ["", f"variants of nbprune's loop, {k}:"]
        for label, ips in v["img_s"].items():
            lines.append(f"  {label:<40}{ips:9.1f} img/s  x{v['relative'][label]:.2f}")
        for note, val in v.items():
            if note == "omp_wait_policy":
                lines.append("  OMP_WAIT_POLICY (child processes): " + ", ".join(
                    f"{p} {ips:.1f} img/s" for p, ips in val["img_s"].items())
                    + f"; PASSIVE/unset x{val['passive_over_unset']:.2f}")
            elif note == "workers" and val:
                lines.append(f"  one process on {val['cores']} threads vs {val['cores']} one-thread processes at once "
                             "(summed): " + ", ".join(
                                 f"{p} {val[p]['one_process_img_s']:.1f} vs {val[p]['per_core_processes_img_s']:.1f} "
                                 f"img/s (x{val[p]['ratio']:.2f})" for p in ("fp32", "bf16")))
            elif note == "agreement":
                diffs = ", ".join(f"{k} {d:.2e}" for k, d in val["max_abs_diff"].items())
                lines.append(f"  loss over {val['steps']} steps from one init, largest difference from "
                             f"{val['reference']}: {diffs}")
            elif note not in ("img_s", "relative", "samples"):
                lines.append(f"  {note}: {val:.1f} s" if isinstance(val, float) else f"  {note}: {val}")
    return lines


def measure(s: dict, device: torch.device) -> dict:
    """The ``extra`` of :func:`nbprune.bench.run`: the data path's cost and every model's variants."""
    return {"augmentation": augment_cost(device),
            "explore": {bench._key(n, w): explore(n, w, device, s) for n, w in s["models"]}}


def _compile_child(name: str, width: float) -> None:
    """The fresh process of :func:`_cold_compile_seconds`: print the seconds of the first compiled step."""
    x, y = bench._random_images(bench.BATCH * 4)
    cpu = torch.device("cpu")
    loop = bench.NbpruneLoop(name, width, x, y, cpu, compile_model=True)
    print(json.dumps({"compile_s": bench._timed(lambda: loop.steps(1), cpu)}))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--compile-child"]:
        _compile_child(argv[1], float(argv[2]))
        return 0
    parser = bench.add_arguments(argparse.ArgumentParser(prog="bench_explore.py", description=__doc__.splitlines()[0]))
    args = parser.parse_args(argv)
    result = bench.run(args, extra=measure, show=False)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print("\n".join([bench.format_table(result), *format_explore(result)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
