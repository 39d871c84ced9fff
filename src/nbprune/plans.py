"""A chain's pruning plan, computed once and stored beside the run it prunes.

Pruning a finished large model (its plan, the FLOPs before and after, the pruned model's channel
selections) is a pure function of the run's final weights and the method's settings. :func:`plan_for`
computes it the first time it is asked for and stores it in the parent's run directory as
``plans/<key>.pt`` (tensors and plain values only, read back with ``torch.load(..., weights_only=True)``),
with a JSON summary ``plan-<key>.json`` (no masks or weights) that travels with an export of the run;
every later caller (the run graph naming the derived runs, the worker that fine-tunes, the chapter
collecting its rows) loads it instead of reloading the parent's weights and pruning again. A store that
cannot be written to still gets the plan, computed again on the next call.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .atomic import StoreError, atomic_save, atomic_write_json
from .data import calibration_images
from .flops import count_flops
from .models import selections_of
from .prune import PrunePlan, apply_plan, make_plan, method_info
from .prune.unstructured import stage_sparsity

PLAN_VERSION = 2  # bump when a stored plan's meaning changes (older files are then recomputed)


@dataclass
class StoredPlan:
    """A plan with what its derived runs' configs need: FLOPs of the parent and of the pruned model, the
    pruned model's channel selections (:func:`nbprune.models.selections_of`) and, for a masked plan, the
    fraction of conv weights it prunes per stage (guided sparsification's pattern). ``complete`` is False
    for a plan read from its JSON summary (an exported run: no masks, no refitted weights), which names the
    derived runs but cannot start them."""

    plan: PrunePlan
    flops_large: int
    flops_pruned: int
    selections: dict[str, list[int]] = field(default_factory=dict)
    stage_sparsity: list[float] | None = None
    complete: bool = True


def _spec(method: str, settings: dict[str, Any]) -> str:
    return json.dumps({"method": method, **settings}, sort_keys=True, default=str)


def plan_key(method: str, settings: dict[str, Any]) -> str:
    """A short hash of a prune spec (method and settings, tuples and lists alike)."""
    return hashlib.sha256(_spec(method, settings).encode()).hexdigest()[:16]


def plan_path(run_dir: str | Path, method: str, settings: dict[str, Any]) -> Path:
    """Where the full plan of pruning the run in ``run_dir`` with ``method(**settings)`` is stored."""
    return Path(run_dir) / "plans" / f"{plan_key(method, settings)}.pt"


def summary_path(run_dir: str | Path, method: str, settings: dict[str, Any]) -> Path:
    """Where its JSON summary is: beside the run's other JSON files, so exports carry it."""
    return Path(run_dir) / f"plan-{plan_key(method, settings)}.json"


def compute_plan(model: nn.Module, method: str, settings: dict[str, Any], data: torch.Tensor | None = None
                 ) -> StoredPlan:
    """Prune ``model`` (not modified) with ``method(**settings)``; ``data``: calibration images for the methods
    that sample activations (registered with ``needs_data``, :class:`nbprune.prune.MethodInfo`)."""
    extra = {"data": data} if method_info(method).needs_data else {}
    plan = make_plan(model, method, **settings, **extra)
    pruned = apply_plan(model, plan)
    sparsity = stage_sparsity(model, plan.masks) if plan.masks else None
    # the large model's FLOPs count its non-zero weights (an iterative round's parent is masked), except where the
    # plan says its training was dense (Soft Filter Pruning as its authors ran it: the zeroed filters trained on)
    dense = bool(plan.info.get("dense_large"))
    return StoredPlan(plan, count_flops(model, masked=not dense), count_flops(pruned, masked=True),
                      selections_of(pruned), sparsity)


def _record(sp: StoredPlan, method: str, settings: dict[str, Any]) -> dict:
    p = sp.plan
    return {"version": PLAN_VERSION, "spec": _spec(method, settings), "method": p.method, "arch": p.arch,
            "cfg": p.cfg, "keep": dict(p.keep), "masks": dict(p.masks), "info": p.info,
            "flops_large": int(sp.flops_large), "flops_pruned": int(sp.flops_pruned),
            "selections": {k: list(v) for k, v in sp.selections.items()}, "stage_sparsity": sp.stage_sparsity}


def _plain(v: Any) -> Any:
    """``v`` as plain JSON values; tensors (refitted weights) are left out of a summary."""
    if isinstance(v, torch.Tensor):
        return None
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items() if not isinstance(x, torch.Tensor)}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _summary(sp: StoredPlan, method: str, settings: dict[str, Any]) -> dict:
    p = sp.plan
    return {"version": PLAN_VERSION, "spec": _spec(method, settings), "method": p.method, "arch": p.arch,
            "cfg": _plain(p.cfg), "keep": {k: v.tolist() for k, v in p.keep.items()}, "info": _plain(p.info),
            "flops_large": int(sp.flops_large), "flops_pruned": int(sp.flops_pruned),
            "selections": {k: list(v) for k, v in sp.selections.items()}, "stage_sparsity": sp.stage_sparsity}


