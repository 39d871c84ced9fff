"""Where runs are trained: in this process (``local``, the default) or on a Slurm cluster through submitit
(``slurm``). An executor takes a list of runs (:class:`nbprune.graph.Node`: a config with its role, row and
seed) and trains the ones that are missing; the run ids and results are the same whichever trains them.
The chapter runner (:func:`nbprune.runner.complete_grid`) hands it one stage of a grid's run graph at a
time (large models, then everything derived from them):

* :class:`LocalExecutor` trains the runs on this machine: one after another in this process, or several at
  once in worker processes (one per core on a CPU by default; a small CPU is used better that way).
* :class:`SlurmExecutor` submits one Slurm job per run (a job array capped at ``max_jobs`` running at once;
  with ``ddp``, one task per GPU of the job's node, which train the run together with DistributedDataParallel,
  :mod:`nbprune.distributed`),
  waits with a display of queued / running / done / failed runs, and raises naming the failed runs and their
  logs. A preempted or timed-out job is requeued by submitit and resumes from the run's last epoch
  checkpoint (the store's), and the store's lock keeps two jobs from training one run.

The store must sit on a filesystem every node sees (NFS and the like); its lock works across hosts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from pathlib import Path

from .graph import Node, run_state
from .log import LOGGER
from .projection import measured_rate, projected_seconds, training_flops
from .runs import RunStore
from .step import check_step, default_step, resolve_step
from .train import RunConfig, resolve_device

EXECUTORS = ("local", "slurm")


class SlurmError(RuntimeError):
    """Slurm cannot be used (not installed, not answering) or jobs failed; the message says which."""


# ---------------------------------------------------------------------------------------------- executors
def cpu_cores() -> int:
    """The CPU cores this process may use (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


SLOT_DEVICE = "slot"  # a TrainJob's device meaning "the device of the worker slot that runs it"
_slot_device: str | None = None  # set in each worker process of a pool by _init_slot


class TimeLimitReached(BaseException):
    """A run's ``stop_at`` passed: raised after an epoch's checkpoint is on disk, so the run stops resumable.

    A BaseException (like KeyboardInterrupt), so the store's failure handler, which marks a run failed on any
    Exception, lets it through: the run is left unfinished, not failed, and its lock is released.
    """


class _StopAt:
    """``on_epoch`` callback: raise :class:`TimeLimitReached` once ``time.time()`` is past ``stop_at``."""

    def __init__(self, stop_at: float, then: Callable[[int], None] | None = None) -> None:
        self.stop_at, self.then = stop_at, then

    def __call__(self, epoch: int) -> None:
        if self.then is not None:
            self.then(epoch)
        if time.time() >= self.stop_at:
            raise TimeLimitReached(f"stopped after epoch {epoch}: the time limit passed")


def check_devices(devices: Sequence[str]) -> list[str]:
    """``devices`` as torch device names, each one this machine has; ValueError (one line) otherwise."""
    if isinstance(devices, (str, bytes)) or not isinstance(devices, (list, tuple)) or not devices:
        raise ValueError(f"devices: must be a non-empty list of devices such as ['cuda:0', 'cuda:1'] or ['cpu'], "
                         f"got {devices!r}")
    return [str(resolve_device(d, param="devices")) for d in devices]


def device_slots(devices: Sequence[str], runs_per_device: int) -> list[str]:
    """The device of each worker slot: ``runs_per_device`` rounds over ``devices`` (round robin), so the
    first slots to start are spread over the devices."""
    return [d for _ in range(runs_per_device) for d in devices]


def plan_placement(costs: Sequence[float], slots: Sequence[str]) -> list[list[int]]:
    """The runs (indices into ``costs``) each slot trains, in order, if every run took its cost: longest run
    first, each to the slot that is free first (ties: the lower slot). The pool does the same at run time (a
    free worker takes the longest run left), so this is its placement whenever the costs are right."""
    order = sorted(range(len(costs)), key=lambda i: -costs[i])  # stable: equal costs keep their order
    free = [0.0] * len(slots)
    plan: list[list[int]] = [[] for _ in slots]
    for i in order:
        k = min(range(len(slots)), key=lambda j: (free[j], j))
        plan[k].append(i)
        free[k] += costs[i]
    return plan


PARENT_POLL_S = 2.0  # how often a pool worker checks that the grid process that started it is alive
PARENT_GRACE_S = 10.0  # after interrupting its run (which releases its lock), how long an orphaned worker waits before it exits


def _init_slot(queue, parent_pid: int | None = None) -> None:
    """Pool initializer: this worker process takes the next slot's device for every run it trains, and stops
    when ``parent_pid`` (the grid process) is gone (:func:`_exit_with_parent`)."""
    global _slot_device
    _slot_device = queue.get()
    if parent_pid is not None:
        import threading

        threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True,
                         name="nbprune-parent-watch").start()


