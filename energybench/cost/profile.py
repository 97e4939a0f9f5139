"""One counted training step priced: its counts, memory accesses, energies and storage, whole,
per layer and per pass (what `energybench cost` prints, as plain data). The step itself is
built and counted by energybench/training/step_profile.py (it needs the models)."""

from __future__ import annotations

from typing import Any

from torch import nn

from energybench.cost.arch import load_architecture
from energybench.cost.energy import elementwise_energy
from energybench.cost.level_energy import HardwareModel
from energybench.cost.memory_model import layer_accesses, step_accesses, storage_bytes, working_set_words
from energybench.cost.step import StepProfile
from energybench.cost.tables import EnergyTable, precision_bits


def step_cost(net: nn.Module, cut: Any, profile: StepProfile, table: EnergyTable, precision: str,
              sram_cell: str, sram_bytes: int | None, hardware: HardwareModel | None = None) -> dict[str, Any]:
    """The step's counts, memory accesses, energies and storage, whole, per layer and per pass,
    all priced by the one engine (level_energy.py; without a hardware model, the default
    layer_buffer architecture), and the architecture's levels (`hierarchy`)."""
    if hardware is None:
        hardware = HardwareModel(table, load_architecture(None), precision, sram_cell, sram_bytes)
    # element-wise work is priced with the layer-buffer model whatever the architecture (ledger.py)
    ew_energy = elementwise_energy(profile, table, precision, sram_cell, sram_bytes)
    hw = hardware.step(profile)
    dram_level = hardware.arch.level("dram")
    layers = _layer_rows(profile, hardware, hw, dram_level, ew_energy, precision_bits(precision))
    total = sum(p.numel() for p in net.parameters())
    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    words = step_accesses(profile)
    dram = next(lv for lv in hw.levels if lv.kind == "dram") if dram_level is not None else None
    level_words = sum(lv.reads + lv.writes for lv in hw.levels)
    out = {
        "forward_macs": profile.fwd_macs, "backward_input_macs": profile.bwd_input_macs,
        "backward_weight_macs": profile.bwd_weight_macs, "update_ops": profile.update_ops,
        "train_step_macs": profile.train_macs,
        "mem_reads": words.reads, "mem_writes": words.writes, "compute_energy_j": hw.compute_j,
        "memory_energy_j": hw.memory_j, "dram_energy_j": dram.energy_j if dram else 0.0,
        "dram_access_fraction": (dram.reads + dram.writes) / level_words if dram and level_words else 0.0,
    }
    bits = precision_bits(precision)
    rows, _ = table.sram_rows_for(sram_cell, bits) if table.sram_rows else ([(None,)], 0)
    out.update({
        "storage_bytes": storage_bytes([net], 0, precision),
        "total_params": total, "trainable_params": trainable,
        "sharing_requested": cut.requested, "sharing_achieved": cut.achieved, "shared_blocks": cut.blocks,
        "energy_table": table.label(precision), "energy_table_origin": table.origin,
        "precision": precision, "sram_cell": sram_cell,
        "sram_bytes": sram_bytes or (hardware.arch.levels[0].capacity_bytes if hardware.arch.dataflow == "layer_buffer"
                                     else None),
        "sram_largest_bytes": rows[-1][0],
        "sram_extrapolated": hw.extrapolated or ew_energy.extrapolated,
        "elementwise_fwd_ops": profile.ew_fwd_ops, "elementwise_bwd_ops": profile.ew_bwd_ops,
        "elementwise_mults": profile.ew_mults, "elementwise_adds": profile.ew_adds,
        "elementwise_mem_reads": ew_energy.reads, "elementwise_mem_writes": ew_energy.writes,
        "elementwise_compute_energy_j": ew_energy.compute_j,
        "elementwise_memory_energy_j": None if ew_energy.memory_j != ew_energy.memory_j else ew_energy.memory_j,
        "optimizer": profile.optimizer, "update_source": profile.update_source,
        "uncounted_ops": profile.uncounted_ops, "layout_ops": profile.layout_ops, "notes": profile.notes,
        "mapper": hw.mapper, **hw.figures_of_merit(),
        "layers": layers,
    })
    out["hierarchy"] = hierarchy_summary(hardware, hw)
    return out


