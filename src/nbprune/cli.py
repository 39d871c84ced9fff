"""The ``nbprune`` command: info, train, runs, export, import, data, grid, bench.

Bad input, and a store that cannot be written (a full disk), get one line naming the parameter or the file
and what to do, and exit status 2 (no traceback).
"""

from __future__ import annotations

import argparse
import json
import sys

from . import __version__
from .params import int_arg, width_arg


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def _workers(s: str):
    if s == "auto":
        return s
    try:
        n = int(s)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"workers: must be 'auto' or an integer >= 1, got {s!r}")
    return n


def _positive_int(name: str):
    """An integer option >= 0 (:func:`nbprune.params.int_arg`, shared with the benchmark's options)."""
    return int_arg(name, 0)


_width = width_arg("width")
DATASET_CHOICES = ["cifar10", "cifar100", "imagenet"]  # nbprune.data.DATASETS (not imported here: it loads torch)


def _setting(s: str) -> tuple[str, object]:
    """``FIELD=VALUE`` of ``--set``: a RunConfig field and its value (JSON or YAML, e.g. ``milestones=[60, 120]``)."""
    import dataclasses

    from .params import parse_text
    from .train import RunConfig

    key, sep, text = s.partition("=")
    fields = [f.name for f in dataclasses.fields(RunConfig)]
    if not sep or key not in fields:
        raise argparse.ArgumentTypeError(f"set: must be FIELD=VALUE with FIELD one of {', '.join(fields)}, got {s!r}")
    return key, parse_text(text)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="nbprune", description="Rethinking the Value of Network Pruning, reproducibly.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")  # nbprune.__version__
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    info = sub.add_parser("info", help="parameters and FLOPs of a model (or a named pruned target)")
    info.add_argument("model")
    info.add_argument("--dataset", default="cifar10", choices=DATASET_CHOICES)
    info.add_argument("--width", type=_width, default=1.0)
    info.add_argument("--json", action="store_true", help="print a JSON object")

    tr = sub.add_parser("train", help="train one run (or return the cached result)")
    tr.add_argument("--model", required=True)
    tr.add_argument("--dataset", default="cifar10", choices=DATASET_CHOICES)
    tr.add_argument("--epochs", type=_positive_int("epochs"), default=None, help="default: the preset's")
    tr.add_argument("--seed", type=_positive_int("seed"), default=0)
    tr.add_argument("--width", type=_width, default=None, help="default: the preset's")
    tr.add_argument("--lr", type=float, default=None, help="default: the paper's 0.1")
    tr.add_argument("--batch-size", type=_positive_int("batch-size"), default=None, help="default: the preset's")
    tr.add_argument("--train-subset", type=_positive_int("train-subset"), default=None)
    tr.add_argument("--test-subset", type=_positive_int("test-subset"), default=None)
    tr.add_argument("--val-size", type=_positive_int("val-size"), default=0)
    tr.add_argument("--preset", default="paper", help="smoke, quick, cpu or paper (default: paper, the paper's recipe)")
    tr.add_argument("--store", default=None, help="run store directory (default: $NBPRUNE_STORE or ./store)")
    tr.add_argument("--data", default=None, help="data source (default: $NBPRUNE_DATA or torchvision download); "
                                                 "imagenet: an ImageFolder directory (train/<class>/*, val/<class>/*), "
                                                 "required")
    tr.add_argument("--device", default="auto")
    tr.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                    help="bf16 autocast (CUDA, or CPUs with AVX-512 BF16/AMX); default: the preset's")
    tr.add_argument("--bn-sparsity", type=float, default=None,
                    help="Network Slimming's sparsity s on BN weights (chapter 2 and 4's large VGG-19: 1e-4)")
    tr.add_argument("--set", type=_setting, action="append", default=[], metavar="FIELD=VALUE",
                    help="any other run config field, e.g. --set milestones=[60,120,160] --set "
                         "model_kwargs='{head: linear}' (the flags above win)")
    tr.add_argument("--compile", action="store_true", help="torch.compile the model")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    tr.add_argument("--json", action="store_true", help="print the final metrics as JSON")

    runs = sub.add_parser("runs", help="list the runs of a store, or check them")
    runs.add_argument("--store", default=None)
    runs.add_argument("--check", action="store_true", help="verify every run and list the broken ones")
    runs.add_argument("--json", action="store_true")

    ex = sub.add_parser("export", help="write finished runs' JSON files (config, metrics, provenance; no weights) "
                                       "to a directory, replacing an earlier export there")
    ex.add_argument("--store", default=None)
    ex.add_argument("--out", required=True, help="the export directory")
    ex.add_argument("--runs", nargs="+", default=None, metavar="RUN_ID", help="default: every finished run")
    ex.add_argument("--json", action="store_true")

    im = sub.add_parser("import", help="add the runs of exports to a store (JSON only; conflicts are reported, "
                                       "never overwritten)")
    im.add_argument("source", nargs="+", help="export directories")
    im.add_argument("--store", default=None)
    im.add_argument("--json", action="store_true")

    data = sub.add_parser("data", help="decode and cache the dataset, print its source and checksum")
    data.add_argument("--dataset", default="cifar10", choices=DATASET_CHOICES)
    data.add_argument("--data", default=None)
    g = sub.add_parser("grid", help="a chapter's runs at a preset: what is missing (--status), or train it "
                                    "locally or on Slurm")
    g.add_argument("chapter", help="predefined, automatic, unstructured, architecture_search, lottery_ticket or "
                                   "later_work")
    g.add_argument("--preset", default="cpu", help="smoke, quick, cpu or paper (default: cpu)")
    g.add_argument("--seeds", type=_positive_int("seeds"), nargs="+", default=None, help="default: the preset's")
    g.add_argument("--dataset", default="cifar10", choices=DATASET_CHOICES)
    g.add_argument("--store", default=None)
    g.add_argument("--data", default=None)
    g.add_argument("--device", default="auto")
    g.add_argument("--status", action="store_true", help="list the chapter's runs and their states; train nothing")
    g.add_argument("--curve", action=argparse.BooleanOptionalAction, default=None,
                   help="train the chapter's budget curve too (--no-curve: only read its finished runs; default: "
                        "the preset's, which trains it only at smoke)")
    g.add_argument("--budgets", type=_positive_int("budgets"), nargs="+", default=None,
                   help="with --curve: train only these points of the budget curve (epochs, e.g. 32 64; default: "
                        "every point)")
    g.add_argument("--curve-only", action="store_true",
                   help="train only the budget curve (implies --curve), not the chapter's own grid at these seeds: "
                        "e.g. more curve seeds with --budgets 64 --seeds 5 6 7")
    g.add_argument("--executor", default="local", help="local (default) or slurm")
    g.add_argument("--workers", default="auto", type=_workers,
                   help="local: runs trained at once, 'auto' (one per core, at most 4, on a CPU) or a number")
    g.add_argument("--threads", default=None, type=int_arg("threads", 1),
                   help="local: torch threads per run (default: the cores divided among the workers; all of "
                        "them with one worker). Two grids with --workers 1 --threads 1 share two cores without "
                        "waiting on each other's stages")
    g.add_argument("--partition", default=None, help="slurm partition (default: the cluster's default)")
    g.add_argument("--gpus", type=_positive_int("gpus"), default=0, help="GPUs per job (slurm)")
    g.add_argument("--cpus", type=_positive_int("cpus"), default=2, help="CPUs per job (slurm)")
    g.add_argument("--mem-gb", type=float, default=4, help="memory per job in GiB (slurm)")
    g.add_argument("--time-min", type=_positive_int("time-min"), default=60, help="time limit per job (slurm)")
    g.add_argument("--max-jobs", type=_positive_int("max-jobs"), default=16, help="jobs running at once (slurm)")
    g.add_argument("--log-dir", default="slurm_logs", help="submitit's logs, one folder per job (slurm)")
    g.add_argument("--ddp", action="store_true",
                   help="slurm: train each run on all --gpus of its node with DistributedDataParallel (one task "
                        "per GPU) instead of one process")
    g.add_argument("--json", action="store_true", help="with --status: one JSON object per run")
    g.add_argument("--value", default=None,
                   help="the chapter's grid parameter as YAML/JSON, as the notebook's (predefined: targets, e.g. "
                        "'[resnet56-b]'; automatic, unstructured: fractions, e.g. '{vgg19: [0.5]}'; "
                        "architecture_search: fractions, e.g. '[0.3, 0.6]'; lottery_ticket: lrs, e.g. '[0.01]'); "
                        "default: the preset's grid")
    g.add_argument("--results", default=None, help="results folder (default: $NBPRUNE_RESULTS, else results)")
    from . import bench

    bench.add_arguments(sub.add_parser("bench", help="training throughput vs the original pipeline, FLOP/s, "
                                                     "pruned-model latency, peak memory"))
    return p


