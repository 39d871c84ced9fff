"""``nbprune bench``: how fast nbprune trains and infers, measured on this machine in one process.

Four measurements in one process and a fifth in child processes, each repeated and interleaved (so a change
in background load hits every contender alike) and summarised by the median:

* **Training throughput** (images/s, batch 64) of nbprune's loop -- batches from
  :func:`nbprune.data.train_batches` over random uint8 data (the real batched augmentation), a
  channels_last model from :func:`nbprune.train.build_model`, the optimiser of
  :func:`nbprune.train.make_optimizer` and :func:`nbprune.train.train_batch`, the very step function
  :func:`nbprune.train.train` runs -- against a loop in the original authors' style
  (:class:`nbprune.bench_measure.ReferenceLoop`): a ``Dataset`` that makes a PIL image of every uint8 HWC
  image and applies torchvision's Pad(4)/RandomCrop(32)/RandomHorizontalFlip/ToTensor/Normalize, a
  ``DataLoader(shuffle=True, num_workers=1, batch_size=64)`` and an fp32 NCHW model. Warm-up steps are not
  timed; unless ``--steps`` is given, the timed steps per repeat (2 to 8) are chosen from the warm-up step times
  so that all models together take about ``--budget`` seconds (150), which keeps the defaults to a few minutes
  on a loaded CPU.
* **Achieved training FLOP/s** of nbprune's loop (3 x forward FLOPs of :func:`nbprune.flops.count_flops`
  x images/s) against the machine's measured peak: a 2048x2048 fp32 matmul on CPU, an 8192x8192 bf16 matmul
  on CUDA.
* **Inference latency** at batch 256 (eval, no_grad, channels_last) of unpruned/pruned pairs (vgg16 vs
  vgg16-a, resnet56 vs resnet56-b), compared with their FLOPs ratio.
* **Peak memory** of each model's training loop (:class:`nbprune.bench_measure.MemoryProbe`): on CPU the
  growth of the process's resident set size (sampled from /proc every few ms, after returning freed heap to
  the OS) over its size before the model was built; on CUDA ``torch.cuda.max_memory_allocated`` over the
  allocation before.

* **Concurrent runs** (``--concurrency N ...``; on CUDA N = 1, 2, 4, 8 by default): the aggregate img/s of
  N copies of nbprune's loop at once on the device, in child processes that warm up and then start timing
  together -- what ``LocalExecutor(devices=..., runs_per_device=N)`` gains when one run cannot fill a GPU.

nbprune's loop runs :func:`nbprune.train.train_step`, the step ``train()`` runs, through the step
implementation of ``--step`` (eager, torch.compile or CUDA graphs, :mod:`nbprune.step`), in fp32 or with
``--amp`` in bf16 autocast (on a CPU without bf16 hardware computed as :mod:`nbprune.precision` says, which
the table names); its img/s is also given against :data:`TARGET_IMG_S`. On CUDA each repeat times up
to :data:`CUDA_MAX_STEPS` steps (a GPU step takes milliseconds).

The exploratory variants of nbprune's loop (layout, threads, SGD flavour, torch.compile, bf16, CUDA graphs,
OpenMP's wait policy, one process per core, step agreement) are not part of the package: run
``python tools/bench_explore.py`` with the same options (it imports this module). ``--explore`` here says so.

Timings on a shared machine are noisy; the per-repeat samples are in the JSON next to the medians.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch

from .bench_measure import BATCH, NUM_CLASSES, MemoryProbe, ReferenceLoop
from .bench_measure import build as _build
from .bench_measure import sync as _sync
from .choices import unknown_choice
from .data import train_batches
from .flops import count_flops, count_params
from .models import list_models
from .params import int_arg, width_arg
from .precision import bf16_kind
from .prune import hooks_for
from .step import STEP_IMPLS, make_step_model, resolve_step
from .train import RunConfig, build_model, make_optimizer, mask_pairs, resolve_device, train_batch

DEFAULT_MODELS = ("vgg16@0.25", "resnet20@1")
TARGET_IMG_S = 45_000  # a 160-epoch CIFAR-10 run (50,000 images x 160) in about 3 minutes (issue 19)
CUDA_CONCURRENCY = (1, 2, 4, 8)  # concurrent runs per GPU measured by default on CUDA
CUDA_MAX_STEPS = 200  # a GPU step takes milliseconds: time up to this many per repeat (CPU: 8)
PAIRS = (("vgg16", "vgg16-a"), ("resnet56", "resnet56-b"))

# --quick also runs single-threaded: tiny models gain nothing from a second thread, and on a loaded machine
# OpenMP's spinning threads can make them ~10x slower (see book/appendix_speed.md).
QUICK = dict(models=["vgg11@0.0625", "resnet20@0.25"], repeats=2, steps=2, warmup=1, pair_width=0.125,
             pair_batch=16, peak_size=512, threads=1)


# ------------------------------------------------------------------------------------------- arguments
def _model_spec(s: str) -> tuple[str, float]:
    """``name`` or ``name@width`` -> (name, width), checked against the registry."""
    name, _, w = s.partition("@")
    try:
        width = float(w) if w else 1.0
    except ValueError:
        raise argparse.ArgumentTypeError(f"models: width must be a number in name@width, got {s!r}") from None
    if name not in list_models():
        raise argparse.ArgumentTypeError(str(unknown_choice("models", name, list_models())))
    if not 0 < width <= 4:
        raise argparse.ArgumentTypeError(f"models: width must be in (0, 4], got {s!r}")
    return name, width


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The ``bench`` options (see the module docstring)."""
    parser.add_argument("--device", default="auto", choices=["cpu", "cuda", "auto"],
                        help="where to measure (default: auto, cuda when available)")
    parser.add_argument("--models", nargs="+", type=_model_spec, default=None, metavar="NAME[@WIDTH]",
                        help=f"models for the training benchmark (default: {' '.join(DEFAULT_MODELS)})")
    parser.add_argument("--repeats", type=int_arg("repeats", 1), default=None,
                        help="timed repeats, interleaved; the median is reported (default 3)")
    parser.add_argument("--steps", type=int_arg("steps", 1), default=None,
                        help="timed training steps per repeat (default: as many as fit --budget, 2 to 8)")
    parser.add_argument("--budget", type=int_arg("budget", 1), default=None,
                        help="seconds the timed training steps of all models may take when --steps is not "
                             "given (default 150), so a loaded machine still finishes in minutes")
    parser.add_argument("--warmup", type=int_arg("warmup", 0), default=None,
                        help="untimed training steps before timing (default 2)")
    parser.add_argument("--pair-width", type=width_arg("pair-width"), default=None,
                        help="width of the pruned/unpruned inference pairs (default 1.0)")
    parser.add_argument("--pair-batch", type=int_arg("pair-batch", 1), default=None,
                        help="batch size of the inference latency (default 256)")
    parser.add_argument("--threads", type=int_arg("threads", 1), default=None,
                        help="torch.set_num_threads for the whole benchmark (default: torch's own choice; "
                             "1 with --quick)")
    parser.add_argument("--no-pairs", action="store_true", help="skip the inference latency pairs")
    parser.add_argument("--amp", action="store_true", help="nbprune's loop in bf16 autocast (the reference stays "
                                                         "fp32, as the authors trained)")
    parser.add_argument("--step", default=None, choices=list(STEP_IMPLS),
                        help="step implementation of nbprune's loop (default eager; cuda-graph needs CUDA)")
    parser.add_argument("--concurrency", nargs="+", type=int_arg("concurrency", 1), default=None, metavar="N",
                        help="aggregate img/s of N copies of nbprune's loop at once on the device, child "
                             f"processes (default on CUDA: {' '.join(map(str, CUDA_CONCURRENCY))}; on CPU: none)")
    parser.add_argument("--no-concurrency", action="store_true", help="skip the concurrent-runs measurement")
    parser.add_argument("--no-reference", action="store_true", help="time nbprune's loop only")
    parser.add_argument("--explore", action="store_true",
                        help="moved out of the package: run python tools/bench_explore.py with the same options")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.add_argument("--quick", action="store_true",
                        help="tiny settings (tests): small models, 2 steps, 1 thread; seconds, not minutes")
    return parser


