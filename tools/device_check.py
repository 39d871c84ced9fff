#!/usr/bin/env python
"""The device check of issue 19: what nbprune does on one GPU, measured in one short, resumable script.

Stages, each independent (a failure is recorded and the next stage runs) and resumable (each writes
``<out>/<stage>.json`` with its status; a stage whose JSON says ``done`` is skipped on the next call):

1. ``ceilings``     the device, its measured bf16 matmul TFLOP/s (8192^3) and copy GB/s (device to device,
                    pinned host to device): the ceilings every later number is read against.
2. ``bench``        ``nbprune bench`` on CUDA: nbprune's loop against the authors' pipeline (a PIL-per-sample
                    DataLoader, fp32, NCHW) in the same run, images/s against the 45,000 images/s target,
                    fraction of the bf16 peak, pruned-model inference latency.
3. ``variants``     nbprune's loop with each step implementation (eager, torch.compile, CUDA graphs), fp32 and
                    bf16, and whether the faster steps train the same way (losses from one init).
4. ``concurrency``  aggregate images/s of N = 1, 2, 4, 8 concurrent runs on the GPU.
5. ``train``        one seed of Table 1's VGG-16 -> VGG-16-A row at the ``paper`` preset (unpruned 160 epochs,
                    fine-tuned 40, Scratch-E 160, Scratch-B 243): the unpruned model, Scratch-E and Scratch-B
                    start together on the GPU (the L1-norm target fixes the pruned architecture, so the
                    scratch runs need no trained model), fine-tuning once the unpruned model is done. It
                    trains until ``--budget-s`` and stops after an epoch's checkpoint, resumable.
6. ``export``       the store without weights (config, metrics, provenance of each finished run) as
                    ``<out>/export.tar.gz`` (``nbprune import`` reads the unpacked folder).
7. ``summary``      one table of everything above: printed and written to ``<out>/summary.md``.

Everything the script leaves in ``--out`` (default ``$OUT``) is at most 8 flat files, so it all comes back
from a device machine; the run store (with weights) and the work files go to ``--work`` (default
``build/device-check``, git-ignored). ``--dry-run`` runs every stage on the CPU at toy scale (tiny models,
the ``smoke`` preset on generated images) in well under a minute: what the tests run.

On the project's device machine (python3 there holds PyTorch; nbprune runs from the checkout)::

    mkdir -p build/data && cp ../shared/data/cifar10-jpeg.tar.gz build/data/      # here, once (19 MB)
    run(command="PYTHONUNBUFFERED=1 python3 tools/device_check.py --out $OUT", carry=["build/data"],
        timeout_s=600)

A later call on a fresh machine skips the stages already done when their JSON files travel back with it:
copy them into an ignored folder, carry it, and pass ``--resume-from`` that folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tarfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "src") not in sys.path:  # run from a checkout without installing nbprune (the device machine)
    sys.path.insert(0, str(ROOT / "src"))
if str(ROOT / "tools") not in sys.path:  # bench_explore.py, the loop variants, lives next to this script
    sys.path.insert(0, str(ROOT / "tools"))

STAGES = ("ceilings", "bench", "variants", "concurrency", "train", "export", "summary")
ALWAYS = ("export", "summary")  # cheap, and they reflect the latest state: never skipped
TOTAL_S = 540  # the whole script, so that one 10-minute device command holds it with room to spare
RESERVE_S = 45  # left for export and summary after training
MIN_S = {"ceilings": 20, "bench": 90, "variants": 120, "concurrency": 90, "train": 60}  # to start a stage
DATA_CANDIDATES = ("build/data/cifar10-jpeg.tar.gz", "shared/data/cifar10-jpeg.tar.gz",
                   "../shared/data/cifar10-jpeg.tar.gz")
ROW_VARIANTS = ("unpruned", "fine-tuned", "scratch-e", "scratch-b")


@dataclass
class Context:
    """What every stage needs: where to write, on which device, at which scale, until when."""

    out: Path
    work: Path
    store: Path
    device: Any  # torch.device
    dry_run: bool
    deadline: float
    budget_s: float | None
    data_root: Path | None
    step: str
    runs_per_device: int
    seed: int

    @property
    def preset(self) -> str:
        return "smoke" if self.dry_run else "paper"

    def left(self) -> float:
        return self.deadline - time.time()


# ------------------------------------------------------------------------------------------------ stages
def stage_ceilings(ctx: Context) -> dict:
    """The device and its measured arithmetic and copy ceilings."""
    import torch

    from nbprune import bench

    samples = 3 if ctx.dry_run else 10
    flops = bench.peak_flops(ctx.device, 256 if ctx.dry_run else 8192, samples=samples)
    copy = bench.copy_bandwidth(ctx.device, 16 if ctx.dry_run else 2048, samples=samples)
    cuda = ctx.device.type == "cuda"
    out = {"machine": bench.machine_info(ctx.device), "torch_cuda": torch.version.cuda,
           "matmul": {"dtype": "bf16" if cuda else "fp32", "size": 8192 if cuda else 256,
                      "tflop_s": max(flops) / 1e12, "tflop_s_median": bench._median(flops) / 1e12,
                      "samples_tflop_s": [f / 1e12 for f in flops]},
           "copy": copy}
    if cuda:
        props = torch.cuda.get_device_properties(ctx.device)
        out["gpu"] = {"name": props.name, "memory_gib": props.total_memory / 2**30,
                      "multiprocessors": props.multi_processor_count}
    print(f"device {out['machine'].get('gpu', out['machine']['cpu'])}: {out['matmul']['dtype']} matmul "
          f"{out['matmul']['tflop_s']:.3g} TFLOP/s (best of {samples}), device copy "
          f"{copy['device_copy_gb_s']:.0f} GB/s" + (f", host to device {copy['host_to_device_gb_s']:.1f} GB/s"
                                                    if "host_to_device_gb_s" in copy else ""))
    return out


def _bench_args(argv: list[str]) -> argparse.Namespace:
    from nbprune import bench

    return bench.add_arguments(argparse.ArgumentParser()).parse_args(argv)


def _models(ctx: Context) -> list[str]:
    return ["vgg11@0.0625"] if ctx.dry_run else ["vgg16@1", "resnet56@1"]


def stage_bench(ctx: Context) -> dict:
    """``nbprune bench``: nbprune's loop vs the authors' pipeline, fraction of peak, inference pairs."""
    from nbprune import bench

    if ctx.dry_run:
        argv = ["--quick", "--device", "cpu", "--no-pairs", "--repeats", "1", "--steps", "1"]
    else:
        argv = ["--device", "cuda", "--budget", "30"]
    return bench.run(_bench_args([*argv, "--models", *_models(ctx), "--no-concurrency"]))


def _loop_settings(ctx: Context) -> dict:
    """bench's settings for the variants and concurrency stages."""
    from nbprune import bench

    argv = (["--quick", "--device", "cpu", "--repeats", "1", "--steps", "1"] if ctx.dry_run
            else ["--device", "cuda", "--repeats", "3", "--steps", "100", "--warmup", "5"])
    args = _bench_args(argv)
    return bench._device_settings(bench._settings(args), ctx.device, args)


