"""The Ray executor: a sweep's cells as Ray tasks, on this machine's cores or a cluster.

The sweep is a task graph. For each (seed, method) the base phase is one task; every sharing
level of that (seed, method) is a task that starts once the base is done, from the base state
it receives through Ray's object store, so workers on other machines need no access to the
run directory; the data travel the same way, once per worker (the driver's loaded scenarios:
tensors for digits, MNIST-like and CIFAR, file paths for an image folder, whose files must be at
the same path on every node). Workers need the same energybench, torch and Ray. A level task
is a generator: it sends back every finished phase (row, confusion matrix, artifacts, resumable
state) as soon as the phase ends, and the driver writes it exactly as the local executor's
results. Jobs are queued in the order executors/base.schedule gives, the local executor's, and
sent base phases first, then the longest cells first (executors/base.estimated_cost), so that no
long cell starts last; each result is the same whatever the order.

Fixed costs are kept off the sweep: an embedded cluster boots in a thread from the moment the
command line asks for one, before torch is imported (engine/ray_start), or else while pre-flight
loads the data (prestart); one warm-up task per worker imports torch and energybench meanwhile, and a
worker keeps its loaded data for every later cell of the run (_WORK).

States travel as the bytes of the checkpoint that the driver writes (torch.save on the
worker; a worker reads the states it receives with the same allowlisted loader as a checkpoint
on disk, mapped to its own device), so a GPU worker's state reaches a driver without a GPU. The
driver loads a joined cluster's states back before writing them; an embedded cluster's workers
are this run's own processes, and their states are written as sent (RayExecutor.foreign_states).

Faults: a worker that dies (killed, out of memory, lost node) costs the phase it was in: the
cell is sent again from its last finished phase, on any worker. A cell that fails with a
Python error stops the sweep once the cells already running have finished and been written;
the error names the cell and the end of its traceback.
"""

from __future__ import annotations

import tempfile
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from energybench.engine.cell import NO_POWER, BaseDone, CellWork, PhaseDone
from energybench.engine.checkpoint import checkpoint_bytes, load_checkpoint
from energybench.engine.executors.base import Executor, NeedBase, RunCell, estimated_cost, schedule
from energybench.engine.plan import Cell
from energybench.engine.ray_options import check_address, cluster_address
from energybench.engine.ray_start import _init_options, _Start, abandon_early, ray_init, shutdown, take_early
from energybench.errors import RunStopped, UserCodeFailed, UserError

RETRIES = 3  # times one cell is sent again after its worker died


class CellFailed(RunStopped):
    """A cell raised an error on a worker; the message names the cell and the error."""


@dataclass
class WorkerSetup:
    """What a worker needs to train cells of this run; sent once per task (small)."""

    cfg: Any  # RunConfig
    hardware: Any  # [HardwareModel] per (node, arch) as the driver loaded them (a user's file need not be on workers)
    threads: int | None
    gpus_per_cell: float
    scenarios: Any  # ObjectRef of the driver's {seed: Scenario}: the data travel from the driver, once per worker
    user_modules: tuple[str, ...] = ()  # the user code the run names, whose classes its states may hold (the driver's)
    alone_on: frozenset[str] = frozenset()  # Ray nodes where one cell runs at a time (RAPL is then its own)

    @property
    def use_gpu(self) -> bool:
        return self.gpus_per_cell > 0


# ----- the worker side -----------------------------------------------------------------------------
_WORK: dict[str, CellWork] = {}  # one per worker process and run: data are loaded once, then reused


def _work(setup: WorkerSetup) -> CellWork:
    import ray

    key = repr(setup.cfg)
    if key not in _WORK:
        _WORK.clear()
        if setup.threads:
            torch.set_num_threads(setup.threads)
        device = torch.device("cuda" if setup.use_gpu else "cpu")  # Ray set CUDA_VISIBLE_DEVICES for this task
        _WORK[key] = CellWork(setup.cfg, ray.get(setup.scenarios), device, setup.hardware, progress=False)
    return _WORK[key]


def _from_bytes(data: bytes | None, device: torch.device, modules: tuple[str, ...], kind: str, method: str,
                identity=None) -> dict[str, Any] | None:
    """A state sent through Ray, checked as a checkpoint file of that kind is (`modules`: the user
    code whose classes it may hold)."""
    return None if data is None else load_checkpoint(data, device, modules, kind, method, identity)


