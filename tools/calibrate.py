#!/usr/bin/env python
"""Calibrate the book's default preset: accuracy and wall time of the unpruned VGG-16 per training setting.

Each setting (channel width, training images, epochs) is one run of the run store (seed 0, all 10,000 test
images, bf16 autocast, batch 64: the CPU presets' recipe), trained the way the book trains them: by the local
executor, two one-thread runs at a time on a 2-core machine. The table (final and best test accuracy, wall
seconds of training, seconds per epoch, training PFLOP) is written to ``results/calibration.csv`` with one
provenance line per run, and the appendix shows it. Finished runs are read back, so a second call costs
nothing and an interrupted one resumes.

    python tools/calibrate.py [--store ~/nbprune-store] [--out results/calibration.csv] [--workers 2] [--minutes M]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (width, training images, epochs): the settings of the results issue's table, then the neighbours that
# decide between a wider model, more data and more epochs at the same cost
SETTINGS = [
    (0.125, 10000, 15), (0.125, 10000, 30), (0.125, 10000, 60), (0.25, 10000, 30), (0.125, 50000, 10),
    (0.125, 20000, 30), (0.125, 50000, 20), (0.25, 50000, 10), (0.25, 10000, 60),
    # the default preset's cost level (a large model in ~100-250 s): which of width, data and epochs to spend it on
    (0.25, 50000, 4), (0.25, 20000, 8), (0.25, 20000, 12), (0.125, 20000, 10), (0.125, 20000, 15),
    (0.125, 50000, 6),
]


def configs(model: str = "vgg16", seed: int = 0):
    """The calibration runs' configs, cheapest first."""
    from nbprune.train import RunConfig

    out = [RunConfig(model=model, width=w, train_subset=n, epochs=e, test_subset=None, amp=True, seed=seed)
           for w, n, e in SETTINGS]
    return sorted(out, key=lambda c: c.width * c.width * c.train_subset * c.epochs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", default=None, help="run store (default: $NBPRUNE_STORE, else ./store)")
    ap.add_argument("--out", default=str(ROOT / "results" / "calibration.csv"))
    ap.add_argument("--workers", type=int, default=2, help="runs trained at once, one thread each (default 2)")
    ap.add_argument("--data-root", default=None, help="CIFAR-10 archive or folder (default: $NBPRUNE_DATA)")
    ap.add_argument("--minutes", type=float, default=None,
                    help="stop training after this long (runs stop resumable after an epoch); the table then "
                         "holds the settings that finished")
    args = ap.parse_args(argv)
    if args.workers < 1:
        ap.error(f"--workers: must be an integer >= 1, got {args.workers}")

    import pandas as pd

    from nbprune.atomic import atomic_write_text
    from nbprune.executors import LocalExecutor
    from nbprune.graph import Node
    from nbprune.runs import RunStore

    store = RunStore(args.store)
    nodes = [Node(c, "large", f"w{c.width:g} n{c.train_subset} e{c.epochs}", 0) for c in configs()]
    todo = [n for n in nodes if store.get(n.config) is None]
    print(f"calibration: {len(nodes)} settings, {len(todo)} to train in {store.path}", flush=True)
    if todo:
        import time

        stop_at = None if args.minutes is None else time.time() + 60 * args.minutes
        LocalExecutor(workers=args.workers, threads=1).run(store, todo, data_root=args.data_root, device="cpu",
                                                           stop_at=stop_at)
    rows = []
    for n in nodes:
        res = store.get(n.config)
        if res is None:
            print(f"  {n.label}: not finished", file=sys.stderr)
            continue
        m, c = res.metrics, n.config
        prov = json.loads((res.dir / "provenance.json").read_text()) if (res.dir / "provenance.json").exists() else {}
        rows.append({"model": c.model, "width": c.width, "train_images": c.train_subset, "epochs": c.epochs,
                     "test_images": 10000, "final": m["test_acc"], "best": m["best_test_acc"],
                     "wall_s": round(m["wall_time_s"], 1), "s_per_epoch": round(m["wall_time_s"] / c.epochs, 2),
                     "train_pflop": float(f"{m['train_flops'] / 1e15:.4g}"), "threads": prov.get("threads"),
                     "device": prov.get("device"), "git_commit": prov.get("git_commit"),
                     "run_id": res.run_id})
    df = pd.DataFrame(rows)
    atomic_write_text(df.to_csv(index=False), Path(args.out))
    print(df.drop(columns=["git_commit", "run_id"]).to_string(index=False))
    print(f"wrote {args.out}")
    return 0 if len(rows) == len(nodes) else 1


if __name__ == "__main__":
    sys.exit(main())
