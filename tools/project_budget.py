#!/usr/bin/env python
"""Project the training budget of every chapter at every preset into book/_budget.md (the appendices include it).

For each chapter and preset: the runs of its grid (every seed, each run once even when chapters share it),
their training FLOPs (3 x forward FLOPs per training image plus one test pass, per epoch), and the hours they
would take at two rates: this machine's, measured over the finished runs of a run store (``--store``), and
an assumed GPU rate (``--gpu-tflops``; not a measurement). Nothing is trained.

    python tools/project_budget.py [--store store] [--gpu-tflops 42] [--out book/_budget.md]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", default=str(ROOT / "store"), help="run store whose finished runs give the CPU rate")
    ap.add_argument("--gpu-tflops", type=float, default=42.0,
                    help="assumed sustained GPU training rate in TFLOP/s (default 42: VGG-16 at 45,000 images/s, "
                         "the H100 target of the speed issue; not measured)")
    ap.add_argument("--out", default=str(ROOT / "book" / "_budget.md"))
    args = ap.parse_args(argv)
    if args.gpu_tflops <= 0:
        ap.error(f"--gpu-tflops: must be > 0, got {args.gpu_tflops}")

    from nbprune.chapters import CHAPTERS
    from nbprune.presets import PRESETS
    from nbprune.projection import measured_rate, measured_totals, project_grid
    from nbprune.runs import RunStore

    store = RunStore(args.store)
    gpu_rate = args.gpu_tflops * 1e12
    # one CPU rate per model width and model: narrow models use the cores less well (measured here: 47 GFLOP/s
    # per run at 1/8 width, 72 at 1/4), and a deep narrow ResNet-56 less well than a VGG, so one rate for all
    # would mis-project chapters by 2-3x
    totals = measured_totals(store, "cpu")  # one pass over the store
    all_rate, _ = measured_rate(store, "cpu", totals=totals)
    width_rates: dict[float, float] = {}
    model_rates: dict[tuple[float, str], float] = {}

    def rate_for(width: float, model: str) -> float:
        if width not in width_rates:
            rate, how = measured_rate(store, "cpu", width=width, totals=totals)
            width_rates[width] = all_rate if how.startswith("assumed") else rate
        if (width, model) not in model_rates:
            rate, how = measured_rate(store, "cpu", width=width, model=model, totals=totals)
            model_rates[width, model] = width_rates[width] if how.startswith("assumed") else rate
        return model_rates[width, model]

    t0 = time.time()
    lines = ["| preset | chapter | runs | seeds | training PFLOP | CPU run-hours (this machine) | GPU hours (assumed rate) |",
             "|---|---|---|---|---|---|---|"]
    for name, preset in PRESETS.items():
        for chapter in CHAPTERS.values():
            df = project_grid(chapter.grid(preset), preset, list(preset.seeds))
            flops = df.train_flops.sum()
            cpu_s = sum(f / rate_for(preset.width, m) for f, m in zip(df.train_flops, df.model))
            est = " (est.)" if df.estimate.any() else ""
            lines.append(f"| {name} | {{doc}}`{chapter.page}` | {len(df)} | {len(preset.seeds)} | "
                         f"{_num(flops / 1e15)}{est} | {_num(cpu_s / 3600)} | {_num(flops / gpu_rate / 3600)} |")
            print(f"{name:6s} {chapter.name:20s} {len(df):4d} runs {flops / 1e15:10.4f} PFLOP", flush=True)
    by_width: dict[float, list[str]] = {}
    for (width, model), (flops, seconds, _n) in sorted(totals.items(), key=lambda kv: (kv[0][0] or 0, kv[0][1] or "")):
        if width in width_rates and (width, model) in model_rates:
            by_width.setdefault(width, []).append(f"{model} {flops / seconds / 1e9:.0f}")
    parts = [f"width {w:g}: " + ", ".join(v) for w, v in by_width.items()]
    parts += [f"width {w:g}: no runs measured, {width_rates[w] / 1e9:.0f} (the width's, else all runs' rate)"
              for w in sorted(width_rates) if w not in by_width]
    rates = "; ".join(parts) + " (a model without runs of its width takes the width's rate)"
    text = ("CPU rates in GFLOP/s per run (one run's training FLOP/s on the 2-core CPU, two runs at a time with one "
            "thread each, so machine hours are half the run-hours), measured over the finished runs of each width "
            f"and model: {rates}. "
            f"GPU rate: {args.gpu_tflops:g} TFLOP/s, assumed (no GPU was measured). \"(est.)\": the chapter has "
            "runs whose pruned architecture depends on trained weights (Network Slimming); their size was taken "
            "from pruning the random init. Chapters share runs (chapter 5 reuses chapter 1's and 3's large models, "
            "chapter 4 chapter 2's), so the rows of one preset overlap; chapter 4's guided-pruning runs, which "
            "are designed from its results, and chapter 1's budget curve are not counted. Projected in "
            f"{time.time() - t0:.0f} s by `python tools/project_budget.py`.\n\n" + "\n".join(lines) + "\n")
    out = Path(args.out)
    from nbprune.atomic import atomic_write_text

    atomic_write_text(text, out)
    print(f"-> {out}")
    return 0


def _num(x: float) -> str:
    """Readable magnitudes: 4,031 / 4.7 / 0.52 / 3.2e-04."""
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 1:
        return f"{x:.1f}"
    if x >= 0.01:
        return f"{x:.2f}"
    return f"{x:.1e}"


if __name__ == "__main__":
    sys.exit(main())
