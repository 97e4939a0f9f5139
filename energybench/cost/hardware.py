"""A run's hardware model from its options: energy table, node, supply, architecture, precision."""

from __future__ import annotations

from pathlib import Path

from energybench.cost.arch import builtin_architectures, load_architecture
from energybench.cost.level_energy import HardwareModel
from energybench.cost.tables import load_energy_table
from energybench.cost.technology import at_node


def build_hardware(energy_table: str | Path | None = None, node=None, vdd=None, arch: str | Path | None = None,
                   precision: str = "fp32", sram_cell: str | None = None,
                   sram_bytes: int | None = None, mapper: str | None = None) -> HardwareModel:
    """Load and check everything a run prices its steps with; UserError on any bad option. An
    Accelergy ERT exported with a built-in architecture (ERT.attributes.architecture) is priced
    on it when no --arch is given: its components are that architecture's levels."""
    loaded = load_energy_table(energy_table)
    if arch is None and loaded.ert_arch in builtin_architectures():  # (a file it names may not be on this machine)
        arch = loaded.ert_arch
    architecture = load_architecture(arch)
    table = at_node(loaded, node, vdd, architecture.flavour)
    return HardwareModel(table, architecture, precision, sram_cell, sram_bytes, mapper)