def _exit_with_parent(parent_pid: int) -> None:
    """Stop this worker once the process that started it has ended (killed, say, with ``kill``, which reaches
    only the grid process, where Ctrl-C reaches the workers too): its run is interrupted in the main thread,
    so the run's lock is released and the run resumes later from its last finished epoch, and the process
    exits after :data:`PARENT_GRACE_S` if that has not ended it. Without this, an orphaned worker would train its run to
    the end with no one to report to."""
    import _thread

    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_S)
    LOGGER.warning(f"worker {os.getpid()}: the grid process {parent_pid} is gone; stopping this worker's run")
    _thread.interrupt_main()
    time.sleep(PARENT_GRACE_S)
    os._exit(1)


def _epochs_done(store: RunStore, config: RunConfig) -> int:
    """The epochs in the run's last checkpoint (0 when it has none or it cannot be read)."""
    path = store.run_dir(config) / "checkpoint.pt"
    if not path.exists():
        return 0
    import torch

    try:
        return int(torch.load(path, map_location="cpu", weights_only=True)["epoch"])
    except Exception:  # noqa: BLE001 - an unreadable checkpoint counts as none; training will say more
        return 0


def train_node(store: RunStore, config: RunConfig, data_root=None, device: str = "auto",
               stop_at: float | None = None, **run_kw) -> dict:
    """Train (or resume, or fetch) one run; with ``stop_at`` (a ``time.time()``), stop after the first epoch
    that ends past it. Returns its outcome: run_id, device, state (finished or stopped), test_acc (None when
    stopped), epochs_done and epochs."""
    out = {"run_id": config.run_id, "device": str(device), "epochs": config.epochs}
    if stop_at is not None:
        if time.time() >= stop_at:
            return {**out, "state": "stopped", "test_acc": None, "epochs_done": _epochs_done(store, config)}
        run_kw["on_epoch"] = _StopAt(stop_at, run_kw.get("on_epoch"))
    try:
        res = store.run(config, data_root=data_root, device=device, **run_kw)
    except TimeLimitReached:
        return {**out, "state": "stopped", "test_acc": None, "epochs_done": _epochs_done(store, config)}
    return {**out, "state": "finished", "test_acc": res.metrics["test_acc"], "epochs_done": config.epochs}