def _settings(args) -> dict:
    """The effective settings: explicit arguments win over --quick, which wins over the defaults."""
    base = dict(models=[_model_spec(m) for m in DEFAULT_MODELS], repeats=3, steps=None, max_steps=8, min_steps=2,
                warmup=2, pair_width=1.0, pair_batch=256, peak_size=2048, threads=None, budget=150,
                amp=bool(getattr(args, "amp", False)), step=getattr(args, "step", None) or "eager",
                concurrency=getattr(args, "concurrency", None))
    if getattr(args, "quick", False):
        base.update({k: v for k, v in QUICK.items() if k != "models"})
        base["models"] = [_model_spec(m) for m in QUICK["models"]]
    for key in ("models", "repeats", "steps", "warmup", "pair_width", "pair_batch", "threads", "budget"):
        v = getattr(args, key, None)
        if v is not None:
            base[key] = [_model_spec(m) if isinstance(m, str) else m for m in v] if key == "models" else v
    return base


# --------------------------------------------------------------------------------------------- helpers
def _median(xs: list[float]) -> float:
    return float(statistics.median(xs))


def _key(name: str, width: float) -> str:
    return f"{name}@{width:g}"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: torch.device) -> dict:
    info = {"cpu": _cpu_model(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(), "device": str(device),
            "platform": platform.platform(),
            "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MKL_NUM_THREADS",
                                               "GOMP_SPINCOUNT") if k in os.environ}}
    if hasattr(os, "getloadavg"):
        info["loadavg_start"] = [round(v, 2) for v in os.getloadavg()]
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def peak_flops(device: torch.device, size: int = 2048, samples: int = 5) -> list[float]:
    """FLOP/s of a square matmul (fp32 on CPU, bf16 on CUDA; 8192 on CUDA), one value per sample."""
    if device.type == "cuda":
        size, dtype = max(size, 8192), torch.bfloat16
    else:
        dtype = torch.float32
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    torch.mm(a, b)
    _sync(device)
    out = []
    for _ in range(samples):
        t = time.perf_counter()
        torch.mm(a, b)
        _sync(device)
        out.append(2 * size**3 / (time.perf_counter() - t))
    return out


