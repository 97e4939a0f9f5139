"""Booting an embedded Ray cluster in a thread, before the run needs it.

Kept apart from executors/ray.py, which imports torch and the training code (and out of the
executors package, whose __init__ imports it): `energybench run --workers N` starts the cluster
here before anything imports torch (boot_from_flags), so that Ray's several seconds of start-up
(its processes, then its workers' imports) overlap the driver's own imports, config checks and
data loading instead of following them. The Ray executor takes that start over once the run's
config is known (take_early), or shuts it down and starts another when the config asks for a
different cluster.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class ClusterSize:
    """The part of a run's config an embedded cluster is sized by (RunConfig has the same fields)."""

    workers: int | None
    cpus_per_cell: float


def _init_options(cfg) -> dict:
    """ray.init's options for an embedded cluster on this machine, on loopback only. "local":
    always a new cluster of its own, whatever RAY_ADDRESS or a `ray start` that was killed left in
    Ray's temporary folder (its ray_current_cluster file) say. Its workers train at the driver's
    own priority: Ray's default (worker_niceness 15) let any other job on a shared machine take
    their CPU, where the local executor's cells keep theirs (measured: --workers 2 no faster than
    --workers 1 beside other jobs on 2 cores)."""
    # this machine's CPUs, each worker's cpus_per_cell its own (pre-flight checks they fit)
    cpus = cfg.workers * cfg.cpus_per_cell if cfg.workers else (os.cpu_count() or 1)
    return dict(address="local", num_cpus=cpus, _node_ip_address="127.0.0.1",
                include_dashboard=False, log_to_driver=False, configure_logging=False,
                _system_config={"worker_niceness": 0})


def ray_init(**options) -> None:
    """ray.init(**options), with Ray's crash reporter kept off this process's signals. Ray's core
    worker puts Abseil's failure-signal handler on SIGTERM (and the fault signals) when it connects,
    and at ray.shutdown(), and once more milliseconds after it has returned, sets them to the
    system's default rather than to what was there before (Ray 2.60; ray-project/ray#65749):
    signal.getsignal() still names Python's handler, but a SIGTERM from then on ends the process
    without a word. A Ray sweep's driver so died when its interruption was sent again
    (commands/interrupt.py), before it said what was kept (4 of 47 tries), and on a SIGTERM while
    it wrote its reports (every try). Ray reads its switch when the core worker starts; the
    workers, other processes, keep their reporter. What the driver gives up: Abseil's stack trace
    of a crash inside Ray's own C++ code."""
    import ray

    constants = getattr(getattr(ray, "_private", None), "ray_constants", None)
    if hasattr(constants, "RAY_DISABLE_FAILURE_SIGNAL_HANDLER"):
        constants.RAY_DISABLE_FAILURE_SIGNAL_HANDLER = True
    ray.init(**options)


def warm_task() -> int:
    """A worker's imports before the sweep's first cell reaches it: torch and the training code
    (energybench's methods, models and op counter), about 2 s of CPU. Not torchvision, which the
    torchvision backbones and the transformers need (it imports torch._dynamo: 1.4 s more), as a
    digits sweep would pay it for nothing: a cell on one of those pays it on its worker's first cell."""
    import energybench.engine.cell  # noqa: F401  (the training code the cells run; it imports torch)

    return os.getpid()


