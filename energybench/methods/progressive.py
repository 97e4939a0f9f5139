"""progressive: stage-wise incremental training (the incremental training framework, section III).

Each phase of the scenario is one stage j. The last fully connected layer grows by the
stage's n_j classes, keeping the old classes' rows (W_j1 = W_{j-1}, Eq. 2) and initialising
the new rows randomly; then the network is trained on all data of all classes so far,
D_j = D_{j-1} ∪ d_j (Eq. 1). Every example is kept: this is a way to train a final model
faster, not a memory-limited incremental learner.

Stages are the scenario's phases. The paper's rules for choosing them are declared with the
`stages` option and checked against the scenario (the runner's phases cannot be re-cut by a
method): `alpha` (each stage adds round(alpha * N_{j-1}) classes, the last one the rest;
n1 = 10, alpha = 1 on 100 classes gives 10,10,20,40,20, section IV-C) or `delta` (n1, then
delta_n per stage, the last one the rest). `alpha_stages`/`delta_stages` build the scenario
string to pass as `--scenario`.

Convergence per stage (`convergence`):
- `plateau` (default): an epoch improves when its mean training loss is lower than the best
  epoch loss so far by more than both rel_tol x best and abs_tol (the absolute floor stops
  easy stages whose loss keeps halving towards zero); the stage stops at the end of the
  epoch that makes `patience` epochs in a row without improvement. With `lr_drops: n > 0`
  (Xiao et al.'s adaptive schedule) a plateau instead cuts the learning rate by the config's
  `lr_gamma` (and the search for the next plateau starts afresh, with a new SGD momentum
  buffer) until the n-th cut's plateau stops the stage; each rate is then held constant. With `lr_drops: 0` the
  config's multi-step schedule applies (milestones as fractions of `epochs`).
  Either way the config's `epochs` caps the stage's total epochs, `max_steps` its steps.
- `budget`: every stage trains for `epochs` epochs (or `max_steps` steps).
The option `epochs` replaces the config's `epochs` for this method: one number for every stage,
or a list with one per stage (the paper sets each stage's epochs "based on the empirical
study"; a stage shorter than the from-scratch schedule is where stage-wise training can win).
The `scratch` method uses the same rule, so their step counts compare like for like.

Against the paper (reports/progressive_vs_scratch.md): the stage rules, the growth (old rows
kept, new rows at nn.Linear's default random initialisation, every layer trained) and the data
(D_j, all images of all classes so far) are the paper's. The paper gives no stopping rule for
its 1.42x: its stage epochs were "set based on the empirical study" (Table I's single stages ran
at a fixed lr 0.01 to "a sufficiently small gradient"), and its from-scratch baseline ran a fixed
300 epochs (lr / 10 every 100). `plateau` is this project's rule; `budget` with the option
`epochs` reproduces a fixed per-stage schedule.

Rows: `iters` and `train_macs` are the stage's; extra columns stage_steps, stage_epochs,
stage_examples, stage_lr_drops, stage_stopped_by (plateau | budget) and total_steps (over all
stages so far). The cost of the final model is the sum over all rows, phase 0 included.

Accuracy trace (`trace: true`, both methods): after every training epoch the test accuracy on
the phase's classes is measured and a line is written to the cell's trace.csv with the cell's
cumulative steps, counted training MACs and training seconds at that point, so the cost of
reaching an accuracy can be read off (`scripts/time_to_accuracy.py`). The evaluations are
counted as evaluation work (eval_macs) and their time is not training time; they change no
training number.
"""

from __future__ import annotations

import csv
import io
import math
from typing import Any

from energybench.data.scenario import Phase
from energybench.errors import UserError
from energybench.files import atomic_write
from energybench.methods.base import Method, cross_entropy
from energybench.methods.options import Option, choice, flag, integer, number
from energybench.training.evaluate import evaluate


def _epoch_budgets(value: Any) -> int | list[int]:
    items = value if isinstance(value, list) else [value]
    if not items or any(isinstance(e, bool) or not isinstance(e, int) or e < 1 for e in items):
        raise ValueError
    return value


# Shared with `scratch`, so that both stop by the same rule.
CONVERGENCE_OPTIONS: dict[str, Option] = {
    "convergence": choice("plateau", "budget"),
    "rel_tol": number(0.01, ge=0, lt=1),  # an epoch improves when its loss beats the best so far by more
    "abs_tol": number(0.01, ge=0),  # than both rel_tol x best and abs_tol (a loss heading to 0 keeps halving)
    "patience": integer(2, ge=1),  # epochs without improvement before a stage stops
    "lr_drops": integer(0, ge=0),  # plateau: times the rate is cut by the config's lr_gamma before stopping
    "max_steps": integer(None, ge=1, optional=True),  # optional cap on the steps of one stage (both rules)
    "trace": flag(False),  # test accuracy after every epoch, with the running cost, in the cell's trace.csv
    # epochs per stage (a number, or one per phase); null: the config's `epochs`
    "epochs": Option(None, "a whole number >= 1 or a list of them, one per phase", _epoch_budgets, optional=True),
}