def stage_variants(ctx: Context) -> dict:
    """Each step implementation of nbprune's loop, interleaved, for the row's model (VGG-16); no torch.compile
    in the dry run (a cold compile takes half a minute on a CPU)."""
    import bench_explore

    from nbprune import bench

    s = _loop_settings(ctx)
    out = {}
    for spec in _models(ctx)[:1]:  # the paper row's model; the others' variants would cost training time
        name, width = bench._model_spec(spec)
        out[spec] = bench_explore.explore(name, width, ctx.device, {**s, "no_compile": ctx.dry_run}, env_ab=False)
        print(f"{spec}: " + ", ".join(f"{k} x{v:.2f}" for k, v in out[spec]["relative"].items()), flush=True)
    return out


def stage_concurrency(ctx: Context) -> dict:
    """Aggregate images/s of N concurrent runs per device."""
    from nbprune import bench

    s = _loop_settings(ctx)
    ns = [1, 2] if ctx.dry_run else list(bench.CUDA_CONCURRENCY)
    out = {}
    for spec in _models(ctx):
        name, width = bench._model_spec(spec)
        out[spec] = bench.bench_concurrency(name, width, ctx.device, ns, s)
        print("\n".join(bench.format_concurrency({spec: out[spec]})), flush=True)
    return out


