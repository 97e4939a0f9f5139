"""The Liberty reader on the hand-made tests/rtl/tiny.lib: values, units, energy by hand."""

from __future__ import annotations

import pytest

from energybench.rtl.energy import net_energy
from energybench.rtl.liberty import LibertyError, load_liberty
from energybench.rtl.netlist import from_yosys_json
from energybench.rtl.simulate import Simulator

from .rtl_helpers import TINY_LIB, stimulus, yosys_json

FF = 1e-15


@pytest.fixture(scope="module")
def tiny():
    return load_liberty(TINY_LIB)


def test_cells_pins_and_units(tiny):
    lib = tiny.library
    assert lib.name == "tiny_test_lib" and lib.vdd_v == 1.0
    assert sorted(lib.cells) == ["BUF_T", "DFF_T", "INV_T", "NAND2_T", "NOR2_T", "XOR2_T"]
    assert tiny.skipped == {}
    nand = lib.cells["NAND2_T"]
    assert nand.inputs == ("A", "B") and nand.pin_cap_f == {"A": pytest.approx(1.5 * FF), "B": pytest.approx(1.5 * FF)}
    assert nand.area == 1.5
    # internal_power: related A has rise mean (1+3)/2 = 2 and fall 1 -> 1.5; related B 2 -> mean 1.75 fJ.
    assert nand.output_energy_j["Y"] == pytest.approx(1.75 * FF)
    assert lib.cells["NOR2_T"].output_energy_j["Y"] == pytest.approx(2.0 * FF)
    dff = lib.cells["DFF_T"]
    assert dff.flop.clock == "CK" and dff.flop.state == "IQ" and dff.flop.state_inv == "IQN"
    assert dff.flop.next_state.inputs == ("D",)
    assert dff.input_energy_j["CK"] == pytest.approx(2.0 * FF)  # (3 + 1) / 2
    assert lib.output_load_f == pytest.approx(1.0 * FF)  # the flip-flop's D pin


def test_energy_of_a_mapped_netlist_by_hand(tiny):
    """a, b -> NAND2_T -> n -> INV_T -> y, at nom_voltage 1 V, 0.5 fF wire per pin (fJ):
    a: 1/2 (1.5 + 0.5) = 1.0; n: NAND internal 1.75 + 1/2 (INV pin 1.0 + 0.5) = 2.5;
    y: INV internal (0.5 + 1.5) / 2 = 1.0 + 1/2 (output load 1.0 + 0.5) = 1.75."""
    netlist = from_yosys_json(
        yosys_json(
            {"a": ("input", [2]), "b": ("input", [3]), "y": ("output", [5])},
            [("NAND2_T", {"A": 2, "B": 3, "Y": 4}), ("INV_T", {"A": 4, "Y": 5})],
        ),
        "top",
        tiny.library,
    )
    energy = net_energy(netlist, tiny.library).per_toggle_j
    a, b, y = netlist.inputs["a"][0], netlist.inputs["b"][0], netlist.outputs["y"][0]
    n = netlist.instances[0].pins["Y"]
    assert energy[a] == pytest.approx(1.0 * FF)
    assert energy[b] == pytest.approx(1.0 * FF)
    assert energy[n] == pytest.approx(2.5 * FF)
    assert energy[y] == pytest.approx(1.75 * FF)
    # Liberty functions drive the evaluation too: y = a & b.
    result = Simulator(netlist).run({"a": stimulus("01", "11"), "b": stimulus("11", "01")}, lanes=2, cycles=2)
    assert result.port([y], 2)[0].tolist() == [[False, False], [True, True]]


def _lib(body: str, header: str = "capacitive_load_unit (1, ff) ; nom_voltage : 1.0 ;") -> str:
    return f"library (t) {{ {header} {body} }}"


def _pin(name: str, direction: str, rest: str = "capacitance : 1 ;") -> str:
    return f"pin ({name}) {{ direction : {direction} ; {rest} }}"


INV = "cell (I) { area : 1 ; " + _pin("A", "input", "capacitance : 2.0 ;")
INV += _pin("Y", "output", "function : \"A'\" ;") + "}"
NO_CAP = "cell (X) { " + _pin("A", "input", "") + _pin("Y", "output", 'function : "A" ;') + "}"


def test_units_scale_values(tmp_path):
    path = tmp_path / "pf.lib"
    path.write_text(_lib(INV, 'capacitive_load_unit (1, pf) ; voltage_unit : "1mV" ; nom_voltage : 900 ;'))
    lib = load_liberty(path).library
    assert lib.cells["I"].pin_cap_f["A"] == pytest.approx(2.0e-12)
    assert lib.vdd_v == pytest.approx(0.9)


def test_unsimulatable_cells_are_skipped_with_a_reason(tmp_path):
    q = _pin("Q", "output", 'function : "IQ" ;')
    latch = 'cell (L) { latch (IQ, IQN) { enable : "G" ; data_in : "D" ; } '
    latch += _pin("D", "input") + _pin("G", "input") + q + "}"
    clear = 'cell (R) { ff (IQ, IQN) { next_state : "D" ; clocked_on : "CK" ; clear : "RN\'" ; } '
    clear += _pin("D", "input") + _pin("CK", "input") + _pin("RN", "input") + q + "}"
    path = tmp_path / "mixed.lib"
    path.write_text(_lib(INV + latch + clear))
    loaded = load_liberty(path)
    assert sorted(loaded.library.cells) == ["I"]
    assert "latch" in loaded.skipped["L"] and "clear" in loaded.skipped["R"]


@pytest.mark.parametrize(
    "text, message",
    [
        (_lib(INV, "nom_voltage : 1.0 ;"), "capacitive_load_unit"),
        (_lib(INV, "capacitive_load_unit (1, ff) ;"), "nom_voltage"),
        (_lib(INV.replace("{ area", "{ area :: 1 ; oops")), "line 1"),
        ("library (t) { capacitive_load_unit (1, ff) ; ", "ends inside"),
        (_lib(NO_CAP), "no usable cells"),
    ],
)
def test_broken_files_raise_clear_errors(tmp_path, text, message):
    path = tmp_path / "bad.lib"
    path.write_text(text)
    with pytest.raises(LibertyError, match=message):
        load_liberty(path)
