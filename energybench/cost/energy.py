"""Pure pricing helpers (no torch, no I/O): compute energy of counted ops, the CACTI capacity
an auto-sized buffer takes, and the element-wise account.

The MAC dataflow's memory energy of every architecture is priced by one engine
(level_energy.py). Element-wise work is priced apart, here: its multiplies and adds at the
table's per-op energies, its unfused activation accesses at the SRAM sized to its own working
set (DRAM beyond CACTI's largest), whatever the architecture.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from energybench.cost.memory_model import elementwise_accesses, elementwise_working_set_words
from energybench.cost.tables import EnergyTable, precision_bits

if TYPE_CHECKING:
    from energybench.cost.step import StepProfile

PJ = 1e-12


@dataclass(frozen=True)
class LayerEnergy:
    name: str
    reads: int
    writes: int
    working_set_bytes: int
    sram_bytes: int
    sram_fraction: float  # share of the layer's accesses served by its SRAM (the rest: DRAM)
    read_pj: float  # per SRAM word read
    write_pj: float  # per SRAM word write
    memory_pj: float
    dram_pj: float  # the part of memory_pj served from DRAM
    extrapolated: bool


def compute_energy_pj(macs: int, update_mults: int, update_adds: int, table: EnergyTable, precision: str) -> float:
    return (macs * table.mac_pj(precision) + update_mults * table.op_pj(precision, "mult")
            + update_adds * table.op_pj(precision, "add"))


def auto_sram_bytes(working_set_bytes: int, capacities: list[int]) -> int:
    """The smallest table capacity (powers of two) holding the working set, else the largest."""
    return next((c for c in capacities if c >= working_set_bytes), capacities[-1])


def _pricer(table: EnergyTable, precision: str, sram_cell: str | None, sram_bytes: int | None):
    """price(name, reads, writes, working-set words) -> LayerEnergy, for the SRAM holding that
    working set (DRAM beyond it)."""
    bits = precision_bits(precision)
    rows, _ = table.sram_rows_for(sram_cell, bits)
    capacities = [r[0] for r in rows]

    def price(name: str, reads: int, writes: int, ws_words: int) -> LayerEnergy:
        ws = ws_words * bits // 8
        cap = sram_bytes or auto_sram_bytes(ws, capacities)
        read_pj, write_pj, extra = table.sram_access_pj(cap, bits, sram_cell)
        fit = min(1.0, cap / ws) if ws else 1.0
        # DRAM only beyond the SRAM's capacity: a table without DRAM figures (an ERT) prices the rest
        dram = (1 - fit) * (reads + writes) * table.dram_access_pj(bits) if fit < 1 else 0.0
        pj = fit * (reads * read_pj + writes * write_pj) + dram
        return LayerEnergy(name, reads, writes, ws, cap, fit, read_pj, write_pj, pj, dram, extra)

    return price


@dataclass(frozen=True)
class ElementwiseEnergy:
    """Element-wise work of one step: compute, and its unfused accesses at per-layer SRAMs."""

    compute_j: float
    memory_j: float  # NaN when the table has no SRAM sized per capacity (an ERT without one): not modelled
    reads: int
    writes: int
    layers: tuple[LayerEnergy, ...]
    extrapolated: bool


def elementwise_energy(profile: "StepProfile", table: EnergyTable, precision: str = "fp32",
                       sram_cell: str | None = None, sram_bytes: int | None = None) -> ElementwiseEnergy:
    """Energy of the step's element-wise work (cost/README.md): its multiplies and adds at the
    table's per-op energies; its accesses at the SRAM sized to each layer's largest element-wise
    op (the layer-buffer model, whatever architecture prices the MAC dataflow)."""
    compute = compute_energy_pj(0, profile.ew_mults, profile.ew_adds, table, precision) * PJ
    reads = sum(elementwise_accesses(layer)[0] for layer in profile.layers)
    writes = sum(elementwise_accesses(layer)[1] for layer in profile.layers)
    if not table.sram_rows:
        return ElementwiseEnergy(compute, float("nan"), reads, writes, (), False)
    price = _pricer(table, precision, sram_cell, sram_bytes)
    layers = tuple(price(layer.name, *elementwise_accesses(layer), elementwise_working_set_words(layer))
                   for layer in profile.layers if sum(elementwise_accesses(layer)))
    return ElementwiseEnergy(compute, sum(le.memory_pj for le in layers) * PJ, reads, writes, layers,
                             any(le.extrapolated for le in layers))


def rounded(value, digits: int = 12):
    """`value` with every float rounded to `digits` significant figures, through dicts and
    lists: sums of table entries carry binary noise (0.9 + 3.7 = 4.6000000000000005) that
    printed figures should not show."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v, digits) for v in value]
    return value
