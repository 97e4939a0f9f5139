"""A small Liberty (.lib) reader: cell functions, pin capacitances, average internal energy.

Enough of the format for energy per toggle, not for timing: per cell its input pins'
capacitance, its output functions, its flip-flop (``ff``) if any, and the mean of its
``internal_power`` tables. Units follow the library header: capacitances in
``capacitive_load_unit``; internal-power table values are energy per transition in
capacitive_load_unit x voltage_unit^2 (Library Compiler's derived unit; reported power
divides it by time_unit). Internal energy is averaged over all table entries (slews and
loads), over rise and fall, and over related pins and ``when`` conditions, which is what a
random-operand activity needs, not a timing-accurate value.

Cells the evaluator could not simulate (latches, state tables, flops with asynchronous
clear/preset or a negative-edge clock, bus pins) are left out, with the reason kept in
``skipped``; if synthesis still picks one, the netlist check names it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from energybench.rtl.boolexpr import BoolExprError, parse
from energybench.rtl.cells import Cell, CellLibrary, Flop
from energybench.rtl.energy_model import WIRE_CAP_PER_FANOUT_F


class LibertyError(ValueError):
    """A Liberty file this reader cannot use; the message names the place."""


@dataclass
class Group:
    kind: str
    args: list[str]
    attrs: dict[str, str] = field(default_factory=dict)  # simple attributes (last wins)
    complex: dict[str, list[list[str]]] = field(default_factory=dict)
    groups: list[Group] = field(default_factory=list)

    def children(self, kind: str) -> list[Group]:
        return [g for g in self.groups if g.kind == kind]


_TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<punct>[(){}:;,])|(?P<word>[^\s(){}:;,"]+))')


def _tokens(text: str) -> list[tuple[str, str, int]]:
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    text = text.replace("\\\r\n", " ").replace("\\\n", " ")
    out, pos, line = [], 0, 1
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            if text[pos:].strip() == "":
                break
            raise LibertyError(f"line {line}: cannot read {text[pos:pos + 20]!r}")
        line += text.count("\n", pos, match.end())
        pos = match.end()
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "str":
            value = value[1:-1].replace("\\\n", "")
        out.append((kind, value, line))
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, str, int]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def _next(self) -> tuple[str, str, int]:
        if self.pos >= len(self.tokens):
            line = self.tokens[-1][2] if self.tokens else 0
            raise LibertyError(f"line {line}: file ends inside a group or statement")
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def _peek_value(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def _expect(self, value: str) -> None:
        kind, got, line = self._next()
        if got != value or kind == "str":
            raise LibertyError(f"line {line}: expected {value!r}, found {got!r}")

    def statement(self, parent: Group) -> None:
        kind, name, line = self._next()
        if kind != "word":
            raise LibertyError(f"line {line}: expected an attribute or group name, found {name!r}")
        sep = self._next()
        if sep[1] == ":":
            words = []
            while self._peek_value() not in (";", "}", None):
                kind, value, line = self._next()
                if kind == "punct":
                    raise LibertyError(f"line {line}: unexpected {value!r} in the value of {name!r}")
                words.append(value)
            if self._peek_value() == ";":
                self.pos += 1
            parent.attrs[name] = " ".join(words)
        elif sep[1] == "(":
            args: list[str] = []
            while self._peek_value() != ")":
                token = self._next()
                if token[1] != ",":
                    args.append(token[1])
            self._expect(")")
            if self._peek_value() == "{":
                self.pos += 1
                group = Group(kind=name, args=args)
                while self._peek_value() != "}":
                    self.statement(group)
                self._expect("}")
                parent.groups.append(group)
            else:
                if self._peek_value() == ";":
                    self.pos += 1
                parent.complex.setdefault(name, []).append(args)
        else:
            raise LibertyError(f"line {line}: expected ':' or '(' after {name!r}, found {sep[1]!r}")


def parse_groups(text: str) -> Group:
    """The file's top-level ``library`` group."""
    tokens = _tokens(text)
    parser = _Parser(tokens)
    root = Group(kind="<file>", args=[])
    while parser.pos < len(tokens):
        parser.statement(root)
    libraries = root.children("library")
    if len(libraries) != 1:
        raise LibertyError(f"expected one library group, found {len(libraries)}")
    return libraries[0]


