"""Toggles to joules: the energy one toggle of each net costs, and the clock's share.

Per net: 1/2 V^2 x (input capacitance of every pin it drives + wire per driven pin +
result-register load if it is a primary output), plus the internal energy those pins
dissipate when they toggle, plus the driving cell's own output energy (diffusion and
internal nodes; for a Liberty cell, its internal_power). Primary inputs count their
load but no driver: the operand registers are outside the unit, as in Horowitz's
per-operation figures. The clock never toggles in the evaluation; its energy per cycle
(two edges into every flip-flop's clock pin) is returned separately.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from energybench.rtl.cells import CellLibrary
from energybench.rtl.netlist import Netlist


@dataclass
class NetEnergy:
    per_toggle_j: np.ndarray  # (n_nets,) energy of one toggle of each net
    clock_per_cycle_j: float  # clock-tree energy per clock cycle (0 without flip-flops)


def net_energy(netlist: Netlist, library: CellLibrary) -> NetEnergy:
    half_v2 = 0.5 * library.vdd_v**2
    clock_nets = {f.pins[f.cell.flop.clock] for f in netlist.flops}
    joules = np.zeros(netlist.n_nets)
    clock_j = 0.0
    for net, pins in enumerate(netlist.fanout):
        for index, pin in pins:
            cell = netlist.instances[index].cell
            pin_j = half_v2 * (cell.pin_cap_f[pin] + library.wire_cap_per_fanout_f)
            pin_j += cell.input_energy_j.get(pin, 0.0)
            if net in clock_nets:
                clock_j += 2 * pin_j  # a rising and a falling edge every cycle
            else:
                joules[net] += pin_j
    for nets in netlist.outputs.values():
        for net in nets:
            joules[net] += half_v2 * (library.output_load_f + library.wire_cap_per_fanout_f)
    for inst in netlist.instances:
        for pin in inst.cell.outputs:
            joules[inst.pins[pin]] += inst.cell.output_energy_j.get(pin, 0.0)
    # Constants never toggle; zero them so a stray count could not turn into energy.
    joules[:2] = 0.0
    return NetEnergy(per_toggle_j=joules, clock_per_cycle_j=clock_j)