@contextmanager
def torch_threads(n: int | None):
    """Train with ``n`` torch threads inside the block (None: leave the process's count), then restore it."""
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class LocalExecutor:
    """Train the runs on this machine.

    ``workers=1`` trains them one after another in this process (with ``threads`` torch threads while it
    trains, if given). ``workers>1`` trains that many runs at once,
    each in its own process with ``threads`` torch threads (default: the cores divided among the workers),
    longest run first; on a small CPU, several one-thread runs use the cores better than one run on all of
    them, most of all for narrow pruned models whose small convolutions do not spread over threads.
    ``"auto"`` (the default): one worker per core (at most 4) on a CPU, one on a GPU.

    ``devices`` (e.g. ``["cuda:0", "cuda:1"]``) with ``runs_per_device`` N places N concurrent runs on each
    device instead: ``len(devices) x N`` worker processes, each pinned to one device (round robin, see
    :func:`device_slots`), each taking the longest run left when it is free (:func:`plan_placement`). A GPU
    that one small-batch run cannot fill trains several at once that way. ``devices`` then decide where runs
    train (the ``device`` argument of :meth:`run` is not used); ``runs_per_device`` alone uses N slots on
    that device. ``step`` names the step implementation of every run (:data:`nbprune.step.STEP_IMPLS`;
    None: the process default). Every value is checked here, before any work.
    """

    name = "local"

    def __init__(self, workers: int | str = "auto", threads: int | None = None,
                 devices: Sequence[str] | None = None, runs_per_device: int = 1, step: str | None = None):
        if workers != "auto" and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise ValueError(f"workers: must be 'auto' or an integer >= 1, got {workers!r}")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads: must be None or an integer >= 1, got {threads!r}")
        _check_int("runs_per_device", runs_per_device, 1)
        if devices is not None and workers != "auto":
            raise ValueError(f"workers: give workers or devices, not both (with devices, len(devices) x "
                             f"runs_per_device runs train at once), got workers={workers!r}")
        self.workers, self.threads = workers, threads
        self.devices = None if devices is None else check_devices(devices)
        self.runs_per_device = runs_per_device
        self.step = None if step is None else check_step(step)
        if self.devices is not None:
            self._check_step(self.devices)

    def _check_step(self, devices: Sequence[str]) -> None:
        if self.step is not None:
            for d in devices:
                resolve_step(self.step, resolve_device(d))

    def slots(self, device: str = "auto") -> list[str] | None:
        """The device of each worker slot (None: no placement asked for; ``workers`` decides)."""
        if self.devices is not None:
            return device_slots(self.devices, self.runs_per_device)
        if self.runs_per_device > 1:
            return device_slots([str(resolve_device(device))], self.runs_per_device)
        return None

    def workers_for(self, n_runs: int, device: str = "auto") -> int:
        """How many runs train at once for a stage of ``n_runs`` on ``device``."""
        slots = self.slots(device)
        if slots is not None:
            return max(1, min(len(slots), n_runs))
        if self.workers != "auto":
            return max(1, min(self.workers, n_runs))
        if resolve_device(device).type != "cpu":
            return 1
        return max(1, min(cpu_cores(), 4, n_runs))

    @property
    def parallel(self) -> bool:
        """Whether a stage may train several runs at once (then grids are completed stage by stage)."""
        if self.devices is not None or self.runs_per_device > 1:
            return len(self.devices or [None]) * self.runs_per_device > 1
        return self.workers != 1

    def run(self, store: RunStore, nodes: list[Node], on_run=None, data_root=None, device: str = "auto",
            stop_at: float | None = None, on_done=None, **run_kw) -> list[dict]:
        """Train ``nodes``; with ``stop_at`` (a ``time.time()``) every run stops, resumable, after the first
        epoch that ends past it. ``on_run(i, n, node)`` is called before each run trained in this process,
        ``on_done(node, outcome)`` after each run ends (a progress bar's). Returns each run's outcome
        (:func:`train_node`), in the order they ended."""
        slots = self.slots(device)
        self._check_step(slots or [device])
        workers = self.workers_for(len(nodes), device)
        if workers == 1:
            where = slots[0] if slots else device
            outcomes = []
            with default_step(self.step), torch_threads(self.threads):
                for i, node in enumerate(nodes):
                    if on_run is not None:
                        on_run(i, len(nodes), node)
                    outcomes.append(train_node(store, node.config, data_root, where, stop_at, **run_kw))
                    if on_done is not None:
                        on_done(node, outcomes[-1])
            return outcomes
        return self._run_pool(store, nodes, workers, data_root, slots or [device] * workers, stop_at, on_done)

    def _run_pool(self, store: RunStore, nodes: list[Node], workers: int, data_root, slots: list[str],
                  stop_at: float | None, on_done=None) -> list[dict]:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        threads = self.threads or max(1, cpu_cores() // workers)
        # longest first, so the last run of a stage is a short one and no worker idles for long
        order = sorted(nodes, key=lambda n: -training_flops(n.config))
        root = None if data_root is None else str(data_root)
        failures, outcomes, t0 = [], [], time.time()
        placed = self.slots() is not None
        where = ("; " + ", ".join(f"{d} x{slots[:workers].count(d)}" for d in dict.fromkeys(slots[:workers]))
                 if placed else "")
        LOGGER.info(f"training {len(order)} run(s), {workers} at a time with {threads} thread(s) each{where}")
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        for d in slots[:workers]:
            queue.put(d)
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_slot,
                                 initargs=(queue, os.getpid())) as pool:
            futures = {pool.submit(TrainJob(str(store.path), n.config.to_dict(), root, SLOT_DEVICE, threads,
                                            self.step, stop_at)): n for n in order}
            for done, fut in enumerate(as_completed(futures), 1):
                node = futures[fut]
                what = " ".join(x for x in (node.config.model, node.label, node.role, f"seed {node.seed}") if x)
                try:
                    out = fut.result()
                except Exception as e:  # noqa: BLE001 -- reported together below
                    failures.append(f"{what}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
                    LOGGER.warning(f"  [{done}/{len(order)}] FAILED {what}")
                    continue
                outcomes.append(out)
                if on_done is not None:
                    on_done(node, out)
                on = f" on {out['device']}" if placed else ""
                if out["state"] == "stopped":
                    LOGGER.info(f"  [{done}/{len(order)}] {what}: stopped at the time limit after epoch "
                                f"{out['epochs_done']}/{out['epochs']}{on}")
                else:
                    LOGGER.info(f"  [{done}/{len(order)}] {what}: {out['test_acc']:.2f}% at {time.time() - t0:.0f} s{on}")
        if failures:
            raise RuntimeError(f"{len(failures)} of {len(order)} run(s) failed: " + "; ".join(failures))
        return outcomes

    def __repr__(self) -> str:
        placement = (f", devices={self.devices!r}, runs_per_device={self.runs_per_device}"
                     if self.devices is not None or self.runs_per_device > 1 else "")
        step = f", step={self.step!r}" if self.step else ""
        return f"LocalExecutor(workers={self.workers!r}, threads={self.threads!r}{placement}{step})"


class TrainJob:
    """What one Slurm job or local worker runs: train (or resume) one run in the shared store. Checkpointable
    for submitit: on preemption or time-out it is requeued as is, and the store resumes from the last finished
    epoch. ``device`` :data:`SLOT_DEVICE` means the device of the local worker slot that runs it."""

    def __init__(self, store_path: str, config: dict, data_root=None, device: str = "auto",
                 threads: int | None = None, step: str | None = None, stop_at: float | None = None,
                 ddp: bool = False):
        self.store_path, self.config, self.data_root = store_path, config, data_root
        self.device, self.threads, self.step, self.stop_at = device, threads, step, stop_at
        self.ddp = ddp  # one of the job's tasks: join the job's process group (DistributedDataParallel)

    def __call__(self) -> dict:
        import torch

        device = _slot_device if self.device == SLOT_DEVICE else self.device
        if self.ddp:  # the job's tasks (one per GPU) train the run together; rank 0 writes
            from submitit.helpers import TorchDistributedEnvironment

            from .distributed import init_from_env

            TorchDistributedEnvironment().export()
            device = init_from_env(device)
        if self.threads:
            torch.set_num_threads(self.threads)
        if str(device).startswith("cuda:"):
            torch.cuda.set_device(torch.device(device))
        cfg = RunConfig.from_dict(self.config)
        with default_step(self.step):
            return train_node(RunStore(self.store_path), cfg, self.data_root, device, self.stop_at, progress=False)

    def checkpoint(self):
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(TrainJob(self.store_path, self.config, self.data_root, self.device, self.threads,
                                          self.step, self.stop_at, self.ddp))


class SlurmExecutor:
    """One Slurm job per run through submitit; see the module docstring.

    Every argument is checked against the cluster before anything is submitted: Slurm must answer, the
    partition must exist, and before each stage the time limit must cover the longest run's projection
    (from the FLOP/s the store's finished runs reached on this device kind, else an assumed rate).
    """

    name = "slurm"

    def __init__(self, partition: str | None = None, gpus: int = 0, cpus: int = 2, mem_gb: float = 4,
                 time_min: int = 60, max_jobs: int = 16, folder: str | os.PathLike = "slurm_logs",
                 poll_s: float = 5.0, threads: int | None = None, progress: bool = True, ddp: bool = False):
        _check_int("gpus", gpus, 0)
        if not isinstance(ddp, bool) or (ddp and gpus < 2):
            raise ValueError(f"ddp: True trains each run on the job's GPUs with DistributedDataParallel and needs "
                             f"gpus >= 2, got ddp={ddp!r} with gpus={gpus!r}")
        self.ddp = ddp
        _check_int("cpus", cpus, 1)
        _check_int("time_min", time_min, 1)
        _check_int("max_jobs", max_jobs, 1)
        if isinstance(mem_gb, bool) or not isinstance(mem_gb, (int, float)) or mem_gb <= 0:
            raise ValueError(f"mem_gb: must be a positive number of GiB, got {mem_gb!r}")
        self.partition, self.gpus, self.cpus, self.mem_gb = partition, gpus, cpus, mem_gb
        self.time_min, self.max_jobs, self.folder = time_min, max_jobs, Path(folder)
        self.poll_s, self.threads, self.progress = poll_s, threads or cpus, progress
        check_slurm(partition)

    def __repr__(self) -> str:
        ddp = ", ddp=True" if self.ddp else ""
        return (f"SlurmExecutor(partition={self.partition!r}, gpus={self.gpus}, cpus={self.cpus}, "
                f"mem_gb={self.mem_gb}, time_min={self.time_min}, max_jobs={self.max_jobs}{ddp})")

    def check_time(self, store: RunStore, nodes: list[Node], device: str = "auto") -> None:
        """Refuse a time limit shorter than the longest run's projected wall time."""
        kind = "cuda" if self.gpus or str(device).startswith("cuda") else "cpu"
        rate, how = measured_rate(store, kind)
        longest = max(nodes, key=lambda n: training_flops(n.config))
        need = projected_seconds(longest.config, rate) / 60 / (self.gpus if self.ddp else 1)  # DDP: gpus share it
        if need > self.time_min:
            raise ValueError(f"time_min: {self.time_min} min is shorter than the longest run's projection "
                             f"({need:.0f} min for {longest.config.model}, {longest.config.epochs} epochs, at "
                             f"{rate / 1e9:.0f} GFLOP/s {how}); give time_min >= {int(need) + 1}")

    def executor(self):
        import submitit

        ex = submitit.SlurmExecutor(folder=str(self.folder / "%j"), max_num_timeout=10)
        params = dict(time=int(self.time_min), cpus_per_task=self.cpus, mem=f"{int(self.mem_gb * 1024)}M",
                      array_parallelism=self.max_jobs, job_name="nbprune", signal_delay_s=30)
        if self.partition:
            params["partition"] = self.partition
        if self.gpus:
            params["gpus_per_node"] = self.gpus
        if self.ddp:  # one task per GPU on one node; each task is one DDP process (cpus_per_task each)
            params["ntasks_per_node"] = self.gpus
        ex.update_parameters(**params)
        return ex

    def submit(self, store: RunStore, nodes: list[Node], data_root=None, device: str = "auto"):
        """Submit one job per node (a job array); returns the submitit jobs, in the nodes' order."""
        ex = self.executor()
        root = None if data_root is None else str(Path(data_root).resolve())
        data_env = os.environ.get("NBPRUNE_DATA")
        with ex.batch():
            jobs = [ex.submit(TrainJob(str(store.path), n.config.to_dict(), root or data_env, device, self.threads,
                                       ddp=self.ddp)) for n in nodes]
        return jobs

    def run(self, store: RunStore, nodes: list[Node], data_root=None, device: str = "auto", **_ignored) -> None:
        self.check_time(store, nodes, device)
        jobs = self.submit(store, nodes, data_root, device)
        wait(jobs, nodes, store, self.poll_s, self.progress)


ACTIVE_STATES = {"PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING", "COMPLETING",
                 "SUSPENDED", "RESIZING", "SIGNALING", "STAGE_OUT", "PREEMPTED"}


def slurm_states(job_ids: list[str]) -> dict[str, str]:
    """Slurm's current state of each job (``sacct``; needs accounting), e.g. {"12_0": "RUNNING"}."""
    if not job_ids:
        return {}
    try:
        out = subprocess.run(["sacct", "-n", "-X", "-P", "-o", "JobID,State", "-j", ",".join(job_ids)],
                             capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    states = {}
    for line in out.splitlines():
        job_id, _, state = line.partition("|")
        if job_id:
            states[job_id] = state.split()[0] if state else ""
    return states


def wait(jobs, nodes: list[Node], store: RunStore, poll_s: float = 5.0, progress: bool = True) -> None:
    """Wait until every node's run is finished in the store or its job has ended without it; show queued /
    running / done; raise naming the failed runs.

    The store, not the job's result file, says when a run is done: a job that is requeued (preemption,
    time limit) can leave an error result from its first attempt (submitit's own ``scontrol requeue`` is
    sometimes killed by the requeue it asked for) and then finish the run on its second attempt. A job
    counts as failed only when Slurm reports it in a terminal state and its run is not finished.
    """
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), desc="slurm", unit="run", file=sys.stdout)
    ended: dict[int, str] = {}
    try:
        while True:
            # Slurm's view first, the store's second: a job that ended after finishing its run shows as finished
            states = slurm_states([j.job_id for j in jobs])
            results = [j.done() for j in jobs]
            finished = [run_state(store, n.config) == "finished" for n in nodes]
            ended = {}
            for i, job in enumerate(jobs):
                state = states.get(job.job_id, "")  # "": no accounting answer, trust submitit's result file
                if not finished[i] and ((state and state not in ACTIVE_STATES) or (not state and results[i])):
                    ended[i] = state or "ended"
            if bar is not None:
                running = sum(states.get(j.job_id) == "RUNNING" for i, j in enumerate(jobs) if not finished[i])
                bar.n = sum(finished)
                bar.set_postfix_str(f"running {running}, queued {len(jobs) - sum(finished) - running - len(ended)}, "
                                    f"failed {len(ended)}")
                bar.refresh()
            if all(f or i in ended for i, f in enumerate(finished)):
                break
            time.sleep(poll_s)
    finally:
        if bar is not None:
            bar.close()
    failed = []
    for i, state in sorted(ended.items()):
        job, node = jobs[i], nodes[i]
        first = f"job state {state}"
        try:
            err = job.exception()
        except Exception:  # noqa: BLE001 - no result file at all (killed before writing it)
            err = None
        if err is not None:
            import re

            lines = [ln for ln in str(err).splitlines() if re.match(r"^[A-Za-z_.]*(Error|Exception|Interrupt)\b", ln)]
            first = lines[-1] if lines else type(err).__name__
        failed.append(f"{node.role} {node.label} seed {node.seed} (run {node.run_id}, job {job.job_id}): "
                      f"{first}; log {job.paths.stderr}")
    if failed:
        raise SlurmError(f"{len(failed)} of {len(jobs)} slurm job(s) failed:\n  " + "\n  ".join(failed))


