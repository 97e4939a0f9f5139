"""Silicon area of an architecture at a node: its PEs (a multiplier and an adder of the run's
precision, plus the register file each PE holds) and its on-chip memory levels (CACTI).

- MAC area at 45 nm: Horowitz, Computing's energy problem (and what we can do about it), ISSCC
  2014, the area column of his 45 nm table (um^2): int8 add 36, int16 add 67, int32 add 137, fp16
  add 1360, fp32 add 4184; int8 mult 282, int32 mult 3495, fp16 mult 1640, fp32 mult 7700. Not in
  his table, derived as for energy: int16 mult = int8 x (16/8)^2 = 1128, bf16 = fp16. Moved to
  another node by ideal area scaling, (node / 45)^2.
- Register files and registers (rf levels, one per PE): Accelergy's Aladdin plug-in, a 1-bit
  register 5.98 um^2 at 40 nm (taken as 45 nm, as aladdin45 does), x bits, (node / 45)^2.
- SRAM levels: CACTI 7's area_mm2 per bank at the node (cacti.area_rows; below 22 nm the 22 nm
  figure x (node / 22)^2), log-log between capacities, x banks x instances.
- DRAM is off chip: no area. A level's `area_mm2` or the architecture's `pe_area_um2`, where
  given, replaces the modelled figure.

Pure: no torch, no I/O beyond the package's CACTI data.
"""

from __future__ import annotations

from dataclasses import dataclass

from energybench.cost import cacti
from energybench.cost.arch import Architecture, Level

AREA_SOURCE = "Horowitz, ISSCC 2014, 45 nm area table"
MAC_UM2_45 = {  # (mult, add) um^2 at 45 nm
    "fp32": (7700.0, 4184.0), "fp16": (1640.0, 1360.0), "bf16": (1640.0, 1360.0),
    "int32": (3495.0, 137.0), "int16": (1128.0, 67.0), "int8": (282.0, 36.0),
}
REGISTER_UM2_PER_BIT_45 = 5.98  # Accelergy's Aladdin plug-in, 40 nm (as 45 nm)
CACTI_WIDTHS = (32, 64)


@dataclass(frozen=True)
class Area:
    total_mm2: float
    pe_mm2: float  # all PEs: MACs and their register files
    levels: dict[str, float]  # on-chip level -> mm2 (all banks and instances; rf levels: all PEs')
    extrapolated: bool  # some SRAM area came from outside CACTI's 4 KB-8 MB


def _logic(node: float) -> float:
    return (node / 45) ** 2


def mac_um2(precision: str, node: float) -> float:
    mult, add = MAC_UM2_45[precision]
    return (mult + add) * _logic(node)


def sram_mm2(capacity_bytes: float, word_bits: int, cell: str, node: int) -> tuple[float, bool]:
    width = next((w for w in CACTI_WIDTHS if word_bits <= w), CACTI_WIDTHS[-1])
    return cacti.interpolate_leakage(cacti.area_rows(node)[(cell, width)], capacity_bytes)


def architecture_area(arch: Architecture, precision: str, bits: int, node: int | None,
                      cell_of) -> Area | None:
    """The chip's area; None where it has no one size (an auto-sized buffer) or the node is unknown
    (an Accelergy ERT that does not record it). `cell_of(level)` gives a level's CACTI cell."""
    if node is None or any(lv.kind == "sram" and lv.capacity_bytes is None for lv in arch.levels):
        return None
    pes = arch.pes or 0
    levels, extrapolated = {}, False
    rf_um2 = 0.0
    for lv in arch.levels:
        if lv.kind == "dram":
            continue
        if lv.area_mm2 is not None:
            levels[lv.name] = lv.area_mm2
        elif lv.kind == "rf":
            one = lv.capacity_bytes * 8 * REGISTER_UM2_PER_BIT_45 * _logic(node)
            rf_um2 += one
            levels[lv.name] = one * max(pes, 1) * 1e-6
            continue
        else:
            mm2, extra = sram_mm2(lv.capacity_bytes / lv.banks, lv.word_bits or bits, cell_of(lv), node)
            levels[lv.name] = mm2 * lv.banks * lv.instances
            extrapolated = extrapolated or extra
    pe = arch.pe_area_um2 if arch.pe_area_um2 is not None else mac_um2(precision, node) + rf_um2
    pe_mm2 = pe * pes * 1e-6
    # rf levels are inside the PEs (a given pe_area_um2 includes its register file): counted once
    on_chip = sum(v for k, v in levels.items() if not _is_rf(arch, k))
    return Area(pe_mm2 + on_chip, pe_mm2, levels, extrapolated)


def _is_rf(arch: Architecture, name: str) -> bool:
    level: Level = next(lv for lv in arch.levels if lv.name == name)
    return level.kind == "rf" and level.area_mm2 is None
