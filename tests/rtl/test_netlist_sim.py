"""The levelised evaluator on hand-made netlists, with hand-derived toggles and energies.

No tools needed: the netlists are written in Yosys's JSON form directly.
"""

from __future__ import annotations

import numpy as np
import pytest

from energybench.rtl.energy import net_energy
from energybench.rtl.energy_model import generic_library
from energybench.rtl.netlist import NetlistError, from_yosys_json
from energybench.rtl.simulate import Simulator, lane_mask, pack, popcount, unpack

from .rtl_helpers import stimulus, yosys_json

LIB = generic_library(vdd_v=1.0)


# a, b -> NAND -> n -> NOT -> y  (an AND built from two gates)
AND2 = yosys_json(
    {"a": ("input", [2]), "b": ("input", [3]), "y": ("output", [5])},
    [("$_NAND_", {"A": 2, "B": 3, "Y": 4}), ("$_NOT_", {"A": 4, "Y": 5})],
)


def test_two_gate_netlist_counts_levels_and_values():
    netlist = from_yosys_json(AND2, "top", LIB)
    assert netlist.cell_counts() == {"$_NAND_": 1, "$_NOT_": 1}
    assert [inst.level for inst in netlist.instances] == [1, 2]
    assert netlist.depth == 2
    a, b = stimulus("01", "01", "11", "11"), stimulus("01", "10", "11", "01")
    result = Simulator(netlist).run({"a": a, "b": b}, lanes=4, cycles=2)
    # y = a & b for each lane and cycle.
    assert result.port(netlist.outputs["y"], 4)[0].tolist() == [[False, False, True, False], [True, False, True, True]]


def test_two_gate_netlist_toggles_and_energy_by_hand():
    """Lanes (a b) before -> after: 00->11, 01->10, 11->11, 10->11.

    a toggles in lanes 0, 1; b in lanes 0, 1, 3; n = !(a&b) goes 1->0 in lanes 0 and 3;
    y follows. Energy per toggle at 1 V (generic model, fF): a and b drive one NAND
    input (4/3) plus wire (0.5); n is the NAND's output (2) plus the NOT input (1) and
    wire (0.5); y is the NOT's output (1) plus the result register (1) and wire (0.5).
    """
    netlist = from_yosys_json(AND2, "top", LIB)
    nets = {name: netlist.inputs.get(name, netlist.outputs.get(name, [None]))[0] for name in "aby"}
    nets["n"] = netlist.instances[0].pins["Y"]
    a, b = stimulus("01", "01", "11", "11"), stimulus("01", "10", "11", "01")
    result = Simulator(netlist).run({"a": a, "b": b}, lanes=4, cycles=2)
    toggles = {name: int(result.toggles[net]) for name, net in nets.items()}
    assert toggles == {"a": 2, "b": 3, "n": 2, "y": 2}
    assert result.toggles.sum() == 9 and result.transitions == 4

    energy = net_energy(netlist, LIB).per_toggle_j
    fj = {name: energy[net] * 1e15 for name, net in nets.items()}
    assert fj["a"] == pytest.approx(0.5 * (4 / 3 + 0.5))
    assert fj["b"] == pytest.approx(0.5 * (4 / 3 + 0.5))
    assert fj["n"] == pytest.approx(0.5 * (2 + 1 + 0.5))
    assert fj["y"] == pytest.approx(0.5 * (1 + 1 + 0.5))
    total = float(result.toggles @ energy) * 1e15
    assert total == pytest.approx(2 * fj["a"] + 3 * fj["b"] + 2 * fj["n"] + 2 * fj["y"])


def test_unit_delay_sees_the_static_hazard_of_a_and_not_a():
    """y = a & !a is always 0 once settled, but when a rises the AND sees the new a one
    step before the inverter's new output: y pulses 0 -> 1 -> 0 (two glitch toggles)."""
    netlist = from_yosys_json(
        yosys_json(
            {"a": ("input", [2]), "y": ("output", [4])},
            [("$_NOT_", {"A": 2, "Y": 3}), ("$_AND_", {"A": 2, "B": 3, "Y": 4})],
        ),
        "top",
        LIB,
    )
    a_net, y_net = netlist.inputs["a"][0], netlist.outputs["y"][0]
    not_a = netlist.instances[0].pins["Y"]
    a = stimulus("01", "10", "00", "11", "01")  # rising twice, falling once
    result = Simulator(netlist).run({"a": a}, lanes=5, cycles=2, glitch=True)
    zero_delay = {n: int(result.toggles[n]) for n in (a_net, not_a, y_net)}
    unit_delay = {n: int(result.glitch_toggles[n]) for n in (a_net, not_a, y_net)}
    assert zero_delay == {a_net: 3, not_a: 3, y_net: 0}  # settled y never moves
    assert unit_delay == {a_net: 3, not_a: 3, y_net: 4}  # two pulses, two toggles each
    assert not result.port(netlist.outputs["y"], 5).any()


def test_unit_delay_equals_zero_delay_on_a_balanced_tree():
    """No reconvergent paths of unequal depth: no glitches."""
    netlist = from_yosys_json(AND2, "top", LIB)
    a, b = stimulus("01", "01", "11", "11"), stimulus("01", "10", "11", "01")
    result = Simulator(netlist).run({"a": a, "b": b}, lanes=4, cycles=2, glitch=True)
    assert result.glitch_toggles.tolist() == result.toggles.tolist()