def cmd_info(args) -> dict:
    from .data import DATASETS
    from .flops import count_flops, count_params, macs
    from .models import create_model

    model = create_model(args.model, num_classes=DATASETS[args.dataset], width=args.width)
    out = {"model": args.model, "arch": model.arch, "dataset": args.dataset, "width": args.width,
           "params": count_params(model), "flops": count_flops(model), "macs": macs(model), "cfg": model.cfg}
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:>8}: {v}")
    return out


# flags that override the preset (or the paper's recipe) only when given; None means "not given"
TRAIN_OVERRIDES = ("epochs", "width", "train_subset", "test_subset", "lr", "batch_size", "amp", "bn_sparsity")


def train_config(args):
    """The RunConfig ``nbprune train`` trains: every field the preset sets (as a chapter's large model, see
    :func:`nbprune.pipeline.large_config`), with the flags given on the command line winning."""
    from .models import list_models
    from .presets import for_data
    from .train import RunConfig

    if args.model not in list_models():  # validate before loading data
        from .models import create_model

        create_model(args.model)
    preset = for_data(args.preset, args.dataset, require_data(args))  # ImageNet: its recipe, the folder's classes
    overrides = dict(dataset=args.dataset, seed=args.seed, val_size=args.val_size, **dict(args.set))
    overrides.update({k: getattr(args, k) for k in TRAIN_OVERRIDES if getattr(args, k) is not None})
    return RunConfig.from_preset(preset, args.model, **overrides)


