"""finetune: train the network on the new phase's data only (the forgetting lower bound)."""

from __future__ import annotations

from energybench.data.scenario import Phase
from energybench.methods.base import Method


class Finetune(Method):
    name = "finetune"
    description = "train on the new classes' data only; old classes are forgotten (lower bound)"

    def learn(self, phase: Phase) -> None:
        self.fit(self.net, phase.train_idx, desc=f"{self.name} phase {phase.index}")
