"""Per-phase accumulation: step profiles x how many such steps ran -> one metrics row.

The trainer counts the first step of each kind and adds `(profile, steps)`; evaluation
forwards are kept apart (eval_macs) and take no part in the training energy. Forward-only
profiles added as training work (caching a frozen trunk's outputs) count as training
forward MACs and memory traffic but not as training steps.

Every figure is priced by the run's HardwareModel (level_energy.py, the one pricing engine;
without one, the default layer_buffer architecture on the given table): the headline
memory_energy_j is the sum of the architecture's level energies. A row with the hardware
model also gets the architecture, node, supply and mapper, the dynamic energy of each level
(register file, buffer, DRAM; empty where the architecture has no such level), the leakage
energy (empty when the architecture leaves it off), the modelled latency, utilisation, area
and EDP; `breakdown()` gives the same per layer, pass and level. Pure: no torch.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

from energybench.cost.arch import load_architecture
from energybench.cost.energy import elementwise_energy
from energybench.cost.level_energy import HardwareModel
from energybench.cost.memory_model import step_accesses
from energybench.cost.tables import EnergyTable, load_energy_table

if TYPE_CHECKING:
    from energybench.cost.step import StepProfile

ROW_COLUMNS = ("fwd_macs", "bwd_input_macs", "bwd_weight_macs", "update_ops", "train_macs", "eval_macs",
               "mem_reads", "mem_writes", "compute_energy_j", "memory_energy_j", "energy_table", "storage_bytes",
               "elementwise_ops", "elementwise_mem_reads", "elementwise_mem_writes",
               "elementwise_compute_energy_j", "elementwise_memory_energy_j")
# Element-wise work (norms, softmax, activations, adds; cost/elementwise.py) is kept in its own
# columns: compute_energy_j and the memory columns stay MACs, updates and the fused dataflow. It is
# priced with the layer-buffer model (energy.py) whatever the architecture.
_EW = ("elementwise_ops", "elementwise_mem_reads", "elementwise_mem_writes", "elementwise_compute_energy_j",
       "elementwise_memory_energy_j")
# Level kinds of an architecture -> their metrics.csv column.
LEVEL_COLUMNS = {"rf": "level_rf_energy_j", "sram": "level_buffer_energy_j", "dram": "level_dram_energy_j"}
# latency_s: the phase's modelled time (its training steps' latencies); utilisation: its MACs over
# what the PEs could do in that time; edp_js: per training step, dynamic energy x latency.
HARDWARE_COLUMNS = ("arch", "node_nm", "vdd", *LEVEL_COLUMNS.values(), "leakage_energy_j", "mapper", "latency_s",
                    "utilisation", "area_mm2", "edp_js")
BREAKDOWN_COLUMNS = ("layer", "pass", "level", "reads", "writes", "energy_j", "latency_cycles", "utilisation",
                     "mapper")


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

    def _totals(self, table, precision: str, sram_cell: str | None, sram_bytes: int | None,
                hardware: "HardwareModel | None" = None) -> dict:
        if hardware is None:
            table = table if isinstance(table, EnergyTable) else load_energy_table(table)
            hardware = HardwareModel(table, load_architecture(None), precision, sram_cell, sram_bytes)
        table = hardware.table
        t = dict.fromkeys(("fwd_macs", "bwd_input_macs", "bwd_weight_macs", "update_ops", "mem_reads", "mem_writes",
                           "compute_energy_j", "memory_energy_j", *_EW), 0)
        for p, n in self.train:
            t["fwd_macs"] += p.fwd_macs * n
            t["bwd_input_macs"] += p.bwd_input_macs * n
            t["bwd_weight_macs"] += p.bwd_weight_macs * n
            t["update_ops"] += p.update_ops * n
            ew = elementwise_energy(p, table, precision, sram_cell, sram_bytes)
            t["elementwise_ops"] += p.ew_ops * n
            t["elementwise_mem_reads"] += ew.reads * n
            t["elementwise_mem_writes"] += ew.writes * n
            t["elementwise_compute_energy_j"] += ew.compute_j * n
            t["elementwise_memory_energy_j"] += ew.memory_j * n  # (NaN: not modelled, an empty cell)
            # the architecture's levels price the memory; the word accesses stay memory_model's
            h = hardware.step(p)
            acc = step_accesses(p)
            t["mem_reads"] += acc.reads * n
            t["mem_writes"] += acc.writes * n
            t["compute_energy_j"] += h.compute_j * n
            t["memory_energy_j"] += h.memory_j * n
        t["train_macs"] = t["fwd_macs"] + t["bwd_input_macs"] + t["bwd_weight_macs"]
        t["energy_table"] = table.label(precision)  # names the default where the precision's ops came from it
        return t

    def row(self, table: EnergyTable | str | None, precision: str = "fp32", storage_bytes: int = 0, *,
            sram_cell: str | None = None, sram_bytes: int | None = None, hardware: "HardwareModel | None" = None,
            time_s: float | None = None) -> dict:
        """The phase's metrics.csv cost columns (training side; eval MACs apart); with a hardware
        model also its HARDWARE_COLUMNS (`time_s`: the phase's measured training time, for
        leakage measured per iteration)."""
        if hardware is not None:
            table, precision = hardware.table, hardware.precision
        t = self._totals(table, precision, sram_cell, sram_bytes, hardware)
        t["eval_macs"] = sum(p.fwd_macs * n for p, n in self.eval)
        t["storage_bytes"] = int(storage_bytes)
        row = {k: t[k] for k in ROW_COLUMNS}
        if hardware is not None:
            row.update(self.hardware_columns(hardware, time_s))
        return row

    def hardware_columns(self, hardware: "HardwareModel", time_s: float | None = None) -> dict:
        """Architecture, node, supply, per-level dynamic energy and leakage energy of the phase."""
        level_j = {kind: 0.0 for kind in LEVEL_COLUMNS}
        leak_w, modelled_s, cycles, macs, dynamic = 0.0, 0.0, 0.0, 0.0, 0.0
        for p, n in self.train:
            h = hardware.step(p)
            for lv in h.levels:
                level_j[lv.kind] += lv.energy_j * n
            leak_w = h.leakage_w  # the same chip for every step
            modelled_s += (h.time_s or 0.0) * n
            cycles += (h.latency_cycles or 0.0) * n
            macs += p.train_macs * n
            dynamic += h.dynamic_j * n
        kinds = {lv.kind for lv in hardware.arch.levels}
        out = {"arch": hardware.arch.name, "node_nm": hardware.table.node_nm, "vdd": hardware.table.own_vdd}
        out.update({col: level_j[kind] if kind in kinds else None for kind, col in LEVEL_COLUMNS.items()})
        if not hardware.leakage_on or not self.train:
            out["leakage_energy_j"] = None
        else:
            seconds = time_s if hardware.arch.leakage == "measured" and time_s is not None else modelled_s
            out["leakage_energy_j"] = leak_w * seconds
        timed = bool(self.train) and hardware.arch.pes and hardware.arch.clock_mhz
        steps = self.train_steps or None
        out.update(mapper=hardware.mapper_name, latency_s=modelled_s if timed else None,
                   utilisation=macs / (cycles * hardware.arch.pes) if timed and cycles else None,
                   area_mm2=hardware.area.total_mm2 if hardware.area else None,
                   edp_js=(dynamic / steps) * (modelled_s / steps) if timed and steps else None)
        return out

    def breakdown(self, hardware: "HardwareModel") -> list[dict]:
        """The phase's accesses and dynamic energy per (layer, pass, level), summed over steps."""
        sums: dict[tuple[str, str, str], list[float]] = {}
        timing: dict[tuple[str, str], list] = {}  # (layer, pass) -> [cycles, MACs, mapper]
        for p, n in self.train:
            h = hardware.step(p)
            for ll in h.layers:
                s = sums.setdefault((ll.layer, ll.pass_, ll.level), [0.0, 0.0, 0.0])
                s[0], s[1], s[2] = s[0] + ll.reads * n, s[1] + ll.writes * n, s[2] + ll.energy_j * n
            for pr in h.passes:
                t = timing.setdefault((pr.layer, pr.pass_), [0.0, 0.0, pr.mapper])
                t[0], t[1] = t[0] + (pr.latency_cycles or 0.0) * n, t[1] + pr.macs * n
        pes = hardware.arch.pes
        rows = []
        for key, v in sums.items():
            cycles, macs, mapper = timing.get(key[:2], (0.0, 0.0, hardware.mapper_name))
            util = macs / (cycles * pes) if pes and cycles else None
            rows.append(dict(zip(BREAKDOWN_COLUMNS, (*key, *v, cycles if pes else None, util, mapper))))
        return rows

    def breakdown_csv(self, hardware: "HardwareModel") -> str:
        """breakdown() as CSV text (cells/<cell>/energy_levels_phase<N>.csv)."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=BREAKDOWN_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for r in self.breakdown(hardware):
            writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in r.items()})
        return buf.getvalue()

    def per_step(self, table: EnergyTable | str | None, precision: str = "fp32", *, sram_cell: str | None = None,
                 sram_bytes: int | None = None, hardware: "HardwareModel | None" = None) -> dict:
        """Training figures per training step (iteration): MACs, computation energy, memory
        accesses and memory-access energy; NaN when no training step was recorded."""
        if hardware is not None:
            table, precision = hardware.table, hardware.precision
        t = self._totals(table, precision, sram_cell, sram_bytes, hardware)
        steps = self.train_steps
        per = (lambda v: v / steps) if steps else (lambda v: float("nan"))
        return {"train_steps": steps, "train_macs": per(t["train_macs"]),
                "compute_energy_j": per(t["compute_energy_j"]),
                "mem_accesses": per(t["mem_reads"] + t["mem_writes"]),
                "memory_energy_j": per(t["memory_energy_j"]),
                "elementwise_ops": per(t["elementwise_ops"]),
                "elementwise_mem_accesses": per(t["elementwise_mem_reads"] + t["elementwise_mem_writes"]),
                "elementwise_energy_j": per(t["elementwise_compute_energy_j"] + t["elementwise_memory_energy_j"])}
