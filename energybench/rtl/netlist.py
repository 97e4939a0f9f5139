"""A Yosys JSON gate netlist, checked against a cell library and levelised.

Nets are renumbered densely; net 0 is constant 0 and net 1 is constant 1. Every
combinational instance gets a level (1 + the deepest level among its input nets; primary
inputs, constants and flip-flop outputs are level 0), which is the order a zero-delay
evaluation must follow and the latest time a unit-delay evaluation can see it switch.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from energybench.rtl.cells import Cell, CellLibrary

CONST0 = 0
CONST1 = 1


class NetlistError(ValueError):
    """A netlist the evaluator cannot handle (unknown cell, loop, undriven net...)."""


@dataclass
class Instance:
    name: str
    cell: Cell
    pins: dict[str, int]  # pin -> net
    level: int = 0


@dataclass
class Netlist:
    top: str
    n_nets: int
    inputs: dict[str, list[int]]  # port -> nets, LSB first
    outputs: dict[str, list[int]]
    instances: list[Instance]
    depth: int = 0
    # Per net: (instance index, input pin) of every cell pin it drives.
    fanout: list[list[tuple[int, str]]] = field(default_factory=list)
    # Per net: index of the instance driving it (-1: a primary input or a constant).
    driver: list[int] = field(default_factory=list)

    @property
    def combinational(self) -> list[Instance]:
        return [inst for inst in self.instances if inst.cell.flop is None]

    @property
    def flops(self) -> list[Instance]:
        return [inst for inst in self.instances if inst.cell.flop is not None]

    def cell_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(inst.cell.name for inst in self.instances).items()))


def from_yosys_json(data: dict, top: str, library: CellLibrary) -> Netlist:
    """Build a levelised Netlist from ``write_json`` output for module ``top``."""
    try:
        module = data["modules"][top]
    except KeyError:
        raise NetlistError(f"module {top!r} is not in the netlist") from None

    ids: dict[int, int] = {}

    def net(bit) -> int:
        if bit == "0" or bit in ("x", "z"):  # undefined bits are tied low, as synthesis would
            return CONST0
        if bit == "1":
            return CONST1
        if bit not in ids:
            ids[bit] = len(ids) + 2
        return ids[bit]

    inputs: dict[str, list[int]] = {}
    outputs: dict[str, list[int]] = {}
    for name, port in module["ports"].items():
        nets = [net(b) for b in port["bits"]]
        if port["direction"] == "input":
            if any(n in (CONST0, CONST1) for n in nets):
                raise NetlistError(f"input port {name!r} has constant bits")
            inputs[name] = nets
        elif port["direction"] == "output":
            outputs[name] = nets
        else:
            raise NetlistError(f"port {name!r} is {port['direction']}; only input/output are supported")

    instances = []
    for name, spec in module["cells"].items():
        try:
            cell = library.cell(spec["type"])
        except KeyError as exc:
            raise NetlistError(str(exc.args[0])) from None
        pins = {}
        for pin, bits in spec["connections"].items():
            if len(bits) != 1:
                raise NetlistError(f"cell {name} pin {pin} is {len(bits)} bits wide; expected a gate netlist")
            pins[pin] = net(bits[0])
        missing = [p for p in (*cell.inputs, *cell.outputs) if p not in pins]
        if missing:
            raise NetlistError(f"cell {name} ({cell.name}) leaves pins {missing} unconnected")
        instances.append(Instance(name=name, cell=cell, pins=pins))

    netlist = Netlist(top=top, n_nets=len(ids) + 2, inputs=inputs, outputs=outputs, instances=instances)
    _connect(netlist)
    _levelise(netlist)
    return netlist


def _connect(netlist: Netlist) -> None:
    driver = [-1] * netlist.n_nets
    driven = [False] * netlist.n_nets
    driven[CONST0] = driven[CONST1] = True
    for nets in netlist.inputs.values():
        for n in nets:
            driven[n] = True
    fanout: list[list[tuple[int, str]]] = [[] for _ in range(netlist.n_nets)]
    for index, inst in enumerate(netlist.instances):
        for pin in inst.cell.outputs:
            n = inst.pins[pin]
            if driven[n]:
                raise NetlistError(f"net {n} has more than one driver (cell {inst.name} pin {pin})")
            driven[n] = True
            driver[n] = index
        for pin in inst.cell.inputs:
            fanout[inst.pins[pin]].append((index, pin))
    read = [n for nets in netlist.outputs.values() for n in nets]
    read += [n for n, pins in enumerate(fanout) if pins]
    undriven = sorted({n for n in read if not driven[n]})
    if undriven:
        raise NetlistError(f"{len(undriven)} nets are read but never driven (e.g. net {undriven[0]})")
    netlist.fanout = fanout
    netlist.driver = driver


def _levelise(netlist: Netlist) -> None:
    """Kahn's algorithm over combinational instances; flip-flop outputs are sources."""
    level = [0] * netlist.n_nets
    waiting = []  # per instance: inputs whose driver has not been levelised yet
    ready = []
    for index, inst in enumerate(netlist.instances):
        if inst.cell.flop is not None:
            waiting.append(0)
            continue
        pending = sum(
            1
            for pin in inst.cell.inputs
            if netlist.driver[inst.pins[pin]] >= 0
            and netlist.instances[netlist.driver[inst.pins[pin]]].cell.flop is None
        )
        waiting.append(pending)
        if pending == 0:
            ready.append(index)
    done = 0
    while ready:
        index = ready.pop()
        inst = netlist.instances[index]
        inst.level = 1 + max((level[inst.pins[p]] for p in inst.cell.inputs), default=0)
        done += 1
        for pin in inst.cell.outputs:
            n = inst.pins[pin]
            level[n] = inst.level
            for reader, _ in netlist.fanout[n]:
                if netlist.instances[reader].cell.flop is None:
                    waiting[reader] -= 1
                    if waiting[reader] == 0:
                        ready.append(reader)
    n_comb = sum(1 for inst in netlist.instances if inst.cell.flop is None)
    if done != n_comb:
        raise NetlistError(f"combinational loop: {n_comb - done} cells could not be levelised")
    netlist.depth = max((inst.level for inst in netlist.instances), default=0)