# ------------------------------------------------------------------------------------------------ checks
def _check_int(name: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name}: must be an integer >= {low}, got {value!r}")


def slurm_partitions() -> list[str]:
    """The cluster's partitions (``sinfo``); raises SlurmError when Slurm does not answer."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        raise SlurmError("executor: 'slurm' needs Slurm's sbatch and sinfo on PATH, and they are not; "
                           "use executor='local', or run on a cluster's login node")
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        raise SlurmError("executor: 'slurm' but sinfo did not answer within 30 s (is slurmctld up?)") from None
    if out.returncode != 0:
        msg = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise SlurmError(f"executor: 'slurm' but sinfo failed ({msg}); is slurmctld up?")
    return [p.rstrip("*") for p in out.stdout.split()]


def check_slurm(partition: str | None = None) -> list[str]:
    parts = slurm_partitions()
    if partition is not None and partition not in parts:
        raise ValueError(f"partition: unknown {partition!r}; this cluster has: {', '.join(parts) or 'none'}")
    return parts


def make_executor(executor: str = "local", **options):
    """``local`` (:class:`LocalExecutor` options: workers, threads) or ``slurm`` (the :class:`SlurmExecutor`
    arguments), checked before any work."""
    if isinstance(executor, (LocalExecutor, SlurmExecutor)):
        return executor
    if executor not in EXECUTORS:
        raise ValueError(f"executor: unknown {executor!r}; allowed: {', '.join(EXECUTORS)}")
    import inspect

    cls = LocalExecutor if executor == "local" else SlurmExecutor
    allowed = [p for p in inspect.signature(cls).parameters]
    unknown = [k for k in options if k not in allowed]
    if unknown and executor == "local":
        raise ValueError(f"slurm: options {sorted(unknown)} only apply to executor='slurm' "
                         f"(the local executor takes {', '.join(allowed)})")
    if unknown:
        raise ValueError(f"slurm: unknown option(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    return cls(**options)
