"""The cost of a grid before it trains: each run's training FLOPs, the store's measured training rates, and
the projection of a whole grid (:func:`project_grid`), which names every run without training anything.

Runs are read through the :class:`~nbprune.runs.RunStore` API (``run_ids``, ``record``); nothing here reads
the store's files itself. The executors' and the progress bar's time estimates come from here.
"""

from __future__ import annotations

import functools

from .config import DATASET_TEST_IMAGES, DATASET_TRAIN_IMAGES
from .data import DATASETS
from .experiments import Experiment, preset_for, seeds_of
from .flops import count_flops
from .graph import large_for
from .pipeline import derived_configs
from .plans import compute_plan
from .presets import Preset
from .prune import hooks_for, method_info
from .runs import RunStore
from .train import RunConfig, build_model

__all__ = ["DEFAULT_FLOPS_PER_S", "measured_rate", "measured_totals", "project_grid", "projected_seconds",
           "training_flops"]

DEFAULT_FLOPS_PER_S = {"cpu": 3e10, "cuda": 1e13}  # assumed training throughput when the store has no runs yet


def training_flops(config: RunConfig) -> float:
    """Forward+backward FLOPs of a whole run (3 x forward per training image, plus one test pass per epoch)."""
    flops = _forward_flops(config.model, config.cfg, config.width, config.model_kwargs, config.dataset,
                           bool(config.sss_penalty), config.image_size)
    n_train = config.train_subset or DATASET_TRAIN_IMAGES[config.dataset] - config.val_size
    n_test = config.test_subset or DATASET_TEST_IMAGES[config.dataset]
    return float(flops) * config.epochs * (3 * n_train + n_test)


@functools.lru_cache(maxsize=512)
def _forward_flops(model: str, cfg, width: float, model_kwargs, dataset: str, sss: bool,
                   image_size: int | None = None) -> int:
    config = RunConfig(model=model, cfg=cfg, width=width, model_kwargs=model_kwargs, dataset=dataset,
                       sss_penalty=1e-4 if sss else 0.0)
    size = None if image_size is None else (3, image_size, image_size)  # an ImageFolder run's crop (None: 224)
    return count_flops(build_model(config, DATASETS[dataset], hooks_for(config)), size)


def measured_totals(store: RunStore, device: str = "cpu") -> dict[tuple[float, str], tuple[float, float, int]]:
    """The store's finished runs on ``device``'s kind, summed per (width, model): (training FLOPs, wall
    seconds, runs). One pass over the store; :func:`measured_rate` reads its rates from it."""
    kind = "cuda" if str(device).startswith("cuda") else "cpu"
    out: dict[tuple[float, str], tuple[float, float, int]] = {}
    for run_id in store.run_ids():
        m = store.record(run_id, "metrics") or {}
        if m.get("status") != "finished" or not m.get("wall_time_s"):
            continue
        prov = store.record(run_id, "provenance") or {}
        if ("cpu" if str(prov.get("device", "cpu")).startswith("cpu") else "cuda") != kind:
            continue
        cfg = store.record(run_id, "config") or {}
        key = (cfg.get("width"), cfg.get("model"))
        flops, seconds, n = out.get(key, (0.0, 0.0, 0))
        out[key] = (flops + m.get("train_flops", 0), seconds + m["wall_time_s"], n + 1)
    return out


def measured_rate(store: RunStore, device: str = "cpu", width: float | None = None,
                  model: str | None = None, totals: dict | None = None) -> tuple[float, str]:
    """Training FLOP/s measured from the store's finished runs on ``device``'s kind, or an assumed default.

    ``width``: count only runs of that model width (narrow models use the hardware less well: on the 2-core
    CPU the 1/8-width runs of the `cpu` book trained at 47 GFLOP/s, the 1/4-width runs of `quick` at 72), or
    all widths if None; ``model`` likewise (at 1/8 width ResNet-56 trained at 7 GFLOP/s, VGG-16 at 51).
    ``totals``: :func:`measured_totals` of the store, when the caller asks for several rates.
    """
    kind = "cuda" if str(device).startswith("cuda") else "cpu"
    sums = [t for (w, m), t in (measured_totals(store, device) if totals is None else totals).items()
            if (width is None or w == width) and (model is None or m == model)]
    flops, seconds, n = (sum(t[i] for t in sums) for i in range(3))
    at = ("" if model is None else f" of {model}") + ("" if width is None else f" of width {width:g}")
    if n and flops and seconds:
        return flops / seconds, f"measured over {n} finished run(s){at} in {store.path}"
    return DEFAULT_FLOPS_PER_S[kind], f"assumed (no finished runs{at} on this device kind in the store)"


def projected_seconds(config: RunConfig, flops_per_s: float) -> float:
    """How long ``config`` trains at ``flops_per_s``."""
    return training_flops(config) / flops_per_s


def project_grid(grid: list[Experiment], preset: Preset, seeds, dataset: str = "cifar10"):
    """Every run of a grid with its training FLOPs, without training anything (a pandas DataFrame).

    Derived runs need a pruned architecture; here each large model is pruned at its random init instead of
    its trained weights (once per experiment: the sizes do not depend on the seed). For predefined targets,
    fixed fractions and magnitude pruning this gives the same sizes as after training; for data-driven
    choices (Network Slimming's global threshold) the architecture, and so its FLOPs, will differ from the
    one training finds, so those rows are marked as estimates.
    """
    import pandas as pd
    import torch

    rows, seen = [], set()

    def add(cfg: RunConfig, role: str, label: str, estimate: bool) -> None:
        if cfg.run_id in seen:
            return
        seen.add(cfg.run_id)
        rows.append({"role": role, "label": label, "model": cfg.model, "epochs": cfg.epochs, "seed": cfg.seed,
                     "train_flops": training_flops(cfg), "estimate": estimate, "run_id": cfg.run_id})

    calibration = torch.randn(64, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    for exp in grid:
        first = large_for(exp, preset, seeds[0], dataset)
        if not exp.variants:
            for seed in seeds_of(exp, seeds):
                add(large_for(exp, preset, seed, dataset), "large", "", False)
            continue
        model = build_model(first, first.classes, hooks_for(first)).eval()
        sp = compute_plan(model, exp.method, dict(exp.settings), calibration)
        data_driven = method_info(exp.method).data_driven  # registered with the method
        for seed in seeds_of(exp, seeds):
            large = large_for(exp, preset, seed, dataset)
            add(large, "large", "", False)
            configs = derived_configs(large, sp.plan, {"method": exp.method, **dict(exp.settings)}, sp.flops_large,
                                      sp.flops_pruned, preset_for(exp, preset), exp.variants, exp.lr)
            for variant, cfg in configs.items():
                add(cfg, variant, exp.label, data_driven)
    return pd.DataFrame(rows)
