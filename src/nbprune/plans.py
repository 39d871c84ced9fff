"""A chain's pruning plan, computed once and stored beside the run it prunes.

Pruning a finished large model (its plan, the FLOPs before and after, the pruned model's channel
selections) is a pure function of the run's final weights and the method's settings. :func:`plan_for`
computes it the first time it is asked for and stores it in the parent's run directory as
``plans/<key>.pt`` (tensors and plain values only, read back with ``torch.load(..., weights_only=True)``);
every later caller (the run graph naming the derived runs, the worker that fine-tunes, the chapter
collecting its rows) loads it instead of reloading the parent's weights and pruning again. A store that
cannot be written to still gets the plan, computed again on the next call.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .atomic import StoreError, atomic_save
from .data import calibration_images
from .flops import count_flops
from .models import selections_of
from .prune import NEEDS_DATA, PrunePlan, apply_plan, make_plan

PLAN_VERSION = 1  # bump when a stored plan's meaning changes (older files are then recomputed)


@dataclass
class StoredPlan:
    """A plan with what its derived runs' configs need: FLOPs of the parent and of the pruned model, and the
    pruned model's channel selections (:func:`nbprune.models.selections_of`)."""

    plan: PrunePlan
    flops_large: int
    flops_pruned: int
    selections: dict[str, list[int]] = field(default_factory=dict)


def plan_key(method: str, settings: dict[str, Any]) -> str:
    """A short hash of a prune spec (method and settings, tuples and lists alike)."""
    text = json.dumps({"method": method, **settings}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def plan_path(run_dir: str | Path, method: str, settings: dict[str, Any]) -> Path:
    """Where the plan of pruning the run in ``run_dir`` with ``method(**settings)`` is stored."""
    return Path(run_dir) / "plans" / f"{plan_key(method, settings)}.pt"


def compute_plan(model: nn.Module, method: str, settings: dict[str, Any], data: torch.Tensor | None = None
                 ) -> StoredPlan:
    """Prune ``model`` (not modified) with ``method(**settings)``; ``data``: calibration images for the methods
    that sample activations (:data:`nbprune.prune.NEEDS_DATA`)."""
    extra = {"data": data} if method in NEEDS_DATA else {}
    plan = make_plan(model, method, **settings, **extra)
    pruned = apply_plan(model, plan)
    return StoredPlan(plan, count_flops(model, masked=True), count_flops(pruned, masked=True), selections_of(pruned))


def _record(sp: StoredPlan, method: str, settings: dict[str, Any]) -> dict:
    p = sp.plan
    return {"version": PLAN_VERSION, "spec": json.dumps({"method": method, **settings}, sort_keys=True, default=str),
            "method": p.method, "arch": p.arch, "cfg": p.cfg, "keep": dict(p.keep), "masks": dict(p.masks),
            "info": p.info, "flops_large": int(sp.flops_large), "flops_pruned": int(sp.flops_pruned),
            "selections": {k: list(v) for k, v in sp.selections.items()}}


def load_plan(run_dir: str | Path, method: str, settings: dict[str, Any]) -> StoredPlan | None:
    """The stored plan, or None when there is none (or it is from another plan version or spec)."""
    path = plan_path(run_dir, method, settings)
    if not path.exists():
        return None
    try:
        r = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - an unreadable plan is recomputed (and rewritten)
        return None
    spec = json.dumps({"method": method, **settings}, sort_keys=True, default=str)
    if not isinstance(r, dict) or r.get("version") != PLAN_VERSION or r.get("spec") != spec:
        return None
    plan = PrunePlan(method=r["method"], arch=r["arch"], cfg=r["cfg"], keep=r["keep"], masks=r["masks"], info=r["info"])
    return StoredPlan(plan, r["flops_large"], r["flops_pruned"], r["selections"])


def save_plan(run_dir: str | Path, method: str, settings: dict[str, Any], sp: StoredPlan) -> Path:
    """Store ``sp`` atomically (a failed write leaves no file behind); returns its path."""
    path = plan_path(run_dir, method, settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_save(_record(sp, method, settings), path, what="pruning plan")
    return path


def plan_for(parent, method: str, settings: dict[str, Any], data_root=None) -> StoredPlan:
    """The plan of pruning ``parent`` (a finished :class:`~nbprune.runs.RunResult`) with ``method(**settings)``:
    loaded when stored, else computed from its final weights and stored."""
    stored = load_plan(parent.dir, method, settings)
    if stored is not None:
        return stored
    data = calibration_images(parent.config, data_root=data_root) if method in NEEDS_DATA else None
    sp = compute_plan(parent.model("final"), method, settings, data)
    try:
        save_plan(parent.dir, method, settings, sp)
    except (StoreError, OSError):  # a read-only or full store: the plan is still right, only not kept
        pass
    return sp
