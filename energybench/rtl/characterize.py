"""Per-operation energies from RTL: synthesise, simulate random operands, check, sum energy.

For each unit and width: Yosys maps the Verilog to gates; the levelised evaluator runs
``vectors`` random operand pairs bit-parallel, and every result is compared with Python
integer arithmetic (any mismatch stops the run); toggles x per-net energy / operations is
the energy per operation. The result is an energy table (see ``build_table``) that the
cost model loads like its shipped ones.
"""

from __future__ import annotations

import os
import tempfile
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from energybench.rtl import units
from energybench.rtl.cells import CellLibrary
from energybench.rtl.energy import net_energy
from energybench.rtl.energy_model import NODE_NM
from energybench.rtl.netlist import Netlist, from_yosys_json
from energybench.rtl.simulate import Simulator, pack
from energybench.rtl.synth import Yosys, synthesize
from energybench.rtl.units import Unit, to_ints

# Lanes simulated at once, bounding memory (nets x cycles x lanes / 8 bytes).
CHUNK_LANES = {"add": 1 << 15, "mult": 1 << 14, "mac": 1 << 10}
MIN_WIDTH, MAX_WIDTH = 2, 64


class CharacterizationError(RuntimeError):
    """The synthesised netlist computed a wrong result (or could not be evaluated)."""


@dataclass
class Options:
    widths: list[int]
    vectors: int = 10_000
    adder: str = units.DEFAULT_ADDER
    multiplier: str = units.DEFAULT_MULTIPLIER
    all_units: bool = False  # also the other architectures and the MAC, in the rtl record
    glitch: bool = False  # table from unit-delay toggles (glitches) instead of zero-delay
    seed: int = 0
    jobs: int = 1
    liberty_file: Path | None = None


def plan(options: Options) -> list[tuple[str, Unit]]:
    """(record key, unit) pairs: the table's add and mult first, then the extras."""
    jobs = []
    for w in options.widths:
        jobs.append((f"int{w}_add", units.adder(options.adder, w)))
        jobs.append((f"int{w}_mult", units.multiplier(options.multiplier, w)))
    if options.all_units:
        for w in options.widths:
            for arch in units.ADDERS:
                if arch != options.adder:
                    jobs.append((f"int{w}_add_{arch}", units.adder(arch, w)))
            for arch in units.MULTIPLIERS:
                if arch != options.multiplier:
                    jobs.append((f"int{w}_mult_{arch}", units.multiplier(arch, w)))
            jobs.append((f"int{w}_mac", units.mac(options.multiplier, options.adder, w)))
    return jobs


class Stopped(Exception):
    """A unit's simulation ended early because the command is being interrupted."""


def characterize_netlist(
    unit: Unit,
    netlist: Netlist,
    library: CellLibrary,
    vectors: int,
    rng: np.random.Generator,
    glitch: bool = False,
    stop: threading.Event | None = None,
) -> dict:
    """Simulate, check every result, and return the unit's record (energies in pJ). `stop`, once
    set (Ctrl-C or SIGTERM in the main thread), ends the simulation after the chunk it is in."""
    simulator = Simulator(netlist)
    energy = net_energy(netlist, library)
    toggles = np.zeros(netlist.n_nets, dtype=np.int64)
    glitch_toggles = np.zeros(netlist.n_nets, dtype=np.int64)
    transitions = checked = 0
    remaining = unit.lanes_for(vectors)
    while remaining:
        if stop is not None and stop.is_set():
            raise Stopped
        lanes = min(remaining, CHUNK_LANES[unit.op])
        remaining -= lanes
        stimulus = unit.stimulus(rng, lanes)
        result = simulator.run(
            {port: pack(bits) for port, bits in stimulus.items()}, lanes, unit.cycles, unit.warmup, glitch
        )
        for port, want in unit.expected(stimulus).items():
            got = to_ints(result.port(netlist.outputs[port], lanes))
            wrong = np.argwhere(np.asarray(got != want, dtype=bool))
            if len(wrong):
                t, lane = wrong[0]
                operands = {p: int(to_ints(stimulus[p][:, t, lane][:, None])[0]) for p in ("a", "b")}
                raise CharacterizationError(
                    f"{unit.module} WIDTH={unit.width}: output {port} is {got[t, lane]:#x}, "
                    f"expected {want[t, lane]:#x} (cycle {t}, a={operands['a']:#x}, "
                    f"b={operands['b']:#x}); {len(wrong)} of {want.size} results wrong"
                )
            checked += want.size
        toggles += result.toggles
        if glitch:
            glitch_toggles += result.glitch_toggles
        transitions += result.transitions

    def per_op_pj(counts: np.ndarray) -> float:
        joules = float(counts @ energy.per_toggle_j) / transitions + energy.clock_per_cycle_j
        return joules * 1e12

    input_nets = [n for nets in netlist.inputs.values() for n in nets]
    live_nets = sum(1 for n in range(2, netlist.n_nets) if netlist.fanout[n] or netlist.driver[n] >= 0)
    cells = netlist.cell_counts()
    flops = len(netlist.flops)
    record = {
        "cell": unit.module,
        "op": unit.op,
        "arch": unit.arch,
        "width": unit.width,
        "gates": len(netlist.instances) - flops,
        "flops": flops,
        "cells": cells,
        "nets": live_nets,
        "depth": netlist.depth,
        "vectors": transitions,
        "checked_results": checked,
        "toggles_per_op": _round(toggles.sum() / transitions),
        "input_toggles_per_op": _round(toggles[input_nets].sum() / transitions),
        "activity": _round(toggles.sum() / transitions / max(live_nets, 1)),
        "energy_pj": _round(per_op_pj(toggles)),
    }
    areas = [inst.cell.area for inst in netlist.instances]
    if all(a is not None for a in areas):
        record["area"] = _round(sum(areas))
    if flops:
        record["clock_energy_pj"] = _round(energy.clock_per_cycle_j * 1e12)
    if glitch:
        # Toggles the unit-delay evaluation adds to the zero-delay count.
        record["glitch_toggles_per_op"] = _round((glitch_toggles.sum() - toggles.sum()) / transitions)
        record["energy_pj_zero_delay"] = record["energy_pj"]
        record["energy_pj"] = _round(per_op_pj(glitch_toggles))
    return record


