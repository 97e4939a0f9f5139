"""Every executor follows one declared protocol and one order of cells (engine/executors/base.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from energybench.config import EXECUTORS as EXECUTOR_NAMES
from energybench.engine.executors import EXECUTORS
from energybench.engine.executors.base import (Executor, NeedBase, RunCell, estimated_cost, longest_first,
                                               schedule)
from energybench.engine.executors.ray import CellJob, _Sweep
from energybench.engine.plan import Cell, Plan
from energybench.engine.runner import Group
from energybench.methods import METHODS


class Driver:
    """Saved progress for some cells, a saved base for some (method, seed); records what was read."""

    def __init__(self, progress: dict[Cell, dict], bases: dict[tuple[str, int], dict]):
        self.progress, self.bases, self.read = progress, bases, []

    def load_progress(self, cell):
        self.read.append(cell.label)
        return self.progress.get(cell)

    def load_base(self, method, seed):
        self.read.append(f"{method} seed {seed} base")
        return self.bases.get((method, seed))


def test_the_config_names_every_executor_and_each_follows_the_protocol():
    assert tuple(EXECUTORS) == EXECUTOR_NAMES == ("local", "ray")
    assert all(issubclass(cls, Executor) and not cls.__abstractmethods__ for cls in EXECUTORS.values())


def test_a_groups_base_is_asked_for_once_before_its_first_cell_without_progress():
    a0, a5, b0, b5 = Cell("a", 0.0, 0), Cell("a", 0.5, 0), Cell("b", 0.0, 0), Cell("b", 0.5, 0)
    driver = Driver(progress={a0: {"p": "a0"}, b0: {"p": "b0"}, b5: {"p": "b5"}}, bases={("a", 0): {"s": "a"}})
    steps = list(schedule([Group("a", 0, [a0, a5]), Group("b", 0, [b0, b5])], driver))
    assert steps == [RunCell(a0, {"p": "a0"}), NeedBase("a", 0, {"s": "a"}), RunCell(a5, None),
                     RunCell(b0, {"p": "b0"}), RunCell(b5, {"p": "b5"})]  # b: every cell resumes, no base read
    assert driver.read == ["a s=0 seed 0", "a s=0.5 seed 0", "a seed 0 base", "b s=0 seed 0", "b s=0.5 seed 0"]


def test_a_base_never_saved_is_asked_for_as_none_to_be_trained():
    c = Cell("a", 0.0, 3)
    assert list(schedule([Group("a", 3, [c])], Driver({}, {}))) == [NeedBase("a", 3, None), RunCell(c, None)]


SMALL_PLAN = Plan(["finetune", "lwf", "icarl"], [0], [0.0, 0.5, 0.8], 3, achieved={0.0: 0.0, 0.5: 0.176, 0.8: 0.849})
ORDER = ["icarl s=0 seed 0", "icarl s=0.5 seed 0", "lwf s=0 seed 0", "lwf s=0.5 seed 0", "finetune s=0 seed 0",
         "icarl s=0.8 seed 0", "finetune s=0.5 seed 0", "lwf s=0.8 seed 0", "finetune s=0.8 seed 0"]


def test_cells_longest_first_by_trained_fraction_distillation_and_exemplars():
    """Per step: 1 + 3 x (1 - achieved), +1 with a previous model, x 1.5 with exemplars (icarl has both)."""
    cells = [Cell(m, s, 0) for m in SMALL_PLAN.methods for s in SMALL_PLAN.levels]
    classes = {m: METHODS[m] for m in SMALL_PLAN.methods}
    assert estimated_cost(Cell("icarl", 0.5, 0), SMALL_PLAN, classes) == pytest.approx((2 + 3 * 0.824) * 1.5 * 2)
    assert [c.label for c in longest_first(cells, SMALL_PLAN, classes)] == ORDER


def test_ray_sends_base_phases_first_then_the_longest_cells():
    class SweepDriver(Driver):
        plan, classes = SMALL_PLAN, {m: METHODS[m] for m in SMALL_PLAN.methods}
        store = SimpleNamespace(identity=None)

    driver = SweepDriver({}, {})
    sweep = _Sweep(SimpleNamespace(cfg=SimpleNamespace(cpus_per_cell=1), gpus_per_cell=0), driver, None)
    groups = [Group(m, 0, [Cell(m, s, 0) for s in SMALL_PLAN.levels]) for m in SMALL_PLAN.methods]
    for step in schedule(groups, driver):
        sweep.add(step)
    bases = [sweep.next_job() for _ in groups]
    assert [b.who for b in bases] == ["icarl seed 0 base phase", "lwf seed 0 base phase",
                                      "finetune seed 0 base phase"]  # the groups' cells, summed
    for b in reversed(bases):  # (each base's cells queued as it returns, here the shortest group's first)
        sweep.queue.extend(CellJob(c) for c in sweep.waiting.pop(b.key))
    assert [sweep.next_job().who for _ in ORDER] == ORDER
    assert not sweep.queue
