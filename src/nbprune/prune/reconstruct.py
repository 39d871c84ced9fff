"""Data-driven channel pruning by next-layer reconstruction: ThiNet and regression-based pruning.

Both methods prune the units of :func:`~nbprune.prune.surgery.channel_units` one at a time, in forward
order, on a working copy of the model, using calibration images ``data`` (normalised float NCHW):

1. Run the *original* model on ``data`` and record the output of every unit's consumer (the conv or
   Linear reading the unit's channels): the target to reconstruct, bias removed.
2. Run the *working* copy (earlier units already pruned and refitted) and record the consumer's input.
3. Sample output locations (image, row, column); at each, the consumer's output for output channel
   ``o`` is ``sum_c A[(loc, o), c]`` with ``A[(loc, o), c] = <W[o, c], patch_c(loc)>``, the contribution
   of input channel ``c``. Rows are (location, output channel) pairs; at most ``max_rows`` of them are
   drawn at random (ThiNet samples one output channel per location; we keep all when they fit).
4. Select the kept channels (method specific), then refit the consumer's weights by least squares
   against the original output and write them into the working copy (removed input channels get zero
   weight, which is exactly what removing them does).

* ``thinet`` (Luo et al. 2017): greedily add to the removed set T the channel minimising
  ``||sum_{c in T} A_c||^2`` (the change of the sampled outputs), until the target count is removed; then
  least squares gives one scale per kept channel (``refit="scale"``, the paper) or the full weights
  (``refit="full"``). A full refit needs at least ``full_min`` (default 10) times as many sampled
  locations as weights per output channel (kept channels x k x k); a unit with fewer falls back to
  the per-channel scales (``info["refit"]`` says what each unit used).
* ``regression`` (He et al. 2017): LASSO on the channel coefficients beta (columns of A normalised),
  ``min ||y - A beta||^2 / (2 rows) + lambda ||beta||_1`` by FISTA; lambda is bisected until at most the
  target count is non-zero and the kept channels are the largest |beta| at the last lambda with too many
  non-zeros (so exactly the target count is kept); then least squares refits the consumer's full weights
  on the sampled patches (``refit="full"``, the paper).

The plan keeps every unit's channels (``keep``) and carries the refitted consumer weights in the
*parent's* coordinates (full shape, zero on removed input channels) in ``info["weights"]``;
:func:`apply_reconstruction` loads them into a copy of the parent and runs surgery, which then selects
the kept input (and output) channels. ``apply_plan`` alone ignores them (plain surgery).

A Linear consumer that reads each channel as several consecutive input features (ImageNet VGG's first
FC layer: 7 x 7 = 49 per channel, ``Unit.consumer_block``) is handled like a conv with a 49-element
"kernel": a sampled location is an image, and channel ``c``'s contribution is its 49 inputs times the
matching weights.

Widths: one of ``fraction`` (every unit keeps ``max(1, int(C * (1 - fraction)))``), ``widths`` (unit
name -> width, or a per-unit list), ``target`` (a registered named target, as ``l1``: e.g.
``imagenet-vgg16-conv``, ``imagenet-resnet50-50``, ``imagenet-vgg16-5x``) or ``cfg`` (a cfg of the model's
family with the same units).

The ImageNet targets of the two papers are registered models (:mod:`nbprune.models.imagenet`);
:data:`THINET_TARGETS` and :data:`REGRESSION_TARGETS` give their cfgs under the papers' short names.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nbprune.models import create_model, model_spec, named_target_cfg
from nbprune.prune._checks import check_fraction
from nbprune.prune.plan import PrunePlan, register_method
from nbprune.prune.structured import target_widths
from nbprune.prune.surgery import Unit, channel_units, prune_channels, pruned_cfg

__all__ = [
    "REGRESSION_NAMES",
    "REGRESSION_TARGETS",
    "THINET_NAMES",
    "THINET_TARGETS",
    "apply_reconstruction",
    "contributions",
    "lasso_select",
    "regression",
    "thinet",
    "thinet_remove",
]

# ---- ImageNet targets: the registered models' cfgs under the papers' short names ------------------------
THINET_NAMES = {  # short name -> registered target
    # ThiNet-Conv: conv1_1 .. conv4_3 at 50%, conv5_x and the FC layers untouched.
    "vgg-conv": "imagenet-vgg16-conv",
    # ThiNet-30/50/70: the first two convs of every bottleneck keep 30/50/70% ("ResNet50-30%" ...).
    # Format: 4 stages x blocks x [conv1, conv2] widths (conv3 keeps 4x the stage width).
    "resnet50-30": "imagenet-resnet50-30",
    "resnet50-50": "imagenet-resnet50-50",
    "resnet50-70": "imagenet-resnet50-70",
    # VGG-GAP and VGG-Tiny are not derivable from the facts at hand (only: Tiny has ~15x fewer FLOPs and
    # ~100x fewer parameters than VGG-16, GAP replaces the FC layers by global average pooling).
}
REGRESSION_NAMES = {"vgg16-5x": "imagenet-vgg16-5x"}  # ResNet-50-2x: configuration not at hand
THINET_TARGETS: dict[str, Any] = {short: named_target_cfg(name) for short, name in THINET_NAMES.items()}
REGRESSION_TARGETS: dict[str, Any] = {short: named_target_cfg(name) for short, name in REGRESSION_NAMES.items()}


# ---- sampling --------------------------------------------------------------------------------------------
class _Stop(Exception):
    """Raised by a capture hook to skip the rest of a forward pass."""


@torch.no_grad()
def _capture(model: nn.Module, names: list[str], data: torch.Tensor, batch_size: int,
             want: str, stop: bool) -> dict[str, torch.Tensor]:
    """The input (``want="x"``) or output (``"y"``) of each named module on ``data``, eval mode."""
    got: dict[str, list[torch.Tensor]] = {n: [] for n in names}

    def make_hook(name: str):
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            got[name].append((inputs[0] if want == "x" else output).detach().clone())
            if stop:
                raise _Stop
        return hook

    handles = [model.get_submodule(n).register_forward_hook(make_hook(n)) for n in names]
    was = model.training
    model.eval()
    try:
        for start in range(0, len(data), batch_size):
            try:
                model(data[start:start + batch_size])
            except _Stop:
                pass
    finally:
        for h in handles:
            h.remove()
        model.train(was)
    return {n: torch.cat(v) for n, v in got.items()}


def _patches(module: nn.Module, x: torch.Tensor, y: torch.Tensor, locations: int,
             gen: torch.Generator, block: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Sampled input patches ``(S, C, kk)`` of ``module`` and its outputs ``(S, O)`` at the same locations.

    A Linear's input ``(N, C * block)`` gives patches ``(S, C, block)``: channel ``c`` owns the ``block``
    consecutive features from ``c * block``.
    """
    if isinstance(module, nn.Linear):
        if x.dim() != 2 or x.shape[1] % block:
            raise ValueError(f"consumer: a Linear consumer must read a flat (N, C * {block}) input")
        idx = torch.randperm(x.shape[0], generator=gen)[:locations].to(x.device)
        return x[idx].reshape(len(idx), -1, block), y[idx]
    if not isinstance(module, nn.Conv2d) or module.groups != 1 or module.dilation != (1, 1) \
            or isinstance(module.padding, str) or module.padding_mode != "zeros":
        raise ValueError(f"consumer: only plain Conv2d (groups 1, dilation 1) or Linear supported; got {module}")
    n_img, c, _, _ = x.shape
    _, _, h_out, w_out = y.shape
    kh, kw = module.kernel_size
    (sh, sw), (ph, pw) = module.stride, module.padding
    flat = torch.randperm(n_img * h_out * w_out, generator=gen)[:locations]
    n, rest = flat // (h_out * w_out), flat % (h_out * w_out)
    oh, ow = rest // w_out, rest % w_out
    ii = (oh[:, None] * sh + torch.arange(kh))[:, None, :, None].to(x.device)
    jj = (ow[:, None] * sw + torch.arange(kw))[:, None, None, :].to(x.device)
    n, oh, ow = n.to(x.device), oh.to(x.device), ow.to(x.device)
    xp = F.pad(x, (pw, pw, ph, ph))
    p = xp[n[:, None, None, None], torch.arange(c, device=x.device)[None, :, None, None], ii, jj]
    return p.reshape(len(flat), c, kh * kw), y[n, :, oh, ow]


