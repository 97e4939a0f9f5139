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

from energybench.engine.plan import Cell

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


class Executor(ABC):
    """Runs a resolved run's cells (engine/preflight.Resolved) for a driver (engine/runner.Runner)."""

    name: str  # as `--executor` names it, and the manifest records it

    @staticmethod
    @abstractmethod
    def driver_device(cfg) -> torch.device:
        """The device the driver reads and writes states on."""

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
