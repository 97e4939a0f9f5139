"""Architecture files: the memory hierarchy and dataflow a step is priced on (YAML, checked).

    name: eyeriss_like
    description: "..."
    sources: ["..."]
    dataflow: weight_stationary       # see DATAFLOWS
    array: {rows: 12, cols: 14}       # processing elements the GEMMs are folded onto
    clock_mhz: 200                    # for modelled time (leakage)
    flavour: hp                       # Stillmaker-Baas device flavour for node scaling: hp, lp
    leakage: modelled                 # off, modelled (modelled latency), measured (time per iteration)
    conv_reuse: row                   # none (default), row, window: the array reuses a convolution's
                                      # inputs along a kernel row (or its whole window), so the buffer
                                      # sends each input once per kernel row (or once), not im2col rows
    pe_area_um2: 12000                # optional: one PE's area (default: its MAC from the table's source)
    levels:                           # innermost first
      - {name: rf, kind: rf, capacity_bytes: 512, energy: {relative_to_mac: 1.0},
         accesses_per_mac: {reads: 3, writes: 1}}
      - {name: glb, kind: sram, capacity_bytes: 110592, energy: cacti, bandwidth_words_per_cycle: 12}
      - {name: dram, kind: dram, type: LPDDR4, bandwidth_words_per_cycle: 2}
    # a level may also give area_mm2 (all its instances) instead of CACTI's

Level energy, per access of one word (`word_bits`, default the run's precision):
  cacti                      CACTI 7 at the node, capacity per bank (`banks`), `cell`
  register                   the table's register_pj_per_bit x word bits (aladdin45's when the
                             table has none), node-scaled like the ops
  {relative_to_mac: x}       x times one MAC at the run's precision and node (Eyeriss's
                             normalised costs: RF 1x, global buffer 6x, DRAM 200x)
  {read_pj, write_pj}        given numbers; with node_nm (and vdd) scaled from that node
  {ert: FILE, component: C}  an Accelergy ERT entry (read; write, update or fill), as given
DRAM levels take `type` (dram.py) instead of `energy`.

Built-in files live in arch/ (`energybench energy-table --arch NAME`); the default,
`layer_buffer`, is the model energybench always had. Bad files raise UserError naming the
file, the level and the field, and the valid values.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from energybench.cost import cacti, dram, nodes
from energybench.cost.ert import is_ert, parse_ert, short_name
from energybench.errors import UserError, canonical, did_you_mean
from energybench.user_yaml import load_user_yaml

DEFAULT_ARCH = "layer_buffer"
# layer_buffer: one SRAM per layer sized to its working set (or fixed), DRAM for what does not
#   fit: today's model (memory_model.py + energy.py). weights_only: the partial-sharing paper's
#   accounting, synapse (weight) reads and writes only. The stationary dataflows fold each
#   pass's GEMM onto the array (mappers/analytic.py).
DATAFLOWS = ("layer_buffer", "weights_only", "weight_stationary", "output_stationary", "input_stationary")
STATIONARY = DATAFLOWS[2:]
KINDS = ("rf", "sram", "dram")
LEAKAGE = ("off", "modelled", "measured")
REQUIRED_KEYS = ("name", "description", "dataflow", "levels")
TOP_KEYS = ("name", "description", "sources", "dataflow", "array", "clock_mhz", "flavour", "leakage", "levels",
            "notes", "conv_reuse", "pe_area_um2")
LEVEL_KEYS = ("name", "kind", "capacity_bytes", "instances", "banks", "word_bits", "cell", "energy",
              "accesses_per_mac", "type", "bandwidth_words_per_cycle", "area_mm2")
ENERGY_KINDS = ("cacti", "register", "relative_to_mac", "read_pj/write_pj", "ert")
AUTO = "auto"
CONV_REUSE = ("none", "row", "window")


@dataclass(frozen=True)
class Level:
    name: str
    kind: str  # rf, sram, dram
    capacity_bytes: int | None = None  # per instance; None: sized per layer (auto)
    instances: int = 1
    banks: int = 1
    word_bits: int | None = None  # None: the run's precision
    cell: str | None = None  # None: the run's SRAM cell
    energy: dict[str, Any] = field(default_factory=lambda: {"kind": "cacti"})
    reads_per_mac: int = 0
    writes_per_mac: int = 0
    dram_type: str | None = None  # dram levels: a dram.py type, or "table"
    bandwidth: float | None = None  # words of the level's word per cycle, reads and writes together; None: no limit
    area_mm2: float | None = None  # given area of all instances; None: CACTI's (on-chip levels)


@dataclass(frozen=True)
class Architecture:
    name: str
    description: str
    dataflow: str
    levels: tuple[Level, ...]
    sources: tuple[str, ...] = ()
    rows: int | None = None
    cols: int | None = None
    clock_mhz: float | None = None
    flavour: str = nodes.DEFAULT_FLAVOUR
    leakage: str = "off"
    notes: tuple[str, ...] = ()
    origin: str = ""
    conv_reuse: str = "none"  # CONV_REUSE: how far the array reuses a convolution's inputs
    pe_area_um2: float | None = None  # given PE area; None: the MAC's area from the energy table's source

    @property
    def pes(self) -> int | None:
        return self.rows * self.cols if self.rows and self.cols else None

    def level(self, kind: str) -> Level | None:
        return next((lv for lv in self.levels if lv.kind == kind), None)

    def describe(self) -> dict[str, Any]:
        """What a run records about the architecture (JSON-ready)."""
        return {"name": self.name, "origin": self.origin, "description": self.description,
                "sources": list(self.sources), "dataflow": self.dataflow,
                "array": {"rows": self.rows, "cols": self.cols} if self.pes else None, "clock_mhz": self.clock_mhz,
                "flavour": self.flavour, "leakage": self.leakage, "notes": list(self.notes),
                "conv_reuse": self.conv_reuse, "pe_area_um2": self.pe_area_um2,
                "levels": [{k: v for k, v in vars(lv).items() if v not in (None, 0) or k == "name"}
                           for lv in self.levels]}


def _arch_dir():
    return resources.files("energybench.cost") / "arch"


def builtin_architectures() -> list[str]:
    return sorted(p.name[: -len(".yaml")] for p in _arch_dir().iterdir() if p.name.endswith(".yaml"))


def _fail(label: str, where: str, msg: str):
    raise UserError(f"architecture file {label}: {where}{msg}")


def _finite(value) -> bool:
    """A real number, not NaN or infinite (int(nan) would raise ValueError, int(inf) OverflowError)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