def _valid(r: Any, method: str, settings: dict[str, Any]) -> bool:
    return isinstance(r, dict) and r.get("version") == PLAN_VERSION and r.get("spec") == _spec(method, settings)


def load_plan(run_dir: str | Path, method: str, settings: dict[str, Any], complete: bool = True
              ) -> StoredPlan | None:
    """The stored plan, or None when there is none (or it is from another plan version or spec). With
    ``complete`` False, the JSON summary serves when the full plan is absent (runs imported without weights)."""
    path = plan_path(run_dir, method, settings)
    if path.exists():
        try:
            r = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - an unreadable plan is recomputed (and rewritten)
            r = None
        if _valid(r, method, settings):
            plan = PrunePlan(method=r["method"], arch=r["arch"], cfg=r["cfg"], keep=r["keep"], masks=r["masks"],
                             info=r["info"])
            return StoredPlan(plan, r["flops_large"], r["flops_pruned"], r["selections"], r.get("stage_sparsity"))
    if complete:
        return None
    try:
        r = json.loads(summary_path(run_dir, method, settings).read_text())
    except (OSError, ValueError):
        return None
    if not _valid(r, method, settings):
        return None
    keep = {k: torch.tensor(v, dtype=torch.long) for k, v in r["keep"].items()}
    plan = PrunePlan(method=r["method"], arch=r["arch"], cfg=r["cfg"], keep=keep, info=r["info"] or {})
    return StoredPlan(plan, r["flops_large"], r["flops_pruned"], r["selections"], r.get("stage_sparsity"), False)


def save_plan(run_dir: str | Path, method: str, settings: dict[str, Any], sp: StoredPlan) -> Path:
    """Store ``sp`` atomically, the full plan and its JSON summary (a failed write leaves no file behind);
    returns the full plan's path."""
    path = plan_path(run_dir, method, settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_save(_record(sp, method, settings), path, what="pruning plan")
    atomic_write_json(_summary(sp, method, settings), summary_path(run_dir, method, settings))
    return path


def plan_for(parent, method: str, settings: dict[str, Any], data_root=None, complete: bool = True) -> StoredPlan:
    """The plan of pruning ``parent`` (a finished :class:`~nbprune.runs.RunResult`) with ``method(**settings)``:
    loaded when stored, else computed from its final weights and stored. ``complete`` False accepts the JSON
    summary of a run imported without weights (enough to name and read back the derived runs)."""
    stored = load_plan(parent.dir, method, settings, complete)
    if stored is not None:
        return stored
    data = calibration_images(parent.config, data_root=data_root) if method_info(method).needs_data else None
    sp = compute_plan(parent.model("final"), method, settings, data)
    try:
        save_plan(parent.dir, method, settings, sp)
    except (StoreError, OSError):  # a read-only or full store: the plan is still right, only not kept
        pass
    return sp
