"""Every executor follows one declared protocol and one order of cells (engine/executors/base.py)."""

from __future__ import annotations

from energybench.config import EXECUTORS as EXECUTOR_NAMES
from energybench.engine.executors import EXECUTORS
from energybench.engine.executors.base import Executor, NeedBase, RunCell, schedule
from energybench.engine.plan import Cell
from energybench.engine.runner import Group


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