@contextmanager
def _measuring(setup: WorkerSetup, work: CellWork):
    """A power monitor for one task: the GPU Ray gave it (matched by UUID), and the host's RAPL
    package only when no other cell runs on this host at the same time; what is shared is left
    unmeasured, with the reason in each row's measured_note, never counted twice. No idle
    baseline: other cells keep the machine busy. The readings go back with each phase."""
    import ray

    if not setup.cfg.power:
        work.monitor, work.power_note = None, NO_POWER
        yield None
        return
    from energybench.power.monitor import PowerMonitor

    exclude = {}
    if ray.get_runtime_context().get_node_id() not in setup.alone_on:
        exclude["rapl"] = "other cells run on this host's CPU package at the same time (Ray), so it is not measured"
    if 0 < setup.gpus_per_cell < 1:
        exclude["nvml"] = f"cells share this GPU (--gpus-per-cell {setup.gpus_per_cell:g}), so it is not measured"
    with tempfile.TemporaryDirectory(prefix="energybench-power-") as tmp:
        trace = Path(tmp) / "power_trace.csv"
        monitor = PowerMonitor(device=work.device, rate_hz=setup.cfg.power_rate_hz, idle_seconds=0,
                               trace_path=trace, exclude=exclude)
        work.monitor = monitor.start()
        try:
            yield trace
        finally:
            monitor.close()
            work.monitor = None


def _new_readings(trace: Path | None, seen: int) -> tuple[list[tuple[float, str, float]], int]:
    """Trace rows (time_s, device, watts) written since the first `seen` rows."""
    if trace is None or not trace.is_file():
        return [], seen
    rows = [line.split(",") for line in trace.read_text().splitlines()[1:]]
    return [(float(t), d, float(w)) for t, d, w in rows[seen:]], len(rows)


def base_task(setup: WorkerSetup, method: str, seed: int, first_level: float) -> BaseDone:
    work = _work(setup)
    with _measuring(setup, work) as trace:
        done = work.base(method, seed, first_level)
        readings, _ = _new_readings(trace, 0)
    return replace(done, state=checkpoint_bytes(done.state, work.identity), power_trace=readings)


def cell_task(setup: WorkerSetup, cell: Cell, base: bytes | None, resume: bytes | None, reused_base: bool):
    work = _work(setup)
    with _measuring(setup, work) as trace:
        seen = 0
        base_state = _from_bytes(base, work.device, setup.user_modules, "base", cell.method, work.identity)
        progress = _from_bytes(resume, work.device, setup.user_modules, "progress", cell.method, work.identity)
        for done in work.cell(cell, base_state, progress, reused_base):
            readings, seen = _new_readings(trace, seen)
            yield replace(done, state=None if done.state is None else checkpoint_bytes(done.state, work.identity),
                          power_trace=readings)


# ----- the driver side ------------------------------------------------------------------------------
def _embedded(cfg) -> bool:
    """Whether the run starts a cluster of its own on this machine (no address given, none in RAY_ADDRESS)."""
    return cluster_address(cfg)[0] is None