def copy_bandwidth(device: torch.device, megabytes: int = 1024, samples: int = 5) -> dict:
    """Copy ceilings in GB/s (1e9 bytes): ``device -> device`` (a tensor copied into another; read and
    write both counted) and, on CUDA, pinned ``host -> device``; the median of ``samples`` copies each."""
    n = megabytes * 2**20 // 4
    a = torch.empty(n, device=device, dtype=torch.float32).fill_(1.0)
    b = torch.empty_like(a)
    b.copy_(a)
    _sync(device)

    def gbps(fn, moved: int) -> float:
        secs = [_timed(fn, device) for _ in range(samples)]
        return moved / _median(secs) / 1e9

    out = {"megabytes": megabytes, "device_copy_gb_s": gbps(lambda: b.copy_(a), 2 * 4 * n)}
    if device.type == "cuda":
        host = torch.empty(n, dtype=torch.float32, pin_memory=True).fill_(1.0)
        out["host_to_device_gb_s"] = gbps(lambda: b.copy_(host, non_blocking=True), 4 * n)
    return out


# ----------------------------------------------------------------------------------------- the loops
def _random_images(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)
    y = torch.randint(0, NUM_CLASSES, (n,), generator=g)
    return x, y


class NbpruneLoop:
    """nbprune's training loop, as :func:`nbprune.train.train` runs it: batches from ``train_batches``, the
    step model of :func:`nbprune.step.make_step_model`, the optimiser of :func:`nbprune.train.make_optimizer`
    and :func:`nbprune.train.train_batch` (train_step, the config's hooks, ``opt.step()``, the masks).

    The keyword options are the variants ``tools/bench_explore.py`` compares; the defaults are what train.py
    does. ``step`` is the step implementation (:data:`nbprune.step.STEP_IMPLS`; ``compile_model`` means
    ``compile``); ``seed`` the model's init; ``optimizer`` "foreach" or "fused" selects that SGD flavour.
    """

    def __init__(self, name: str, width: float, x: torch.Tensor, y: torch.Tensor, device: torch.device, *,
                 channels_last: bool = True, optimizer: str = "default", compile_model: bool = False,
                 autocast_bf16: bool = False, threads: int | None = None, step: str = "eager",
                 seed: int = 0) -> None:
        self.config = RunConfig(model=name, width=width, seed=seed)
        self.device, self.threads = device, threads
        self.hooks = hooks_for(self.config)
        impl = resolve_step("compile" if compile_model else step, device)
        model = build_model(self.config, NUM_CLASSES, self.hooks).to(device)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        sgd = {"foreach": {"foreach": True}, "fused": {"fused": True}}.get(optimizer, {})
        self.opt = make_optimizer(model, self.config, self.hooks, **sgd)
        self.amp = autocast_bf16 or self.config.amp
        self.lr = self.config.lr_at(0)
        self.masks = mask_pairs(model)
        for hook in self.hooks:
            hook.on_train_start(model, 0)
        self.step_model = make_step_model(model, impl, (BATCH, *x.shape[1:]), device, self.amp)
        self.losses: list[torch.Tensor] = []  # per-step losses, kept only when ``keep_losses`` is set
        self.keep_losses = False
        self.x, self.y = x.to(device), y.to(device)
        self.batches = self._stream(channels_last)
        self.loss_sum = torch.zeros((), device=device)
        self.correct = torch.zeros((), device=device, dtype=torch.long)
        self.model.train()

    def _stream(self, channels_last: bool) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for epoch in itertools.count():
            yield from train_batches(self.x, self.y, BATCH, 0, epoch, channels_last=channels_last)

    def steps(self, n: int) -> None:
        """Run ``n`` training steps (each :func:`nbprune.train.train_batch`), then wait for the device."""
        old_threads = torch.get_num_threads()
        switch = bool(self.threads) and self.threads != old_threads
        if switch:
            torch.set_num_threads(self.threads)
        try:
            for _ in range(n):
                xb, yb = next(self.batches)
                out, loss = train_batch(self.step_model, self.model, self.opt, xb, yb, self.amp, self.lr,
                                        self.hooks, self.masks)
                if self.keep_losses:
                    self.losses.append(loss.detach())
                self.loss_sum += loss.detach() * len(yb)
                self.correct += (out.detach().argmax(1) == yb).sum()
            _sync(self.device)
        finally:
            if switch:
                torch.set_num_threads(old_threads)