def test_flip_flop_toggles_every_cycle():
    """q <= !q: q is 0,1,0,1,0 and both nets toggle on every counted transition."""
    netlist = from_yosys_json(
        yosys_json(
            {"clk": ("input", [2]), "q": ("output", [3])},
            [("$_DFF_P_", {"C": 2, "D": 4, "Q": 3}), ("$_NOT_", {"A": 3, "Y": 4})],
        ),
        "top",
        LIB,
    )
    assert len(netlist.flops) == 1 and netlist.depth == 1
    result = Simulator(netlist).run({}, lanes=3, cycles=5, warmup=1)
    q = result.port(netlist.outputs["q"], 3)[0]
    assert q[:, 0].tolist() == [False, True, False, True, False]
    assert result.transitions == 3 * 3
    q_net, not_q = netlist.outputs["q"][0], netlist.instances[1].pins["Y"]
    assert result.toggles[q_net] == 9 and result.toggles[not_q] == 9
    # The clock is not simulated; its energy per cycle is two edges into the C pin.
    energy = net_energy(netlist, LIB)
    c_pin, internal = 4.0e-15, 0.5 * 4.0e-15
    assert energy.clock_per_cycle_j == pytest.approx(2 * (0.5 * (c_pin + 0.5e-15) + internal))
    assert energy.per_toggle_j[netlist.inputs["clk"][0]] == 0.0


def test_registered_xor_accumulates_parity():
    """q(t+1) = q(t) ^ a(t), with hand-chosen a per lane."""
    netlist = from_yosys_json(
        yosys_json(
            {"clk": ("input", [2]), "a": ("input", [3]), "q": ("output", [4])},
            [("$_DFF_P_", {"C": 2, "D": 5, "Q": 4}), ("$_XOR_", {"A": 3, "B": 4, "Y": 5})],
        ),
        "top",
        LIB,
    )
    a = stimulus("1101", "0110")
    result = Simulator(netlist).run({"a": a}, lanes=2, cycles=4)
    q = result.port(netlist.outputs["q"], 2)[0]
    assert q[:, 0].astype(int).tolist() == [0, 1, 0, 0]
    assert q[:, 1].astype(int).tolist() == [0, 0, 1, 0]


def test_constant_connections():
    netlist = from_yosys_json(
        yosys_json(
            {"a": ("input", [2]), "y": ("output", [3]), "z": ("output", [4])},
            [("$_AND_", {"A": 2, "B": "1", "Y": 3}), ("$_OR_", {"A": 2, "B": "0", "Y": 4})],
        ),
        "top",
        LIB,
    )
    a = stimulus("01", "10")
    result = Simulator(netlist).run({"a": a}, lanes=2, cycles=2)
    for port in ("y", "z"):
        assert result.port(netlist.outputs[port], 2)[0].tolist() == [[False, True], [True, False]]


@pytest.mark.parametrize(
    "ports, cells, message",
    [
        ({"y": ("output", [3])}, [("$_NOT_", {"A": 3, "Y": 4}), ("$_NOT_", {"A": 4, "Y": 3})], "loop"),
        ({"y": ("output", [3])}, [("$_NOT_", {"A": 9, "Y": 3})], "never driven"),
        ({"a": ("input", [2]), "y": ("output", [3])}, [("$_FOO_", {"A": 2, "Y": 3})], "not in cell library"),
        (
            {"a": ("input", [2]), "y": ("output", [3])},
            [("$_NOT_", {"A": 2, "Y": 3}), ("$_BUF_", {"A": 2, "Y": 3})],
            "more than one driver",
        ),
        ({"a": ("input", [2]), "y": ("output", [3])}, [("$_AND_", {"A": 2, "Y": 3})], "unconnected"),
    ],
)
def test_broken_netlists_are_rejected(ports, cells, message):
    with pytest.raises(NetlistError, match=message):
        from_yosys_json(yosys_json(ports, cells), "top", LIB)


def test_pack_unpack_round_trip_and_padding():
    rng = np.random.default_rng(1)
    bits = rng.random((3, 2, 70)) < 0.5
    packed = pack(bits)
    assert packed.shape == (3, 2, 2) and packed.dtype == np.uint64
    assert (unpack(packed, 70) == bits).all()
    assert not unpack(packed, 128)[..., 70:].any()  # padding lanes are zero
    assert lane_mask(70).tolist() == [2**64 - 1, 2**6 - 1]
    assert lane_mask(64).tolist() == [2**64 - 1]
    assert popcount(np.array([0, 1, 2**64 - 1, 0b1011], dtype=np.uint64)).tolist() == [0, 1, 64, 3]


def test_padding_lanes_never_count():
    """70 lanes use two words; the 58 padding lanes must not add toggles."""
    netlist = from_yosys_json(AND2, "top", LIB)
    ones = np.ones((1, 2, 70), dtype=bool)
    ones[:, 0] = False  # every real lane: 0 -> 1 on both inputs
    result = Simulator(netlist).run({"a": pack(ones), "b": pack(ones)}, lanes=70, cycles=2)
    assert result.toggles.sum() == 4 * 70