def contributions(patches: torch.Tensor, weight: torch.Tensor, target: torch.Tensor, max_rows: int,
                  gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel contributions ``A`` (rows x C) and the target ``y`` (rows) at sampled (location, output) pairs.

    ``patches`` (S, C, kk), ``weight`` (O, C, kk), ``target`` (S, O). All S*O pairs are used when they fit
    in ``max_rows``, else ``max_rows`` pairs are drawn at random.
    """
    s, o = target.shape
    if s * o <= max_rows:
        si = torch.arange(s).repeat_interleave(o)
        oi = torch.arange(o).repeat(s)
    else:
        flat = torch.randperm(s * o, generator=gen)[:max_rows]
        si, oi = flat // o, flat % o
    si, oi = si.to(patches.device), oi.to(patches.device)
    parts = [(patches[si[i:i + 4096]] * weight[oi[i:i + 4096]]).sum(-1) for i in range(0, len(si), 4096)]
    return torch.cat(parts), target[si, oi]


# ---- selection -------------------------------------------------------------------------------------------
def thinet_remove(a: torch.Tensor, n_remove: int) -> torch.Tensor:
    """ThiNet's greedy choice: the ``n_remove`` channels (columns of ``a``) whose summed contribution is smallest.

    Each step adds the channel ``c`` minimising ``||r + a_c||^2`` where ``r`` is the summed contribution of
    the channels removed so far; ties go to the lower index. Returns the removed indices in removal order.
    """
    a = a.double()
    norms = (a * a).sum(0)
    r = torch.zeros(a.shape[0], dtype=a.dtype, device=a.device)
    free = torch.ones(a.shape[1], dtype=torch.bool, device=a.device)
    removed = []
    for _ in range(n_remove):
        score = 2 * (a.T @ r) + norms
        score[~free] = math.inf
        c = int(torch.argmin(score))
        removed.append(c)
        free[c] = False
        r += a[:, c]
    return torch.tensor(removed, dtype=torch.long)


def _fista(g: torch.Tensor, b: torch.Tensor, lam: float, step: float, beta: torch.Tensor, iters: int) -> torch.Tensor:
    """FISTA for ``min 0.5 beta'G beta - b'beta + lam ||beta||_1`` from ``beta``."""
    z, t = beta.clone(), 1.0
    for _ in range(iters):
        grad = g @ z - b
        new = z - step * grad
        new = torch.sign(new) * (new.abs() - step * lam).clamp_min(0)
        t_new = (1 + math.sqrt(1 + 4 * t * t)) / 2
        z = new + ((t - 1) / t_new) * (new - beta)
        beta, t = new, t_new
    return beta


def lasso_select(a: torch.Tensor, y: torch.Tensor, k: int, iters: int = 300, bisections: int = 40) -> torch.Tensor:
    """He et al.'s LASSO channel selection: the sorted indices of ``k`` channels (columns of ``a``).

    Columns are normalised to unit norm; lambda is bisected between 0 and ``max |A'y| / rows`` (all zero)
    until exactly ``k`` coefficients are non-zero or the interval is exhausted; the kept channels are the
    ``k`` largest |beta| at the smallest tried lambda with at least ``k`` non-zeros.
    """
    c = a.shape[1]
    if k >= c:
        return torch.arange(c)
    a = a.double()
    rows = a.shape[0]
    z = a / a.norm(dim=0).clamp_min(1e-12)
    g = z.T @ z / rows
    b = z.T @ y.double() / rows
    step = 1.0 / float(torch.linalg.eigvalsh(g).max().clamp_min(1e-12))
    lo, hi = 0.0, float(b.abs().max())
    beta_lo = _fista(g, b, lo, step, torch.zeros_like(b), iters)
    beta = beta_lo
    for _ in range(bisections):
        mid = (lo + hi) / 2
        beta = _fista(g, b, mid, step, beta, iters)
        nnz = int((beta != 0).sum())
        if nnz >= k:
            lo, beta_lo = mid, beta
            if nnz == k:
                break
        else:
            hi = mid
    order = torch.sort(beta_lo.abs().cpu(), descending=True, stable=True).indices
    return order[:k].sort().values


# ---- least squares ---------------------------------------------------------------------------------------
def _solve(m: torch.Tensor, rhs: torch.Tensor, ridge: float) -> torch.Tensor:
    """Least squares ``argmin ||m x - rhs||^2 + eps ||x||^2`` (eps = ridge * mean diagonal), double precision."""
    m, rhs = m.double(), rhs.double()
    gram = m.T @ m
    eps = ridge * float(gram.diagonal().mean().clamp_min(1e-12))
    eye = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
    return torch.linalg.solve(gram + eps * eye, m.T @ rhs)


def _refit(weight: torch.Tensor, kept: torch.Tensor, mode: str, a: torch.Tensor, y: torch.Tensor,
           patches: torch.Tensor, target: torch.Tensor, ridge: float) -> torch.Tensor:
    """The consumer weight ``(O, C, kk)`` refitted on the kept input channels (zero elsewhere)."""
    new = torch.zeros_like(weight)
    kept_d = kept.to(weight.device)
    if mode == "none":
        new[:, kept_d] = weight[:, kept_d]
    elif mode == "scale":
        scale = _solve(a[:, kept_d], y, ridge).to(weight.dtype)
        new[:, kept_d] = weight[:, kept_d] * scale[None, :, None]
    elif mode == "full":
        p = patches[:, kept_d].reshape(patches.shape[0], -1)
        w = _solve(p, target, ridge).T.to(weight.dtype)  # (O, kept * kk)
        new[:, kept_d] = w.reshape(weight.shape[0], len(kept), weight.shape[2])
    else:
        raise ValueError(f"refit: must be 'scale', 'full' or 'none'; got {mode!r}")
    return new


# ---- widths ----------------------------------------------------------------------------------------------
def _widths(model: nn.Module, units: dict[str, Unit], fraction: Any, widths: Any, target: Any,
            cfg: Any) -> dict[str, int]:
    given = [n for n, v in (("fraction", fraction), ("widths", widths), ("target", target), ("cfg", cfg))
             if v is not None]
    if len(given) != 1:
        raise ValueError(f"fraction, widths, target, cfg: give exactly one of them; got {given or 'none'}")
    if fraction is not None:
        fraction = check_fraction(fraction)
        return {n: max(1, int(u.size * (1 - fraction))) for n, u in units.items()}
    if target is not None:
        return target_widths(model, units, target)
    if cfg is not None:
        with torch.device("meta"):
            ref = create_model(**{**model_spec(model), "cfg": cfg})
        ref_units = channel_units(ref)
        if list(ref_units) != list(units):
            raise ValueError(f"cfg: {cfg!r} does not have the units of the model (cfg {model.cfg})")
        out = {n: u.size for n, u in ref_units.items()}
    elif isinstance(widths, Mapping):
        for n in widths:
            if n not in units:
                raise ValueError(f"widths: unknown unit {n!r}; units: {', '.join(units)}")
        out = {n: int(widths.get(n, u.size)) for n, u in units.items()}
    elif isinstance(widths, (list, tuple)) and len(widths) == len(units):
        out = {n: int(w) for n, w in zip(units, widths)}
    else:
        raise ValueError(f"widths: must map unit names to widths or list one width per unit ({len(units)}); "
                         f"got {widths!r}")
    for n, w in out.items():
        if not 1 <= w <= units[n].size:
            raise ValueError(f"widths: unit {n!r} has {units[n].size} channels; asked to keep {w}")
    return out


# ---- the shared driver -----------------------------------------------------------------------------------
Selector = Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]


@torch.no_grad()
def _reconstruct(method: str, model: nn.Module, data: torch.Tensor, widths: dict[str, int], select: Selector,
                 refit: str, locations: int, max_rows: int, batch_size: int, seed: int,
                 ridge: float, full_min: float) -> PrunePlan:
    if not isinstance(data, torch.Tensor) or data.dim() != 4 or not data.is_floating_point():
        raise ValueError("data: calibration images must be a normalised float tensor (N, C, H, W)")
    units = channel_units(model)
    ref = next(model.parameters())
    data = data.to(device=ref.device, dtype=ref.dtype)
    gen = torch.Generator().manual_seed(seed)
    work = copy.deepcopy(model)
    todo = {n: u for n, u in units.items() if widths[n] < u.size}
    consumers = sorted({c for u in todo.values() for c in u.consumers})
    originals = _capture(model, consumers, data, batch_size, "y", stop=False) if consumers else {}
    keep: dict[str, torch.Tensor] = {}
    weights: dict[str, torch.Tensor] = {}
    errors: dict[str, tuple[float, float]] = {}
    refits: dict[str, str] = {}
    for name, unit in units.items():
        if name not in todo:
            keep[name] = torch.arange(unit.size)
            continue
        if len(unit.consumers) != 1:
            raise ValueError(f"unit {name!r}: reconstruction needs exactly one consumer; has {unit.consumers}")
        consumer = unit.consumers[0]
        module = work.get_submodule(consumer)
        x = _capture(work, [consumer], data, batch_size, "x", stop=True)[consumer]
        y_orig = originals[consumer]
        patches, target = _patches(module, x, y_orig, locations, gen, unit.consumer_block)
        if module.bias is not None:
            target = target - module.bias.detach()
        weight = module.weight.detach().reshape(module.weight.shape[0], patches.shape[1], -1).clone()
        a, y = contributions(patches, weight, target, max_rows, gen)
        kept = select(a, y, widths[name]).cpu()
        mode = refit
        if mode == "full" and patches.shape[0] < full_min * len(kept) * weight.shape[2]:
            mode = "scale"  # too few sampled locations to fit every weight: fit one scale per channel
        refits[name] = mode
        new = _refit(weight, kept, mode, a, y, patches, target, ridge)
        module.weight.copy_(new.reshape(module.weight.shape))
        # sampled relative error of the consumer's output: before this unit's pruning, after the refit
        norm = float(target.norm().clamp_min(1e-12))
        before = torch.einsum("sck,ock->so", patches, weight) - target
        after = torch.einsum("sck,ock->so", patches, new) - target
        errors[name] = (float(before.norm()) / norm, float(after.norm()) / norm)
        keep[name] = kept
        weights[consumer] = module.weight.detach().clone()
    info = {"widths": {n: int(k.numel()) for n, k in keep.items()}, "weights": weights,
            "sampled_error": errors, "refit": refits}
    return PrunePlan(method=method, arch=model.arch, cfg=pruned_cfg(model, keep), keep=keep, info=info)


def apply_reconstruction(model: nn.Module, plan: PrunePlan) -> nn.Module:
    """The model pruned by ``plan`` with its refitted consumer weights (``plan.info["weights"]``).

    The weights are in the parent's coordinates, so they are loaded into a copy of ``model`` first; surgery
    then keeps the planned channels. ``model`` is not modified.
    """
    source = copy.deepcopy(model)
    with torch.no_grad():
        for name, weight in plan.info.get("weights", {}).items():
            param = source.get_submodule(name).weight
            if param.shape != weight.shape:
                raise ValueError(f"plan: weights for {name!r} have shape {tuple(weight.shape)}; "
                                 f"the model's is {tuple(param.shape)}")
            param.copy_(weight)
    return prune_channels(source, plan.keep)


@register_method("thinet", needs_data=True)
def thinet(model: nn.Module, data: torch.Tensor, fraction: float | None = None, widths: Any = None,
           target: str | None = None, cfg: Any = None, refit: str = "scale", locations: int = 2000,
           max_rows: int = 50_000, batch_size: int = 64, seed: int = 0, ridge: float = 1e-6,
           full_min: float = 10.0) -> PrunePlan:
    """ThiNet (Luo et al. 2017) on calibration images ``data``; see the module docstring.

    ``locations`` output locations are sampled per unit, ``max_rows`` (location, output channel) pairs
    at most enter the greedy search. ``refit``: ``"scale"`` (one least-squares scale per kept channel,
    the paper), ``"full"`` (all consumer weights) or ``"none"``.
    """
    units = channel_units(model)
    w = _widths(model, units, fraction, widths, target, cfg)

    def select(a: torch.Tensor, y: torch.Tensor, k: int) -> torch.Tensor:
        removed = thinet_remove(a, a.shape[1] - k)
        mask = torch.ones(a.shape[1], dtype=torch.bool)
        mask[removed] = False
        return torch.nonzero(mask).flatten()

    return _reconstruct("thinet", model, data, w, select, refit, locations, max_rows, batch_size, seed, ridge,
                        full_min)


@register_method("regression", needs_data=True)
def regression(model: nn.Module, data: torch.Tensor, fraction: float | None = None, widths: Any = None,
               target: str | None = None, cfg: Any = None, refit: str = "full", locations: int = 2000,
               max_rows: int = 50_000, batch_size: int = 64, seed: int = 0, ridge: float = 1e-6,
               iters: int = 300, full_min: float = 10.0) -> PrunePlan:
    """Regression-based feature reconstruction (He et al. 2017) on ``data``; see the module docstring."""
    units = channel_units(model)
    w = _widths(model, units, fraction, widths, target, cfg)

    def select(a: torch.Tensor, y: torch.Tensor, k: int) -> torch.Tensor:
        return lasso_select(a, y, k, iters=iters)

    return _reconstruct("regression", model, data, w, select, refit, locations, max_rows, batch_size, seed,
                        ridge, full_min)
