"""Runs and sweeps: the driver of a run. It validates everything before anything is written,
plans the sweep's cells, hands them to an executor (this process, or Ray workers) and writes
every result into the run directory as it arrives: it is the run directory's only writer.

Phase 0 does not depend on sharing, so it is trained once per (seed, method) and every
sharing level branches from a copy of it (kept on disk, so a resumed sweep reuses it too).
A cell's rows are appended as each phase ends, and its state (method, RNG states) is saved
with them, so a resumed run continues an unfinished cell after its last finished phase, with
the numbers an unbroken run computes; finished cells are never recomputed.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from energybench.config import RunConfig, results_config, to_dict
from energybench.cost.carbon import carbon_model
from energybench.cost.hardware import build_hardware
from energybench.data import load_source
from energybench.data.scenario import build_scenario
from energybench.engine.cell import BaseDone, CellWork, PhaseDone
from energybench.engine.lock import RunLock
from energybench.engine.manifest import build_manifest
from energybench.engine.plan import Cell, plan_sweep
from energybench.engine.progress import RunProgress
from energybench.engine.store import RunStore
from energybench.engine.summary import write_summary
from energybench.errors import RunStopped, UserError
from energybench.methods import DEFAULT_METHODS, METHODS, check_methods, method_classes
from energybench.models import BACKBONES, build_backbone
from energybench.models.user import resolve_factory
from energybench.plugins import provenance, user_modules
from energybench.trackers import open_trackers
from energybench.trackers.base import Trackers

# Backbones whose layers are too small to split across CPU threads: on a busy machine, extra
# OpenMP threads make them many times slower (measured: 20x on 2 shared cores), never faster.
SMALL_BACKBONES = ("tiny_cnn", "lenet", "nin", "resnet20", "resnet32", "tiny_vit")
SUMMARY_EVERY_S = 30.0
DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"device '{name}' was asked for but no CUDA GPU is visible to PyTorch "
                            f"(torch {torch.__version__}, CUDA build {torch.version.cuda}); use --device cpu or auto")
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UserError(f"device '{name}': only {torch.cuda.device_count()} CUDA device(s) visible")
        return dev
    return torch.device("cpu")


def cpu_threads(cfg: RunConfig, device: torch.device) -> int | None:
    """The CPU threads a cell trains with: the config's, else 1 for the small backbones on CPU."""
    return cfg.threads or (1 if device.type == "cpu" and cfg.resolved_backbone() in SMALL_BACKBONES else None)


def check_buildable(name: str, in_shape, width: float, cifar_stem: bool, weights: str | None) -> dict | None:
    """Build a user's backbone (and load --weights) once before anything is written, so a broken
    factory or weights file stops the run with its message; returns the user code's provenance
    for the manifest (None for a built-in)."""
    if name in BACKBONES and not weights:
        return None
    build_backbone(name, in_shape, width, cifar_stem, weights)
    if name in BACKBONES:
        return None
    return {"name": name, **provenance(resolve_factory(name))}


def check_writable(folder: Path) -> None:
    """Refuse an output folder that cannot be written (read-only filesystem, no permission,
    /proc...) before any data loads: a probe file is made in the nearest existing folder and
    removed at once."""
    probe = Path(folder)
    try:
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if not probe.is_dir():
            raise UserError(f"cannot write run directories under {folder}: {probe} is a file")
        with tempfile.TemporaryFile(dir=probe, prefix=".energybench-probe-"):
            pass
        if probe != Path(folder):  # the folders still to be made must be makeable there too
            made = Path(tempfile.mkdtemp(dir=probe, prefix=".energybench-probe-"))
            made.rmdir()
    except OSError as exc:
        raise UserError(f"cannot write run directories under {folder}: {probe} is not writable "
                        f"({os.strerror(exc.errno) if exc.errno else exc}); choose another --out") from None


def open_store(cfg: RunConfig, resume: Path | None) -> RunStore:
    """A new run directory, or an existing one whose recorded config matches."""
    if resume is not None:
        if not Path(resume).is_dir():
            raise UserError(f"cannot resume {resume}: no such directory")
        store = RunStore(resume)
        if store.read_config() is None:
            raise UserError(f"cannot resume {resume}: no config.yaml there (is it a run directory?)")
        return store
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a directory to hold run directories")
    run_id = cfg.run_id or f"{dt.datetime.now():%Y%m%d-%H%M%S}-{cfg.dataset}"
    root = out / run_id
    if root.exists() and not root.is_dir():
        raise UserError(f"{root} is a file, not a run directory; choose another --run-id")
    store = RunStore(root)
    recorded = store.read_config()
    if recorded is None and root.is_dir() and any(p.name != ".lock" for p in root.iterdir()):
        raise UserError(f"{root} exists and is not a run directory (no config.yaml); it is left untouched: "
                        "choose another --run-id or --out")
    if recorded is not None:
        wanted = results_config(to_dict(replace(cfg, run_id=run_id)))
        recorded = results_config(recorded)
        differ = sorted(k for k in set(recorded) | set(wanted) if recorded.get(k) != wanted.get(k))
        if differ:
            raise UserError(f"{root} already holds a run with a different configuration (differs in: "
                            f"{', '.join(differ)}); choose another --run-id, or continue it with --resume {root}")
    return store


