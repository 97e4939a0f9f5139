"""What every executor is (one declared protocol), and the one order in which a sweep's cells run.

An executor owns the devices that train: it reaches them (connect), measures their power
(start_power: the driver's own monitor in process, the workers' under Ray), runs the groups
in `schedule`'s order, hands every result to the driver as it arrives, and releases what it
holds (close). The runner drives any executor the same way and never asks which one it has.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch

from energybench.engine.plan import Cell, Plan


@dataclass
class NeedBase:
    """A (method, seed)'s base phase is needed: `saved` is its saved state, or None (train it)."""

    method: str
    seed: int
    saved: dict | None

    @property
    def key(self) -> tuple[str, int]:
        return self.method, self.seed


@dataclass
class RunCell:
    """A cell to run: from its saved progress (`resume`), or else from its group's base."""

    cell: Cell
    resume: dict | None

    @property
    def key(self) -> tuple[str, int]:
        return self.cell.method, self.cell.seed


def schedule(groups, driver) -> Iterator[NeedBase | RunCell]:
    """The order every executor follows: group by group ((seed, method)), each cell with its saved
    progress; a group's base is asked for once, just before its first cell that has no progress."""
    for group in groups:
        asked = False
        for cell in group.cells:
            resume = driver.load_progress(cell)
            if resume is None and not asked:
                asked = True
                yield NeedBase(group.method, group.seed, driver.load_base(group.method, group.seed))
            yield RunCell(cell, resume)


def estimated_cost(cell: Cell, plan: Plan, classes: dict[str, type], phases_left: int | None = None) -> float:
    """A cell's expected training time, in relative units, for executors that choose what runs
    first (Ray: the longest cells first, so that no long cell starts last while the others idle).
    Per step, the frozen trunk is a forward pass (1) and the trained part a forward and a
    backward pass (3 x the trained fraction, 1 - the achieved sharing); a method that runs the
    previous model (distillation) adds a forward pass (1), one that rehearses exemplars trains on
    about half as many samples again (x 1.5); times the phases left to train."""
    trained = 1.0 - plan.achieved.get(cell.sharing, cell.sharing)
    cls = classes.get(cell.method)
    per_step = 1.0 + 3.0 * trained + (1.0 if getattr(cls, "uses_previous_model", False) else 0.0)
    if getattr(cls, "under_budget", False):
        per_step *= 1.5
    return per_step * (plan.phases - 1 if phases_left is None else phases_left)


def longest_first(cells: list[Cell], plan: Plan, classes: dict[str, type]) -> list[Cell]:
    """Cells by estimated_cost, the largest first; equal costs keep their order."""
    return sorted(cells, key=lambda c: -estimated_cost(c, plan, classes))


class Executor(ABC):
    """Runs a resolved run's cells (engine/preflight.Resolved) for a driver (engine/runner.Runner)."""

    name: str  # as `--executor` names it, and the manifest records it
    # The cells' states come, as checkpoint bytes, from processes that may run other code than this run's (a
    # joined Ray cluster's workers): the store loads each back as it would a checkpoint file before writing it.
    # The local executor's states and an embedded cluster's (this run's own processes) are not loaded again.
    foreign_states = False

    @staticmethod
    @abstractmethod
    def driver_device(cfg) -> torch.device:
        """The device the driver reads and writes states on."""

    @classmethod
    def prestart(cls, cfg) -> None:
        """Start reaching the resources while pre-flight checks the run and loads its data (called
        before the executor exists); connect() finishes it. Nothing to do by default."""

    @classmethod
    def abandon_prestart(cls) -> None:
        """Release what prestart started when no executor was made (pre-flight failed, or Ctrl-C)."""

    def connect(self) -> None:
        """Reach the resources the cells run on; UserError when they cannot run one."""

    @abstractmethod
    def start_power(self, trace: Path) -> dict:
        """Start measuring the power of the devices this executor owns (a trace may go to `trace`);
        returns what the manifest records about it."""

    @abstractmethod
    def describe(self) -> dict:
        """For the manifest: where the cells ran."""

    @abstractmethod
    def run(self, groups, driver) -> None:
        """Run every group's cells in `schedule`'s order, handing each result to the driver."""

    @abstractmethod
    def close(self) -> None:
        """Release what the executor holds (a power monitor, a cluster); may be called twice."""
