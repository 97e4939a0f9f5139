"""Training a sweep's cells: the base phase of a (seed, method), and the later phases of one
sharing level as a stream of finished phases.

The same code runs in the driver's process (local executor) and in Ray workers, and it
writes nothing: every result travels in the events it returns (a phase's row, its confusion
matrix, the method's artifact files, the cell's resumable state), and the driver alone
writes the run directory. Phase 0 does not depend on sharing, so it is trained once per
(seed, method) and every sharing level continues from a copy of it; each level starts from
the same random state, so levels are independent of one another and of the order they run in.
The hardware sweep (node, arch) does not change training: each phase's counted work is priced at
every point of it, one row per point, the first point's row first.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
import traceback
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from energybench.confusion import render_confusion
from energybench.cost.carbon import carbon_model, phase_co2e
from energybench.cost.level_energy import HardwareModel
from energybench.cost.memory_model import storage_bytes
from energybench.data.augment import default_augment
from energybench.data.scenario import Phase, Scenario
from energybench.engine.checkpoint import RunIdentity
from energybench.engine.plan import Cell
from energybench.errors import UserCodeFailed, UserError
from energybench.methods import DEFAULT_METHODS, METHODS, method_classes
from energybench.methods.base import Context, Method
from energybench.rundir import MATRIX_FILE
from energybench.training.evaluate import EvalResult, evaluate
from energybench.training.metrics import bwt, forgetting, render_matrix
from energybench.training.trainer import Trainer


NO_POWER = "not measured: power measurement is off (--no-power)"


@dataclass
class BaseDone:
    """A trained base phase: the state every sharing level of (method, seed) starts from."""

    method: str
    seed: int
    state: dict[str, Any] | bytes  # method, row, group_acc, confusion (bytes: as a checkpoint file holds it)
    row: dict[str, Any]  # the base phase's row at the first hardware point
    warnings: list[str] = field(default_factory=list)  # for the driver to show (a worker's own would be lost)
    power_trace: list[tuple[float, str, float]] = field(default_factory=list)  # a worker's readings
    more_rows: list[dict[str, Any]] = field(default_factory=list)  # its rows at the sweep's other hardware points

    @property
    def rows(self) -> list[dict[str, Any]]:
        return [self.row, *self.more_rows]


@dataclass
class PhaseDone:
    """One finished phase of a cell: everything the driver writes for it."""

    cell: Cell
    phase: int
    row: dict[str, Any]  # at the first hardware point
    confusion: str
    artifacts: dict[str, bytes] = field(default_factory=dict)  # files the method wrote for the cell
    state: dict[str, Any] | bytes | None = None  # the cell's resumable state after this phase
    last: bool = False  # the cell's last phase
    power_trace: list[tuple[float, str, float]] = field(default_factory=list)  # a worker's readings
    more_rows: list[dict[str, Any]] = field(default_factory=list)  # at the sweep's other hardware points
    warnings: list[str] = field(default_factory=list)  # for the driver to show (a worker's own would be lost)

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The phase's rows, one per hardware point: written together, or not at all."""
        return [self.row, *self.more_rows]


def undertrained_below(classes: int) -> float | None:
    """The base-phase accuracy (%) under which a network of `classes` classes looks untrained:
    twice chance, but never more than a third of the way from chance to 100 % (with 2 classes twice
    chance would be 100 %); None for one class, which any network gets right."""
    if classes < 2:
        return None
    chance = 100.0 / classes
    return min(2 * chance, chance + (100.0 - chance) / 3)


