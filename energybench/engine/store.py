"""The run directory: config.yaml, manifest.json, metrics.csv, cells/ (confusion matrices,
method artifacts, checkpoints). The driver of a run is its only writer.

Every write goes through energybench.rundir's writer and energybench.files.atomic_write (a
temporary file renamed into place), so a run interrupted at any moment leaves each file either as it was or complete.
A finished phase is written in this order: its rows (one per hardware point, in one write), its
confusion matrix and artifacts, then the cell's progress checkpoint; a resume trusts the checkpoint
and drops rows written after it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from energybench import rundir
from energybench.engine.cell import BaseDone, PhaseDone
from energybench.engine.checkpoint import RunIdentity, load_checkpoint, save_checkpoint
from energybench.engine.plan import Cell
from energybench.errors import UserError
from energybench.files import atomic_write
from energybench.power.trace import append_power_trace

# The run directory's layout, columns, writer and reader are energybench.rundir's; the names
# this module gave them stay reachable from here.
COLUMNS = rundir.COLUMNS
read_metrics = rundir.read_rows
render_csv = rundir.render_csv


class RunStore:
    """One run directory (a single run or a sweep of runs)."""

    def __init__(self, root: Path, user_modules: tuple[str, ...] = ()):
        self.root = Path(root)
        rundir.check_format(self.root)  # a newer energybench's directory is neither resumed nor rewritten
        self.metrics_path = self.root / rundir.METRICS
        self.rows: list[dict[str, Any]] = rundir.read_rows(self.metrics_path)
        self._text = rundir.MetricsText()  # metrics.csv's text so far: a write formats only the rows added
        # the modules of user code the run names (plugins.user_modules): its checkpoints may hold their classes
        self.user_modules = user_modules
        self.identity: RunIdentity | None = None  # the run's: its checkpoints must match it (set by the runner)
        self.points = 1  # the (node, arch) points each phase is priced at: a phase is done with a row for each
        self.check_sent = True  # states sent as bytes are loaded back before they are written (the runner says
        # otherwise for an embedded Ray cluster: 0.1 s of the driver's CPU a phase, on the cores the cells use)

    @property
    def run_id(self) -> str:
        return self.root.name

    def cell_dir(self, method: str, sharing: float, seed: int) -> Path:
        return rundir.cell_dir(self.root, method, sharing, seed)

    def base_checkpoint(self, method: str, seed: int) -> Path:
        return self.root / "cells" / f"{method}_seed{seed}_base.pt"

    def write_config(self, config: dict[str, Any]) -> None:
        rundir.write_config(self.root, config)

    def read_config(self) -> dict[str, Any] | None:
        return rundir.read_config(self.root)

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        rundir.write_manifest(self.root, manifest)

    def _cell_rows(self, method: str, sharing: float, seed: int) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["method"] == method and float(r["sharing"]) == sharing
                and int(r["seed"]) == seed]

    def complete(self, method: str, sharing: float, seed: int, phases: int) -> bool:
        return self.phases_done(method, sharing, seed) >= set(range(phases))

    def progress_checkpoint(self, method: str, sharing: float, seed: int) -> Path:
        """A cell's state after its last finished phase, while the cell is unfinished."""
        return self.cell_dir(method, sharing, seed) / "progress.pt"

    def phases_done(self, method: str, sharing: float, seed: int) -> set[int]:
        """The phases that have a row at every hardware point (a row's point: its node_nm and arch)."""
        points: dict[int, set] = {}
        for r in self._cell_rows(method, sharing, seed):
            point = tuple("" if r.get(c) is None else str(r[c]) for c in rundir.HARDWARE)  # as written or as read
            points.setdefault(int(r["phase"]), set()).add(point)
        return {phase for phase, found in points.items() if len(found) >= self.points}

    def drop_partial(self, method: str, sharing: float, seed: int, keep_upto: int = -1) -> None:
        """Forget a cell's rows after phase `keep_upto` (all of them by default): phases that
        will be recomputed from the last saved state."""
        keep = [r for r in self.rows if not (r["method"] == method and float(r["sharing"]) == sharing
                                              and int(r["seed"]) == seed and int(r["phase"]) > keep_upto)]
        if len(keep) != len(self.rows):
            self.rows = keep
            rundir.write_metrics(self.root, self.rows, self._text)

    def append(self, *rows: dict[str, Any]) -> None:
        """Rows (a phase's, one per hardware point) added in one write: all of them or none."""
        self.rows.extend({**row, "run_id": self.run_id} for row in rows)
        rundir.write_metrics(self.root, self.rows, self._text)

    # ----- results of the cells, as their events arrive ------------------------------------------
    def record_base(self, done: BaseDone) -> None:
        self._check_sent(done.state, "base", done.method)
        save_checkpoint(self.base_checkpoint(done.method, done.seed), done.state, self.identity)
        self.append_readings(f"{done.method} seed {done.seed} base", done.power_trace)

    def append_readings(self, source: str, readings: list[tuple[float, str, float]]) -> None:
        """A Ray worker's power readings, into power_trace.csv with the cell they belong to
        named in the device column (the local executor's monitor writes the trace itself)."""
        if readings:
            append_power_trace(self.root / rundir.POWER_TRACE, [(t, f"{source}: {d}", w) for t, d, w in readings])

    def load_base(self, method: str, seed: int, device: torch.device) -> dict[str, Any] | None:
        path = self.base_checkpoint(method, seed)
        if not path.is_file():
            return None
        return load_checkpoint(path, device, self.user_modules, "base", method, self.identity)

    def _check_sent(self, state, kind: str, method: str) -> None:
        """A state a Ray worker sent (as bytes) is checked as a checkpoint file is, before it is written."""
        if isinstance(state, bytes) and self.check_sent:
            load_checkpoint(state, "cpu", self.user_modules, kind, method, self.identity)

    def record_phase(self, done: PhaseDone) -> None:
        c = done.cell
        if done.state is not None:
            self._check_sent(done.state, "progress", c.method)  # before anything of the phase is written
        # the phase's files before its rows: the rows of a cell's last phase make it complete, and a
        # resume never writes a complete cell's files again (a stop in between lost them for good)
        folder = self.cell_dir(c.method, c.sharing, c.seed)
        atomic_write(folder / f"confusion_phase{done.phase}.csv", done.confusion)
        for name, data in done.artifacts.items():
            atomic_write(folder / name, data)
        self.append(*done.rows)
        self.append_readings(c.label, done.power_trace)  # after the rows: a phase run again appends none twice
        if done.state is not None:  # an interruption from here on loses no finished phase
            save_checkpoint(self.progress_checkpoint(c.method, c.sharing, c.seed), done.state, self.identity)
        if done.last:
            self.progress_checkpoint(c.method, c.sharing, c.seed).unlink(missing_ok=True)

    def load_progress(self, cell: Cell, device: torch.device) -> dict[str, Any] | None:
        """The saved state of an unfinished cell whose rows it matches; otherwise the cell's rows
        are dropped and None says to start it again from the base phase."""
        path = self.progress_checkpoint(cell.method, cell.sharing, cell.seed)
        saved = load_checkpoint(path, device, self.user_modules, "progress", cell.method,
                                self.identity) if path.is_file() else None
        owner = saved.get("cell") if saved else None  # (absent from states of earlier versions)
        if isinstance(owner, dict) and (owner.get("method"), owner.get("sharing"), owner.get("seed")) != (
                cell.method, cell.sharing, cell.seed):
            other = Cell(owner["method"], float(owner["sharing"]), owner["seed"])  # (its types checked on load)
            raise UserError(f"{path} was refused: it is the state of {other.label}, not of {cell.label} whose folder "
                            "holds it, so it cannot continue this cell. Nothing in it was run. Delete it to "
                            "recompute that part of the run")
        last = len(saved["accs"]) - 1 if saved else -1
        if saved is None or not self.phases_done(cell.method, cell.sharing, cell.seed) >= set(range(last + 1)):
            self.drop_partial(cell.method, cell.sharing, cell.seed)
            return None
        self.drop_partial(cell.method, cell.sharing, cell.seed, keep_upto=last)  # rows written after the save
        return saved

    def remove_partial_writes(self) -> list[Path]:
        """Delete the temporary files of atomic writes that an interruption cut short."""
        leftovers = [p for p in self.root.rglob(".*.tmp") if p.is_file()]
        for p in leftovers:
            p.unlink(missing_ok=True)
        return leftovers