def _timed(fn: Callable[[], Any], device: torch.device) -> float:
    _sync(device)
    t = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t


def _interleave(contenders: dict[str, Callable[[], Any]], repeats: int, device: torch.device,
                after: dict[str, Callable[[], Any]] | None = None) -> dict[str, list[float]]:
    """Seconds of each contender per repeat; the order rotates every repeat."""
    names = list(contenders)
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        k = r % len(names)
        for n in names[k:] + names[:k]:
            out[n].append(_timed(contenders[n], device))
            if after and n in after:
                after[n]()
    return out


def _warm_up(loop, n: int, device: torch.device) -> float:
    """Run ``n`` (at least 1) untimed steps; return the seconds of the last one."""
    if n > 1:
        loop.steps(n - 1)
    return _timed(lambda: loop.steps(1), device)


def bench_model(name: str, width: float, device: torch.device, s: dict, reference: bool = True,
                budget_s: float | None = None) -> dict:
    """Training throughput of nbprune's loop (and the reference loop) for one model.

    With ``s["steps"]`` None, the steps per repeat are chosen from the warm-up step times so that the timed
    steps take about ``budget_s`` seconds (within ``s["min_steps"]``..``s["max_steps"]``).
    """
    max_steps = s["steps"] or s["max_steps"]
    n_images = BATCH * (s["warmup"] + s["repeats"] * max_steps + 4)  # one epoch covers the whole benchmark
    x, y = _random_images(n_images)
    flops = count_flops(_build(name, width))
    probe = MemoryProbe(device)
    nb = NbpruneLoop(name, width, x, y, device, step=s.get("step", "eager"), autocast_bf16=s.get("amp", False))
    step_s = _warm_up(nb, s["warmup"], device)  # warm-up (untimed) doubles as the memory measurement
    mem = probe.stop()
    ref = None
    if reference:
        probe = MemoryProbe(device)
        ref = ReferenceLoop(name, width, x, y, device)
        step_s += _warm_up(ref, s["warmup"], device)
        ref_mem = probe.stop()["peak_mem_mb"]
        ref.settle()
    steps = s["steps"]
    if steps is None:
        fit = int((budget_s or float("inf")) / (s["repeats"] * step_s)) if step_s > 0 else max_steps
        steps = max(s["min_steps"], min(max_steps, fit))
    contenders = {"nbprune": lambda: nb.steps(steps)}
    after = {}
    if ref is not None:
        contenders["reference"] = lambda: ref.steps(steps)
        after["reference"] = ref.settle
    secs = _interleave(contenders, s["repeats"], device, after)
    if ref is not None:
        ref.close()
    img_s = {k: [BATCH * steps / t for t in v] for k, v in secs.items()}
    out = {"width": width, "batch_size": BATCH, "steps": steps, "flops_per_image": flops,
           "step": s.get("step", "eager"), "amp": s.get("amp", False),
           "bf16": bf16_kind(device.type) if s.get("amp", False) else None,
           "nbprune_img_s": _median(img_s["nbprune"]), "nbprune_samples": img_s["nbprune"], **mem,
           "target_img_s": TARGET_IMG_S, "of_target": _median(img_s["nbprune"]) / TARGET_IMG_S}
    if reference:
        out.update(reference_img_s=_median(img_s["reference"]), reference_samples=img_s["reference"],
                   ratio=_median(img_s["nbprune"]) / _median(img_s["reference"]),
                   ratio_per_repeat=[a / b for a, b in zip(img_s["nbprune"], img_s["reference"])],
                   reference_peak_mem_mb=ref_mem)
    out["train_flops_per_s"] = 3 * flops * out["nbprune_img_s"]
    return out