def row_configs(preset: str, seed: int) -> tuple[Any, dict]:
    """Table 1's VGG-16 -> VGG-16-A experiment and the configs of its row: the unpruned model from the grid,
    and its derived runs from the L1-norm plan made on the untrained model (the target fixes the pruned
    architecture, so the plan of the trained model has the same cfg; the train stage checks it)."""
    from nbprune.chapters import chapter_grid
    from nbprune.data import DATASETS
    from nbprune.graph import large_for
    from nbprune.pipeline import derived_configs
    from nbprune.plans import compute_plan
    from nbprune.presets import get_preset
    from nbprune.prune import hooks_for
    from nbprune.train import build_model

    preset = get_preset(preset)
    exp = next(e for e in chapter_grid("predefined", preset)
               if e.method == "l1" and dict(e.settings).get("target") == "vgg16-a")
    large = large_for(exp, preset, seed)
    spec = dict(exp.settings)
    sp = compute_plan(build_model(large, DATASETS[large.dataset], hooks_for(large)).eval(), exp.method, spec)
    configs = derived_configs(large, sp.plan, {"method": exp.method, **spec}, sp.flops_large, sp.flops_pruned,
                              preset, exp.variants, exp.lr, sp.selections)
    return exp, {"unpruned": large, **configs}


def stage_train(ctx: Context) -> dict:
    """The paper-protocol row, the runs that can run at once placed together on the device."""
    from nbprune.data import load_cifar
    from nbprune.executors import LocalExecutor
    from nbprune.graph import Node, variant_configs
    from nbprune.presets import get_preset
    from nbprune.runs import RunStore

    root = ctx.data_root if ctx.data_root is not None else (make_toy_data(ctx.work / "toy-data") if ctx.dry_run
                                                            else missing_data())
    exp, configs = row_configs(ctx.preset, ctx.seed)
    large = configs["unpruned"]
    budget = ctx.left() - RESERVE_S if ctx.budget_s is None else min(ctx.budget_s, ctx.left() - RESERVE_S)
    stop_at = time.time() + max(budget, 0)
    step = choose_step(ctx)
    print(f"training {exp.label} seed {ctx.seed} at preset {ctx.preset} on {ctx.device} (step {step}) "
          f"for at most {budget:.0f} s", flush=True)
    load_cifar(large.dataset, root, val_size=large.val_size, train_subset=large.train_subset,
               test_subset=large.test_subset)  # decoded once here: the workers read the cache
    store = RunStore(ctx.store)
    first = [Node(configs[v], "large" if v == "unpruned" else v, "" if v == "unpruned" else exp.label, ctx.seed)
             for v in ("unpruned", "scratch-e", "scratch-b")]
    ex = LocalExecutor(devices=[str(ctx.device)], runs_per_device=ctx.runs_per_device, step=step)
    outcomes = ex.run(store, first, data_root=root, stop_at=stop_at)
    check = {}
    if store.get(large) is not None and time.time() < stop_at:
        after = variant_configs(store.get(large), exp, get_preset(ctx.preset), root)
        check = {v: after[v].run_id == configs[v].run_id for v in after}
        if not all(check.values()):
            print(f"warning: the trained model's plan names other runs than the untrained one's: {check}")
        configs["fine-tuned"] = after["fine-tuned"]
        outcomes += ex.run(store, [Node(after["fine-tuned"], "fine-tuned", exp.label, ctx.seed)], data_root=root,
                           stop_at=stop_at)
    runs = {v: run_progress(store, cfg) for v, cfg in configs.items() if v in ROW_VARIANTS}
    done = all(r["state"] == "finished" for r in runs.values()) and len(runs) == len(ROW_VARIANTS)
    return {"status": "done" if done else "partial", "experiment": exp.label, "preset": ctx.preset,
            "seed": ctx.seed, "step": step, "runs_per_device": ctx.runs_per_device, "budget_s": budget,
            "data": str(root), "plan_check": check, "outcomes": outcomes, "runs": runs,
            "paper": paper_row(exp)}