_UNIT_SCALE = {"f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1.0}


def _cap_unit(lib: Group) -> float:
    spec = lib.complex.get("capacitive_load_unit")
    if not spec:
        raise LibertyError("library has no capacitive_load_unit (needed to read pin capacitances)")
    if len(spec[0]) != 2:
        raise LibertyError(f"capacitive_load_unit {tuple(spec[0])} is not like (1, ff)")
    value, unit = spec[0][0], spec[0][1].lower()
    if not unit.endswith("f") or unit[:-1] not in _UNIT_SCALE:
        raise LibertyError(f"capacitive_load_unit ({value}, {unit}) is not a capacitance unit")
    return _float(value, "capacitive_load_unit") * _UNIT_SCALE[unit[:-1]]


def _voltage_unit(lib: Group) -> float:
    text = lib.attrs.get("voltage_unit", "1V")
    match = re.fullmatch(r"(\d+(?:\.\d*)?)\s*([munp]?)V", text.strip())
    if match is None:
        raise LibertyError(f"voltage_unit {text!r} is not like 1V or 1mV")
    return float(match.group(1)) * _UNIT_SCALE[match.group(2)]


def _float(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise LibertyError(f"{what} is {text!r}, not a number") from None


def _numbers(group: Group) -> list[float]:
    """All numbers of a table group's values(...) (or a scalar table)."""
    numbers = []
    for row in group.complex.get("values", []):
        for cell in row:
            numbers += [_float(x, f"a value of {group.kind}") for x in cell.replace(",", " ").split()]
    return numbers


def _mean_energy(pin: Group) -> float | None:
    """Mean of (rise + fall) / 2 over a pin's internal_power groups, in table units."""
    per_group = []
    for power in pin.children("internal_power"):
        rise = [_numbers(g) for g in power.children("rise_power")]
        fall = [_numbers(g) for g in power.children("fall_power")]
        both = [_numbers(g) for g in power.children("power")]
        rise_values = [v for t in rise + both for v in t]
        fall_values = [v for t in fall + both for v in t]
        if rise_values and fall_values:
            per_group.append((sum(rise_values) / len(rise_values) + sum(fall_values) / len(fall_values)) / 2)
        elif rise_values or fall_values:
            values = rise_values or fall_values
            per_group.append(sum(values) / len(values))
    return sum(per_group) / len(per_group) if per_group else None


def _pin_cap(pin: Group) -> float | None:
    if "capacitance" in pin.attrs:
        return _float(pin.attrs["capacitance"], "capacitance")
    rise, fall = pin.attrs.get("rise_capacitance"), pin.attrs.get("fall_capacitance")
    if rise is not None and fall is not None:
        return (_float(rise, "rise_capacitance") + _float(fall, "fall_capacitance")) / 2
    return None


def _cell(group: Group, cap_unit: float, energy_unit: float) -> Cell:
    if group.children("bus") or group.children("bundle"):
        raise LibertyError("has bus or bundle pins")
    if group.children("latch") or group.children("statetable") or len(group.children("ff")) > 1:
        raise LibertyError("is a latch or a state table")
    inputs, outputs, caps, in_energy, out_energy = [], {}, {}, {}, {}
    for pin in group.children("pin"):
        direction = pin.attrs.get("direction", "")
        mean = _mean_energy(pin)
        for pin_name in pin.args:
            if direction == "input":
                inputs.append(pin_name)
                cap = _pin_cap(pin)
                if cap is None:
                    raise LibertyError(f"input pin {pin_name} has no capacitance")
                caps[pin_name] = cap * cap_unit
                if mean is not None:
                    in_energy[pin_name] = mean * energy_unit
            elif direction == "output":
                if "function" not in pin.attrs:
                    raise LibertyError(f"output pin {pin_name} has no function")
                try:
                    outputs[pin_name] = parse(pin.attrs["function"])
                except BoolExprError as exc:
                    raise LibertyError(f"output pin {pin_name}: {exc}") from None
                out_energy[pin_name] = (mean or 0.0) * energy_unit
            elif direction == "internal":
                continue
            else:
                raise LibertyError(f"pin {pin_name} has direction {direction!r}")
    if not outputs:
        raise LibertyError("has no output pin")
    flop = None
    for ff in group.children("ff"):
        if "clear" in ff.attrs or "preset" in ff.attrs:
            raise LibertyError("is a flip-flop with asynchronous clear or preset")
        clock = ff.attrs.get("clocked_on", "").strip()
        if clock not in inputs:
            raise LibertyError(f"is a flip-flop clocked on {clock!r}, not on a rising input pin")
        flop = Flop(
            state=ff.args[0],
            state_inv=ff.args[1] if len(ff.args) > 1 else None,
            next_state=parse(ff.attrs.get("next_state", "")),
            clock=clock,
        )
    known = set(inputs) | ({flop.state, flop.state_inv} if flop else set())
    for pin_name, expr in outputs.items():
        unknown = set(expr.inputs) - known
        if unknown:
            raise LibertyError(f"output {pin_name} reads {sorted(unknown)}, which are not inputs")
    area = _float(group.attrs["area"], "area") if "area" in group.attrs else None
    return Cell(
        name=group.args[0] if group.args else "?",
        inputs=tuple(inputs),
        outputs=outputs,
        pin_cap_f=caps,
        input_energy_j=in_energy,
        output_energy_j=out_energy,
        flop=flop,
        area=area,
    )


@dataclass
class LibertyLibrary:
    library: CellLibrary
    skipped: dict[str, str]  # cell -> why it cannot be simulated


def load_liberty(path: Path) -> LibertyLibrary:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as exc:
        raise LibertyError(f"cannot read {path}: {exc.strerror}") from None
    lib = parse_groups(text)
    cap_unit = _cap_unit(lib)
    volt_unit = _voltage_unit(lib)
    energy_unit = cap_unit * volt_unit**2
    if "nom_voltage" not in lib.attrs:
        raise LibertyError("library has no nom_voltage (needed for 1/2 C V^2)")
    vdd = _float(lib.attrs["nom_voltage"], "nom_voltage") * volt_unit
    cells, skipped = {}, {}
    for group in lib.children("cell"):
        name = group.args[0] if group.args else "?"
        try:
            cells[name] = _cell(group, cap_unit, energy_unit)
        except (LibertyError, BoolExprError) as exc:
            skipped[name] = str(exc)
    if not cells:
        raise LibertyError("no usable cells (every cell was skipped)")
    lib_name = lib.args[0] if lib.args else Path(path).stem
    library = CellLibrary(
        name=lib_name,
        vdd_v=vdd,
        cells=cells,
        wire_cap_per_fanout_f=WIRE_CAP_PER_FANOUT_F,
        output_load_f=_typical_input_cap(cells),
        description=(
            f"cells mapped to Liberty library {lib_name} ({Path(path).name}); pin capacitances "
            f"and mean internal_power tables, E = 1/2 C V^2 per toggle at nom_voltage {vdd:g} V"
        ),
        sources=[f"Liberty library {lib_name} ({Path(path).name}), supplied by the user"],
        record={
            "model": "Liberty pin capacitance + mean internal_power per transition",
            "liberty_file": Path(path).name,
            "liberty_library": lib_name,
            "vdd_v": vdd,
            "wire_ff_per_fanout": WIRE_CAP_PER_FANOUT_F * 1e15,
            "cells_usable": len(cells),
            "cells_skipped": len(skipped),
        },
    )
    return LibertyLibrary(library=library, skipped=skipped)


def _typical_input_cap(cells: dict[str, Cell]) -> float:
    """Output-port load: the smallest flip-flop D pin, else the median input pin."""
    d_caps = [c.pin_cap_f[p] for c in cells.values() if c.flop for p in c.flop.next_state.inputs if p in c.pin_cap_f]
    if d_caps:
        return min(d_caps)
    caps = sorted(cap for c in cells.values() for cap in c.pin_cap_f.values())
    return caps[len(caps) // 2]
