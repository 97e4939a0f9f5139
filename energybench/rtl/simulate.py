"""Bit-parallel, levelised evaluation of a Netlist, with toggle counting.

Values are packed 64 lanes (independent operand streams) per uint64 word, so a net's
value in one cycle is an array of ``words`` uint64. Gates are evaluated a level at a time,
all instances of one cell type at that level in one numpy expression.

Toggles are counted between consecutive cycles of the same lane:
- zero-delay: the settled value changed (one toggle at most per net and transition);
- unit-delay (``glitch=True``): every gate switches one time step after its inputs, so
  unequal path depths make outputs glitch before they settle, as real gates do. It is an
  estimate (real delays are neither equal nor integral), kept next to the zero-delay
  count rather than replacing it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from energybench.rtl.boolexpr import BoolExpr
from energybench.rtl.netlist import CONST0, CONST1, Netlist

ALL_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)


def n_words(lanes: int) -> int:
    return (lanes + 63) // 64


def pack(bits: np.ndarray) -> np.ndarray:
    """Bool array (..., lanes) -> uint64 array (..., words); lane i is bit i % 64 of word i // 64."""
    lanes = bits.shape[-1]
    padded = np.zeros(bits.shape[:-1] + (n_words(lanes) * 64,), dtype=bool)
    padded[..., :lanes] = bits
    packed = np.packbits(padded, axis=-1, bitorder="little")
    return np.ascontiguousarray(packed).view("<u8").astype(np.uint64, copy=False)


def unpack(words: np.ndarray, lanes: int) -> np.ndarray:
    """Inverse of pack: uint64 array (..., words) -> bool array (..., lanes)."""
    as_bytes = np.ascontiguousarray(words.astype("<u8", copy=False)).view(np.uint8)
    return np.unpackbits(as_bytes, axis=-1, bitorder="little")[..., :lanes].astype(bool)


def lane_mask(lanes: int) -> np.ndarray:
    """Per word, the bits that hold real lanes (the last word may be partly padding)."""
    mask = np.full(n_words(lanes), ALL_ONES, dtype=np.uint64)
    if lanes % 64:
        mask[-1] = np.uint64((1 << (lanes % 64)) - 1)
    return mask


if hasattr(np, "bitwise_count"):  # numpy >= 2.0

    def popcount(x: np.ndarray) -> np.ndarray:
        return np.bitwise_count(x)

else:  # pragma: no cover - exercised only on numpy 1.x
    _BYTE_COUNTS = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)

    def popcount(x: np.ndarray) -> np.ndarray:
        counts = _BYTE_COUNTS[np.ascontiguousarray(x).view(np.uint8)]
        return counts.reshape(x.shape + (8,)).sum(axis=-1)


@dataclass
class _Group:
    """Instances of one cell type (and, for zero-delay, one level): gathered pins."""

    cell_outputs: dict[str, BoolExpr]  # output pin -> function
    in_nets: dict[str, np.ndarray]  # input pin -> net per instance
    out_nets: dict[str, np.ndarray]  # output pin -> net per instance
    levels: np.ndarray  # level per instance (descending in unit-delay groups)

    def evaluate(self, values: np.ndarray, count: int | None = None) -> dict[str, np.ndarray]:
        """Outputs of the first ``count`` instances (all if None) from ``values``."""
        sl = slice(None) if count is None else slice(0, count)
        env = {pin: values[nets[sl]] for pin, nets in self.in_nets.items()}
        return {pin: expr.evaluate(env) for pin, expr in self.cell_outputs.items()}


@dataclass
class SimResult:
    values: np.ndarray  # (n_nets, cycles, words): settled value of every net, every cycle
    toggles: np.ndarray  # (n_nets,) zero-delay toggles over the counted transitions
    glitch_toggles: np.ndarray | None  # (n_nets,) unit-delay toggles, if requested
    transitions: int  # counted lane transitions (lanes x counted cycle pairs)

    def port(self, nets: list[int], lanes: int) -> np.ndarray:
        """Bool array (bits, cycles, lanes) of a port's settled values."""
        return unpack(self.values[nets], lanes)