def stage_export(ctx: Context) -> dict:
    """The store without weights, as one archive in ``out``; unfinished runs are in train.json's progress."""
    from nbprune.runs import RunStore

    store = RunStore(ctx.store)
    folder = ctx.work / "export"
    try:
        from nbprune.store_io import export_runs

        ids = export_runs(store, folder).run_ids
    except ImportError:  # an older checkout without nbprune.store_io: the JSON files as they are
        ids = copy_json_files(store, folder)
    archive = ctx.out / "export.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="export")
    print(f"exported {len(ids)} finished run(s) without weights to {archive}")
    return {"run_ids": ids, "archive": archive.name, "bytes": archive.stat().st_size}


def stage_summary(ctx: Context) -> dict:
    """One table of every stage's result, printed and written to ``out/summary.md``."""
    text = summary_markdown(ctx.out, ctx)
    (ctx.out / "summary.md").write_text(text)
    print(text)
    return {"file": "summary.md"}


STAGE_FUNCS: dict[str, Callable[[Context], dict]] = {
    "ceilings": stage_ceilings, "bench": stage_bench, "variants": stage_variants,
    "concurrency": stage_concurrency, "train": stage_train, "export": stage_export, "summary": stage_summary}


# ----------------------------------------------------------------------------------------------- helpers
def missing_data() -> Path:
    raise FileNotFoundError("data: no CIFAR-10 found; give --data or NBPRUNE_DATA, or copy cifar10-jpeg.tar.gz to "
                            f"{ROOT / DATA_CANDIDATES[0]} and carry build/data")


def find_data(given: str | None) -> Path | None:
    """``given``, else ``$NBPRUNE_DATA``, else the first of :data:`DATA_CANDIDATES` that exists."""
    if given or os.environ.get("NBPRUNE_DATA"):
        return Path(given or os.environ["NBPRUNE_DATA"]).expanduser()
    return next((ROOT / c for c in DATA_CANDIDATES if (ROOT / c).exists()), None)


def make_toy_data(root: Path, train_per_class: int = 16, test_per_class: int = 4) -> Path:
    """A tiny ImageFolder of random 32x32 PNGs whose colour depends on the class (the dry run's data)."""
    import torch
    from PIL import Image

    if (root / "done").exists():
        return root
    g = torch.Generator().manual_seed(0)
    for split, n in (("train", train_per_class), ("test", test_per_class)):
        for c in range(10):
            d = root / split / f"class{c}"
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                img = (torch.full((32, 32, 3), 20 * c) + torch.randint(0, 60, (32, 32, 3), generator=g)).clamp(0, 255)
                Image.fromarray(img.to(torch.uint8).numpy()).save(d / f"{i}.png")
    (root / "done").touch()
    return root


