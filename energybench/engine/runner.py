"""Runs and sweeps: the driver of a run. It takes the run as the pre-flight resolved it
(engine/preflight.py: everything checked before anything is written), hands its cells to an
executor (this process, or Ray workers: engine/executors/) and writes every result into the
run directory as it arrives: it is the run directory's only writer.

Phase 0 does not depend on sharing, so it is trained once per (seed, method) and every
sharing level branches from a copy of it (kept on disk, so a resumed sweep reuses it too).
A cell's rows are appended as each phase ends, and its state (method, RNG states) is saved
with them, so a resumed run continues an unfinished cell after its last finished phase, with
the numbers an unbroken run computes; finished cells are never recomputed.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import shutil
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from energybench.config import EXECUTION_KEYS, RunConfig, results_config, to_dict
from energybench.cost.carbon import carbon_model
from energybench.engine.cell import BaseDone, PhaseDone
from energybench.engine.checkpoint import RunIdentity
from energybench.engine.executors import EXECUTORS
from energybench.engine.lock import RunLock
from energybench.engine.manifest import build_manifest
from energybench.engine.plan import Cell
from energybench.engine.preflight import preflight
from energybench.engine.progress import ESTIMATED_FROM, RunProgress
from energybench.engine.store import RunStore
from energybench.engine.summary import write_summary
from energybench.errors import RunStopped, UserCodeFailed, UserError, shown
from energybench.files import json_text
from energybench.methods import METHODS
from energybench.plugins import provenance, user_modules
from energybench.rundir import read_manifest, resume_command
from energybench.trackers import open_trackers
from energybench.trackers.base import Trackers

SUMMARY_EVERY_S = 30.0
# what the disk, not the user, makes fail (EFBIG: a file-size limit, which Slurm passes on to jobs)
DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.EFBIG)


def disk_remedy(code: int | None) -> str:
    """What lets a run stopped by disk error `code` go on, in words ("free space", ...)."""
    return {errno.ENOSPC: "free space", errno.EDQUOT: "free space (or raise the quota)",
            errno.EFBIG: "raise the file-size limit (ulimit -f)", errno.EIO: "check the disk"}.get(
        code, "fix the permission")


def run_root(cfg: RunConfig, resume: Path | None) -> Path:
    """The run directory a run writes: RESUME, or --out/--run-id (a new id from the time and dataset)."""
    if resume is not None:
        if not Path(resume).is_dir():
            raise UserError(f"cannot resume {resume}: no such directory")
        return Path(resume).expanduser().resolve()  # absolute, as a new run's (config.py): trackers find it by it
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a directory to hold run directories")
    root = out / (cfg.run_id or f"{dt.datetime.now():%Y%m%d-%H%M%S}-{cfg.dataset}")
    if root.exists() and not root.is_dir():
        raise UserError(f"{root} is a file, not a run directory; choose another --run-id")
    return root


def open_store(cfg: RunConfig, root: Path, resume: bool) -> RunStore:
    """A new run directory, or an existing one whose recorded config matches (read under the run's lock)."""
    store = RunStore(root)
    recorded = store.read_config()
    if resume:
        if recorded is None:
            raise UserError(f"cannot resume {root}: no config.yaml there (is it a run directory?)")
        return store
    if recorded is None and root.is_dir() and any(p.name != ".lock" for p in root.iterdir()):
        raise UserError(f"{root} exists and is not a run directory (no config.yaml); it is left untouched: "
                        "choose another --run-id or --out")
    if recorded is not None:
        wanted = results_config(to_dict(replace(cfg, run_id=root.name)))
        kept = results_config(recorded)
        differ = sorted(k for k in set(kept) | set(wanted) if kept.get(k) != wanted.get(k))
        if differ:
            raise UserError(f"{root} already holds a run with a different configuration (differs in: "
                            f"{', '.join(differ)}); choose another --run-id, or continue it with: "
                            f"{resume_command(root, recorded.get('backbone'), recorded.get('methods'))}")
    return store


def trained_config(cfg: RunConfig) -> dict:
    """The configuration a run's rows depend on, as manifest.json keeps it (JSON's types)."""
    # (where the run directory is, and its name, may change: it can be moved and resumed)
    kept = {k: v for k, v in results_config(to_dict(cfg)).items() if k not in ("run_id", "out")}
    return json.loads(json_text(kept))


def _check_unedited(cfg: RunConfig, root: Path) -> None:
    """A resume continues the configuration the run's rows were trained with, which manifest.json
    keeps: a config.yaml edited (or cut short, its missing keys read as defaults) since is refused,
    naming what differs, before anything is written; rows of two configurations never mix."""
    trained = read_manifest(root).get("trained_config")
    if not isinstance(trained, dict):  # (a run older than the record: nothing to hold it against)
        return
    now = trained_config(cfg)
    keys = sorted(k for k in set(trained) | set(now) if trained.get(k) != now.get(k))
    if keys:
        differ = ", ".join(f"{k} {shown(now.get(k))}, trained with {shown(trained.get(k))}" for k in keys)
        raise UserError(f"{root / 'config.yaml'} is not the configuration this run was trained with ({differ}; "
                        "manifest.json keeps it): resuming would mix rows of two configurations. Restore "
                        "config.yaml, or start a new run with the new values")


CODE_KEYS = ("energybench", "git_commit", "method_code", "backbone_code")  # the code a run's rows come from


def _code(manifest: dict) -> dict:
    """A manifest's code identity: energybench's version and commit, each user module's SHA-256."""
    def shas(entry):
        if not isinstance(entry, dict):
            return entry
        if "sha256" in entry:  # backbone_code: one module
            return entry.get("sha256")
        return {name: (v or {}).get("sha256") if isinstance(v, dict) else v for name, v in entry.items()}
    return {k: shas(manifest.get(k)) for k in CODE_KEYS}


def _keep_code_history(earlier: dict, manifest: dict, root: Path) -> None:
    """A resume by other code (another energybench commit, a user's module edited) is said, and the
    manifest keeps the code of every earlier start (`earlier_code`): its rows come from both."""
    history = list(earlier.get("earlier_code") or [])
    if earlier and _code(earlier) != _code(manifest):
        before, now = _code(earlier), _code(manifest)
        differ = [k for k in CODE_KEYS if before[k] != now[k]]
        warnings.warn(f"{root} continues with other code than its earlier rows were written by ({', '.join(differ)} "
                      "differ): the rows written from now on come from this code; manifest.json keeps the earlier "
                      "under earlier_code")
        history.append({k: earlier.get(k) for k in CODE_KEYS if earlier.get(k) is not None})
    if history:
        manifest["earlier_code"] = history


def _first_missing(path: Path) -> Path | None:
    """The outermost folder of `path` that does not exist yet (None when `path` exists)."""
    missing = None
    while not path.exists() and path != path.parent:
        missing, path = path, path.parent
    return missing


@dataclass
class Group:
    """One (seed, method) of the sweep: its base phase and its unfinished sharing levels."""

    method: str
    seed: int
    cells: list[Cell]


class Runner:
    """A run, from its checks to its last row. It holds the run directory's lock from before it
    reads anything there (`lock`: one its caller already took on RESUME) until run() ends, or
    close() where run() is not reached."""

    def __init__(self, cfg: RunConfig, resume: Path | None = None, progress: bool = True, log=print,
                 lock: RunLock | None = None):
        self.progress, self.log = progress, log
        self.lock = lock
        try:
            self._prepare(cfg, resume)
        except BaseException:
            self.close()
            raise

    def _prepare(self, cfg: RunConfig, resume: Path | None) -> None:
        executor_class = self._executor_class = EXECUTORS[cfg.executor]
        executor_class.prestart(cfg)  # under Ray: the embedded cluster boots while pre-flight loads the data
        run = preflight(cfg, executor_class.driver_device, resume)  # everything checked, nothing written yet
        self.classes, self.methods, self.device, self.hardware = run.classes, run.methods, run.device, run.hardware
        self.table, self.plan, self.source, self.scenarios = run.hardware.table, run.plan, run.source, run.scenarios
        self.backbone_code = run.backbone_code
        root = run_root(run.cfg, resume)
        self._made = _first_missing(root)  # made by this run: removed again if its start fails
        if self.lock is None:
            self.lock = RunLock(root)
        if not self.lock.held:
            self.lock.acquire()  # before anything of the run directory is read
        self.store = open_store(run.cfg, root, resume is not None)
        self._resumed = resume is not None
        if self._resumed:
            _check_unedited(run.cfg, root)
        # its checkpoints may hold a user's classes
        self.store.user_modules = user_modules(run.cfg.resolved_backbone(), run.cfg.methods)
        self.cfg = cfg = replace(run.cfg, run_id=self.store.run_id) if resume is None else run.cfg
        self.store.identity = RunIdentity(cfg, run.in_shape)  # what its checkpoints must match
        self.store.points = len(run.hardware_points)  # a phase is done once priced at every (node, arch)
        self.hardware_points = run.hardware_points
        self._progress: RunProgress | None = None
        self._summary_at = time.monotonic()
        self._unshared: set[Cell] = set()  # cells said to have frozen nothing (_check_shared)
        self.executor = None
        executor = executor_class(replace(run, cfg=cfg), log=self.log, progress=self.progress)
        executor.connect()  # under Ray: joins the cluster and checks its resources now
        self.store.check_sent = executor.foreign_states
        self.executor = executor
        self.trackers = Trackers([])  # the run's own, opened in _run once the manifest is written
        self._done_prepare = True

    # ----- whole run ------------------------------------------------------------------------
    def run(self, keep_lock: bool = False) -> Path:
        """Train what is left; the lock is released at the end unless `keep_lock` (the caller
        then writes the reports into the run and calls close())."""
        root = self.store.root
        try:
            stale = self.store.remove_partial_writes()
            if stale:
                self.log(f"removed {len(stale)} unfinished temporary file(s) of an interrupted write")
            try:
                self._run()
            except BaseException:
                self.trackers.abort()  # open tracker runs end KILLED; every result is in the run directory
                raise
        except UserCodeFailed as exc:
            self.close()
            raise UserCodeFailed(f"{exc}. That is the method's own code; every phase finished before it is saved "
                                 f"in {root} ({len(self.store.rows)} row(s) in metrics.csv). Fix the method and "
                                 f"continue with: {self.resume_command} (--debug prints its traceback)",
                                 exc.details) from None
        except UserError:
            self._remove_if_fresh()
            self.close()
            raise
        except OSError as exc:
            self.close()
            if exc.errno in DISK_ERRORS:
                raise self._stopped(exc) from None
            raise
        except BaseException:
            self.close()
            raise
        executor, self.executor = self.executor, None
        executor.close()
        if not keep_lock:
            self.close()
        return root

    def _remove_if_fresh(self) -> None:
        """A failed start leaves nothing behind: the folders this run made, while no row is in them."""
        made, store = getattr(self, "_made", None), getattr(self, "store", None)
        if made is not None and self.lock is not None and self.lock.held and not (store and store.rows):
            shutil.rmtree(made, ignore_errors=True)

    def close(self) -> None:
        """Release the cluster and the lock (what a failed start made is removed first)."""
        executor, self.executor = getattr(self, "executor", None), None
        try:
            if executor is not None:
                executor.close()
            elif getattr(self, "_executor_class", None) is not None:
                self._executor_class.abandon_prestart()  # a failed start: a cluster booting for it is shut down
        finally:
            if self.lock is not None:
                failed = not hasattr(self, "_done_prepare")
                if failed:
                    self._remove_if_fresh()
                self.lock.release(discard=failed)  # a refused start leaves no lock file in a folder it found

    def _run(self) -> None:
        cfg, plan = self.cfg, self.plan
        groups = self._groups()
        self.check_saved(groups)  # a refused state stops the run before anything of it is rewritten
        config = to_dict(cfg)
        if self._resumed:  # how this invocation runs (--no-report, --workers) is not the run's record
            recorded = self.store.read_config() or {}
            config.update({k: recorded[k] for k in EXECUTION_KEYS if k in recorded})
        self.store.write_config(config)
        manifest = build_manifest(self.device)
        manifest["trained_config"] = trained_config(cfg)  # what a resume must continue (_check_unedited)
        # Where a method departs from the run's shared protocol (data pipeline, loss form): the
        # report prints it next to that method's numbers.
        notes = {name: cls.protocol_notes(cls.check_options(cfg.options.get(name, {})), cfg)
                 for name, cls in self.classes.items()}
        manifest["method_notes"] = {name: n for name, n in notes.items() if n}
        manifest["power"] = self.executor.start_power(self.store.root / "power_trace.csv")
        manifest["executor"] = self.executor.describe()
        manifest.update(dataset=self.source.name, data_location=self.source.location,
                        class_order={str(seed): sc.class_order for seed, sc in self.scenarios.items()},
                        scenario=next(iter(self.scenarios.values())).sizes,
                        class_names=self.scenarios[cfg.seeds[-1]].class_names, backbone=cfg.resolved_backbone(),
                        energy_table=self.table.describe(), hardware=self.hardware.describe(), seeds=cfg.seeds,
                        sharing_levels=plan.describe(), class_order_rule=cfg.class_order,
                        # what a finished run holds: the report tells an unfinished one by it
                        levels_per_method={m: self.levels(m) for m in self.methods})
        if len(self.hardware_points) > 1:  # "hardware" describes the first point, which the report's figures read
            manifest["hardware_sweep"] = [hw.describe() for hw in self.hardware_points]
        carbon = carbon_model(cfg.carbon_intensity, cfg.grid, cfg.pue)
        if carbon is not None:
            manifest["carbon"] = carbon.describe()
        if self.backbone_code:  # a user's network: where its code came from
            manifest["backbone_code"] = self.backbone_code
        user = {n: provenance(c) for n, c in self.classes.items() if n not in METHODS}
        if user:  # users' methods likewise
            manifest["method_code"] = user
        _keep_code_history(read_manifest(self.store.root), manifest, self.store.root)
        self.store.write_manifest(manifest)
        self.manifest = manifest
        self.trackers = open_trackers(cfg, self.store.root, manifest, self.log)  # fed each row once it is written
        if cfg.trackers and self.store.rows:  # a resume: the rows written before, for trackers that lack them
            self.trackers.catch_up(self._logged_rows(), manifest)
        if any(self.classes[m].shares for m in self.methods):  # where cuts matter at all
            for note in (plan.collapse_note(), plan.far_note()):
                if note:
                    warnings.warn(note)
        once = [m for m in self.methods if len(self.levels(m)) < len(plan.levels)]
        if once:
            shared = "; ".join(f"{m} shares {self.classes[m].own_sharing}" for m in once)
            self.log(f"{', '.join(once)}: the sharing level does not apply ({shared}), so trained once, at "
                     f"sharing {plan.levels[0]:g}")
        phases = sum(self._phases_left(g) for g in groups)
        cells = sum(len(g.cells) for g in groups)
        if not cells:
            self.log("every cell of this run is already finished")
        else:
            self.log(f"{len(self.methods)} method(s) x {len(plan.levels)} sharing level(s) x {len(cfg.seeds)} seed(s): "
                     f"{cells} cell(s) to run, {phases} phase(s) to train (each base phase once, shared by every "
                     "sharing level)" + (f"; the first {ESTIMATED_FROM} finished phases give an estimate of the "
                                         "duration" if phases > ESTIMATED_FROM else ""))
        self._progress = RunProgress(phases, cells, bar=self.progress, log=self.log)
        try:
            self.executor.run(groups, self)
        except BaseException:  # stopped (Ctrl-C, a method that raised, a full disk): summarise what is kept
            self._progress.close()
            self._summary_as_stopped()
            raise
        self._progress.close()
        write_summary(self.store, cfg)

    def _summary_as_stopped(self) -> None:
        """summary.json of a stopped run: its finished cells, the others under "unfinished". It is
        derived from metrics.csv, so a disk too full to take it loses nothing the resume needs."""
        if not self.store.rows:
            return
        try:
            write_summary(self.store, self.cfg)
        except OSError:
            pass

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

    def _logged_rows(self) -> list[tuple[Cell, dict, bool]]:
        """metrics.csv's rows as the trackers are fed them: per cell and phase, the first hardware
        point's row (a phase's rows are written in the points' order), with whether it is the last phase."""
        first: dict[tuple, dict] = {}
        for r in self.store.rows:
            first.setdefault((r["method"], float(r["sharing"]), int(r["seed"]), int(r["phase"])), r)
        return [(Cell(m, s, seed), r, phase == self.plan.phases - 1) for (m, s, seed, phase), r in first.items()]

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

    def check_saved(self, groups: list[Group]) -> None:
        """Read (and drop) every state the groups would resume from: a checkpoint that is refused
        stops the run here, before any cell is trained."""
        for group in groups:
            need_base = False
            for cell in group.cells:
                need_base |= self.store.load_progress(cell, torch.device("cpu")) is None
            if need_base:
                self.store.load_base(group.method, group.seed, torch.device("cpu"))

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
        for message in done.warnings:
            warnings.warn(message)
        self._progress.phase_done(f"{done.method} seed {done.seed} phase 0 (base, shared by every sharing level): " + (
            f"acc {row['acc_all']:.2f}%, {row['train_macs']:.3g} train MACs, {row['compute_energy_j']:.3g} J computed"
            if row["iters"] else f"nothing trained in phase 0 (acc {row['acc_all']:.2f}%)"))

    def on_phase(self, done: PhaseDone) -> None:
        self.store.record_phase(done)
        for message in done.warnings:
            warnings.warn(message)
        self._check_shared(done)
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

    def _check_shared(self, done: PhaseDone) -> None:
        """A method that froze nothing at a level whose cut shares blocks (a user's begin_phase that
        skips the sharing) trains the unshared network under that level's name: said once a cell."""
        c, row = done.cell, done.row
        blocks = self.plan.blocks.get(c.sharing, 0)
        if done.phase == 0 or not self.classes[c.method].shares or not blocks or row.get("shared_blocks") != 0:
            return
        if c in self._unshared:
            return
        self._unshared.add(c)
        warnings.warn(f"{c.method} at sharing {c.sharing:g} froze no block in phase {done.phase} (the level's cut "
                      f"shares {blocks}): its rows are of the unshared network, not this level's. A method's "
                      "begin_phase must call super().begin_phase(phase), or self.apply_sharing(self.net)")

    def finish_tracking(self, reports: list[Path]) -> None:
        """The run's files to the trackers (after the reports are built), and their runs ended."""
        root = self.store.root
        files = [root / name for name in ("metrics.csv", "summary.json", "manifest.json", "config.yaml")]
        self.trackers.finish(root, [p for p in [*files, *reports] if Path(p).is_file()])

    @property
    def resume_command(self) -> str:
        return resume_command(self.store.root, self.cfg.backbone, self.cfg.methods)

    def _stopped(self, exc: OSError) -> RunStopped:
        where = f" while writing {exc.filename}" if exc.filename else ""
        root, rows = self.store.root, len(self.store.rows)
        return RunStopped(f"stopped: {os.strerror(exc.errno)}{where}. Every phase finished before this is saved in "
                          f"{root} ({rows} row(s) in metrics.csv; files being written were left as they were). "
                          f"{disk_remedy(exc.errno).capitalize()} and continue with: {self.resume_command}")
