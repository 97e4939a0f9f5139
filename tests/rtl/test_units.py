"""Reference arithmetic and stimulus of the characterised units (hand-checked values)."""

from __future__ import annotations

import numpy as np

from energybench.rtl import units
from energybench.rtl.units import signed, to_ints


def bits_of(values: list[list[int]], width: int) -> np.ndarray:
    """(cycles, lanes) ints -> bool (width, cycles, lanes)."""
    v = np.array(values, dtype=np.int64)
    return np.stack([(v >> k) & 1 for k in range(width)]).astype(bool)


def test_to_ints_and_signed():
    assert to_ints(bits_of([[0, 5, 255]], 8)).tolist() == [[0, 5, 255]]
    assert signed(np.array([0, 127, 128, 255], dtype=object), 8).tolist() == [0, 127, -128, -1]


def test_adder_reference_has_carry_out():
    unit = units.adder("ripple_carry", 8)
    out = unit.expected({"a": bits_of([[0xFF, 0x80, 3]], 8), "b": bits_of([[0x01, 0x80, 4]], 8)})
    assert out["sum"].tolist() == [[0x00, 0x00, 7]]
    assert out["cout"].tolist() == [[1, 1, 0]]


def test_multiplier_reference_is_twos_complement():
    unit = units.multiplier("array", 8)
    out = unit.expected({"a": bits_of([[0x80, 0xFF, 0x7F, 3]], 8), "b": bits_of([[0x80, 0x01, 0x80, 5]], 8)})
    # -128*-128 = 16384; -1*1 = -1 -> 0xFFFF; 127*-128 = -16256 -> 0xC080; 3*5 = 15.
    assert out["product"].tolist() == [[0x4000, 0xFFFF, 0xC080, 15]]


def test_mac_reference_accumulates_the_previous_cycles():
    unit = units.mac("array", "ripple_carry", 4)
    a = bits_of([[1], [0xF], [2], [0]], 4)  # 1, -1, 2, 0
    b = bits_of([[3], [0x2], [0x8], [5]], 4)  # 3, 2, -8, 5
    acc = unit.expected({"a": a, "b": b})["acc"][:, 0].tolist()
    width = 2 * 4 + units.MAC_GUARD_BITS
    assert acc == [0, 3, 1, (1 - 16) % (1 << width)]


def test_stimulus_shapes_and_lane_counts():
    rng = np.random.default_rng(0)
    adder = units.adder("kogge_stone", 5)
    stim = adder.stimulus(rng, 7)
    assert {k: v.shape for k, v in stim.items()} == {"a": (5, 2, 7), "b": (5, 2, 7)}
    assert adder.lanes_for(100) == 100  # one transition per lane
    mac = units.mac("booth", "kogge_stone", 8)
    per_lane = units.MAC_CYCLES - 1 - units.MAC_WARMUP
    assert mac.lanes_for(100) == -(-100 // per_lane)
    stim = mac.stimulus(rng, 3)
    assert stim["en"].all() and not stim["rst"].any()
    assert mac.parameters == {"WIDTH": 8, "ACC_WIDTH": 24, "SIGNED": 1, "MULTIPLIER": "booth", "ADDER": "kogge_stone"}


def test_cli_choices_match_the_units():
    from energybench.commands import rtl as command

    assert command.ADDERS == tuple(units.ADDERS) and command.MULTIPLIERS == tuple(units.MULTIPLIERS)
    assert units.DEFAULT_ADDER == "ripple_carry" and units.DEFAULT_MULTIPLIER == "array"