def choose_step(ctx: Context) -> str:
    """``--step``, or with ``auto``: CUDA graphs when the variants stage measured them at least 10% faster
    than eager for VGG-16 in fp32 (the paper preset's precision) with losses within 0.05 of eager's; else
    eager."""
    if ctx.step != "auto":
        return ctx.step
    rec = read_stage(ctx.out, "variants") or {}
    v = (rec.get("result") or {}).get("vgg16@1", {})
    gain = v.get("relative", {}).get("CUDA graphs", 0.0)
    diff = v.get("agreement", {}).get("max_abs_diff", {}).get("cuda-graph", float("inf"))
    return "cuda-graph" if ctx.device.type == "cuda" and gain >= 1.1 and diff <= 0.05 else "eager"


def run_progress(store, config) -> dict:
    """A run's state in ``store``: finished (its metrics) or how far its checkpoint got."""
    import torch

    d = store.run_dir(config)
    base = {"run_id": config.run_id, "model": config.model, "epochs": config.epochs}
    res = store.get(config)
    if res is not None:
        m = res.metrics
        return {**base, "state": "finished", "epochs_done": config.epochs, "test_acc": m["test_acc"],
                "wall_time_s": m.get("wall_time_s"), "params": m.get("params"), "flops": m.get("flops")}
    history = []
    if (d / "checkpoint.pt").exists():
        try:
            history = torch.load(d / "checkpoint.pt", map_location="cpu", weights_only=True)["history"]
        except Exception:  # noqa: BLE001 - an unreadable checkpoint: reported as no progress
            history = []
    last = history[-1] if history else {}
    return {**base, "state": "stopped" if history else "not started", "epochs_done": len(history),
            "test_acc": last.get("test_acc"), "wall_time_s": last.get("time_s"), "history": history}


def paper_row(exp) -> dict:
    """The paper's (mean, std) for the row's variants, where the project's reference data has them."""
    try:
        from nbprune.experiments import paper_refs

        refs = paper_refs([exp])
    except Exception:  # noqa: BLE001 - the reference data is a nicety here, never a reason to fail
        return {}
    return {v: list(ref) for (_, label, v), ref in refs.items()}


def copy_json_files(store, folder: Path) -> list[str]:
    """Every finished run's *.json files into ``folder/<run_id>/`` (no weights)."""
    shutil.rmtree(folder, ignore_errors=True)
    ids = []
    for run_id in store.run_ids():
        metrics = json.loads((store.path / run_id / "metrics.json").read_text()) \
            if (store.path / run_id / "metrics.json").exists() else {}
        if metrics.get("status") != "finished":
            continue
        (folder / run_id).mkdir(parents=True)
        for f in (store.path / run_id).glob("*.json"):
            shutil.copy2(f, folder / run_id / f.name)
        ids.append(run_id)
    return ids


def read_stage(out: Path, stage: str) -> dict | None:
    path = out / f"{stage}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_stage(out: Path, stage: str, record: dict) -> None:
    """``out/<stage>.json``, written whole or not at all."""
    tmp = out / f".{stage}.json.tmp"
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True, default=str))
    os.replace(tmp, out / f"{stage}.json")


def is_done(record: dict | None, dry_run: bool) -> bool:
    return bool(record) and record.get("status") == "done" and record.get("dry_run") == dry_run