def bench_pair(full: str, pruned: str, width: float, batch: int, repeats: int, device: torch.device) -> dict:
    """Inference latency (batch ``batch``, eval, no_grad, channels_last) of an unpruned/pruned pair."""
    models = {}
    for n in (full, pruned):
        m = _build(n, width)
        models[n] = (m.to(device).to(memory_format=torch.channels_last).eval(), count_flops(m), count_params(m))
    xb = torch.randn(batch, 3, 32, 32, device=device).contiguous(memory_format=torch.channels_last)

    def forward(m):
        with torch.no_grad():
            m(xb)

    for m, _, _ in models.values():  # warm-up
        forward(m)
    secs = _interleave({n: (lambda m=m: forward(m)) for n, (m, _, _) in models.items()}, repeats, device)
    lat = {n: _median(v) for n, v in secs.items()}
    latency_speedup = lat[full] / lat[pruned]
    flops_speedup = models[full][1] / models[pruned][1]
    return {"width": width, "batch_size": batch,
            "latency_ms": {n: 1e3 * v for n, v in lat.items()},
            "latency_samples_ms": {n: [1e3 * t for t in v] for n, v in secs.items()},
            "flops": {n: models[n][1] for n in models}, "params": {n: models[n][2] for n in models},
            "latency_speedup": latency_speedup, "flops_speedup": flops_speedup,
            "latency_over_flops_speedup": latency_speedup / flops_speedup}