def characterize(
    options: Options,
    library: CellLibrary,
    yosys: Yosys,
    progress: bool = False,
) -> dict:
    """Run every planned unit and return the energy table as a dict."""
    jobs = plan(options)

    def run(key: str, unit: Unit) -> tuple[str, dict]:
        data = synthesize(yosys, unit.module, unit.parameters, options.liberty_file)
        netlist = from_yosys_json(data, unit.module, library)
        # One independent, reproducible stream per unit, whatever order jobs finish in.
        rng = np.random.default_rng([options.seed, zlib.crc32(key.encode())])
        return key, characterize_netlist(unit, netlist, library, options.vectors, rng, options.glitch, stop)

    records: dict[str, dict] = {}
    stop = threading.Event()  # a thread cannot be killed: the running units are told to stop instead
    from tqdm import tqdm

    with tqdm(total=len(jobs), desc="rtl characterize", unit="unit", disable=not progress) as bar:
        with ThreadPoolExecutor(max_workers=max(1, options.jobs)) as pool:
            # Biggest first, so the two slowest units do not end up running one after the other.
            by_cost = sorted(jobs, key=lambda job: -job[1].width ** (1 if job[1].op == "add" else 2))
            futures = [pool.submit(run, key, unit) for key, unit in by_cost]
            try:
                for future in as_completed(futures):
                    key, record = future.result()
                    records[key] = record
                    bar.set_postfix_str(key)
                    bar.update()
            except BaseException:
                stop.set()  # the pool's exit waits for the running units: they stop after their chunk
                for future in futures:  # do not start what is still queued
                    future.cancel()
                raise
    ordered = {key: records[key] for key, _ in jobs}
    return build_table(options, library, yosys, ordered)


def build_table(options: Options, library: CellLibrary, yosys: Yosys, records: dict[str, dict]) -> dict:
    ops = {
        f"int{w}": {"add": records[f"int{w}_add"]["energy_pj"], "mult": records[f"int{w}_mult"]["energy_pj"]}
        for w in options.widths
    }
    toggles = "unit-delay (glitch-including)" if options.glitch else "zero-delay"
    method = (
        f"Yosys synthesis to gates, levelised {toggles} toggle count over {options.vectors} random "
        f"two's-complement operand pairs (every result checked), energy = sum of toggles x "
        f"per-net switched energy ({library.record.get('model', library.name)})"
    )
    name = "rtl-generic-45nm" if options.liberty_file is None else f"rtl-{library.name}"
    # The node and supply the energies are for, read by the cost model (tables.py); a Liberty
    # file does not state its node, so the cost model's default (45 nm) applies to it.
    node = {"node_nm": NODE_NM} if options.liberty_file is None else {}
    return {
        "name": name,
        "description": (
            f"Per-operation energies derived from energybench's Verilog units "
            f"({units.ADDERS[options.adder]} for add, {units.MULTIPLIERS[options.multiplier]} "
            f"for mult) by `energybench rtl characterize`: {library.description}."
        ),
        "sources": [
            *library.sources,
            f"{yosys.version}; {method}",
        ],
        "ops_pj": ops,
        **node,
        "vdd": library.vdd_v,
        "rtl": {
            "method": method,
            "tool": yosys.version,
            "vectors": options.vectors,
            "seed": options.seed,
            "glitch": options.glitch,
            "signed": True,
            "adder": options.adder,
            "multiplier": options.multiplier,
            "energy_model": library.record,
            "units": records,
        },
    }


def write_table(table: dict, path: Path) -> None:
    """Write YAML atomically: a temporary file in the same folder, then rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            yaml.safe_dump(table, handle, sort_keys=False, default_flow_style=None, width=100)
        # mkstemp creates 0600; the table is a shareable result, so give it the mode a plain
        # open() would (0666 less the umask), or keep the mode of the file it replaces.
        os.chmod(tmp, path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def _round(value: float) -> float:
    return float(f"{float(value):.4g}")