class _Start:
    """An embedded cluster booting in a thread (several seconds: Ray's processes and its workers,
    which then import torch and energybench) while the driver imports, checks and loads. The
    thread lives until the cluster is shut down: Ray's processes are set to die with the thread
    that started them (Linux's parent-death signal follows the thread, not the process)."""

    def __init__(self, cfg):
        self.error: BaseException | None = None
        self.warm: list = []
        self.options = _init_options(cfg)
        self.started, self.release = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._start, args=(cfg,), name="energybench-ray-start", daemon=True)
        self.thread.start()

    def _start(self, cfg) -> None:
        try:
            import ray

            # (from a thread ray.init leaves SIGTERM alone, as the CLI wants, and warns that it does)
            logging.getLogger("ray._private.worker").addFilter(lambda r: "SIGTERM handler" not in r.getMessage())
            # nor the notice that token authentication is on by default: this cluster listens on loopback only,
            # and the notice would come before a refused flag's one-line error (the "disabled" warning stays)
            logging.getLogger("ray._private.authentication.authentication_token_setup").addFilter(
                lambda r: "Token authentication is enabled" not in r.getMessage())
            ray_init(**copy.deepcopy(self.options))  # (ray.init adds to the dicts it is given)
            # one task per worker: each imports torch and energybench before the first cell comes
            warm = ray.remote(warm_task).options(num_cpus=cfg.cpus_per_cell, max_retries=0)
            self.warm = [warm.remote() for _ in range(int(ray.cluster_resources().get("CPU", 1) // cfg.cpus_per_cell))]
        except BaseException as exc:  # raised again in the driver's thread, by join()
            self.error = exc
        self.started.set()
        self.release.wait()

    def join(self) -> None:
        """Wait until the cluster is up (the error of a failed start raised here)."""
        self.started.wait()
        if self.error is not None:
            raise self.error

    def end(self) -> None:
        """Shut the cluster down (once it is up), then let the thread go."""
        self.started.wait()
        try:
            shutdown()
        except ImportError:  # (a start that failed on `import ray` has nothing to shut down)
            pass
        finally:
            self.release.set()
            self.thread.join()


def shutdown() -> None:
    """ray.shutdown(), a second sooner for a cluster this process started. Ray stops its processes
    one after another, the GCS before the autoscaler's monitor, whose SIGTERM handler then reports
    its end to the GCS that is gone, until Ray kills it after a second (Ray 2.60: 1.0 s of
    shutdown's 1.3 s, measured). So the monitor is killed first, as Ray would a second later;
    nothing of a run depends on it (a cluster joined, not started here, has none of its processes
    in this one)."""
    import ray

    if not ray.is_initialized():
        return
    node = getattr(getattr(getattr(ray, "_private", None), "worker", None), "_global_node", None)
    for info in (getattr(node, "all_processes", None) or {}).get("monitor", []):
        if info.process.poll() is None:
            info.process.kill()
            info.process.wait(timeout=5)
    ray.shutdown()


_early: _Start | None = None  # the cluster boot_from_flags began, until the Ray executor takes it


def boot_from_flags(args) -> None:
    """Start booting the embedded cluster that `energybench run`'s flags alone decide: --workers N
    with no --ray-address, no other executor, and cells' CPUs known (--cpus-per-cell, or no config
    file that could set it). Anything else waits for the Ray executor's prestart; a value of these
    flags (or of --gpus-per-cell) that the config checks will refuse starts nothing."""
    global _early
    if _early is not None or args.workers is None or args.ray_address is not None or \
            args.executor not in (None, "ray"):
        return
    from energybench.config import RunConfig, max_workers

    cpus = args.cpus_per_cell
    if cpus is None:
        if args.config:
            return
        cpus = RunConfig.cpus_per_cell
    gpus = getattr(args, "gpus_per_cell", None)
    if not (isinstance(args.workers, int) and 1 <= args.workers <= max_workers()) or \
            not (isinstance(cpus, (int, float)) and 0 < cpus and math.isfinite(cpus)) or \
            not (gpus is None or (isinstance(gpus, (int, float)) and 0 <= gpus and math.isfinite(gpus))) or \
            args.workers * cpus > max_workers():
        return
    try:
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            return  # the executor says what to install
    except (ImportError, ValueError):
        return
    _early = _Start(ClusterSize(args.workers, float(cpus)))


def booting() -> bool:
    """Whether boot_from_flags started a cluster that no executor has taken yet."""
    return _early is not None


def take_early() -> _Start | None:
    """The cluster boot_from_flags started, handed over (None if none)."""
    global _early
    early, _early = _early, None
    return early


def abandon_early() -> None:
    """Shut down a cluster boot_from_flags started that no executor took (the run failed first)."""
    early = take_early()
    if early is not None:
        early.end()