# ---------------------------------------------------------------------------------------------- summary
def summary_markdown(out: Path, ctx: Context) -> str:
    """The summary table (markdown) of the stage files in ``out``."""
    rec = {s: read_stage(out, s) or {} for s in STAGES}
    lines = [f"# nbprune device check ({'dry run, CPU, toy scale' if ctx.dry_run else 'paper scale'})", "",
             "| stage | status | seconds |", "|---|---|---|"]
    for s in STAGES[:-1]:
        r = rec[s]
        lines.append(f"| {s} | {r.get('status', 'not run')}{': ' + r['error'] if r.get('error') else ''} | "
                     f"{r.get('seconds', 0):.0f} |")
    c = rec["ceilings"].get("result")
    if c:
        lines += ["", f"Device: {c['machine'].get('gpu', c['machine']['cpu'])}, torch {c['machine']['torch']}, "
                      f"{c['matmul']['dtype']} matmul {c['matmul']['tflop_s']:.3g} TFLOP/s, device copy "
                      f"{c['copy']['device_copy_gb_s']:.0f} GB/s, at {rec['ceilings'].get('finished_at', '')}."]
    b = rec["bench"].get("result")
    if b:
        lines += ["", "| model | nbprune img/s | authors' pipeline img/s | ratio | of 45,000 img/s | of peak |",
                  "|---|---|---|---|---|---|"]
        for k, m in b["models"].items():
            ref = f"{m['reference_img_s']:.0f} | {m['ratio']:.2f}" if "ratio" in m else "- | -"
            lines.append(f"| {k} | {m['nbprune_img_s']:.0f} | {ref} | {100 * m['of_target']:.1f}% | "
                         f"{100 * m['fraction_of_peak']:.1f}% |")
    lines += _variants_lines(rec["variants"].get("result") or {})
    lines += _concurrency_lines(rec["concurrency"].get("result") or {})
    lines += _row_lines(rec["train"].get("result") or {})
    return "\n".join(lines) + "\n"


def _variants_lines(v: dict) -> list[str]:
    if not v:
        return []
    lines = ["", "| model | step variant | img/s | x eager |", "|---|---|---|---|"]
    for k, r in v.items():
        lines += [f"| {k} | {label} | {ips:.0f} | {r['relative'][label]:.2f} |" for label, ips in r["img_s"].items()]
    return lines


def _concurrency_lines(c: dict) -> list[str]:
    if not c:
        return []
    lines = ["", "| model | runs at once | aggregate img/s | x one run |", "|---|---|---|---|"]
    for k, r in c.items():
        lines += [f"| {k} | {n} | {row['aggregate_img_s']:.0f} | {row['scaling']:.2f} |" for n, row in r["n"].items()]
    return lines


def _row_lines(t: dict) -> list[str]:
    if not t:
        return []
    lines = ["", f"{t['experiment']}, seed {t['seed']}, preset {t['preset']}, step {t['step']}:", "",
             "| variant | epochs | state | test acc % | paper % | wall s |", "|---|---|---|---|---|---|"]
    for v, r in t["runs"].items():
        acc = "-" if r.get("test_acc") is None else f"{r['test_acc']:.2f}"
        paper = t.get("paper", {}).get(v)
        ref = f"{paper[0]:.2f} ± {paper[1]:.2f}" if paper else "-"
        wall = "-" if r.get("wall_time_s") is None else f"{r['wall_time_s']:.0f}"
        lines.append(f"| {v} | {r['epochs_done']}/{r['epochs']} | {r['state']} | {acc} | {ref} | {wall} |")
    return lines


# ------------------------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=None, help="where the stage files go (default $OUT)")
    ap.add_argument("--work", default=str(ROOT / "build" / "device-check"),
                    help="work folder: the run store (with weights), the export's folder, toy data")
    ap.add_argument("--store", default=None, help="run store (default WORK/store)")
    ap.add_argument("--data", default=None, help="CIFAR-10 (default $NBPRUNE_DATA, else build/data/...)")
    ap.add_argument("--dry-run", action="store_true", help="every stage on the CPU at toy scale (seconds)")
    ap.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES), help="the stages to run")
    ap.add_argument("--redo", nargs="+", choices=STAGES, default=[], help="run these even if done")
    ap.add_argument("--resume-from", default=None, help="a folder of an earlier call's stage files: done "
                                                        "stages found there are not run again")
    ap.add_argument("--total-s", type=float, default=None, help=f"the whole script's seconds (default {TOTAL_S}; "
                                                                "dry run 120)")
    ap.add_argument("--budget-s", type=float, default=None,
                    help="training seconds (default: what is left of --total-s after the other stages)")
    ap.add_argument("--step", default="auto", choices=["auto", "eager", "compile", "cuda-graph"],
                    help="the training runs' step (auto: CUDA graphs if the variants stage found them faster)")
    ap.add_argument("--runs-per-device", type=int, default=3, help="concurrent training runs on the device")
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args(argv)