class Simulator:
    def __init__(self, netlist: Netlist) -> None:
        self.netlist = netlist
        comb = netlist.combinational
        by_level: dict[tuple[int, str], list] = {}
        by_cell: dict[str, list] = {}
        for inst in comb:
            by_level.setdefault((inst.level, inst.cell.name), []).append(inst)
            by_cell.setdefault(inst.cell.name, []).append(inst)
        self.level_groups = [self._group(by_level[key]) for key in sorted(by_level)]
        self.cell_groups = [
            self._group(sorted(insts, key=lambda i: -i.level)) for insts in by_cell.values()
        ]
        self.flops = netlist.flops
        self.clock_nets = sorted({f.pins[f.cell.flop.clock] for f in self.flops})
        self.source_nets = np.array(
            [CONST0, CONST1]
            + [n for nets in netlist.inputs.values() for n in nets]
            + [f.pins[p] for f in self.flops for p in f.cell.outputs],
            dtype=np.int64,
        )

    @staticmethod
    def _group(insts: list) -> _Group:
        cell = insts[0].cell
        return _Group(
            cell_outputs=cell.outputs,
            in_nets={p: np.array([i.pins[p] for i in insts], dtype=np.int64) for p in cell.inputs},
            out_nets={p: np.array([i.pins[p] for i in insts], dtype=np.int64) for p in cell.outputs},
            levels=np.array([i.level for i in insts], dtype=np.int64),
        )

    def run(
        self,
        inputs: dict[str, np.ndarray],
        lanes: int,
        cycles: int,
        warmup: int = 0,
        glitch: bool = False,
    ) -> SimResult:
        """Evaluate ``cycles`` clock cycles of ``lanes`` independent lanes.

        ``inputs`` maps every input port except the clock to packed values of shape
        (port bits, cycles, words). Flip-flops start at 0 and load on every cycle
        boundary. Toggles are counted over transitions t-1 -> t for t > ``warmup``.
        """
        netlist = self.netlist
        words = n_words(lanes)
        for port, packed in inputs.items():
            if packed.shape[1:] != (cycles, words):
                raise ValueError(
                    f"stimulus for {port!r} has shape {packed.shape}; expected (bits, {cycles}, {words})"
                )
        if warmup + 1 >= cycles:
            raise ValueError(f"{cycles} cycles leave no transition after {warmup} warm-up cycles")
        clocks = set(self.clock_nets)
        values = np.zeros((netlist.n_nets, cycles, words), dtype=np.uint64)
        for port, nets in netlist.inputs.items():
            if set(nets) <= clocks:
                continue  # the clock is implicit: flops load once per cycle
            if port not in inputs:
                raise ValueError(f"no stimulus for input port {port!r}")
            if inputs[port].shape[0] != len(nets):
                raise ValueError(f"port {port!r} has {len(nets)} bits, stimulus has {inputs[port].shape[0]}")
            values[nets] = inputs[port]
        values[CONST1] = ALL_ONES

        if not self.flops:
            # No state: every cycle is independent, so evaluate them all at once.
            flat = values.reshape(netlist.n_nets, cycles * words)
            self._settle(flat)
        else:
            self._run_sequential(values, cycles, words)

        mask = lane_mask(lanes)
        before, after = values[:, warmup:-1], values[:, warmup + 1 :]
        toggles = popcount((before ^ after) & mask).sum(axis=(1, 2), dtype=np.int64)
        glitch_toggles = self._unit_delay(before, after, mask) if glitch else None
        return SimResult(values, toggles, glitch_toggles, transitions=(cycles - 1 - warmup) * lanes)

    def _settle(self, flat: np.ndarray) -> None:
        """Zero-delay evaluation in level order, in place on (n_nets, lanes words)."""
        for group in self.level_groups:
            for pin, out in group.evaluate(flat).items():
                flat[group.out_nets[pin]] = out

    def _run_sequential(self, values: np.ndarray, cycles: int, words: int) -> None:
        state = np.zeros((len(self.flops), words), dtype=np.uint64)
        for t in range(cycles):
            cycle = np.ascontiguousarray(values[:, t])
            for index, flop in enumerate(self.flops):
                spec = flop.cell.flop
                env = {spec.state: state[index]}
                if spec.state_inv:
                    env[spec.state_inv] = ~state[index]
                for pin, expr in flop.cell.outputs.items():
                    cycle[flop.pins[pin]] = expr.evaluate(env)
            self._settle(cycle)
            values[:, t] = cycle
            for index, flop in enumerate(self.flops):
                spec = flop.cell.flop
                env = {pin: cycle[flop.pins[pin]] for pin in flop.cell.inputs}
                state[index] = spec.next_state.evaluate(env)

    def _unit_delay(self, before: np.ndarray, after: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Toggles when every gate has one unit of delay, from settled ``before`` to ``after``.

        All sources switch at time 0; at step k every gate whose level is >= k recomputes
        from the values of step k-1 (lower levels have settled already).
        """
        n_nets = before.shape[0]
        current = np.ascontiguousarray(before).reshape(n_nets, -1).copy()
        target = np.ascontiguousarray(after).reshape(n_nets, -1)
        flat_mask = np.tile(mask, before.shape[1])
        toggles = popcount((current[self.source_nets] ^ target[self.source_nets]) & flat_mask).sum(
            axis=1, dtype=np.int64
        )
        counts = np.zeros(n_nets, dtype=np.int64)
        np.add.at(counts, self.source_nets, toggles)
        current[self.source_nets] = target[self.source_nets]
        for step in range(1, self.netlist.depth + 1):
            updates = []
            for group in self.cell_groups:
                active = int(np.searchsorted(-group.levels, -step, side="right"))
                if active:
                    for pin, out in group.evaluate(current, active).items():
                        updates.append((group.out_nets[pin][:active], out))
            for nets, out in updates:
                changed = popcount((current[nets] ^ out) & flat_mask).sum(axis=1, dtype=np.int64)
                counts[nets] += changed
                current[nets] = out
        if not np.array_equal(current, target):
            raise RuntimeError("unit-delay evaluation did not settle to the zero-delay values")
        return counts