def _layer_rows(profile: StepProfile, hardware: HardwareModel, hw, dram_level, ew_energy, bits: int) -> list[dict]:
    """One row per layer of the step: its counts, accesses, energies per level and per pass."""
    ew_by_name = {le.name: le for le in ew_energy.layers}
    level_j: dict[str, dict[str, float]] = {}
    moved: dict[str, list[float]] = {}  # layer -> [all words, DRAM words]
    for ll in hw.layers:
        level_j.setdefault(ll.layer, {}).setdefault(ll.level, 0.0)
        level_j[ll.layer][ll.level] += ll.energy_j
        m = moved.setdefault(ll.layer, [0.0, 0.0])
        m[0] += ll.reads + ll.writes
        if dram_level is not None and ll.level == dram_level.name:
            m[1] += ll.reads + ll.writes
    passes: dict[str, dict[str, Any]] = {}
    for pr in hw.passes:
        passes.setdefault(pr.layer, {})[pr.pass_] = {
            "macs": pr.macs, "compute_energy_j": pr.compute_j, "latency_cycles": pr.latency_cycles,
            "utilisation": pr.utilisation, "mapper": pr.mapper,
            "levels": {name: {"reads": r, "writes": w, "energy_j": j} for name, (r, w, j) in pr.levels.items()}}
    layers = []
    for layer in profile.layers:
        acc = layer_accesses(layer)
        sized = hardware.sized_bytes(layer)
        all_words, dram_words = moved.get(layer.name, (0.0, 0.0))
        layers.append({
            "name": layer.name, "kind": layer.kind, "fwd_macs": layer.fwd_macs,
            "bwd_input_macs": layer.bwd_input_macs, "bwd_weight_macs": layer.bwd_weight_macs,
            "weight_elems": layer.weight_elems, "trainable_elems": layer.trainable_elems,
            "in_elems": layer.in_elems, "out_elems": layer.out_elems, "mem_reads": acc.reads,
            "mem_writes": acc.writes, "working_set_bytes": working_set_words(layer) * bits // 8,
            "sram_bytes": sized, "memory_energy_j": sum(level_j.get(layer.name, {}).values()),
            "dram_fraction": dram_words / all_words if all_words else 0.0,
            "elementwise_fwd_ops": layer.ew_fwd_mults + layer.ew_fwd_adds,
            "elementwise_bwd_ops": layer.ew_bwd_mults + layer.ew_bwd_adds,
            "elementwise_mem_reads": layer.ew_reads, "elementwise_mem_writes": layer.ew_writes,
            "elementwise_memory_energy_j": ew_by_name[layer.name].memory_pj * 1e-12 if layer.name in ew_by_name
            else 0.0,
            "level_energy_j": level_j.get(layer.name, {}),
            "passes": passes.get(layer.name, {}),
        })
    return layers


def hierarchy_summary(hardware: HardwareModel, hw) -> dict[str, Any]:
    """The step on the architecture: node, supply, per-level accesses and energies, leakage."""
    t = hardware.table
    leak_j = hw.leakage_w * hw.time_s if hardware.leakage_on and hw.time_s is not None else None
    return {
        "architecture": hardware.arch.name, "architecture_origin": hardware.arch.origin,
        "dataflow": hardware.arch.dataflow, "node_nm": t.node_nm, "vdd": t.own_vdd,
        "scaling": list(t.scaling), "compute_energy_j": hw.compute_j,
        "levels": [{"name": lv.name, "kind": lv.kind, "reads": lv.reads, "writes": lv.writes,
                    "energy_j": lv.energy_j, "read_pj": lv.read_pj, "write_pj": lv.write_pj,
                    "leakage_w": lv.leakage_w if hardware.leakage_on else None, "source": lv.source,
                    "extrapolated": lv.extrapolated,
                    "leakage_extrapolated": lv.leakage_extrapolated and hardware.leakage_on} for lv in hw.levels],
        "memory_energy_j": hw.memory_j, "dynamic_energy_j": hw.compute_j + hw.memory_j,
        "leakage": hardware.arch.leakage if not hardware.leakage_note else hardware.leakage_note,
        "leakage_w": hw.leakage_w if hardware.leakage_on else None,
        "step_time_s": hw.time_s, "leakage_energy_j": leak_j,
    }
