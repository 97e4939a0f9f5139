"""The local executor: every cell in the driver's own process, one after another.

For each (seed, method): the saved base phase, or else the base trained now; then each
unfinished sharing level, from its saved progress or from the base. Each result is handed to
the driver as soon as it exists. Every saved state is read and checked before the first cell
runs, so a refused checkpoint stops the run before anything is trained (and states are read
again as each cell starts, so that only one is held in memory at a time).
"""

from __future__ import annotations

from energybench.engine.cell import CellWork


class LocalExecutor:
    name = "local"

    def __init__(self, work: CellWork):
        self.work = work

    def close(self) -> None:
        pass

    def describe(self) -> dict:
        return {"name": self.name, "device": str(self.work.device)}

    def run(self, groups, driver) -> None:
        driver.check_saved(groups)  # every saved state, before any cell runs (as the Ray executor does)
        for group in groups:
            base = None
            for cell in group.cells:
                resume = driver.load_progress(cell)
                if resume is None and base is None:
                    base = driver.load_base(group.method, group.seed)
                    if base is None:
                        done = self.work.base(group.method, group.seed, driver.plan.levels[0])
                        driver.on_base(done)
                        base = done.state
                for done in self.work.cell(cell, base, resume, reused_base=driver.reused_base(cell)):
                    driver.on_phase(done)
