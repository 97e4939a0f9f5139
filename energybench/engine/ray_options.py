"""A run's Ray options, checked without torch: the executor, workers, Ray resources and the cluster's address.

Pre-flight (engine/preflight) checks them with every other key. `energybench run` with Ray options
also checks them first in its watching process (commands/run.py, refuse_early), before it starts
the driver, whose imports (torch among them) take seconds: a refused Ray option is said at once.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from energybench import config as run_config  # (max_workers() read through the module: tests set the CPUs)
from energybench.config import EXECUTORS, FIELDS, RunConfig, parse_config, refuse_key
from energybench.errors import UserError, canonical, unknown_name

CONNECT_TIMEOUT_S = 10


def check_ray_options(cfg: RunConfig, bad) -> None:
    """The executor and the Ray keys mean something runnable; `bad(key, message)` raises."""
    if cfg.executor not in EXECUTORS:
        bad("executor", unknown_name("executor", cfg.executor, EXECUTORS))
    if cfg.executor == "local" and (cfg.workers is not None or cfg.ray_address is not None):
        which = "workers" if cfg.workers is not None else "ray_address"
        bad(which, "applies to the ray executor only; leave out executor: local (or --executor local)")
    asked = cfg.gpus_per_cell is not None or cfg.cpus_per_cell != FIELDS["cpus_per_cell"].default
    if cfg.executor == "local" and asked:
        which = "gpus_per_cell" if cfg.gpus_per_cell is not None else "cpus_per_cell"
        bad(which, f"{getattr(cfg, which):g} is a Ray resource request; the local executor runs every cell in this "
                   "process and would ignore it: add --workers N (or executor: ray), or leave it out")
    if cfg.workers is not None and cfg.workers < 1:
        bad("workers", f"must be at least 1, got {cfg.workers}")
    if cfg.workers is not None and cfg.workers > run_config.max_workers():
        bad("workers", f"at most {run_config.max_workers()} (this machine's CPUs; each worker is a process), got "
                       f"{cfg.workers}; to use more, start a Ray cluster over several machines and give ray_address")
    if cfg.workers is not None and cfg.ray_address is not None:
        bad("workers", "give either workers (a new Ray cluster on this machine) or ray_address (a running one), "
                       "not both")
    if cfg.gpus_per_cell is not None and not (0 <= cfg.gpus_per_cell < float("inf")):
        bad("gpus_per_cell", f"must be 0 or more (fractions share a GPU), got {cfg.gpus_per_cell}")
    if not 0 < cfg.cpus_per_cell < float("inf"):
        bad("cpus_per_cell", f"must be more than 0, got {cfg.cpus_per_cell}")
    cpus = run_config.max_workers()
    local = cfg.workers is not None and cfg.ray_address is None  # --workers: a cluster of this machine
    if local and (cfg.gpus_per_cell or 0) > 0:
        gpus = machine_gpus()
        if gpus is not None and cfg.gpus_per_cell > gpus:  # said now, not after a cluster booted to find it out
            bad("gpus_per_cell", f"{_n(cfg.gpus_per_cell)} asks for more GPUs than this machine has ({gpus}), and "
                                 "workers starts a Ray cluster of this machine; leave it out (or 0) to train on the "
                                 "CPU, or join a cluster with GPUs with ray_address")
    if local and cfg.workers * cfg.cpus_per_cell > cpus:
        # --workers starts a cluster of this machine: Ray would count CPUs it does not have
        bad("cpus_per_cell", f"{cfg.workers} worker(s) x {_n(cfg.cpus_per_cell)} CPU(s) a cell = "
                             f"{_n(cfg.workers * cfg.cpus_per_cell)} CPUs, more than this machine's {cpus}; give fewer "
                             "workers or CPUs a cell, or join a larger cluster with ray_address")


def _n(x: float) -> str:
    """A resource count as written: 1,000,000 (not 1e+06), 0.5."""
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.6g}"


def machine_gpus() -> int | None:
    """The GPUs a Ray cluster started on this machine would have, counted as Ray counts them (its
    accelerator managers: NVIDIA, AMD, Intel..., limited by CUDA_VISIBLE_DEVICES and the like);
    None where that cannot be known without starting one (Ray absent, or its private module moved:
    the executor then checks the booted cluster's resources)."""
    try:
        from ray._private.accelerators import get_accelerator_manager_for_resource

        manager = get_accelerator_manager_for_resource("GPU")
        found = int(manager.get_current_node_num_accelerators())
        visible = manager.get_current_process_visible_accelerator_ids()
    except Exception:  # noqa: BLE001 (any failure means "unknown", never a refusal)
        return None
    return found if visible is None else min(found, len(visible))


def cluster_address(cfg: RunConfig) -> tuple[str | None, str]:
    """The running cluster a ray run joins, and where that address came from; None: the run starts its own
    on this machine. RAY_ADDRESS counts, as ray.init reads it, when neither workers nor an address is given."""
    if cfg.ray_address:
        return cfg.ray_address, "--ray-address"
    return (os.environ.get("RAY_ADDRESS") or None) if cfg.workers is None else None, "RAY_ADDRESS"


def check_address(address: str, given_as: str = "--ray-address") -> None:
    """Fail within seconds, naming the address (and where it came from: the option, or the
    RAY_ADDRESS variable), when nothing listens there (ray.init would otherwise keep retrying
    for minutes); for `auto`, at the address `ray start` recorded, if any."""
    if address == "auto":
        return _check_recorded_cluster()
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"{given_as} '{address}' is not HOST:PORT (e.g. 10.0.0.1:6379) or auto")
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise UserError(f"no Ray cluster answers at {given_as} {address} ({exc.strerror or exc}); start one with "
                        "'ray start --head' there, or give its address") from None


def _check_recorded_cluster() -> None:
    """`auto` joins the cluster whose address `ray start` recorded in Ray's temporary folder; one
    that was killed leaves that file behind, and Ray then waits for minutes on a dead address."""
    try:
        from ray._common.utils import get_ray_address_file
    except ImportError:  # (another Ray version: Ray's own search decides)
        return
    path = Path(get_ray_address_file(None))
    try:
        recorded = path.read_text().strip()
    except OSError:
        return  # no file: Ray looks for a running cluster on this machine, or says there is none
    try:
        check_address(recorded, f"--ray-address auto (the address {path} records)")
    except UserError as exc:
        raise UserError(f"{exc}. That file is left by a `ray start` that ended: start a cluster again, or delete "
                        f"it, or give --ray-address HOST:PORT") from None


def refuse_early(*layers: dict) -> None:
    """UserError for a run's config layers (YAML, then flags) whose keys or Ray options are refused, or whose
    cluster address answers nothing: what pre-flight would say about them, without importing torch."""
    cfg, _ = parse_config(*layers)
    cfg.executor = canonical(cfg.executor, EXECUTORS)
    check_ray_options(cfg, refuse_key)
    address, given_as = cluster_address(cfg)
    if cfg.executor == "ray" and address is not None:
        check_address(address, given_as)
