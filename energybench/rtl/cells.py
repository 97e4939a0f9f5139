"""What the flow needs to know about a standard cell: logic, pin loads, internal energy.

A CellLibrary comes either from the generic 45nm gate model (energy_model.py) or from a
user's Liberty file (liberty.py); the evaluator and the energy sum only see this form.
All quantities are SI (farads, joules, volts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from energybench.rtl.boolexpr import BoolExpr


@dataclass(frozen=True)
class Flop:
    """A positive-edge D flip-flop: ``state`` <= ``next_state`` on each rising ``clock``.

    Output functions of a flop cell read ``state`` (and ``state_inv``, its complement).
    """

    state: str
    state_inv: str | None
    next_state: BoolExpr
    clock: str


@dataclass(frozen=True)
class Cell:
    name: str
    inputs: tuple[str, ...]
    outputs: dict[str, BoolExpr]
    pin_cap_f: dict[str, float]
    # Energy dissipated inside the cell per toggle of an input pin (e.g. an internal
    # inverter of that input) and per toggle of an output pin (its own parasitic
    # capacitance and internal nodes); the load it drives is counted on the net.
    input_energy_j: dict[str, float] = field(default_factory=dict)
    output_energy_j: dict[str, float] = field(default_factory=dict)
    flop: Flop | None = None
    area: float | None = None


@dataclass
class CellLibrary:
    name: str
    vdd_v: float
    cells: dict[str, Cell]
    wire_cap_per_fanout_f: float
    # Load on every primary-output bit: whatever captures the result (a register's D pin).
    output_load_f: float
    description: str
    sources: list[str]
    # The constants worth recording next to a characterised table.
    record: dict[str, Any] = field(default_factory=dict)

    def cell(self, name: str) -> Cell:
        try:
            return self.cells[name]
        except KeyError:
            raise KeyError(
                f"cell type {name!r} is not in cell library {self.name!r} "
                f"(it has: {', '.join(sorted(self.cells))})"
            ) from None