class CellWork:
    """Trains base phases and cells of one run configuration on one device."""

    def __init__(self, cfg, scenarios: dict[int, Scenario], device: torch.device,
                 hardware: HardwareModel | list[HardwareModel], *, progress: bool = False, monitor=None):
        self.cfg, self.scenarios, self.device = cfg, scenarios, device
        # every (node, arch) point each phase is priced at, in cfg.hardware_points()'s order
        self.hardware = list(hardware) if isinstance(hardware, (list, tuple)) else [hardware]
        self.progress = progress  # per-epoch bars (only where one process trains)
        self.monitor = monitor  # a started PowerMonitor, or None
        self.power_note = NO_POWER  # why, when no monitor
        # each method by its class's name; a user's module:Class is imported here (in a Ray worker too)
        self.classes = method_classes(cfg.methods or DEFAULT_METHODS)
        self.carbon = carbon_model(cfg.carbon_intensity, cfg.grid, cfg.pue)  # None: no CO2e columns
        self._identity: RunIdentity | None = None

    @property
    def identity(self) -> RunIdentity:
        """The run's identity, which its checkpoints record (and must match when read)."""
        if self._identity is None:
            self._identity = RunIdentity(self.cfg, next(iter(self.scenarios.values())).source.in_shape)
        return self._identity

    # ----- the base phase, once per (seed, method) -------------------------------------------
    def base(self, name: str, seed: int, first_level: float) -> BaseDone:
        scenario = self.scenarios[seed]
        torch.manual_seed(seed)
        trainer = self._trainer(seed, seed)
        with tempfile.TemporaryDirectory(prefix="energybench-base-") as tmp:
            with self.user_code(name, "phase 0 (creating the method)"):
                method = self.classes[name](self._context(trainer, seed, first_level, Path(tmp)))
            rows, res, levels, said = self.phase(method, trainer, scenario.phases[0], name, 0.0, seed)
        for row in rows:
            row.update(avg_inc_acc=row["acc_all"], forgetting=float("nan"), bwt=float("nan"))
        state = {"method": method, "row": rows[0], "group_acc": res.group_acc,
                 "confusion": render_confusion(res.confusion, scenario.class_names),
                 "energy_levels": levels[0] if len(levels) == 1 else levels}
        if len(rows) > 1:
            state["rows"] = rows
        said += [w for w in [self._undertrained(name, seed, rows[0])] if w]
        return BaseDone(name, seed, state, rows[0], said, more_rows=rows[1:])

    def _undertrained(self, name: str, seed: int, row: dict) -> str | None:
        """Every later phase branches from the base: an untrained one makes the sweep meaningless."""
        first = self.scenarios[seed].phases[0]
        chance, bar = 100.0 / first.seen, undertrained_below(first.seen)
        if row["iters"] and bar is not None and row["acc_all"] < bar:  # (`scratch` trains nothing before the end)
            return (f"{name} seed {seed}: phase 0 reached {row['acc_all']:.1f}% on {first.seen} classes (chance "
                    f"{chance:.1f}%); the base network looks undertrained, raise --epochs (now {self.cfg.epochs}) "
                    "or adjust --lr")
        return None

    # ----- one sharing level ----------------------------------------------------------------
    def cell(self, cell: Cell, base: dict[str, Any] | None = None, resume: dict[str, Any] | None = None,
             reused_base: bool = False) -> Iterator[PhaseDone]:
        """The cell's phases from `resume` (a state after a finished phase) or else from `base`
        (then its phase-0 row first); `reused_base` says whether that row copies a base trained
        for another sharing level."""
        scenario = self.scenarios[cell.seed]
        trainer = self._trainer(cell.seed, cell.seed + 1)
        if resume is not None:
            method, history, accs = resume["method"], resume["history"], resume["accs"]
            trainer.gen.set_state(resume["trainer_rng"].cpu())  # map_location may have moved them
            torch.set_rng_state(resume["torch_rng"].cpu())
        else:
            method = copy.deepcopy(base["method"])
            torch.manual_seed(cell.seed + 1)  # every sharing level continues from the same RNG state
            history, accs = [list(base["group_acc"])], [base["row"]["acc_all"]]
            rows0 = [{**r, "sharing": cell.sharing, "reused_base": reused_base}
                     for r in base.get("rows") or [base["row"]]]
            yield PhaseDone(cell, 0, rows0[0], base["confusion"], {**_matrix_file(history), **self._levels_files(
                0, base.get("energy_levels"))}, more_rows=rows0[1:])
        n = len(scenario.phases)
        tmp = Path(tempfile.mkdtemp(prefix="energybench-cell-"))
        try:
            with self.user_code(cell.method, f"{cell.label} (attaching the method)"):
                method.attach(self._context(trainer, cell.seed, cell.sharing, tmp))
            for phase in scenario.phases[len(accs):]:
                rows, res, levels, said = self.phase(method, trainer, phase, cell.method, cell.sharing, cell.seed)
                history.append(res.group_acc)
                accs.append(rows[0]["acc_all"])
                for row in rows:
                    row.update(avg_inc_acc=float(np.mean(accs)), forgetting=forgetting(history), bwt=bwt(history))
                last = phase.index == n - 1
                # ("cell": whose state it is, so that a copy in another cell's folder is refused)
                state = None if last else {"method": method, "history": history, "accs": accs,
                                           "trainer_rng": trainer.gen.get_state(), "torch_rng": torch.get_rng_state(),
                                           "cell": {"method": cell.method, "sharing": cell.sharing, "seed": cell.seed}}
                yield PhaseDone(cell, phase.index, rows[0], render_confusion(res.confusion, scenario.class_names),
                                {**_artifacts(tmp), **_matrix_file(history), **self._levels_files(phase.index, levels)},
                                state, last, more_rows=rows[1:], warnings=said)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    # ----- one phase ---------------------------------------------------------------------------
    def phase(self, method: Method, trainer: Trainer, phase: Phase, name: str, sharing: float,
              seed: int) -> tuple[list[dict[str, Any]], EvalResult, list[str], list[str]]:
        """Train and evaluate one phase: its rows (one per hardware point), its evaluation, its
        per-layer, per-level energies (CSV, one per hardware point) and what the user must be told."""
        cfg = self.cfg
        trainer.begin_phase()
        label = f"{name} s{sharing:g} seed{seed} phase{phase.index}"
        where = f"{name} sharing {sharing:g} seed {seed} phase {phase.index}"
        with self.monitor.window(label) if self.monitor else nullcontext() as window:
            with self.user_code(name, where):
                method.begin_phase(phase)
                method.learn(phase)
                method.end_phase(phase)
            if window is not None:
                window.samples = trainer.samples  # for measured_energy_per_sample_j
        said = []
        if trainer.nonfinite:  # the rows are still written (the phase ran); the user must know why they look so
            shown = ", ".join(trainer.nonfinite[:3]) + (f" and {len(trainer.nonfinite) - 3} more"
                                                        if len(trainer.nonfinite) > 3 else "")
            said.append(f"{where}: the training loss was not finite (NaN or infinite) in {shown}; this phase's "
                        "rows are of the network it left: lower --lr, or check the method's loss")
        ledger = trainer.end_phase()
        with self.user_code(name, f"{where} (evaluating)"):
            res = evaluate(method, trainer.scenario, phase, trainer, self.device)
        primary = res.primary
        row = {
            "method": name, "sharing": sharing, "seed": seed, "phase": phase.index,
            "sharing_achieved": method.cut.achieved if method.cut else 0.0,
            "shared_blocks": method.cut.blocks if method.cut else 0,
            "classes_seen": phase.seen, "new_classes": len(phase.classes),
            "acc_all": res.acc[primary], "acc_old": res.acc_old[primary], "acc_new": res.acc_new[primary],
            "iters": trainer.iters, "train_samples": trainer.samples, "train_time_s": trainer.train_time_s,
            "time_per_iter_s": trainer.train_time_s / trainer.iters if trainer.iters else float("nan"),
            "train_cpu_s": trainer.train_cpu_s,  # unlike wall-clock time, not inflated by other processes
            "cache_shared": trainer.cached_trunk,  # trained on cached trunk outputs (not just asked to)
        }
        for clf in list(res.acc)[1:]:
            row.update({f"acc_{clf}": res.acc[clf], f"acc_{clf}_old": res.acc_old[clf],
                        f"acc_{clf}_new": res.acc_new[clf]})
        row.update(res.extra)  # top-5 and task-aware accuracy of the primary classifier
        store_bytes = storage_bytes(method.storage_modules(), method.exemplar_bytes(), cfg.precision)
        rows = []
        for hardware in self.hardware:  # the same counted work, priced at each (node, arch)
            priced = {**row, **ledger.row(hardware.table, cfg.precision, store_bytes, sram_cell=cfg.sram_cell,
                                          sram_bytes=cfg.sram_bytes, hardware=hardware,
                                          time_s=trainer.train_time_s), "precision": cfg.precision}
            priced.update(window.result if window is not None else {"measured_note": self.power_note})
            if self.carbon is not None:
                priced.update(phase_co2e(self.carbon, priced))
            priced.update(method.extra)
            rows.append(priced)
        method.extra = {}
        return rows, res, [ledger.breakdown_csv(hardware) for hardware in self.hardware], said

    @contextmanager
    def user_code(self, name: str, where: str):
        """A user's method (module:Class) that raises ends the run with one message naming it;
        its traceback goes with the error, for --debug. Built-in methods' errors are bugs: left as they are."""
        cls = self.classes[name]
        if name in METHODS or cls.__module__.startswith("energybench."):
            yield
            return
        try:
            yield
        except (UserError, KeyboardInterrupt, MemoryError):
            raise
        except Exception as exc:
            spec = f"{cls.__module__}:{cls.__qualname__}"
            first = " ".join(str(exc).split())[:300]
            raise UserCodeFailed(
                f"method {name} ({spec}) raised {type(exc).__name__}{': ' + first if first else ''} in {where}",
                "".join(traceback.format_exception(exc))) from None

    # ----- plumbing ------------------------------------------------------------------------------
    def _trainer(self, seed: int, rng_seed: int) -> Trainer:
        """A trainer on seed `seed`'s scenario whose batch order comes from `rng_seed`."""
        cfg, scenario = self.cfg, self.scenarios[seed]
        augment = default_augment(cfg.dataset, scenario.source.in_shape) if cfg.augment else None
        return Trainer(scenario, self.device, epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                       momentum=cfg.momentum, weight_decay=cfg.weight_decay, milestones=cfg.lr_milestones,
                       gamma=cfg.lr_gamma, augment=augment, seed=rng_seed, progress=self.progress)

    def _context(self, trainer: Trainer, seed: int, sharing: float, cell_dir: Path) -> Context:
        return Context(self.cfg, trainer.scenario, self.device, trainer, seed, sharing, cell_dir)

    def _levels_files(self, phase: int, levels: str | list[str] | None) -> dict[str, bytes]:
        """A phase's per-layer, per-level energies, as the files the driver writes for it: the first
        hardware point's energy_levels_phase<N>.csv, each other's named by its arch and node."""
        texts = [levels] if isinstance(levels, str) else list(levels or [])
        files = {}
        for k, (text, hardware) in enumerate(zip(texts, self.hardware)):
            point = "" if k == 0 else f"_{hardware.arch.name}_{hardware.table.node_nm}nm"
            if text:
                files[f"energy_levels_phase{phase}{point}.csv"] = text.encode()
        return files


def _matrix_file(history: list[list[float]]) -> dict[str, bytes]:
    """The cell's accuracy matrix so far (energybench.training.metrics), rewritten each phase."""
    return {MATRIX_FILE: render_matrix(history).encode()}


def _artifacts(folder: Path) -> dict[str, bytes]:
    """The files a method wrote for its cell (e.g. tree.json), to be written by the driver."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
