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

Bandwidth, words per cycle: the level's `bandwidth_words_per_cycle` where the architecture
file gives one (reads and writes together: one read-write port); else these defaults: an rf its `accesses_per_mac`
plus one (a
MAC's own accesses and a fill or drain each cycle: no stall at one MAC per cycle), an sram
rows + cols each way (one array edge of inputs in and one of results out each cycle), a DRAM
its type's peak bandwidth (DRAM_GBPS) at the array clock, reads and writes together.

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


def bandwidth_words(level: Level, arch: Architecture, value_bits: int) -> tuple[float, float, bool]:
    """(read, write) values per cycle of the level's ports, and whether reads and writes share
    one port (a bandwidth given in the architecture file counts them together)."""
    given = getattr(level, "bandwidth", None) or getattr(level, "bandwidth_words_per_cycle", None)
    if given:
        words = float(given) * (level.word_bits or value_bits) / value_bits  # in values of the run's precision
        return words, words, True
    if level.kind == "rf":
        return level.reads_per_mac + 1, level.writes_per_mac + 1, False
    if level.kind == "sram":
        edge = (arch.rows or 1) + (arch.cols or 1)
        return edge, edge, False
    gbps = DRAM_GBPS.get(level.dram_type or "table", DRAM_GBPS["table"])
    words = max(1, int(gbps * 1e9 / ((arch.clock_mhz or 1000) * 1e6) / (value_bits / 8)))
    return words, words, True


def _port(name: str, kind: str, bits: int, max_bits: int, allocation: list[str]) -> dict:
    return {"name": name, "type": kind, "bandwidth_min": bits, "bandwidth_max": max_bits, "allocation": allocation}


def _memory(size_bits: int, read_pj: float, write_pj: float, bits: int, read_words: float, write_words: float,
            shared: bool, operands: list[str], served: list[str]) -> tuple[dict, float, float]:
    """One ZigZag memory (a read and a write port, or one read-write port), and its words per
    read and per write access. ZigZag counts accesses of a port's maximum bandwidth, so that is
    what one access costs."""
    reads = [f"{op}, tl" for op in operands] + (["O, th"] if "O" in operands else [])
    writes = [f"{op}, fh" for op in operands] + (["O, fl"] if "O" in operands else [])
    r_bits, w_bits = max(bits, round(read_words * bits)), max(bits, round(write_words * bits))
    if shared:
        ports = [_port("rw_port_1", "read_write", bits, r_bits, reads + writes)]
        w_bits = r_bits
    else:
        ports = [_port("r_port_1", "read", bits, r_bits, reads), _port("w_port_1", "write", bits, w_bits, writes)]
    r_per, w_per = r_bits / bits, w_bits / bits
    return ({"size": int(size_bits), "r_cost": float(read_pj * r_per), "w_cost": float(write_pj * w_per),
             "area": 0.0, "latency": 1, "operands": operands, "ports": ports, "served_dimensions": served},
            r_per, w_per)


def accelerator(hardware: "HardwareModel", value_bits: int) -> tuple[dict, dict[str, str], dict[str, float]]:
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
        r_words, w_words, shared = bandwidth_words(level, arch, value_bits)
        if level.kind == "rf" and level.capacity_bytes * 8 // value_bits < 3:
            # a register: one value in and out for the MAC, one for the neighbour or the buffer
            parts = [(f"{level.name}_{op}", [op], level.capacity_bytes * 8 if op == stationary else value_bits,
                      2, 2, False) for op in (stationary, "I1", "O")]
        elif level.kind == "rf":
            parts = [(level.name, list(OPS), level.capacity_bytes * 8, r_words, w_words, shared)]
        elif level.kind == "sram":
            parts = [(level.name, list(OPS), level.capacity_bytes * level.instances * 8, r_words, w_words, shared)]
        else:
            parts = [(level.name, list(OPS), DRAM_BITS, r_words, w_words, shared)]
        served = [] if level.kind == "rf" else ["D1", "D2"]
        for name, ops, size, rw, ww, sh in parts:
            memories[name], words_per_access[name], words_per_access[name + ":w"] = _memory(
                size, read_pj, write_pj, value_bits, rw, ww, sh, ops, served)
            level_of[name] = level.name
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
