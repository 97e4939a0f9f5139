"""Generic 45nm gate energy model: Yosys's internal gates with switched capacitances.

Used when no Liberty file is given. Every toggle of a net costs E = 1/2 C V^2 with
C = (loads on the net) + (parasitic and internal capacitance of the gate driving it),
which is the dynamic energy of charging and then discharging C once per two toggles.

Capacitances are in units of C_UNIT_F, the input capacitance of a unit (minimum, X1)
inverter. Per-gate multiples come from logical effort: a gate sized to drive like the
unit inverter has input capacitance g * C_UNIT_F on each input (g: logical effort) and
output diffusion capacitance p * C_UNIT_F (p: parasitic delay, since p_inv = 1 means the
inverter's diffusion capacitance is about its gate capacitance).

Constants and sources:
- g, p per gate: N. Weste and D. Harris, "CMOS VLSI Design", 4th ed., 2011,
  Table 4.2 (logical effort: NAND2 4/3, NOR2 5/3, XOR2 4, mux data input 2) and
  Table 4.3 (parasitic delay: INV 1, NAND2/NOR2 2, XOR2 4, 2:1 mux 4).
- C_UNIT_F = 1.0 fF: gate capacitance is about 1 fF per um of transistor width and has
  stayed so across nodes (Weste and Harris, sec. 2.3); a minimum-drive 45nm
  inverter has about 1 um of total gate width (nMOS + pMOS).
- WIRE_CAP_PER_FANOUT_F = 0.5 fF: local wires are about 0.2 fF/um (Weste and Harris,
  ch. 6); we assume 2.5 um of local route per driven pin in a dense datapath.
  (This one is our assumption, not a published figure.)
- VDD_V = 1.0 V: the ITRS 45nm high-performance supply (the itrs-hp cells of the CACTI
  45nm SRAM table the cost model ships). Horowitz's ISSCC 2014 table is at 0.9 V; energy
  scales with V^2, so use --vdd 0.9 for a like-for-like comparison.
- Compound gates (AND = NAND + INV, ANDNOT = NOR with one input inverter, ...) add the
  capacitance of their internal node to the pin or output whose toggle switches it.
- The flip-flop is a rough transmission-gate master-slave estimate (about six unit
  gates of capacitance), used only for the MAC unit's accumulator.
Glitches are not in these constants; see simulate.py for the unit-delay estimate.
"""

from __future__ import annotations

from energybench.rtl.boolexpr import parse
from energybench.rtl.cells import Cell, CellLibrary, Flop

C_UNIT_F = 1.0e-15
WIRE_CAP_PER_FANOUT_F = 0.5e-15
VDD_V = 1.0
NODE_NM = 45  # the node of the capacitances above, written into the table as node_nm
# The register that captures a result: one unit input (its D pin).
OUTPUT_LOAD_F = 1.0 * C_UNIT_F

# The gate set ABC maps to (abc -g ...); NOT and BUF are always available to it.
ABC_GATES = ("AND", "NAND", "OR", "NOR", "XOR", "XNOR", "ANDNOT", "ORNOT", "MUX")

