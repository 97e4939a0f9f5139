"""Per-phase accumulation: step profiles x how many such steps ran -> one metrics row.

The trainer counts the first step of each kind and adds `(profile, steps)`; evaluation
forwards are kept apart (eval_macs) and take no part in the training energy. Forward-only
profiles added as training work (caching a frozen trunk's outputs) count as training
forward MACs and memory traffic but not as training steps. Pure: no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from energybench.cost.energy import step_energy
from energybench.cost.tables import EnergyTable, load_energy_table

if TYPE_CHECKING:
    from energybench.cost.counter import StepProfile

ROW_COLUMNS = ("fwd_macs", "bwd_input_macs", "bwd_weight_macs", "update_ops", "train_macs", "eval_macs",
               "mem_reads", "mem_writes", "compute_energy_j", "memory_energy_j", "energy_table", "storage_bytes",
               "elementwise_ops", "elementwise_mem_reads", "elementwise_mem_writes",
               "elementwise_compute_energy_j", "elementwise_memory_energy_j")
# Element-wise work (norms, softmax, activations, adds; cost/elementwise.py) is kept in its own
# columns: compute_energy_j and the memory columns stay MACs, updates and the fused dataflow.
_EW = ("elementwise_ops", "elementwise_mem_reads", "elementwise_mem_writes", "elementwise_compute_energy_j",
       "elementwise_memory_energy_j")


class CostLedger:
    def __init__(self) -> None:
        self.train: list[tuple["StepProfile", int]] = []
        self.eval: list[tuple["StepProfile", int]] = []

    def add_train(self, profile: "StepProfile", steps: int) -> None:
        if steps:
            self.train.append((profile, int(steps)))

    def add_eval(self, profile: "StepProfile", batches: int) -> None:
        if batches:
            self.eval.append((profile, int(batches)))

    @property
    def train_steps(self) -> int:
        """Training steps (forward + backward + update); forward-only work is not a step."""
        return sum(n for p, n in self.train if p.kind == "train")

    def _totals(self, table, precision: str, sram_cell: str | None, sram_bytes: int | None) -> dict:
        table = table if isinstance(table, EnergyTable) else load_energy_table(table)
        t = dict.fromkeys(("fwd_macs", "bwd_input_macs", "bwd_weight_macs", "update_ops", "mem_reads", "mem_writes",
                           "compute_energy_j", "memory_energy_j", *_EW), 0)
        for p, n in self.train:
            e = step_energy(p, table, precision, sram_cell, sram_bytes)
            t["fwd_macs"] += p.fwd_macs * n
            t["bwd_input_macs"] += p.bwd_input_macs * n
            t["bwd_weight_macs"] += p.bwd_weight_macs * n
            t["update_ops"] += p.update_ops * n
            t["mem_reads"] += e.mem_reads * n
            t["mem_writes"] += e.mem_writes * n
            t["compute_energy_j"] += e.compute_j * n
            t["memory_energy_j"] += e.memory_j * n
            t["elementwise_ops"] += p.ew_ops * n
            t["elementwise_mem_reads"] += e.ew_reads * n
            t["elementwise_mem_writes"] += e.ew_writes * n
            t["elementwise_compute_energy_j"] += e.ew_compute_j * n
            t["elementwise_memory_energy_j"] += e.ew_memory_j * n
        t["train_macs"] = t["fwd_macs"] + t["bwd_input_macs"] + t["bwd_weight_macs"]
        t["energy_table"] = table.label(precision)  # names the default where the precision's ops came from it
        return t

    def row(self, table: EnergyTable | str | None, precision: str = "fp32", storage_bytes: int = 0, *,
            sram_cell: str | None = None, sram_bytes: int | None = None) -> dict:
        """The phase's metrics.csv cost columns (training side; eval MACs apart)."""
        t = self._totals(table, precision, sram_cell, sram_bytes)
        t["eval_macs"] = sum(p.fwd_macs * n for p, n in self.eval)
        t["storage_bytes"] = int(storage_bytes)
        return {k: t[k] for k in ROW_COLUMNS}

    def per_step(self, table: EnergyTable | str | None, precision: str = "fp32", *, sram_cell: str | None = None,
                 sram_bytes: int | None = None) -> dict:
        """Training figures per training step (iteration): MACs, computation energy, memory
        accesses and memory-access energy; NaN when no training step was recorded."""
        t = self._totals(table, precision, sram_cell, sram_bytes)
        steps = self.train_steps
        per = (lambda v: v / steps) if steps else (lambda v: float("nan"))
        return {"train_steps": steps, "train_macs": per(t["train_macs"]),
                "compute_energy_j": per(t["compute_energy_j"]),
                "mem_accesses": per(t["mem_reads"] + t["mem_writes"]),
                "memory_energy_j": per(t["memory_energy_j"]),
                "elementwise_ops": per(t["elementwise_ops"]),
                "elementwise_mem_accesses": per(t["elementwise_mem_reads"] + t["elementwise_mem_writes"]),
                "elementwise_energy_j": per(t["elementwise_compute_energy_j"] + t["elementwise_memory_energy_j"])}