_starting: _Start | None = None  # the cluster prestart began (or took over) for this process's run


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, run, log=print, progress: bool = False):
        self.cfg, self.hardware, self.threads, self.log = run.cfg, run.hardware_points, run.threads, log
        self.scenarios = run.scenarios
        self._started_here = False

    @staticmethod
    def driver_device(cfg) -> torch.device:
        return torch.device("cpu")  # the driver only reads and writes states; workers pick their devices

    def start_power(self, trace: Path) -> dict:
        """Each worker measures its own cells (_measuring, above); the driver measures nothing itself."""
        if not self.cfg.power:
            return {"measured_devices": [], "note": NO_POWER}
        return {"measured_devices": [], "note": "measured by each Ray worker for its own cells, without an idle "
                                                "baseline: see each row's measured columns and measured_note"}

    # ----- cluster -----------------------------------------------------------------------------------
    @classmethod
    def prestart(cls, cfg) -> None:
        """An embedded cluster starts booting now, in a thread; connect() waits for it. (Joining
        a running cluster takes under a second, and its address is checked in connect.)"""
        global _starting
        early = take_early()  # booting since before torch was imported (engine/ray_start)
        if early is not None and (_starting is not None or not _embedded(cfg) or
                                  early.options != _init_options(cfg)):
            early.end()  # the config asks for another cluster (or none) than the flags suggested
            early = None
        try:
            import ray
        except ImportError:
            return  # connect() says what to install
        if _starting is None and early is not None:
            _starting = early
        elif _starting is None and _embedded(cfg) and not ray.is_initialized():
            _starting = _Start(cfg)

    @classmethod
    def abandon_prestart(cls) -> None:
        global _starting
        starting, _starting = _starting, None
        if starting is not None:
            starting.end()  # (ray.init cannot be stopped half-way: it is waited for, then shut down)
        abandon_early()

    def connect(self) -> None:
        """Join the cluster (or start an embedded one) and check it can run a cell; UserError if not."""
        try:
            import ray
        except ImportError:
            raise UserError("the ray executor needs Ray: pip install 'energybench[ray]' (the same version on every "
                            "node)") from None

        cfg = self.cfg
        address, given_as = cluster_address(cfg)
        opts = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
        if _starting is not None:  # booting since before pre-flight
            _starting.join()
            self._started_here = True
        elif address and not ray.is_initialized():
            check_address(address, given_as)
            try:
                ray_init(address=address, **opts)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise UserError(f"cannot join the Ray cluster at {address}: {str(exc).splitlines()[0]}") from None
        elif not ray.is_initialized():  # an embedded cluster on this machine, on loopback only
            ray_init(**_init_options(cfg))
            self._started_here = True
        resources = ray.cluster_resources()
        gpus, cpus = resources.get("GPU", 0.0), resources.get("CPU", 0.0)
        want_gpu = cfg.device.startswith("cuda") or (cfg.device == "auto" and gpus > 0)
        self.gpus_per_cell = cfg.gpus_per_cell if cfg.gpus_per_cell is not None else (1.0 if want_gpu else 0.0)
        if self.gpus_per_cell > gpus:
            self.close()
            raise UserError(f"--gpus-per-cell {self.gpus_per_cell:g} asks for more GPUs than the Ray cluster has "
                            f"({gpus:g}); use --gpus-per-cell 0 (and --device cpu) or add GPU nodes")
        if cfg.device.startswith("cuda") and self.gpus_per_cell == 0:
            self.close()
            raise UserError(f"--device {cfg.device} under Ray needs --gpus-per-cell above 0 (Ray hands each cell "
                            "its GPUs)")
        if cfg.cpus_per_cell > cpus:
            self.close()
            raise UserError(f"--cpus-per-cell {cfg.cpus_per_cell:g} asks for more CPUs than the Ray cluster has "
                            f"({cpus:g})")
        self.foreign_states = not self._started_here  # a joined cluster's workers, maybe on other machines
        slots = cpus // cfg.cpus_per_cell
        if self.gpus_per_cell:
            slots = min(slots, gpus // self.gpus_per_cell)
        self.slots = max(int(slots), 1)
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        self.alone_on = frozenset(n["NodeID"] for n in nodes if self._cells_at_once(n.get("Resources", {})) <= 1)
        self.cluster = {"address": address or "embedded", "cpus": cpus, "gpus": gpus, "nodes": len(nodes),
                        "cells_at_once": self.slots, "cpus_per_cell": cfg.cpus_per_cell,
                        "gpus_per_cell": self.gpus_per_cell, "ray": ray.__version__,
                        "sent_states_checked": self.foreign_states}
        self.log(f"ray: {'started' if self._started_here else 'joined'} a cluster of {cpus:g} CPU(s) and {gpus:g} "
                 f"GPU(s); {self.slots} cell(s) at a time ({cfg.cpus_per_cell:g} CPU, {self.gpus_per_cell:g} GPU "
                 "each)")

    def describe(self) -> dict:
        """For the manifest: where the cells ran."""
        return {"name": self.name, **self.cluster}

    def _cells_at_once(self, resources: dict) -> float:
        """How many cells a node with these resources runs at the same time."""
        n = resources.get("CPU", 0.0) // self.cfg.cpus_per_cell
        if self.gpus_per_cell:
            n = min(n, resources.get("GPU", 0.0) // self.gpus_per_cell)
        return min(n, self.slots)

    def close(self) -> None:
        global _starting
        starting, _starting = _starting, None
        if starting is not None:
            starting.end()
        abandon_early()
        shutdown()
        self._started_here = False

    # ----- the sweep ---------------------------------------------------------------------------------
    def run(self, groups, driver) -> None:
        import ray

        setup = WorkerSetup(self.cfg, self.hardware, self.threads, self.gpus_per_cell, ray.put(self.scenarios),
                            driver.store.user_modules, self.alone_on)
        sweep = _Sweep(self, driver, ray.put(setup))
        for step in schedule(groups, driver):
            sweep.add(step)
        try:
            while sweep.queue or sweep.retried or sweep.in_flight:
                while (sweep.queue or sweep.retried) and len(sweep.in_flight) < self.slots and not sweep.failures:
                    sweep.submit(sweep.next_job())
                if not sweep.in_flight:
                    break
                ready, _ = ray.wait(list(sweep.in_flight), num_returns=1, timeout=60)
                if not ready:  # (Ray may wait for ever on a cluster whose nodes died)
                    if not any(n.get("Alive") for n in ray.nodes()):
                        raise RunStopped("the sweep stopped: the Ray cluster has no live node left. " + _kept(driver))
                    continue
                sweep.receive(ready[0])
        except (RunStopped, UserError, KeyboardInterrupt):
            raise
        except Exception as exc:  # the cluster failed under the sweep (a node or a Ray process died)
            if not (isinstance(exc, ray.exceptions.RayError) or type(exc).__module__.startswith("ray")):
                raise
            raise RunStopped(f"the sweep stopped: Ray failed ({type(exc).__name__}: {_last_line(exc)}). "
                             + _kept(driver)) from None
        failures, user_failures = sweep.failures, sweep.user_failures
        if failures and len(user_failures) == len(failures):  # as under the local executor (the runner adds the rest)
            raise UserCodeFailed("; ".join(failures), "\n".join(f.details for f in user_failures))
        if failures:
            raise CellFailed("the sweep stopped: " + "; ".join(failures) + ". Fix the cause. " + _kept(driver))


@dataclass
class BaseJob:
    """A (method, seed)'s base phase to train."""

    method: str
    seed: int

    @property
    def key(self) -> tuple[str, int]:
        return self.method, self.seed

    @property
    def who(self) -> str:
        return f"{self.method} seed {self.seed} base phase"


@dataclass
class CellJob:
    """A cell to train: from its group's base (an ObjectRef of its bytes) or from its saved state's bytes."""

    cell: Cell
    base: Any = None
    resume: bytes | None = None
    phases_left: int | None = None  # (None: all but the base)

    @property
    def key(self) -> Cell:
        return self.cell

    @property
    def who(self) -> str:
        return self.cell.label


class _Sweep:
    """The driver's side of one sweep under Ray: jobs queued, in flight, and what came back."""

    def __init__(self, executor: RayExecutor, driver, setup_ref):
        import ray

        res = dict(num_cpus=executor.cfg.cpus_per_cell, num_gpus=executor.gpus_per_cell, max_retries=0)
        self.remote_base, self.remote_cell = (ray.remote(base_task).options(**res),
                                              ray.remote(cell_task).options(**res))
        self.executor, self.driver, self.setup_ref = executor, driver, setup_ref
        self.queue: list[BaseJob | CellJob] = []  # ready to send, in schedule order (next_job picks)
        self.retried: deque[BaseJob | CellJob] = deque()  # sent again after their worker died: first
        self.waiting: dict[tuple[str, int], list[Cell]] = {}  # cells waiting for their base
        self.base_refs: dict[tuple[str, int], Any] = {}
        self.last_state: dict[Cell, bytes] = {}  # each cell's state after its last finished phase
        self.in_flight: dict[Any, BaseJob | CellJob] = {}  # ObjectRef / ObjectRefGenerator -> the job
        self.tries: dict[Any, int] = {}
        self.failures: list[str] = []
        self.user_failures: list[UserCodeFailed] = []

    def add(self, step: NeedBase | RunCell) -> None:
        """One step of the schedule, queued (or set to wait for its base)."""
        import ray

        identity = self.driver.store.identity
        if isinstance(step, NeedBase):
            if step.saved is not None:
                self.base_refs[step.key] = ray.put(checkpoint_bytes(step.saved, identity))
            else:
                self.waiting[step.key] = []
                self.queue.append(BaseJob(step.method, step.seed))
        elif step.resume is not None:
            self.last_state[step.cell] = checkpoint_bytes(step.resume, identity)
            self.queue.append(CellJob(step.cell, resume=self.last_state[step.cell],
                                      phases_left=self.driver.plan.phases - len(step.resume["accs"])))
        elif step.key in self.base_refs:
            self.queue.append(CellJob(step.cell, base=self.base_refs[step.key]))
        else:
            self.waiting[step.key].append(step.cell)

    def cost(self, job: BaseJob | CellJob) -> float:
        """A job's expected length (executors/base.estimated_cost); a base phase's is what it
        unblocks: its group's cells."""
        plan, classes = self.driver.plan, self.driver.classes
        if isinstance(job, BaseJob):
            return sum(estimated_cost(c, plan, classes) for c in self.waiting.get(job.key, []))
        return estimated_cost(job.cell, plan, classes, job.phases_left)

    def next_job(self) -> BaseJob | CellJob:
        """A job sent again first; then the base phases (each unblocks its group's cells); then
        the longest cell: the sweep's last cells are short ones, so the workers end together.
        Ties keep the schedule's order."""
        if self.retried:
            return self.retried.popleft()
        best = min(range(len(self.queue)),
                   key=lambda i: (not isinstance(self.queue[i], BaseJob), -self.cost(self.queue[i]), i))
        job = self.queue[best]
        del self.queue[best]
        return job

    def submit(self, job: BaseJob | CellJob) -> None:
        if isinstance(job, BaseJob):
            ref = self.remote_base.remote(self.setup_ref, job.method, job.seed, self.driver.plan.levels[0])
        else:
            ref = self.remote_cell.remote(self.setup_ref, job.cell, job.base, job.resume,
                                          self.driver.reused_base(job.cell))
        self.in_flight[ref] = job

    def receive(self, ref) -> None:
        """The next result of a job: a base phase, or a cell's next phase (its generator goes on)."""
        import ray

        job = self.in_flight.pop(ref)
        try:
            if isinstance(job, BaseJob):
                done: BaseDone = ray.get(ref)
                self.driver.on_base(done)
                self.base_refs[job.key] = ray.put(done.state)
                self.queue.extend(CellJob(c, base=self.base_refs[job.key]) for c in self.waiting.pop(job.key, []))
                return
            try:
                item = next(ref)
            except StopIteration:
                return
            phase: PhaseDone = ray.get(item)
            self.driver.on_phase(phase)
            if phase.state is not None:
                self.last_state[phase.cell] = phase.state
            self.in_flight[ref] = job  # the generator goes on with the cell's next phase
        except ray.exceptions.RayTaskError as exc:
            if isinstance(getattr(exc, "cause", None), UserCodeFailed):  # a user's method raised
                self.user_failures.append(exc.cause)
                self.failures.append(str(exc.cause))
            else:
                self.failures.append(f"{job.who}: {_last_line(exc)}")
        except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError, ray.exceptions.ObjectLostError,
                ray.exceptions.OutOfMemoryError, ray.exceptions.RayActorError) as exc:
            self.retry(job, exc)

    def retry(self, job: BaseJob | CellJob, exc: Exception) -> None:
        """A job whose worker died, sent again (a cell from its last finished phase), RETRIES times at most."""
        self.tries[job.key] = self.tries.get(job.key, 0) + 1
        if self.tries[job.key] > RETRIES:
            self.failures.append(f"{job.who}: its worker died {self.tries[job.key]} times ({type(exc).__name__})")
            return
        self.executor.log(f"ray: the worker running {job.who} died ({type(exc).__name__}); sending it again from its "
                          "last finished phase")
        if isinstance(job, BaseJob):
            self.retried.appendleft(job)
            return
        state = self.last_state.get(job.cell)
        if state is None:  # from the base again: its phase-0 row comes again too
            self.driver.restart_cell(job.cell)
            self.retried.appendleft(CellJob(job.cell, base=self.base_refs[(job.cell.method, job.cell.seed)]))
        else:
            self.retried.appendleft(CellJob(job.cell, resume=state))


def _kept(driver) -> str:
    """What a stopped sweep kept, and how to go on."""
    root = driver.store.root
    return (f"Every phase finished before that is saved in {root} ({len(driver.store.rows)} row(s) in metrics.csv)."
            f"\nContinue with: {driver.resume_command}")


def _last_line(exc: Exception) -> str:
    """The error a cell raised, as the last line of its traceback (e.g. 'ValueError: ...')."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(exc).__name__


def wait_for_cluster(address: str, timeout_s: float = 60) -> None:
    """Block until a Ray head answers at `address` (used by tests and scripts after `ray start`)."""
    end = time.monotonic() + timeout_s
    while True:
        try:
            check_address(address)
            return
        except UserError:
            if time.monotonic() > end:
                raise
            time.sleep(0.5)
