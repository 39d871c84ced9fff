"""What a book's runs were, in a paragraph the intro includes: how many, when and on what they were trained,
what they cost, and how far the unpruned models got.

Every number is read from a preset's results files (:func:`nbprune.runner.results_path`) and the finished
runs of its run store (``results/<preset>/store``, through :class:`nbprune.runs.RunStore`), so the intro
never states a count, a date or an accuracy that the committed results do not hold.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .book import training_time
from .chapters import CHAPTERS
from .models import paper_name
from .presets import Preset, get_preset
from .runner import results_path
from .runs import RunStore
from .train import RunConfig

# a large model's config fields that say how it differs from the preset's plain one, in words
_FEATURES = {"bn_sparsity": "trained with the slimming penalty", "sfp_rate": "trained with Soft Filter Pruning"}


def _parts(p: Preset, results_dir: str | None, dataset: str) -> list[tuple[str, Path]]:
    """The results files that exist: each chapter's, then its curve's (``<chapter>-budget``)."""
    names = [n for c in CHAPTERS.values() for n in (c.name, f"{c.name}-budget")]
    return [(n, path) for n in names if (path := results_path(n, p, dataset, results_dir)).exists()]


def _describe(config: RunConfig, p: Preset) -> str:
    """``config``'s model in words: its paper name and what sets it apart from the preset's plain large model."""
    plain = RunConfig.from_preset(p, config.model, seed=config.seed)
    words = []
    for name, text in _FEATURES.items():
        if getattr(config, name) != getattr(plain, name):
            words.append(text)
    for key, value in config.model_kwargs:
        words.append({"bn_gamma": f"BatchNorm gamma {value:g}" if isinstance(value, float) else "",
                      "head": f"a {value} head"}.get(key, f"{key} {value}"))
    name = paper_name(config.model)
    return f"{name} ({', '.join(w for w in words if w)})" if words else name


def _device(prov: dict) -> str:
    """A run's device in words from its provenance: 'cpu: x86_64, 2 cores, 1 threads' on host 'vm' reads
    'a CPU (x86_64, 2 cores; 1 thread per run; host vm)'."""
    kind, _, rest = prov.get("device", "an unrecorded device").partition(": ")
    parts = [x.strip() for x in rest.split(",") if x.strip()]
    threads = [x for x in parts if x.endswith("threads")]
    what = ", ".join(x for x in parts if x not in threads)
    extra = [t.replace(" threads", " thread" + ("" if t.startswith("1 ") else "s") + " per run") for t in threads]
    extra += [f"host {prov['host']}"] if prov.get("host") else []
    name = {"cpu": "a CPU", "cuda": "a GPU"}.get(kind, kind)
    return f"{name} ({'; '.join([what, *extra] if what else extra)})" if what or extra else name


def _range(values: pd.Series) -> str:
    return f"{values.min():.1f} to {values.max():.1f}% (mean {values.mean():.1f}%)"


def run_summary(preset, results_dir: str | None = None, dataset: str = "cifar10", workers: int = 2) -> str:
    """The intro's paragraph on the ``preset`` book's runs (Markdown), or a line saying it has none.

    It states the number of distinct runs, the first and last day they finished, the devices and hosts of
    their provenance, their training cost (:func:`nbprune.book.training_time`, ``workers`` at a time), each
    unpruned large model's final accuracy over seeds at the preset's budget, and the budget curve's unpruned
    model at its shortest and longest budget."""
    p = get_preset(preset)
    parts = _parts(p, results_dir, dataset)
    if not parts:
        return f"The `{p.name}` book has no results yet."
    frames = {n: pd.read_csv(path, keep_default_na=False) for n, path in parts}
    rows = pd.concat(frames.values(), ignore_index=True).drop_duplicates("run_id")
    store = RunStore(parts[0][1].parent / "store")
    prov = [rec for i in rows["run_id"] if (rec := store.record(i, "provenance"))]
    days = sorted(x["time_utc"][:10] for x in prov if x.get("time_utc"))
    devices = sorted({_device(x) for x in prov})
    cost = training_time(p, results_dir, dataset, workers)
    total = cost.iloc[-1] if not cost.empty else None
    when = (f"on {days[0]}" if days and days[0] == days[-1] else f"between {days[0]} and {days[-1]}") if days else ""
    out = [f"The `{p.name}` book's results hold {len(rows)} distinct runs, trained {when} on "
           f"{' and '.join(devices) or 'an unrecorded device'}"
           + (f" ({len(prov)} with provenance in the store)" if len(prov) != len(rows) else "") + "."]
    if total is not None:
        out.append(f"By their runs' own wall times they took {total['run-hours (new)']:.1f} run-hours, "
                   f"{total[f'machine hours ({workers} at a time)']:.1f} machine hours at {workers} runs at a time "
                   "(the table in {doc}`appendix_environment`, chapter by chapter).")
    chapters = pd.concat([f for n, f in frames.items() if not n.endswith("-budget")] or [rows.iloc[:0]])
    large = chapters[chapters["variant"] == "unpruned"].drop_duplicates("run_id")
    groups: dict[str, list[float]] = {}
    for run_id, final in zip(large["run_id"], large["final"], strict=True):
        if config := store.record(run_id, "config"):
            groups.setdefault(_describe(RunConfig.from_dict(config), p), []).append(float(final))
    if groups:
        spans = [f"{_range(pd.Series(v))} for {name}" for name, v in groups.items()]
        out.append(f"In the chapters ({p.epochs} epochs) the unpruned models reached " + "; ".join(spans) + ".")
    for name, df in frames.items():
        if not name.endswith("-budget"):
            continue
        curve = df[df["variant"] == "unpruned"].groupby("budget")["final"].mean()
        if len(curve) > 1:
            model = df.loc[df["variant"] == "unpruned", "model"].iloc[0]
            title = CHAPTERS[name.removesuffix("-budget")].title.lower()
            out.append(f"On the {title} budget curve the unpruned {model} goes from {curve.iloc[0]:.1f}% at "
                       f"{curve.index[0]} epochs to {curve.iloc[-1]:.1f}% at {curve.index[-1]} (mean over seeds).")
            break
    return " ".join(out)