TRACE_COLUMNS = ("phase", "epoch", "train_loss", "test_acc", "stage_steps", "steps", "train_macs",
                 "train_time_s", "train_cpu_s")


class Trace:
    """The accuracy trace of one cell: running totals of the phases before this one, and rows."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.done = {"steps": 0, "train_macs": 0, "train_time_s": 0.0, "train_cpu_s": 0.0}

    def record(self, method: Method, phase: Phase, epoch: int, loss: float, stage_start: int) -> None:
        trainer = method.ctx.trainer
        (wall, cpu), steps, macs = trainer.elapsed(), trainer.steps_taken(), trainer.train_macs()  # before evaluating
        acc = evaluate(method, method.ctx.scenario, phase, trainer, method.ctx.device).acc
        method.net.train()  # evaluate() leaves eval mode; the stage goes on training
        self.rows.append({"phase": phase.index, "epoch": epoch, "train_loss": loss,
                          "test_acc": next(iter(acc.values())),
                          "stage_steps": steps - stage_start, "steps": self.done["steps"] + steps,
                          "train_macs": self.done["train_macs"] + macs,
                          "train_time_s": self.done["train_time_s"] + wall,
                          "train_cpu_s": self.done["train_cpu_s"] + cpu})

    def end_phase(self, method: Method) -> None:
        """Add the phase's training to the running totals and write trace.csv."""
        trainer = method.ctx.trainer
        wall, cpu = trainer.elapsed()
        for key, v in (("steps", trainer.steps_taken()), ("train_macs", trainer.train_macs()),
                       ("train_time_s", wall), ("train_cpu_s", cpu)):
            self.done[key] += v
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=TRACE_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write(method.ctx.cell_dir / "trace.csv", out.getvalue())


class Plateau:
    """on_epoch_end rule: True once `patience` epochs in a row failed to improve on the best
    epoch loss by more than both the fraction `rel_tol` of it and `abs_tol`."""

    def __init__(self, rel_tol: float, patience: int, abs_tol: float = 0.0):
        self.rel_tol, self.abs_tol, self.patience = rel_tol, abs_tol, patience
        self.best = math.inf
        self.stale = 0
        self.epochs = 0

    def __call__(self, epoch: int, loss: float) -> bool:
        self.epochs += 1
        if math.isinf(self.best) or self.best - loss > max(self.rel_tol * self.best, self.abs_tol):
            self.best, self.stale = loss, 0
        else:
            self.stale += 1
        return self.stale >= self.patience


def epoch_budget(name: str, opts: dict[str, Any], index: int, phases: int, default: int) -> int:
    """Phase `index`'s epoch budget: the option `epochs` (one number, or one per phase), else the config's."""
    epochs = opts["epochs"]
    if epochs is None:
        return default
    if not isinstance(epochs, list):
        return int(epochs)
    if len(epochs) != phases:
        raise UserError(f"{name} option 'epochs' lists {len(epochs)} values but the scenario has {phases} phases")
    return int(epochs[index])


