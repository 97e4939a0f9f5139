"""joint: retrain on all data seen so far at every phase (the upper bound)."""

from __future__ import annotations

from energybench.data.scenario import Phase
from energybench.methods.base import Method


class Joint(Method):
    name = "joint"
    description = "retrain on all data of all classes seen so far (upper bound)"

    def learn(self, phase: Phase) -> None:
        idx = self.ctx.scenario.train_indices(phase.index)
        self.fit(self.net, idx, desc=f"{self.name} phase {phase.index}")