def require_data(args):
    """``args.data``; for an ImageFolder dataset (imagenet) a ValueError naming ``--data`` when it is not given."""
    if args.dataset == "imagenet" and not args.data:
        raise ValueError("data: --dataset imagenet needs --data <an ImageFolder directory with train/<class>/* and "
                         "val/<class>/*>")
    return args.data


def cmd_train(args) -> dict:
    """Train one run; launched by torchrun (several processes), with DistributedDataParallel (rank 0 prints)."""
    from .distributed import init_from_env, is_main
    from .runs import RunStore

    config = train_config(args)
    device = init_from_env(args.device)
    store = RunStore(args.store)
    result = store.run(config, data_root=args.data, device=device,
                       progress=False if args.quiet else "auto", compile_model=args.compile)
    m = result.metrics
    out = {"run_id": result.run_id, "dir": str(result.dir), "test_acc": m["test_acc"],
           "best_test_acc": m["best_test_acc"], "epochs": m["epochs"], "params": m["params"],
           "flops": m["flops"], "train_flops": m["train_flops"], "wall_time_s": m["wall_time_s"]}
    if not is_main():
        return out
    if args.json:
        print(json.dumps(out))
    else:
        print(f"run {out['run_id']}: test acc {out['test_acc']:.2f}% (best {out['best_test_acc']:.2f}%), "
              f"{out['epochs']} epochs, {out['wall_time_s']:.1f} s, in {out['dir']}")
    return out