# ------------------------------------------------------------------------------------ child processes
def _child_main() -> None:
    """A child process of :func:`bench_concurrency` (and of ``tools/bench_explore.py``): reads a spec (JSON) on
    stdin and prints nbprune's loop img/s (median of segments) and its timing window as JSON."""
    spec = json.loads(sys.stdin.read())
    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    device = torch.device(spec.get("device", "cpu"))
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)
    x, y = _random_images(BATCH * (spec["warmup"] + spec["segments"] * spec["steps"] + 4))
    loop = NbpruneLoop(spec["name"], spec["width"], x, y, device, autocast_bf16=spec.get("amp", False),
                       step=spec.get("step", "eager"))
    if spec.get("start_at"):  # children started together wait for one another, so their timings overlap
        time.sleep(max(0.0, spec["start_at"] - time.time()))
    loop.steps(max(spec["warmup"], 1))
    _sync(device)
    waited = _barrier(spec["barrier"], spec["index"], spec["parties"]) if spec.get("barrier") else True
    t_start = time.time()
    secs = [_timed(lambda: loop.steps(spec["steps"]), device) for _ in range(spec["segments"])]
    print(json.dumps({"img_s": _median([BATCH * spec["steps"] / t for t in secs]), "t_start": t_start,
                      "t_end": time.time(), "images": BATCH * spec["steps"] * spec["segments"],
                      "barrier_complete": waited}))


def _barrier(folder: str, index: int, parties: int, timeout_s: float = 300.0) -> bool:
    """Wait until ``parties`` children have written their marker into ``folder`` (after their warm-up, so
    that their timed steps overlap); False when the timeout passed first."""
    from pathlib import Path

    Path(folder, f"ready-{index}").touch()
    t0 = time.time()
    while len(list(Path(folder).glob("ready-*"))) < parties:
        if time.time() - t0 > timeout_s:
            return False
        time.sleep(0.005)
    return True


def _child_env() -> dict:
    src = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))
    return env


def _child(spec: dict, env: dict) -> dict:
    return _children([spec], env)[0]