def make_context(args: argparse.Namespace, t0: float) -> Context:
    """The run's context; a missing device or output folder is one line (SystemExit 2) before any stage."""
    import torch

    from nbprune.train import resolve_device

    out = args.out or os.environ.get("OUT")
    if not out:
        raise SystemExit("device_check: --out: give an output folder (or set $OUT)")
    if args.runs_per_device < 1:
        raise SystemExit(f"device_check: --runs-per-device: must be an integer >= 1, got {args.runs_per_device}")
    try:
        device = torch.device("cpu") if args.dry_run else resolve_device("cuda")
    except ValueError as e:
        raise SystemExit(f"device_check: {e}; without a GPU run --dry-run") from None
    work = Path(args.work)
    total = args.total_s or (120 if args.dry_run else TOTAL_S)
    return Context(out=Path(out), work=work, store=Path(args.store or work / "store"), device=device,
                   dry_run=args.dry_run, deadline=t0 + total, budget_s=args.budget_s,
                   data_root=(Path(args.data) if args.data else None) if args.dry_run else find_data(args.data),
                   step=args.step, runs_per_device=args.runs_per_device, seed=args.seed)


def run_stage(ctx: Context, stage: str, redo: bool) -> str:
    """Run one stage unless it is done (or too little time is left); record its outcome; return its status."""
    before = read_stage(ctx.out, stage)
    if stage not in ALWAYS and not redo and is_done(before, ctx.dry_run):
        print(f"== {stage}: done earlier ({before.get('finished_at')}), skipped", flush=True)
        return "done"
    need = 0 if ctx.dry_run else MIN_S.get(stage, 0)
    if stage not in ALWAYS and ctx.left() < need:
        print(f"== {stage}: skipped, {ctx.left():.0f} s left of the time limit (needs {need} s); rerun to do it")
        write_stage(ctx.out, stage, {"status": "skipped (time)", "dry_run": ctx.dry_run, "seconds": 0})
        return "skipped"
    print(f"== {stage} ({ctx.left():.0f} s left)", flush=True)
    t = time.time()
    try:
        result = STAGE_FUNCS[stage](ctx)
        status = result.pop("status", "done") if isinstance(result, dict) and stage == "train" else "done"
        record = {"status": status, "result": result}
    except Exception as e:  # noqa: BLE001 - recorded; the other stages still run
        traceback.print_exc()
        status = "failed"
        record = {"status": status, "error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
    record.update(stage=stage, dry_run=ctx.dry_run, seconds=time.time() - t, device=str(ctx.device),
                  finished_at=time.strftime("%Y-%m-%d %H:%M:%S %Z"))
    if stage != "summary":
        write_stage(ctx.out, stage, record)
    return status


def resume(ctx: Context, source: Path) -> None:
    """Copy the done stage files of an earlier call into ``out`` (where ``out`` has none of its own)."""
    for stage in STAGES:
        rec = read_stage(source, stage)
        if is_done(rec, ctx.dry_run) and not (ctx.out / f"{stage}.json").exists():
            shutil.copy2(source / f"{stage}.json", ctx.out / f"{stage}.json")


def main(argv: list[str] | None = None) -> int:
    t0 = time.time()
    args = parse_args(argv)
    ctx = make_context(args, t0)
    for d in (ctx.out, ctx.work):
        d.mkdir(parents=True, exist_ok=True)
    if args.resume_from:
        resume(ctx, Path(args.resume_from))
    statuses = {s: run_stage(ctx, s, s in args.redo) for s in STAGES if s in args.stages}
    print(f"device check: {time.time() - t0:.0f} s; " + ", ".join(f"{s} {v}" for s, v in statuses.items()))
    return 0 if all(v in ("done", "partial") for v in statuses.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
