"""The Verilog units we characterise: parameters, random stimulus, reference arithmetic.

Operands are two's complement (SIGNED=1), as in quantised networks. Stimulus is drawn
as bits; the reference works on Python integers (object arrays), so any width is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ADDERS = {"ripple_carry": "ripple_carry_adder", "kogge_stone": "kogge_stone_adder"}
MULTIPLIERS = {"array": "array_multiplier", "booth": "booth_multiplier"}
DEFAULT_ADDER = "ripple_carry"
DEFAULT_MULTIPLIER = "array"
MAC_GUARD_BITS = 8
# A MAC lane runs this many cycles: the first transitions start from the reset state
# (accumulator 0) and are not counted.
MAC_CYCLES = 34
MAC_WARMUP = 1


def to_ints(bits: np.ndarray) -> np.ndarray:
    """Bool array (bits, ...) LSB first -> object array (...) of Python ints."""
    value = np.zeros(bits.shape[1:], dtype=object)
    for k in range(bits.shape[0]):
        value = value + (bits[k].astype(object) << k)
    return value


def signed(value: np.ndarray, width: int) -> np.ndarray:
    return np.where(value >= (1 << (width - 1)), value - (1 << width), value)


@dataclass(frozen=True)
class Unit:
    """One unit at one width: what to synthesise and how to drive and check it."""

    op: str  # "add", "mult" or "mac"
    arch: str  # adder / multiplier architecture ("array+ripple_carry" for a MAC)
    module: str
    width: int
    parameters: dict

    @property
    def cycles(self) -> int:
        return MAC_CYCLES if self.op == "mac" else 2

    @property
    def warmup(self) -> int:
        return MAC_WARMUP if self.op == "mac" else 0

    def lanes_for(self, ops: int) -> int:
        """Lanes needed so that at least ``ops`` operations are counted."""
        per_lane = self.cycles - 1 - self.warmup
        return -(-ops // per_lane)

    def stimulus(self, rng: np.random.Generator, lanes: int) -> dict[str, np.ndarray]:
        """Bool arrays (port bits, cycles, lanes) for every input port but the clock."""
        shape = (self.width, self.cycles, lanes)
        ports = {"a": rng.random(shape) < 0.5, "b": rng.random(shape) < 0.5}
        if self.op == "mac":
            # One accumulation every cycle: never reset, always enabled.
            ports["rst"] = np.zeros((1, self.cycles, lanes), dtype=bool)
            ports["en"] = np.ones((1, self.cycles, lanes), dtype=bool)
        return ports

    def expected(self, stimulus: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Object arrays (cycles, lanes) of every output port's correct value."""
        a, b = to_ints(stimulus["a"]), to_ints(stimulus["b"])
        w = self.width
        if self.op == "add":
            total = a + b
            return {"sum": total % (1 << w), "cout": total >> w}
        product = signed(a, w) * signed(b, w)
        if self.op == "mult":
            return {"product": product % (1 << (2 * w))}
        acc_width = 2 * w + MAC_GUARD_BITS
        acc = np.zeros_like(product)
        for t in range(1, product.shape[0]):  # acc(t) = acc(t-1) + a(t-1) * b(t-1)
            acc[t] = (acc[t - 1] + product[t - 1]) % (1 << acc_width)
        return {"acc": acc}


def adder(arch: str, width: int) -> Unit:
    return Unit("add", arch, ADDERS[arch], width, {"WIDTH": width})


def multiplier(arch: str, width: int) -> Unit:
    return Unit("mult", arch, MULTIPLIERS[arch], width, {"WIDTH": width, "SIGNED": 1})


def mac(multiplier_arch: str, adder_arch: str, width: int) -> Unit:
    return Unit(
        "mac",
        f"{multiplier_arch}+{adder_arch}",
        "mac_unit",
        width,
        {
            "WIDTH": width,
            "ACC_WIDTH": 2 * width + MAC_GUARD_BITS,
            "SIGNED": 1,
            "MULTIPLIER": multiplier_arch,
            "ADDER": adder_arch,
        },
    )