def _children(specs: list[dict], env: dict) -> list[dict]:
    """:func:`_child` for several specs at once (concurrent processes); their results in order."""
    import subprocess

    procs = [subprocess.Popen([sys.executable, "-c", "from nbprune.bench import _child_main; _child_main()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                              text=True) for _ in specs]
    # every child gets its spec at once (one thread each): read one after another, a child would only receive
    # its spec once the one before it had finished, and the children would run in turn, not together
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(procs)) as pool:
        outs = list(pool.map(lambda ps: ps[0].communicate(json.dumps(ps[1])), zip(procs, specs)))
    for p, (_, err) in zip(procs, outs):
        if p.returncode:
            raise RuntimeError(f"bench child failed: {err.strip().splitlines()[-1] if err.strip() else p.returncode}")
    return [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]


def bench_concurrency(name: str, width: float, device: torch.device, ns, s: dict) -> dict:
    """Aggregate training img/s of N copies of nbprune's loop running at once on ``device`` (N child
    processes, each warmed up before all start timing together), for each N in ``ns``: what placing N runs
    per device (``LocalExecutor(devices=..., runs_per_device=N)``) gains when one run cannot fill the device.

    The aggregate is all children's timed images over the wall time from the first child's start to the last
    child's end; ``scaling`` is the aggregate over N=1's (or over the smallest N measured)."""
    import shutil
    import tempfile

    from .executors import cpu_cores

    steps = s["steps"] or s["max_steps"]
    spec = {"name": name, "width": width, "warmup": max(s["warmup"], 1), "steps": steps, "segments": 2,
            "device": str(device), "amp": s.get("amp", False), "step": s.get("step", "eager")}
    env = _child_env()
    rows: dict[str, dict] = {}
    for n in ns:
        folder = tempfile.mkdtemp(prefix="nbprune-bench-barrier-")
        try:
            threads = s.get("threads") or max(1, cpu_cores() // n)
            outs = _children([{**spec, "threads": threads, "barrier": folder, "parties": n, "index": i}
                              for i in range(n)], env)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        wall = max(o["t_end"] for o in outs) - min(o["t_start"] for o in outs)
        rows[str(n)] = {"processes": n, "threads_each": threads,
                        "aggregate_img_s": sum(o["images"] for o in outs) / wall,
                        "per_process_img_s": [o["img_s"] for o in outs],
                        "overlapped": all(o["barrier_complete"] for o in outs)}
    base = rows[str(min(ns))]["aggregate_img_s"]
    for row in rows.values():
        row["scaling"] = row["aggregate_img_s"] / base
    return {"model": _key(name, width), "device": str(device), "steps": steps, "amp": spec["amp"],
            "step": spec["step"], "n": rows}


# ----------------------------------------------------------------------------------------------- run
Extra = Callable[[dict, torch.device], dict]  # (settings, device) -> more result keys


def run(args, extra: Extra | None = None, show: bool = True) -> dict:
    """Run the benchmark described by ``args`` (see :func:`add_arguments`); print (unless not ``show``) and return
    the result. ``extra(settings, device)``, if given, runs after the inference pairs (under the same thread
    count) and its keys join the result: how ``tools/bench_explore.py`` adds the loop variants."""
    if getattr(args, "explore", False) and extra is None:
        raise ValueError("explore: the loop variants are no longer part of nbprune bench; run "
                         "python tools/bench_explore.py with the same options")
    t0 = time.perf_counter()
    device = resolve_device(getattr(args, "device", "auto"))
    s = _device_settings(_settings(args), device, args)
    resolve_step(s["step"], device)  # cuda-graph on a CPU: one line, before any measurement
    threads_before = torch.get_num_threads()
    if s["threads"]:
        torch.set_num_threads(s["threads"])
    try:
        result = _run(args, s, device, t0, extra)
    finally:
        torch.set_num_threads(threads_before)
    if show:
        print(json.dumps(result, indent=1) if getattr(args, "json", False) else format_table(result))
    return result


def _device_settings(s: dict, device: torch.device, args) -> dict:
    """Defaults that depend on the device: on CUDA up to :data:`CUDA_MAX_STEPS` timed steps per repeat and the
    concurrency measurement at :data:`CUDA_CONCURRENCY` unless told otherwise."""
    s = dict(s)
    if device.type == "cuda" and getattr(args, "steps", None) is None and not getattr(args, "quick", False):
        s["max_steps"], s["min_steps"] = CUDA_MAX_STEPS, 20
    if getattr(args, "no_concurrency", False):
        s["concurrency"] = []
    elif s.get("concurrency") is None:
        s["concurrency"] = list(CUDA_CONCURRENCY) if device.type == "cuda" else []
    return s


def _run(args, s: dict, device: torch.device, t0: float, extra: Extra | None = None) -> dict:
    result: dict[str, Any] = {"machine": machine_info(device),
                              "settings": {**{k: v for k, v in s.items() if k != "models"},
                                           "models": [_key(*m) for m in s["models"]], "batch_size": BATCH},
                              "models": {}, "pairs": {}}
    peaks = peak_flops(device, s["peak_size"])
    for name, width in s["models"]:
        result["models"][_key(name, width)] = bench_model(name, width, device, s,
                                                          reference=not getattr(args, "no_reference", False),
                                                          budget_s=s["budget"] / len(s["models"]))
        peaks += peak_flops(device, s["peak_size"], samples=2)
    peak = _median(peaks)
    result["machine"]["peak_flops_per_s"] = peak
    result["machine"]["peak_samples"] = peaks
    result["machine"]["peak_method"] = (f"{'bf16' if device.type == 'cuda' else 'fp32'} matmul "
                                        f"{max(s['peak_size'], 8192) if device.type == 'cuda' else s['peak_size']}^2")
    for m in result["models"].values():
        m["peak_flops_per_s"] = peak
        m["fraction_of_peak"] = m["train_flops_per_s"] / peak
    if not getattr(args, "no_pairs", False):
        for full, pruned in PAIRS:
            result["pairs"][f"{full}/{pruned}"] = bench_pair(full, pruned, s["pair_width"], s["pair_batch"],
                                                             s["repeats"], device)
    if extra is not None:
        result.update(extra(s, device))
    if s["concurrency"]:
        result["concurrency"] = {_key(n, w): bench_concurrency(n, w, device, s["concurrency"], s)
                                 for n, w in s["models"]}
    if hasattr(os, "getloadavg"):
        result["machine"]["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    result["wall_s"] = time.perf_counter() - t0
    return result


def format_table(r: dict) -> str:
    m = r["machine"]
    lines = [f"machine: {m['cpu']}, {m['cores']} cores, {m['torch_threads']} torch threads, torch {m['torch']}, "
             f"device {m['device']}; peak {m['peak_flops_per_s'] / 1e9:.1f} GFLOP/s ({m['peak_method']})",
             f"load average at start {m.get('loadavg_start')}, at end {m.get('loadavg_end')}; "
             f"env {m.get('env') or '{}'}; medians of {r['settings']['repeats']} interleaved repeats",
             "",
             f"{'model':<16}{'nbprune img/s':>14}{'reference img/s':>16}{'ratio':>7}{'train GFLOP/s':>14}"
             f"{'% of peak':>10}{'peak MB':>9}{'steps':>6}{'% of 45k':>9}"]
    for k, v in r["models"].items():
        ref = f"{v['reference_img_s']:16.1f}{v['ratio']:7.2f}" if "ratio" in v else f"{'-':>16}{'-':>7}"
        lines.append(f"{k:<16}{v['nbprune_img_s']:14.1f}{ref}{v['train_flops_per_s'] / 1e9:14.2f}"
                     f"{100 * v['fraction_of_peak']:10.1f}{v['peak_mem_mb']:9.1f}{v['steps']:6d}"
                     f"{100 * v['of_target']:9.1f}")
    first = next(iter(r["models"].values()), None)
    if first is not None:
        bf16 = f", bf16 autocast ({first.get('bf16') or 'hardware'})" if first["amp"] else ", fp32"
        lines.append(f"(nbprune's loop: step {first['step']}{bf16}; "
                     f"target {TARGET_IMG_S:,} img/s = one 160-epoch CIFAR-10 run in about 3 minutes)")
    if r["pairs"]:
        lines += ["", f"{'pair':<22}{'width':>6}{'batch':>6}{'latency ms':>20}{'latency x':>10}{'FLOPs x':>9}"
                      f"{'ratio':>7}"]
        for k, v in r["pairs"].items():
            lat = "/".join(f"{t:.1f}" for t in v["latency_ms"].values())
            lines.append(f"{k:<22}{v['width']:6g}{v['batch_size']:6d}{lat:>20}{v['latency_speedup']:10.2f}"
                         f"{v['flops_speedup']:9.2f}{v['latency_over_flops_speedup']:7.2f}")
    lines += format_concurrency(r.get("concurrency", {}))
    lines += ["", f"wall time {r['wall_s']:.0f} s"]
    return "\n".join(lines)


def format_concurrency(c: dict) -> list[str]:
    """Table lines of :func:`bench_concurrency` results (model -> result)."""
    lines = []
    for k, v in c.items():
        lines += ["", f"concurrent runs of nbprune's loop on {v['device']}, {k} ({v['step']}"
                      f"{', bf16' if v['amp'] else ''}), aggregate img/s (x over the fewest):"]
        for n, row in v["n"].items():
            note = "" if row["overlapped"] else "  (children did not all overlap)"
            lines.append(f"  N={n:<3}{row['aggregate_img_s']:12.1f} img/s  x{row['scaling']:.2f}{note}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = add_arguments(argparse.ArgumentParser(prog="nbprune bench", description=__doc__.splitlines()[0]))
    run(parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