MAX_INT = 2**53  # the largest whole number a float holds exactly; the pricing works in floats


def _int(label, where, key, value, minimum=1) -> int:
    if not _finite(value) or value != int(value) or value < minimum:
        _fail(label, where, f"{key} must be a whole number >= {minimum}, got {value!r}")
    if value > MAX_INT:
        _fail(label, where, f"{key} must be at most 2**53 ({MAX_INT:,}), got {value!r}")
    return int(value)


def _number(label, where, key, value) -> float:
    if not _finite(value) or not value > 0:
        _fail(label, where, f"{key} must be a positive number, got {value!r}")
    return float(value)


def _unknown(label, where, keys, valid) -> None:
    for key in keys:
        if key not in valid:
            close = difflib.get_close_matches(str(key), valid, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            _fail(label, where, f"unknown field '{key}'{hint}; valid fields: {', '.join(valid)}")


def _energy(label: str, where: str, spec, base: Path | None) -> dict[str, Any]:
    if spec in ("cacti", "register"):
        return {"kind": spec}
    if isinstance(spec, dict) and set(spec) == {"relative_to_mac"}:
        x = _number(label, where, "energy.relative_to_mac", spec["relative_to_mac"])
        return {"kind": "relative_to_mac", "x": x}
    if isinstance(spec, dict) and {"read_pj", "write_pj"} <= set(spec) and set(spec) <= {"read_pj", "write_pj",
                                                                                        "node_nm", "vdd"}:
        out = {"kind": "given", "read_pj": _number(label, where, "energy.read_pj", spec["read_pj"]),
               "write_pj": _number(label, where, "energy.write_pj", spec["write_pj"])}
        if "node_nm" in spec:
            try:
                out["node_nm"] = nodes.check_node(spec["node_nm"])
                out["vdd"] = (nodes.check_vdd(out["node_nm"], spec["vdd"]) if "vdd" in spec
                              else nodes.nominal_vdd(out["node_nm"]))
            except UserError as exc:
                _fail(label, where, f"energy: {exc}")
        elif "vdd" in spec:
            _fail(label, where, "energy.vdd needs energy.node_nm (the node the given numbers are for)")
        return out
    if isinstance(spec, dict) and set(spec) == {"ert", "component"}:
        path = Path(str(spec["ert"])).expanduser()
        if base is not None and not path.is_absolute():
            path = base / path
        try:
            data = load_user_yaml(path, f"Accelergy ERT {path}")
        except UserError as exc:
            _fail(label, where, f"energy.ert: {exc}")
        if not is_ert(data):
            _fail(label, where, f"energy.ert: {path} has no top-level ERT key (not an Accelergy ERT)")
        ert = parse_ert(data, str(path))
        comp = short_name(spec["component"])
        if comp not in ert.memory:
            _fail(label, where, f"energy.ert: no component '{spec['component']}' with read and write actions in "
                                f"{path}; valid components: {', '.join(ert.full_names.values()) or 'none'}")
        return {"kind": "ert", "read_pj": ert.memory[comp]["read"], "write_pj": ert.memory[comp]["write"],
                "source": f"Accelergy ERT {path}: {ert.full_names[comp]}"}
    _fail(label, where, f"energy must be one of: cacti, register, {{relative_to_mac: x}}, {{read_pj: pJ, "
                        f"write_pj: pJ[, node_nm: nm, vdd: V]}}, {{ert: FILE, component: NAME}}; got {spec!r}")


def _bandwidth(label: str, where: str, spec: dict) -> float | None:
    """Words per cycle a level moves (reads and writes together): a positive number, or absent (no limit)."""
    if "bandwidth_words_per_cycle" not in spec:
        return None
    value = spec["bandwidth_words_per_cycle"]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or math.isinf(value):
        _fail(label, where, f"bandwidth_words_per_cycle must be a positive number of words per cycle (leave it out "
                            f"for no limit), got {value!r}")
    return float(value)


def _area(label: str, where: str, key: str, value) -> float | None:
    """A given area: a number >= 0, or absent (modelled)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 or math.isinf(value):
        _fail(label, where, f"{key} must be a number >= 0, got {value!r}")
    return float(value)


def _level(label: str, i: int, spec, dataflow: str, base: Path | None) -> Level:
    if not isinstance(spec, dict):
        _fail(label, f"levels[{i}]: ", f"each level must be a mapping with the fields {', '.join(LEVEL_KEYS)}")
    name = spec.get("name")
    if not isinstance(name, str) or not name.strip() or not name.replace("_", "").isalnum():
        _fail(label, f"levels[{i}]: ", f"missing field 'name' (letters, digits and _), got {name!r}")
    where = f"levels[{i}] ({name}): "
    _unknown(label, where, spec, LEVEL_KEYS)
    kind = spec.get("kind")
    if kind not in KINDS:
        _fail(label, where, f"missing or unknown field 'kind' {kind!r}; valid kinds: {', '.join(KINDS)}")
    if kind == "dram":
        extra = set(spec) - {"name", "kind", "type", "word_bits", "bandwidth_words_per_cycle"}
        if extra:
            _fail(label, where, f"a dram level takes name, kind, type (and word_bits, bandwidth_words_per_cycle), not "
                                f"{', '.join(sorted(extra))}")
        if "type" not in spec:
            _fail(label, where, f"missing field 'type'; valid types: {', '.join(dram.dram_types())}, {dram.TABLE}")
        try:
            kind_name = dram.TABLE if str(spec["type"]).lower() == dram.TABLE else dram.dram_type(spec["type"]).name
        except UserError as exc:
            _fail(label, where, str(exc))
        return Level(name, kind, dram_type=kind_name,
                     word_bits=_int(label, where, "word_bits", spec["word_bits"]) if "word_bits" in spec else None,
                     bandwidth=_bandwidth(label, where, spec))
    if "type" in spec:
        _fail(label, where, "'type' is a dram level's field; rf and sram levels take 'energy'")
    if "capacity_bytes" not in spec:
        _fail(label, where, "missing field 'capacity_bytes' (bytes per instance, or auto: sized per layer)")
    cap = spec["capacity_bytes"]
    if cap == AUTO:
        if dataflow not in ("layer_buffer", "weights_only") or kind != "sram":
            _fail(label, where, "capacity_bytes: auto (sized per layer) applies to the sram level of the layer_buffer "
                                "and weights_only dataflows; give a number of bytes")
        capacity = None
    else:
        capacity = _int(label, where, "capacity_bytes", cap)
    reads = writes = 0
    if kind == "rf":
        apm = spec.get("accesses_per_mac", {"reads": 3, "writes": 1})
        if not isinstance(apm, dict) or set(apm) != {"reads", "writes"}:
            _fail(label, where, f"accesses_per_mac must be {{reads: n, writes: n}}, got {apm!r}")
        reads = _int(label, where, "accesses_per_mac.reads", apm["reads"], 0)
        writes = _int(label, where, "accesses_per_mac.writes", apm["writes"], 0)
    elif "accesses_per_mac" in spec:
        _fail(label, where, "accesses_per_mac applies to rf levels only")
    cell = spec.get("cell")
    if cell is not None:
        cells = sorted({c for c, _ in cacti.energy_rows(45)})
        if cell not in cells:
            _fail(label, where, f"cell {cell!r} is not one of {', '.join(cells)}")
    return Level(name, kind, capacity,
                 instances=_int(label, where, "instances", spec.get("instances", 1)),
                 banks=_int(label, where, "banks", spec.get("banks", 1)),
                 word_bits=_int(label, where, "word_bits", spec["word_bits"]) if "word_bits" in spec else None,
                 cell=cell, energy=_energy(label, where, spec.get("energy", "cacti"), base),
                 reads_per_mac=reads, writes_per_mac=writes, bandwidth=_bandwidth(label, where, spec),
                 area_mm2=_area(label, where, "area_mm2", spec.get("area_mm2")))


def parse_architecture(data, label: str, base: Path | None = None) -> Architecture:
    """A checked Architecture from a parsed YAML mapping."""
    if not isinstance(data, dict):
        raise UserError(f"architecture file {label} must be a YAML mapping with the fields {', '.join(TOP_KEYS)}")
    _unknown(label, "", data, TOP_KEYS)
    missing = [key for key in REQUIRED_KEYS if key not in data]
    if missing:  # every one at once: a file written from memory often lacks several
        _fail(label, "", f"missing field{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} (every "
                         f"architecture file has {', '.join(REQUIRED_KEYS)}; the others are optional)")
    dataflow = data["dataflow"]
    if dataflow not in DATAFLOWS:
        _fail(label, "", f"unknown dataflow {dataflow!r}; valid dataflows: {', '.join(DATAFLOWS)}")
    if not isinstance(data["levels"], list) or not data["levels"]:
        _fail(label, "", "levels must be a non-empty list, innermost level first")
    levels = tuple(_level(label, i, spec, dataflow, base) for i, spec in enumerate(data["levels"]))
    names = [lv.name for lv in levels]
    if len(set(names)) != len(names):
        _fail(label, "", f"level names repeat: {', '.join(names)}")
    kinds = [lv.kind for lv in levels]
    expected = {"layer_buffer": [["sram", "dram"]], "weights_only": [["sram"]]}.get(
        dataflow, [["rf", "sram", "dram"], ["sram", "dram"]])
    if kinds not in expected:
        _fail(label, "", f"the {dataflow} dataflow takes the level kinds "
                         f"{' or '.join('[' + ', '.join(e) + ']' for e in expected)} (innermost first), got "
                         f"[{', '.join(kinds)}]")
    rows = cols = None
    if "array" in data:
        arr = data["array"]
        if not isinstance(arr, dict) or set(arr) != {"rows", "cols"}:
            _fail(label, "", f"array must be {{rows: n, cols: n}}, got {arr!r}")
        rows, cols = _int(label, "", "array.rows", arr["rows"]), _int(label, "", "array.cols", arr["cols"])
    elif dataflow in STATIONARY:
        _fail(label, "", f"missing field 'array' ({{rows: n, cols: n}}): the {dataflow} dataflow folds each GEMM "
                         "onto it")
    leakage = str(data.get("leakage", "off")).lower() if data.get("leakage", "off") is not False else "off"
    if leakage not in LEAKAGE:
        _fail(label, "", f"leakage {data.get('leakage')!r} is not one of {', '.join(LEAKAGE)}")
    clock = _number(label, "", "clock_mhz", data["clock_mhz"]) if "clock_mhz" in data else None
    if leakage == "modelled" and (clock is None or rows is None):
        _fail(label, "", "leakage: modelled needs array and clock_mhz (time = MACs / (rows x cols x clock))")
    if leakage != "off" and any(lv.kind != "dram" and lv.capacity_bytes is None for lv in levels):
        _fail(label, "", "leakage needs a fixed capacity_bytes at every on-chip level (auto-sized buffers have no "
                         "one capacity to leak)")
    flavour = data.get("flavour", nodes.DEFAULT_FLAVOUR)
    try:
        nodes.check_flavour(flavour)
    except UserError as exc:
        _fail(label, "", f"flavour: {exc}")
    for key in ("name", "description"):
        if not isinstance(data[key], str) or not data[key].strip():
            _fail(label, "", f"{key} must be a non-empty string")
    listed = {}
    for key in ("sources", "notes"):
        value = data.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            _fail(label, "", f"{key} must be a list of strings")
        listed[key] = tuple(value)
    reuse = data.get("conv_reuse", "none")
    if reuse not in CONV_REUSE:
        _fail(label, "", f"conv_reuse {reuse!r} is not one of {', '.join(CONV_REUSE)}")
    return Architecture(name=data["name"].strip(), description=data["description"].strip(), dataflow=dataflow,
                        levels=levels, sources=listed["sources"], rows=rows, cols=cols, clock_mhz=clock,
                        flavour=flavour, leakage=leakage, notes=listed["notes"], origin=label, conv_reuse=reuse,
                        pe_area_um2=_area(label, "", "pe_area_um2", data.get("pe_area_um2")))


@lru_cache(maxsize=None)
def _builtin(name: str) -> Architecture:
    with resources.as_file(_arch_dir() / f"{name}.yaml") as path:
        return parse_architecture(load_user_yaml(path, f"architecture file builtin:{name}"), f"builtin:{name}",
                                  path.parent)


def load_architecture(name_or_path: str | Path | None = None) -> Architecture:
    """The default architecture (None), a built-in one by name (in any case), or a YAML file."""
    if name_or_path is not None and not Path(name_or_path).expanduser().is_file():
        name_or_path = canonical(str(name_or_path), builtin_architectures())  # built-in names match in any case
    if name_or_path is None or str(name_or_path) in builtin_architectures():
        return _builtin(DEFAULT_ARCH if name_or_path is None else str(name_or_path))
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        raise UserError(f"architecture '{name_or_path}' is a directory; give an architecture YAML file or a built-in "
                        f"architecture ({', '.join(builtin_architectures())})")
    if not path.is_file():
        raise UserError(f"architecture '{name_or_path}' is neither a file nor a built-in architecture"
                        f"{did_you_mean(name_or_path, builtin_architectures())} "
                        f"({', '.join(builtin_architectures())})")
    data = load_user_yaml(path, f"architecture file {path}")  # text only, safe types, bounded, finite
    return parse_architecture(data, str(path), path.parent)
