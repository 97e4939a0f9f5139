"""An architecture file as ZigZag's hardware description, with energybench's own per-access energies.

Levels, innermost first, become ZigZag memories holding the three operands (I1 = input, I2 =
the stationary operand W, O = output/partial sums):

- an `rf` level is one memory per processing element (no served dimension). If it holds at
  least three words it is one memory shared by all operands (ZigZag keeps their tiles within
  its capacity together); a smaller one (the TPU's weight register) holds the stationary
  operand, and the inputs and partial sums the array passes from PE to PE get a one-word
  register each at the same energy (the accesses its `accesses_per_mac` already counts), each
  register with two words per cycle each way;
- an `sram` level is one memory of capacity x instances, serving the whole array
  (multicast and spatial reduction along both array dimensions);
- a `dram` level holds everything, effectively unbounded.

Energy: ZigZag counts accesses in units of a port's maximum bandwidth, so each memory's cost
per access is the level's per-word energy (HardwareModel.access_pj: CACTI, register, DRAM
type...) x words per access; a word is the run's value bits (`word_bits` narrower than that
packs as in level_energy.py). Word counts come back as accesses x words per access.

Bandwidth, words per cycle per port: the level's `bandwidth_words_per_cycle` where the
architecture file gives one; else these defaults: an rf its `accesses_per_mac` plus one (a
MAC's own accesses and a fill or drain each cycle: no stall at one MAC per cycle), an sram
rows + cols (one array edge of inputs in and one of results out each cycle), a DRAM its type's
peak bandwidth (DRAM_GBPS) at the array clock.

The array: rows x cols MAC units, D1 = cols, D2 = rows. Weight-stationary unrolls output
channels (K) across D1 and one reduction dimension (C, FY or FX: for backward-to-weights, whose
"kernel" is the output gradient, that is the output positions) down D2; output-stationary K
and output positions; input-stationary C and output positions. ZigZag chooses among them.

Pure: no ZigZag import, no I/O.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from energybench.cost.arch import Architecture, Level
from energybench.errors import UserError

if TYPE_CHECKING:
    from energybench.cost.level_energy import HardwareModel

# Peak bandwidth of one device or stack, GB/s (JEDEC speed grades): the default where an
# architecture file states no DRAM bandwidth.
DRAM_GBPS = {"DDR3": 12.8, "DDR4": 25.6, "LPDDR": 4.3, "LPDDR4": 12.8, "GDDR5": 32.0, "GDDR6": 64.0,
             "HBM2": 256.0, "HMC": 160.0, "table": 12.8}
DRAM_BITS = 10 ** 13  # "unbounded"
# The layer dimensions each dataflow may unroll across the array (D1 = cols, D2 = rows): those
# its stationary operand is indexed by, so that operand stays in the PEs.
SPATIAL = {"weight_stationary": (["K"], ["C", "FY", "FX"]), "output_stationary": (["K"], ["OY", "OX"]),
           "input_stationary": (["C"], ["OY", "OX"])}
OPS = ("I1", "I2", "O")


def bandwidth_words(level: Level, arch: Architecture, value_bits: int) -> tuple[int, int]:
    """(read, write) words per cycle of one port of the level."""
    given = getattr(level, "bandwidth_words_per_cycle", None)
    if given:
        if isinstance(given, dict):
            return max(1, int(given.get("reads", given.get("read", 1)))), max(1, int(given.get("writes",
                                                                                    given.get("write", 1))))
        return max(1, int(given)), max(1, int(given))
    if level.kind == "rf":
        return level.reads_per_mac + 1, level.writes_per_mac + 1
    if level.kind == "sram":
        edge = (arch.rows or 1) + (arch.cols or 1)
        return edge, edge
    gbps = DRAM_GBPS.get(level.dram_type or "table", DRAM_GBPS["table"])
    words = max(1, int(gbps * 1e9 / ((arch.clock_mhz or 1000) * 1e6) / (value_bits / 8)))
    return words, words


def _port(name: str, kind: str, bits: int, words: int, allocation: list[str]) -> dict:
    return {"name": name, "type": kind, "bandwidth_min": bits, "bandwidth_max": bits * words,
            "allocation": allocation}


def _memory(size_bits: int, read_pj: float, write_pj: float, bits: int, read_words: int, write_words: int,
            operands: list[str], served: list[str]) -> dict:
    """One ZigZag memory with a read and a write port (rw for DRAM, as ZigZag's examples)."""
    reads = [f"{op}, tl" for op in operands] + (["O, th"] if "O" in operands else [])
    writes = [f"{op}, fh" for op in operands] + (["O, fl"] if "O" in operands else [])
    if not served or size_bits < DRAM_BITS:
        ports = [_port("r_port_1", "read", bits, read_words, reads), _port("w_port_1", "write", bits, write_words,
                                                                           writes)]
    else:
        ports = [_port("rw_port_1", "read_write", bits, read_words, reads + writes)]
    # cost per access of the widest port transfer (bandwidth_max bits)
    return {"size": int(size_bits), "r_cost": float(read_pj * read_words), "w_cost": float(write_pj * write_words),
            "area": 0.0, "latency": 1, "operands": operands, "ports": ports, "served_dimensions": served}


def accelerator(hardware: "HardwareModel", value_bits: int) -> tuple[dict, dict[str, str], dict[str, int]]:
    """(ZigZag accelerator dict, ZigZag memory name -> architecture level name, ZigZag memory
    name -> words per access)."""
    arch = hardware.arch
    if arch.dataflow not in SPATIAL:
        raise UserError(f"the zigzag mapper maps the stationary dataflows ({', '.join(SPATIAL)}); architecture "
                        f"{arch.name} has the {arch.dataflow} dataflow: use --mapper analytic for it")
    memories: dict[str, dict] = {}
    level_of: dict[str, str] = {}
    words_per_access: dict[str, int] = {}
    stationary = "I2"
    for level in arch.levels:
        read_pj, write_pj, _src, _extra = hardware.access_pj(level.name)
        if read_pj is None:
            raise UserError(f"the zigzag mapper needs a fixed capacity at every level; level '{level.name}' of "
                            f"{arch.name} is sized per layer (capacity_bytes: auto)")
        pack = value_bits / level.word_bits if level.word_bits else 1.0  # accesses per value
        read_pj, write_pj = read_pj * pack, write_pj * pack
        r_words, w_words = bandwidth_words(level, arch, value_bits)
        if level.kind == "rf":
            words = level.capacity_bytes * 8 // value_bits
            groups = [(level.name, list(OPS))] if words >= 3 else [
                (f"{level.name}_{op}", [op]) for op in (stationary, "I1", "O")]
            for name, ops in groups:
                if len(ops) == 3:
                    memories[name] = _memory(level.capacity_bytes * 8, read_pj, write_pj, value_bits, r_words,
                                             w_words, ops, [])
                else:  # a register: one word in and out for the MAC, one for the neighbour or buffer
                    size = level.capacity_bytes * 8 if ops == [stationary] else value_bits
                    memories[name] = _memory(size, read_pj, write_pj, value_bits, 2, 2, ops, [])
            if len(groups) > 1:
                r_words = w_words = 2
        elif level.kind == "sram":
            name = level.name
            memories[name] = _memory(level.capacity_bytes * level.instances * 8, read_pj, write_pj, value_bits,
                                     r_words, w_words, list(OPS), ["D1", "D2"])
            groups = [(name, list(OPS))]
        else:
            name = level.name
            memories[name] = _memory(DRAM_BITS, read_pj, write_pj, value_bits, r_words, w_words, list(OPS),
                                     ["D1", "D2"])
            groups = [(name, list(OPS))]
        for name, _ops in groups:
            level_of[name] = level.name
            words_per_access[name] = r_words  # reads
            words_per_access[name + ":w"] = w_words  # writes
    mac_pj = hardware.table.mac_pj(hardware.precision)
    desc = {"name": f"energybench_{arch.name}", "memories": memories,
            "operational_array": {"unit_energy": float(mac_pj), "unit_area": 0.0, "dimensions": ["D1", "D2"],
                                  "sizes": [int(arch.cols), int(arch.rows)]}}
    return desc, level_of, words_per_access


def mapping(arch: Architecture) -> list[dict]:
    """ZigZag's mapping file: which layer dimensions the dataflow unrolls across each array
    dimension (ZigZag picks the factors and its best three candidates go to LOMA)."""
    d1, d2 = SPATIAL[arch.dataflow]
    links = {"O": "O", "W": "I2", "I": "I1"}
    entry = {"spatial_mapping_hint": {"D1": list(d1), "D2": list(d2)}, "memory_operand_links": links}
    return [{"name": "default", **entry}, {"name": "Conv", **entry}, {"name": "Gemm", **entry}]


def clock_hz(arch: Architecture) -> float | None:
    return arch.clock_mhz * 1e6 if arch.clock_mhz else None


def pes(arch: Architecture) -> int:
    return int(math.prod((arch.rows or 1, arch.cols or 1)))
