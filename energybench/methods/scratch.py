"""scratch: the from-scratch comparison for `progressive` — train the final model on all
classes at once, from a random initialisation.

Rows: with `every_phase: false` (default) nothing is trained before the last phase; the
earlier rows evaluate the untrained network that holds one output per seen class (chance
accuracy, zero training cost), so a cell's costs summed over all its rows are exactly the
cost of the final model. With `every_phase: true` every phase trains a fresh network on all
data seen so far (the paper's from-scratch baselines at each number of classes, Fig. 2);
then only the last row is the final model's cost.

There is no base network to share with, so the sharing level does not apply (reported as 0): a
sweep trains scratch once, at its first sharing level.
Convergence options and the stopping rule are `progressive`'s (see progressive.py).
"""

from __future__ import annotations

from energybench.data.scenario import Phase
from energybench.methods.base import Method
from energybench.methods.options import flag
from energybench.methods.progressive import CONVERGENCE_OPTIONS, Trace, epoch_budget, train_to_convergence


class Scratch(Method):
    name = "scratch"
    description = "train the final model on all classes from scratch (comparison for progressive)"
    options = {"every_phase": flag(False), **CONVERGENCE_OPTIONS}
    shares = False

    def __init__(self, ctx):
        super().__init__(ctx)
        self.trace = Trace() if self.opts["trace"] else None

    @classmethod
    def check_scenario(cls, opts, sizes: list[int]) -> None:
        epoch_budget(cls.name, opts, 0, len(sizes), 1)  # a list must hold one budget per phase

    def _trains(self, phase: Phase) -> bool:
        return bool(self.opts["every_phase"]) or phase.index == len(self.ctx.scenario.phases) - 1

    def begin_phase(self, phase: Phase) -> None:
        if self.net is None or self._trains(phase):
            self.net = self.new_net(phase.seen)
        else:  # untrained outputs for the new classes, so predictions still cover every seen class
            self.net.head.add_classes(len(phase.classes))

    def learn(self, phase: Phase) -> None:
        if not self._trains(phase):
            self.extra.update(stage_steps=0, stage_examples=0)
        else:
            idx = self.ctx.scenario.train_indices(phase.index)
            self.extra.update(train_to_convergence(self, self.net, idx, phase, desc=f"{self.name} phase {phase.index}",
                                                   trace=self.trace))
        if self.trace is not None:
            self.trace.end_phase(self)