# name: (function of the Y output, {pin: input cap}, {pin: internal cap switched when the
# pin toggles}, output parasitic + internal cap switched when Y toggles); units of C_UNIT.
_GATES: dict[str, tuple[str, dict[str, float], dict[str, float], float]] = {
    "$_BUF_": ("A", {"A": 1.0}, {}, 1.0 + (1.0 + 1.0)),  # two inverters
    "$_NOT_": ("!A", {"A": 1.0}, {}, 1.0),
    "$_NAND_": ("!(A&B)", {"A": 4 / 3, "B": 4 / 3}, {}, 2.0),
    "$_NOR_": ("!(A|B)", {"A": 5 / 3, "B": 5 / 3}, {}, 2.0),
    "$_AND_": ("A&B", {"A": 4 / 3, "B": 4 / 3}, {}, 2.0 + 1.0 + 1.0),  # NAND2 + INV
    "$_OR_": ("A|B", {"A": 5 / 3, "B": 5 / 3}, {}, 2.0 + 1.0 + 1.0),  # NOR2 + INV
    "$_XOR_": ("A^B", {"A": 4.0, "B": 4.0}, {}, 4.0),
    "$_XNOR_": ("!(A^B)", {"A": 4.0, "B": 4.0}, {}, 4.0),
    # A & !B = NOR2(!A, B): A drives an inverter whose output loads the NOR.
    "$_ANDNOT_": ("A&!B", {"A": 1.0, "B": 5 / 3}, {"A": 1.0 + 5 / 3}, 2.0),
    # A | !B = NAND2(!A, B).
    "$_ORNOT_": ("A|!B", {"A": 1.0, "B": 4 / 3}, {"A": 1.0 + 4 / 3}, 2.0),
    # 2:1 mux (Y = S ? B : A) from two tristates; S also drives the inverter making !S.
    "$_MUX_": ("(A&!S)|(B&S)", {"A": 2.0, "B": 2.0, "S": 2.0 + 1.0}, {"S": 1.0 + 2.0}, 4.0),
    "$_NMUX_": ("!((A&!S)|(B&S))", {"A": 2.0, "B": 2.0, "S": 2.0 + 1.0}, {"S": 1.0 + 2.0}, 4.0),
}

# Positive-edge D flip-flop: D and C loads, clock-driven internal nodes per clock toggle,
# and master/slave nodes plus output diffusion per Q toggle.
_DFF = {"D": 2.0, "C": 4.0, "clock_internal": 4.0, "q_internal": 6.0}


def generic_library(vdd_v: float = VDD_V) -> CellLibrary:
    half_cv2 = 0.5 * vdd_v**2
    cells: dict[str, Cell] = {}
    for name, (function, pin_units, internal_units, output_units) in _GATES.items():
        cells[name] = Cell(
            name=name,
            inputs=tuple(pin_units),
            outputs={"Y": parse(function)},
            pin_cap_f={p: u * C_UNIT_F for p, u in pin_units.items()},
            input_energy_j={p: half_cv2 * u * C_UNIT_F for p, u in internal_units.items()},
            output_energy_j={"Y": half_cv2 * output_units * C_UNIT_F},
        )
    cells["$_DFF_P_"] = Cell(
        name="$_DFF_P_",
        inputs=("C", "D"),
        outputs={"Q": parse("IQ")},
        pin_cap_f={"C": _DFF["C"] * C_UNIT_F, "D": _DFF["D"] * C_UNIT_F},
        input_energy_j={"C": half_cv2 * _DFF["clock_internal"] * C_UNIT_F},
        output_energy_j={"Q": half_cv2 * _DFF["q_internal"] * C_UNIT_F},
        flop=Flop(state="IQ", state_inv=None, next_state=parse("D"), clock="C"),
    )
    return CellLibrary(
        name="generic-45nm",
        vdd_v=vdd_v,
        cells=cells,
        wire_cap_per_fanout_f=WIRE_CAP_PER_FANOUT_F,
        output_load_f=OUTPUT_LOAD_F,
        description=(
            "Yosys generic gates with a logical-effort 45nm capacitance model: "
            f"E = 1/2 C V^2 per net toggle, C_unit = {C_UNIT_F * 1e15:g} fF, "
            f"{WIRE_CAP_PER_FANOUT_F * 1e15:g} fF wire per fanout, Vdd = {vdd_v:g} V"
        ),
        sources=[
            "N. Weste, D. Harris, CMOS VLSI Design, 4th ed., 2011: logical effort (Table 4.2) "
            "and parasitic delay (Table 4.3) per gate; ~1 fF/um gate capacitance (sec. 2.3); "
            "~0.2 fF/um local wire capacitance (ch. 6)",
            f"Vdd = {vdd_v:g} V (ITRS 45nm high-performance supply is 1.0 V)",
        ],
        record={
            "model": "generic logical-effort gate capacitances, E = 1/2 C V^2 per toggle",
            "vdd_v": vdd_v,
            "c_unit_ff": C_UNIT_F * 1e15,
            "wire_ff_per_fanout": WIRE_CAP_PER_FANOUT_F * 1e15,
            "output_load_ff": OUTPUT_LOAD_F * 1e15,
            "gates": ["NOT", "BUF", *ABC_GATES, "DFF_P"],
        },
    )