def train_to_convergence(method: Method, net, idx, phase: Phase, desc: str, kind: str = "ce",
                         trace: Trace | None = None) -> dict[str, Any]:
    """Train `net` on `idx` under the method's convergence options; returns the stage's figures.
    With a `trace`, every epoch's test accuracy and running cost are recorded in it."""
    opts, trainer = method.opts, method.ctx.trainer
    cap = epoch_budget(method.name, opts, phase.index, len(method.ctx.scenario.phases), trainer.defaults["epochs"])
    lr, gamma = trainer.defaults["lr"], trainer.defaults["gamma"]
    max_steps = None if opts["max_steps"] is None else int(opts["max_steps"])
    seen, epochs, traced = [0], [0], [0]
    stage_start = trainer.steps_taken()

    def loss(net, batch):
        seen[0] += len(batch.y)
        return cross_entropy(net, batch)

    def traced_rule(rule):
        def on_epoch_end(epoch: int, mean_loss: float) -> bool:
            if trace is not None:
                traced[0] += 1
                trace.record(method, phase, traced[0], mean_loss, stage_start)
            return rule(epoch, mean_loss)
        return on_epoch_end

    def count_epoch(epoch: int, mean_loss: float) -> bool:
        epochs[0] += 1
        return False

    before = trainer.iters
    drops, stopped = 0, "budget"
    if opts["convergence"] == "budget":
        method.fit(net, idx, loss, kind=kind, desc=desc, on_epoch_end=traced_rule(count_epoch), max_steps=max_steps,
                   epochs=cap)
    else:
        lr_drops = int(opts["lr_drops"])
        while epochs[0] < cap:
            rule = Plateau(float(opts["rel_tol"]), int(opts["patience"]), float(opts["abs_tol"]))
            left = None if max_steps is None else max_steps - (trainer.iters - before)
            if left is not None and left <= 0:
                break
            # With LR drops each segment runs at a constant rate; without, the config's schedule.
            method.fit(net, idx, loss, kind=kind, desc=f"{desc} lr {lr * gamma ** drops:g}",
                       on_epoch_end=traced_rule(rule),
                       epochs=cap - epochs[0], max_steps=left, lr=lr * gamma ** drops,
                       milestones=[] if lr_drops else None)
            epochs[0] += rule.epochs
            if rule.stale < rule.patience:  # ran out of epochs or steps before a plateau
                break
            if drops == lr_drops:
                stopped = "plateau"
                break
            if epochs[0] >= cap:
                break
            drops += 1
    return {"stage_steps": trainer.iters - before, "stage_examples": seen[0], "stage_epochs": epochs[0],
            "stage_lr_drops": drops, "stage_stopped_by": stopped}


def alpha_stages(total: int, n1: int, alpha: float = 1.0) -> list[int]:
    """Stage sizes by the alpha rule: n_j = round(alpha * N_{j-1}) new classes, the last stage
    takes what is left (100 classes, n1 = 10, alpha = 1 -> 10, 10, 20, 40, 20)."""
    if not 0 < n1 <= total or alpha <= 0:
        raise UserError(f"alpha rule needs 0 < n1 <= {total} classes and alpha > 0, got n1={n1}, alpha={alpha}")
    sizes, seen = [n1], n1
    while seen < total:
        n = min(max(1, round(alpha * seen)), total - seen)
        sizes.append(n)
        seen += n
    return sizes


def delta_stages(total: int, n1: int, delta_n: int) -> list[int]:
    """Stage sizes n1, delta_n, delta_n, ..., the last stage takes what is left."""
    if not 0 < n1 <= total or delta_n < 1:
        raise UserError(f"delta rule needs 0 < n1 <= {total} classes and delta_n >= 1, got n1={n1}, delta_n={delta_n}")
    sizes, seen = [n1], n1
    while seen < total:
        sizes.append(min(delta_n, total - seen))
        seen += sizes[-1]
    return sizes


class Progressive(Method):
    name = "progressive"
    description = "stage-wise incremental training: grow the last layer, train on all data so far"
    options = {"stages": choice("scenario", "alpha", "delta"), "n1": integer(None, ge=1, optional=True),
               "alpha": number(1.0, gt=0), "delta_n": integer(None, ge=1, optional=True), **CONVERGENCE_OPTIONS}

    def __init__(self, ctx):
        super().__init__(ctx)
        self.total_steps = 0
        self.trace = Trace() if self.opts["trace"] else None

    @classmethod
    def check_combination(cls, opts) -> None:
        rule = opts["stages"]
        if rule != "scenario" and opts["n1"] is None:
            raise UserError(f"progressive option stages={rule} needs n1 (the classes of the first stage)")
        if rule == "delta" and opts["delta_n"] is None:
            raise UserError("progressive option stages=delta needs delta_n (classes added per stage)")

    @classmethod
    def check_scenario(cls, opts, sizes: list[int]) -> None:
        epoch_budget(cls.name, opts, 0, len(sizes), 1)  # a list must hold one budget per phase
        rule, n1, total = opts["stages"], opts["n1"], sum(sizes)
        if rule == "scenario":
            return
        if rule == "alpha":
            want = alpha_stages(total, n1, opts["alpha"])
        else:
            want = delta_stages(total, n1, opts["delta_n"])
        if want != list(sizes):
            raise UserError(f"progressive stages={rule} (n1={n1}) on {total} classes means the scenario "
                            f"{','.join(map(str, want))}, but the scenario is {','.join(map(str, sizes))}; "
                            f"pass --scenario {','.join(map(str, want))}")

    def learn(self, phase: Phase) -> None:
        idx = self.ctx.scenario.train_indices(phase.index)  # D_j = D_{j-1} ∪ d_j
        stage = train_to_convergence(self, self.net, idx, phase, desc=f"{self.name} stage {phase.index + 1}",
                                     trace=self.trace)
        self.total_steps += stage["stage_steps"]
        self.extra.update(stage, total_steps=self.total_steps)
        if self.trace is not None:
            self.trace.end_phase(self)