@dataclass
class Group:
    """One (seed, method) of the sweep: its base phase and its unfinished sharing levels."""

    method: str
    seed: int
    cells: list[Cell]


class Runner:
    def __init__(self, cfg: RunConfig, resume: Path | None = None, progress: bool = True, log=print):
        self.progress, self.log = progress, log
        specs = cfg.methods or list(DEFAULT_METHODS)
        check_methods(specs, cfg.options)  # names and options, before any data loads
        cfg = replace(cfg, methods=specs)  # recorded resolved, so a resume reads the same list
        # a run knows each method by its class's name (a user's module:Class too): cells, rows, options
        self.classes = method_classes(specs)
        self.methods = list(self.classes)
        unused = [name for name in cfg.options if name not in self.classes]
        if unused:  # a shared config file's options for methods this run leaves out: harmless, but say so
            warnings.warn(f"options for {', '.join(unused)} are not used: not among this run's methods "
                          f"({', '.join(self.methods)})")
        # Under Ray the driver only reads and writes states (on the CPU); workers pick their devices.
        self.device = resolve_device(cfg.device) if cfg.executor == "local" else torch.device("cpu")
        self.threads = cpu_threads(cfg, self.device)
        if self.threads:
            torch.set_num_threads(self.threads)
        # the energy table at the run's node and the architecture: fail early on a bad one
        self.hardware = build_hardware(cfg.energy_table, cfg.node, cfg.vdd, cfg.arch, cfg.precision, cfg.sram_cell,
                                       cfg.sram_bytes, cfg.mapper)
        self.table = self.hardware.table
        check_writable(Path(cfg.out) if resume is None else Path(resume))
        self.store = open_store(cfg, resume)
        self.store.user_modules = user_modules(cfg.resolved_backbone(), specs)  # its checkpoints may hold their classes
        self.cfg = cfg = replace(cfg, run_id=self.store.run_id) if resume is None else cfg
        self.source = load_source(cfg.dataset, cfg.data_root, cfg.download, cfg.classes, cfg.image_size)
        self.backbone_code = check_buildable(cfg.resolved_backbone(), self.source.in_shape, cfg.width, cfg.cifar_stem,
                                             cfg.weights)
        # Build every seed's scenario now, so a bad split fails before anything is written.
        self.scenarios = {seed: build_scenario(self.source, cfg.scenario, cfg.class_order, seed,
                                               cfg.train_per_class, cfg.test_per_class) for seed in cfg.seeds}
        first = next(iter(self.scenarios.values()))
        # Options that depend on the scenario (progressive's stage rule), before any cell starts.
        check_methods(specs, cfg.options, first.sizes, cfg)
        # The cut of every level, on the real backbone and input: a network that cannot take the
        # input fails here, and levels that land on the same cut are trained once.
        self.plan = plan_sweep(self.methods, cfg.seeds, cfg.sharing, len(first.phases), cfg.resolved_backbone(),
                               self.source.in_shape, first.sizes[0], cfg.width, cfg.cifar_stem)
        self.monitor = None
        self.power_note = "not measured: power measurement is off (--no-power)"
        self._progress: RunProgress | None = None
        self._summary_at = time.monotonic()
        self.executor = self._executor()  # under Ray: joins the cluster and checks its resources now
        self.trackers = Trackers([])  # the run's own, opened in _run once the manifest is written

    # ----- whole run ------------------------------------------------------------------------
    def run(self) -> Path:
        root = self.store.root
        fresh = not root.exists()
        lock = RunLock(root)
        try:
            lock.acquire()
            stale = self.store.remove_partial_writes()
            if stale:
                self.log(f"removed {len(stale)} unfinished temporary file(s) of an interrupted write")
            try:
                self._run()
            except BaseException:
                self.trackers.abort()  # open tracker runs end KILLED; every result is in the run directory
                raise
        except UserError:
            if fresh and not self.store.rows and lock.held:  # a failed start leaves nothing behind
                shutil.rmtree(root, ignore_errors=True)
            raise
        except OSError as exc:
            if exc.errno in DISK_ERRORS:
                raise self._stopped(exc) from None
            raise
        finally:
            lock.release()
            self.executor.close()
        return root

    def _run(self) -> None:
        cfg, plan = self.cfg, self.plan
        self.store.write_config(to_dict(cfg))
        manifest = build_manifest(self.device)
        # Where a method departs from the run's shared protocol (data pipeline, loss form): the
        # report prints it next to that method's numbers.
        notes = {name: cls.protocol_notes(cls.check_options(cfg.options.get(name, {})), cfg)
                 for name, cls in self.classes.items()}
        manifest["method_notes"] = {name: n for name, n in notes.items() if n}
        if self.executor.name == "local":
            self._start_power()  # (its idle baseline runs before the first phase)
            self.executor.work.monitor, self.executor.work.power_note = self.monitor, self.power_note
        manifest["executor"] = self.executor.describe()
        manifest["power"] = (self.monitor.record() if self.monitor  # which devices, the idle baseline
                             else {"measured_devices": [], "note": self.power_note})
        manifest.update(dataset=self.source.name, data_location=self.source.location,
                        class_order={str(seed): sc.class_order for seed, sc in self.scenarios.items()},
                        scenario=next(iter(self.scenarios.values())).sizes,
                        class_names=self.scenarios[cfg.seeds[-1]].class_names, backbone=cfg.resolved_backbone(),
                        energy_table=self.table.describe(), hardware=self.hardware.describe(), seeds=cfg.seeds,
                        sharing_levels=plan.describe(), class_order_rule=cfg.class_order)
        carbon = carbon_model(cfg.carbon_intensity, cfg.grid, cfg.pue)
        if carbon is not None:
            manifest["carbon"] = carbon.describe()
        if self.backbone_code:  # a user's network: where its code came from
            manifest["backbone_code"] = self.backbone_code
        user = {n: provenance(c) for n, c in self.classes.items() if n not in METHODS}
        if user:  # users' methods likewise
            manifest["method_code"] = user
        self.store.write_manifest(manifest)
        self.manifest = manifest
        self.trackers = open_trackers(cfg, self.store.root, manifest, self.log)  # fed each row once it is written
        if plan.collapse_note():
            warnings.warn(plan.collapse_note())
        if plan.far_note():
            warnings.warn(plan.far_note())
        once = [m for m in self.methods if len(self.levels(m)) < len(plan.levels)]
        if once:
            self.log(f"{', '.join(once)}: the sharing level does not apply (nothing is shared), so trained once, at "
                     f"sharing {plan.levels[0]:g}")
        groups = self._groups()
        phases = sum(self._phases_left(g) for g in groups)
        cells = sum(len(g.cells) for g in groups)
        if not cells:
            self.log("every cell of this run is already finished")
        else:
            self.log(f"{len(self.methods)} method(s) x {len(plan.levels)} sharing level(s) x {len(cfg.seeds)} seed(s): "
                     f"{cells} cell(s) to run, {phases} phase(s) to train (each base phase once, shared by every "
                     "sharing level); the first finished phase gives an estimate of the duration")
        self._progress = RunProgress(phases, cells, bar=self.progress, log=self.log)
        try:
            self.executor.run(groups, self)
        finally:
            self._stop_power()
            self._progress.close()
        write_summary(self.store, cfg)

    def _executor(self):
        if self.cfg.executor == "ray":
            from energybench.engine.ray_executor import RayExecutor

            executor = RayExecutor(self.cfg, self.hardware, self.threads, log=self.log)
            executor.connect()
            return executor
        from energybench.engine.local import LocalExecutor

        return LocalExecutor(CellWork(self.cfg, self.scenarios, self.device, self.hardware, progress=self.progress))

    def _groups(self) -> list[Group]:
        n = self.plan.phases
        groups = []
        for seed in self.cfg.seeds:
            for method in self.methods:
                cells = [Cell(method, s, seed) for s in self.levels(method)]
                todo = [c for c in cells if not self.store.complete(c.method, c.sharing, c.seed, n)]
                for c in set(cells) - set(todo):  # left behind by a stop just before a cell's end
                    self.store.progress_checkpoint(c.method, c.sharing, c.seed).unlink(missing_ok=True)
                if todo:
                    groups.append(Group(method, seed, todo))
                else:
                    self.log(f"{method} seed {seed}: all sharing levels already done, skipping")
        return groups

    def levels(self, method: str) -> list[float]:
        """The sharing levels a method is trained at: every trained level, or the first only
        where the sharing level does not apply to it (Method.shares)."""
        return self.plan.levels if self.classes[method].shares else self.plan.levels[:1]

    def _phases_left(self, group: Group) -> int:
        """Phases still to train: the base once (unless saved), and each cell's unfinished phases."""
        n = self.plan.phases
        done = [len(self.store.phases_done(c.method, c.sharing, c.seed)) for c in group.cells]
        base = 0 if self.store.base_checkpoint(group.method, group.seed).is_file() else 1
        return base + sum(n - 1 - max(d - 1, 0) for d in done)

    # ----- what the executors call: loading state, and writing each result as it arrives ----------
    def load_base(self, method: str, seed: int) -> dict | None:
        base = self.store.load_base(method, seed, self.device)
        if base is not None:
            self.log(f"{method} seed {seed}: reusing base phase from {self.store.base_checkpoint(method, seed)}")
        return base

    def load_progress(self, cell: Cell) -> dict | None:
        saved = self.store.load_progress(cell, self.device)
        if saved is not None:
            self.log(f"{cell.label}: resuming after phase {len(saved['accs']) - 1}")
        return saved

    def restart_cell(self, cell: Cell) -> None:
        """Forget what a cell wrote before it is trained again from its base phase."""
        self.store.drop_partial(cell.method, cell.sharing, cell.seed)

    def reused_base(self, cell: Cell) -> bool:
        """Whether a cell's phase-0 row copies a base trained for another level (stable under
        interruptions: the base is trained for the first level)."""
        return cell.sharing != self.plan.levels[0]

    def on_base(self, done: BaseDone) -> None:
        self.store.record_base(done)
        row = done.row
        if done.warning:
            warnings.warn(done.warning)
        self._progress.phase_done(f"{done.method} seed {done.seed} phase 0 (base, shared by every sharing level): " + (
            f"acc {row['acc_all']:.2f}%, {row['train_macs']:.3g} train MACs, {row['compute_energy_j']:.3g} J computed"
            if row["iters"] else f"nothing trained ({done.method} trains its network in a later phase)"))

    def on_phase(self, done: PhaseDone) -> None:
        self.store.record_phase(done)
        self.trackers.phase(done.cell, done.row, self.manifest, done.last)
        if done.phase == 0:  # the base's row, copied: no training to report
            return
        row, c = done.row, done.cell
        self._progress.phase_done(
            f"{c.method} s={c.sharing:g} ({row['sharing_achieved']:.3g} achieved) seed {c.seed} phase {done.phase}: "
            f"acc {row['acc_all']:.2f}% "
            f"(old {row['acc_old']:.2f}, new "
            f"{row['acc_new']:.2f}), {row['train_macs']:.3g} train MACs, {row['compute_energy_j']:.3g} J computed",
            cell_finished=done.last)
        # summary.json follows along for whoever looks at a long run (at most every SUMMARY_EVERY_S: it
        # reads all of metrics.csv; the report and a resume rebuild it from metrics.csv in any case)
        if done.last and time.monotonic() - self._summary_at >= SUMMARY_EVERY_S:
            write_summary(self.store, self.cfg)
            self._summary_at = time.monotonic()

    def finish_tracking(self, reports: list[Path]) -> None:
        """The run's files to the trackers (after the reports are built), and their runs ended."""
        root = self.store.root
        files = [root / name for name in ("metrics.csv", "summary.json", "manifest.json", "config.yaml")]
        self.trackers.finish(root, [p for p in [*files, *reports] if Path(p).is_file()])

    def _stopped(self, exc: OSError) -> RunStopped:
        where = f" while writing {exc.filename}" if exc.filename else ""
        root, rows = self.store.root, len(self.store.rows)
        return RunStopped(f"stopped: {os.strerror(exc.errno)}{where}. Every phase finished before this is saved in "
                          f"{root} ({rows} row(s) in metrics.csv; files being written were left as they were). "
                          f"Free space (or fix the permission) and continue with: energybench run --resume {root}")

    # ----- power ----------------------------------------------------------------------------------
    def _start_power(self) -> None:
        if not self.cfg.power:
            return
        if self.device.type == "cuda":
            torch.zeros(1, device=self.device)  # initialise CUDA so NVML matches the GPU by UUID
        try:
            from energybench.power.monitor import PowerMonitor
        except ImportError as exc:  # the measurement layer is optional at run time
            warnings.warn(f"power measurement unavailable: {exc}")
            self.power_note = f"not measured: power measurement unavailable ({exc})"
            return
        self.monitor = PowerMonitor(device=self.device, rate_hz=self.cfg.power_rate_hz,
                                    idle_seconds=self.cfg.idle_seconds, trace_path=self.store.root / "power_trace.csv")
        self.monitor.start()

    def _stop_power(self) -> None:
        if self.monitor is not None:
            self.monitor.close()
            self.monitor = None