def cmd_runs(args) -> int:
    from .runs import RunStore

    store = RunStore(args.store)
    if args.check:
        problems = store.check()
        if args.json:
            print(json.dumps([{"run_id": r, "problem": p} for r, p in problems]))
        elif problems:
            for run_id, problem in problems:
                print(f"{run_id}: {problem}")
        else:
            print(f"{len(store.run_ids())} runs in {store.path}: all sound")
        return 1 if problems else 0
    df = store.dataframe()
    if args.json:
        print(df.to_json(orient="records"))
        return 0
    if df.empty:
        print(f"no runs in {store.path}")
        return 0
    cols = [c for c in ("run_id", "model", "dataset", "width", "epochs", "seed", "tag", "status", "test_acc",
                        "best_test_acc", "wall_time_s") if c in df]
    print(df[cols].to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    return 0


def cmd_export(args) -> int:
    from .store_io import export_runs

    res = export_runs(args.store, args.out, args.runs)
    if args.json:
        print(json.dumps({"out": str(res.path), "runs": res.run_ids, "bytes": res.bytes, "kept_plans": res.kept}))
    else:
        kept = f"; {res.kept} plan summaries kept from the earlier export of the same results" if res.kept else ""
        print(f"exported {len(res.run_ids)} runs ({res.bytes / 1e3:.1f} kB, no weights) to {res.path}{kept}")
    return 0


def cmd_import(args) -> int:
    """Import each export in turn; exit 1 when some run arrived with other results than the store has."""
    from .runs import RunStore
    from .store_io import describe_import, import_runs

    store = RunStore(args.store)
    results = [import_runs(src, store) for src in args.source]
    for res in results:
        if args.json:
            print(json.dumps({"source": str(res.source), "imported": res.imported, "identical": res.identical,
                              "conflicts": [c.run_id for c in res.conflicts], "skipped": res.skipped,
                              "flagged": None if res.flagged is None else res.flagged.fields}))
        else:
            print("\n".join(describe_import(res)))
    return 1 if any(r.conflicts for r in results) else 0


def cmd_data(args) -> int:
    from .data import FolderData, load_cifar

    d = FolderData(require_data(args)) if args.dataset == "imagenet" else load_cifar(args.dataset, args.data)
    print(json.dumps(d.describe()))
    return 0


def cmd_grid(args) -> int:
    from .chapters import get_chapter
    from .graph import grid_graph
    from .presets import for_data, for_dataset, resolve_seeds
    from .runner import curve_points_at, run_chapter
    from .runs import RunStore

    chapter = get_chapter(args.chapter)
    if args.curve_only and args.curve is False:
        raise ValueError("curve-only: --curve-only trains the budget curve; it cannot go with --no-curve")
    # the preset's recipe for the dataset; ImageNet's class count from the folder (--status without --data:
    # the full dataset's runs)
    preset = (for_dataset(args.preset, args.dataset) if args.status and not args.data
              else for_data(args.preset, args.dataset, require_data(args)))
    seeds = resolve_seeds(args.seeds, preset)  # checked here; run_chapter gets args.seeds (None: the preset's)
    if args.status:
        store = RunStore(args.store)
        graph = grid_graph(store, chapter.experiments(preset, args.value, args.dataset), preset, seeds, args.dataset,
                           args.data, plan_waiting=True)
        df = graph.summary(store)
        curve = curve_points_at(chapter, preset, args.dataset, args.budgets) if args.value is None else []
        if curve:
            import pandas as pd

            from .presets import budget_seeds

            curve_graph = grid_graph(store, curve, preset, budget_seeds(preset, seeds, args.seeds is not None),
                                     args.dataset, args.data)
            df = pd.concat([df.assign(part="grid"), curve_graph.summary(store).assign(part="curve")],
                           ignore_index=True)
            df = df[~(df["run_id"].ne("") & df.duplicated("run_id"))]  # a run both parts share: listed once
        if args.json:
            for row in df.to_dict("records"):
                print(json.dumps(row, default=str))
            return 0
        grid_part = df[df["part"] == "grid"] if "part" in df else df
        counts = grid_part["state"].value_counts().to_dict()
        follow = " (and its follow-up stage, designed from these results)" if chapter.followups else ""
        line = (f"{chapter.name} at {preset.name}, seeds {list(seeds)}, store {store.path}{follow}: "
                + ", ".join(f"{v} {k}" for k, v in counts.items()))
        if "part" in df:
            curve_counts = df[df["part"] == "curve"]["state"].value_counts().to_dict()
            line += "; its budget curve (trained with --curve): " + (
                ", ".join(f"{v} {k}" for k, v in curve_counts.items()) or "the same runs")
        print(line)
        print(df.to_string(index=False))
        blocked = graph.blocked(store)
        if blocked:
            print(f"{len(blocked)} run(s) blocked; the first: {blocked[0][1]}")
        return 0
    import os

    launched = int(os.environ.get("WORLD_SIZE", "1") or 1) > 1  # torchrun: all processes train each run together
    options = ({"workers": 1 if launched else args.workers, "threads": args.threads}
               if args.executor == "local" else {})
    if args.executor != "local" and args.threads is not None:
        raise ValueError("threads: --threads sets the local executor's threads per run; with --executor slurm "
                         "give --cpus")
    if args.executor == "slurm":
        options = dict(partition=args.partition, gpus=args.gpus, cpus=args.cpus, mem_gb=args.mem_gb,
                       time_min=args.time_min, max_jobs=args.max_jobs, folder=args.log_dir, ddp=args.ddp)
    elif args.ddp:
        raise ValueError("ddp: --ddp places the processes of a Slurm job (--executor slurm); on one machine launch "
                         "the command with torchrun instead")
    from .distributed import init_from_env, is_main

    device = init_from_env(args.device) if args.executor == "local" else args.device  # torchrun: DDP per run
    run = run_chapter(chapter, preset, args.value, seeds=args.seeds, dataset=args.dataset, device=device,
                      data_root=args.data, store=args.store, executor=args.executor, executor_options=options,
                      results_root=args.results, train_curve=True if args.curve_only else args.curve,
                      curve_budgets=args.budgets, train_grid=not args.curve_only)
    if not is_main():
        return 0
    if run.saved is None:
        print(f"{len(run.curve.rows) if run.curve else 0} curve rows -> {run.curve_saved}")
    else:
        print(f"{len(run.rows)} result rows -> {run.saved}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .executors import SlurmError
    from .log import show_log

    show_log(stream="stderr")  # the package's INFO lines (runs trained, read, missing); stdout is the result
    from .runs import StoreError

    try:
        if args.command == "info":
            cmd_info(args)
        elif args.command == "train":
            cmd_train(args)
        elif args.command == "runs":
            return cmd_runs(args)
        elif args.command == "export":
            return cmd_export(args)
        elif args.command == "import":
            return cmd_import(args)
        elif args.command == "data":
            return cmd_data(args)
        elif args.command == "grid":
            return cmd_grid(args)
        elif args.command == "bench":
            from . import bench

            bench.run(args)
    except (ValueError, FileNotFoundError, StoreError, TimeoutError) as e:
        print(f"nbprune: error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        return 2
    except SlurmError as e:  # no Slurm to submit to (one line), or failed jobs (their list follows)
        print(f"nbprune: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a write outside the store's writers (a data cache on a full disk): still one line
        where = f"cannot write {e.filename}: " if e.filename else ""
        print(f"nbprune: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nbprune: interrupted; the run resumes from its last checkpoint on the next call", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
