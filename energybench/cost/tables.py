"""Energy tables: per-op energies by precision, SRAM energy per access (CACTI), DRAM per bit.

A table is YAML (the format the RTL characterisation tool writes too):

    name: horowitz45
    description: "..."
    sources: ["..."]
    ops_pj: {fp32: {add: 0.9, mult: 3.7}, ...}
    # optional: dram_pj_per_bit, register_pj_per_bit, sram: {cell: itrs-lstp}, notes: [...],
    # node_nm: 45, vdd: 0.9 (the node and supply its figures are for; unset: horowitz45's 45 nm
    # 0.9 V; node_nm alone: that node's nominal supply)

Built-in tables live in data/ (`horowitz45`, the default, and `aladdin45`). A user file is
merged over the default, entry by entry, and keeps the default's sources for what it does
not override; `label(precision)` names the default wherever a precision's op energies come
from it, `op_source(precision)` says in words where they come from. A file's figures are at
its node_nm and vdd (unset: the default's 45 nm 0.9 V; node_nm alone: that node's nominal
supply); op energies it inherits are moved there from the default's 45 nm 0.9 V (Stillmaker
and Baas, HP devices), so every figure of the merged table is for one node and supply. The `rtl:` record the RTL
characterisation writes is kept and ignored; any other
unknown top-level key is an error (a typo would otherwise silently keep the default's value).

A file whose top-level key is `ERT` is an Accelergy energy reference table (read by ert.py):
its compute and memory components become the table's op energies, DRAM and SRAM components;
its node and supply are those of ERT.attributes, unknown (None) when it has none.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from energybench.config import PRECISIONS
from energybench.cost import cacti, nodes
from energybench.cost.ert import ErtData, is_ert, parse_ert
from energybench.errors import UserError, did_you_mean, unknown_name
from energybench.user_yaml import load_user_yaml

DEFAULT_TABLE = "horowitz45"
DEFAULT_CELL = "itrs-lstp"
TABLE_NODE = 45  # the node of the built-in tables and of a file that does not say
OPS = ("add", "mult")
KNOWN_KEYS = ("name", "description", "sources", "ops_pj", "dram_pj_per_bit", "register_pj_per_bit", "sram", "notes",
              "node_nm", "vdd")
RECORD_KEYS = ("rtl",)  # written by `energybench rtl characterize`: provenance, kept, not used by the cost model
CACTI_WIDTHS = (32, 64)  # word widths of the CACTI rows
_PRECISION = re.compile(r"^(fp|bf|int)(\d+)$")


def precision_bits(precision: str) -> int:
    """Word size of a precision name such as fp32, bf16, int8."""
    m = _PRECISION.match(str(precision))
    if not m:
        raise UserError(f"precision '{precision}' is not a name like fp32, fp16, bf16, int8, int16, int32")
    return int(m.group(2))


def _warn_near_miss(label: str, prec: str) -> None:
    """A precision of a table file that is none of the built-in ones is a precision of its own (rtl
    characterize writes int2, int4); one whose digits are a built-in one's, swapped (fp23 for fp32),
    is a typo that would leave the built-in one at the default table's energies: said."""
    m = _PRECISION.match(prec)
    near = [p for p in PRECISIONS if p != prec and p.startswith(m.group(1))
            and sorted(p[len(m.group(1)):]) == sorted(m.group(2))]
    if near:
        warnings.warn(f"energy table {label}: ops_pj.{prec} is not a built-in precision (did you mean '{near[0]}'?); "
                      f"it is priced as a precision of its own, and {near[0]} keeps the default table's energies",
                      stacklevel=4)


def _data(name: str):
    return resources.files("energybench.cost") / "data" / name


def builtin_tables() -> list[str]:
    return sorted(p.name[: -len(".yaml")] for p in _data("").iterdir() if p.name.endswith(".yaml"))


# ----- SRAM (CACTI) ---------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _cacti() -> dict[tuple[str, int], list[tuple[int, float, float]]]:
    """(cell, word_bits) -> rows (capacity_bytes, read_pj, write_pj) at 45 nm, sorted by capacity."""
    return cacti.energy_rows(TABLE_NODE)


def sram_cells() -> list[str]:
    return sorted({cell for cell, _ in _cacti()})


def _loglog(x: float, x0: float, y0: float, x1: float, y1: float) -> float:
    slope = math.log(y1 / y0) / math.log(x1 / x0)
    return y0 * (x / x0) ** slope


def interpolate_sram(rows, capacity_bytes: float, word_bits: int, width: int) -> tuple[float, float, bool]:
    """(read_pj, write_pj, extrapolated) from CACTI rows (capacity, read, write) of `width`-bit
    words: log-log between the nearest two capacities, or the slope of the nearest two rows
    outside the table; scaled by word_bits/width for packed narrower words, and linearly for
    words wider than the widest row. extrapolated=True when either goes outside CACTI's data."""
    if not capacity_bytes or capacity_bytes <= 0:
        raise UserError(f"SRAM capacity must be a positive number of bytes, got {capacity_bytes:g}")
    if word_bits <= 0:
        raise UserError(f"SRAM word width must be a positive number of bits, got {word_bits}")
    caps = [r[0] for r in rows]
    extrapolated = not caps[0] <= capacity_bytes <= caps[-1] or word_bits > width
    if len(rows) == 1:  # one size only (an ERT's fixed buffer): its energies, flagged at any other size
        return rows[0][1] * word_bits / width, rows[0][2] * word_bits / width, extrapolated
    i = 1
    while i < len(rows) - 1 and caps[i] < capacity_bytes:
        i += 1
    (c0, r0, w0), (c1, r1, w1) = rows[i - 1], rows[i]
    scale = word_bits / width
    return (_loglog(capacity_bytes, c0, r0, c1, r1) * scale, _loglog(capacity_bytes, c0, w0, c1, w1) * scale,
            extrapolated)


# ----- the table ------------------------------------------------------------------------------

@dataclass(frozen=True)
class EnergyTable:
    name: str
    description: str
    sources: tuple[str, ...]
    ops_pj: dict[str, dict[str, float]]
    dram_pj_per_bit: float | None  # None only for an ERT without a DRAM component
    sram_cell: str = DEFAULT_CELL
    register_pj_per_bit: float | None = None
    notes: tuple[str, ...] = ()
    origin: str = ""  # "builtin:<name>" or the file it was read from
    extra: dict[str, Any] = field(default_factory=dict)  # RECORD_KEYS entries, kept and ignored
    base: str = ""  # the built-in table a user file was merged over
    inherited: dict[str, tuple[str, ...]] = field(default_factory=dict)  # precision -> ops taken from `base`
    sram_rows: dict[tuple[str, int], list] = field(default_factory=dict, repr=False)  # CACTI, by (cell, width)
    node_nm: int | None = TABLE_NODE  # the node these figures are for; None: an ERT that does not say
    vdd: float | None = None  # the logic supply they are for; None: the node's nominal supply
    sram_leak_rows: dict[tuple[str, int], list] = field(default_factory=dict, repr=False)  # CACTI leakage (mW)
    sram_source: str = "CACTI 7 runs at 45 nm"
    scaling: tuple[str, ...] = ()  # how the figures were moved to node_nm/vdd (technology.py), in words
    components: dict[str, dict[str, float]] = field(default_factory=dict)  # ERT memory components, pJ per word
    ert_bits: int | None = None  # word width of an ERT's memory energies (its precision's)
    ert_arch: str | None = None  # the architecture an ERT was exported with (ERT.attributes), if it says
    inherited_at: tuple[int, float] | None = None  # base's (node, vdd) when inherited ops were moved from it
    scaled_from: tuple[int, float] | None = None  # (node, vdd) the figures were scaled from (technology.py)

    @property
    def precisions(self) -> list[str]:
        return list(self.ops_pj)

    def op_pj(self, precision: str, op: str) -> float:
        if precision not in self.ops_pj:
            raise UserError(f"energy table '{self.name}' has no ops_pj entry for precision '{precision}'"
                            f"{did_you_mean(precision, self.ops_pj)}; "
                            f"it has {', '.join(self.ops_pj)} (add ops_pj.{precision}: {{add: ..., mult: ...}} "
                            "to a table file given with --energy-table)")
        return self.ops_pj[precision][op]

    def label(self, precision: str) -> str:
        """The table's name, plus where the precision's op energies came from when the user
        file did not set them, e.g. 'rtl-generic-45nm (fp32 from horowitz45)', and the node it
        was moved to, e.g. 'horowitz45 at 7nm 0.7V'."""
        at = f" at {self.node_nm}nm {self.vdd:g}V" if self.scaling and self.vdd is not None else ""
        ops = self.inherited.get(precision)
        if not ops:
            return self.name + at
        which = precision if len(ops) == len(OPS) else f"{precision} {'/'.join(ops)}"
        return f"{self.name}{at} ({which} from {self.base})"

    def op_source(self, precision: str) -> str:
        """Where a precision's op energies come from, in words: the file that sets them or the
        table they are inherited from, and every move to another node or supply, e.g.
        'table.yaml', 'horowitz45 at 45 nm 0.9 V, moved to the file's 45 nm 1 V',
        'horowitz45, scaled from 45 nm 0.9 V to 7 nm 0.7 V'."""
        own = self.name if self.origin.startswith("builtin:") or not self.origin else Path(self.origin).name
        ops = self.inherited.get(precision, ())
        if not ops:
            out = own
        else:
            out = self.base if len(ops) == len(OPS) else f"{own}, {'/'.join(ops)} from {self.base}"
            if self.inherited_at:
                (n0, v0), n1, v1 = self.inherited_at, *(self.scaled_from or (self.node_nm, self.own_vdd))
                out += f" at {n0} nm {v0:g} V, moved to the file's {n1} nm {v1:g} V"
        if self.scaled_from:
            out += f", scaled from {self.scaled_from[0]} nm {self.scaled_from[1]:g} V to {self.node_nm} nm " \
                   f"{self.own_vdd:g} V"
        return out

    @property
    def own_vdd(self) -> float | None:
        """The logic supply the op energies are for (the node's nominal one when unstated; None
        when the node is unknown too: an ERT without ERT.attributes)."""
        if self.vdd is not None:
            return self.vdd
        return None if self.node_nm is None else nodes.nominal_vdd(self.node_nm)

    def where(self) -> str:
        """'7 nm, 0.7 V', or what is known of an ERT's node and supply."""
        if self.node_nm is None:
            return "node and supply unknown: the ERT does not record them"
        return f"{self.node_nm} nm, {self.own_vdd:g} V"

    @property
    def is_ert(self) -> bool:
        return self.ert_bits is not None

    def mac_pj(self, precision: str = "fp32") -> float:
        """One multiply plus one add of the precision."""
        return self.op_pj(precision, "mult") + self.op_pj(precision, "add")

    @property
    def sram_cells(self) -> list[str]:
        return sorted({c for c, _ in self.sram_rows})

    def sram_rows_for(self, cell: str | None, word_bits: int) -> tuple[list, int]:
        """CACTI rows of the cell at the narrowest row width holding the word (the widest for
        wider words, which interpolate_sram scales and flags as extrapolated)."""
        cell = cell or self.sram_cell
        width = next((w for w in CACTI_WIDTHS if word_bits <= w), CACTI_WIDTHS[-1])
        if not self.sram_rows and self.is_ert:
            raise UserError(f"energy table {self.origin} (an Accelergy ERT) has no SRAM sized per capacity: the "
                            "per-layer buffer needs components <level>_<bytes>B (e.g. buffer_65536B) with read and "
                            f"write actions; memory components in the file: {', '.join(self.components) or 'none'}. "
                            f"{self.arch_hint()}")
        if (cell, width) not in self.sram_rows:
            raise UserError(unknown_name("SRAM cell type", cell, self.sram_cells, "cell types"))
        return self.sram_rows[(cell, width)], width

    def arch_hint(self) -> str:
        """For an ERT that does not fit the architecture: which one its levels belong to."""
        if self.ert_arch:
            return (f"Its levels are those of architecture {self.ert_arch}, which it was exported with "
                    f"(ERT.attributes.architecture): pass --arch {self.ert_arch}")
        return ("An ERT's levels belong to an architecture: pass the --arch it was exported with (energybench's "
                "export names it in ERT.attributes.architecture and in its header)")

    def sram_access_pj(self, capacity_bytes: float, word_bits: int = 32, cell: str | None = None):
        """(read_pj, write_pj, extrapolated) per word access of an SRAM of that capacity. A word
        between two CACTI widths (33-63 bits) is priced linearly between the narrower row's full
        word and the wider row's: as a share of the wider row's access it would cost less than a
        32-bit word (a 64-bit array's access costs less per bit)."""
        rows, width = self.sram_rows_for(cell, word_bits)
        narrower = max((w for w in CACTI_WIDTHS if w < width), default=None)
        below = self.sram_rows.get((cell or self.sram_cell, narrower))
        if below and narrower < word_bits < width:
            r0, w0, x0 = interpolate_sram(below, capacity_bytes, narrower, narrower)
            r1, w1, x1 = interpolate_sram(rows, capacity_bytes, width, width)
            t = (word_bits - narrower) / (width - narrower)
            return r0 + t * (r1 - r0), w0 + t * (w1 - w0), x0 or x1
        return interpolate_sram(rows, capacity_bytes, word_bits, width)

    def sram_leakage_mw(self, capacity_bytes: float, word_bits: int = 32, cell: str | None = None):
        """(leakage_mw per bank, extrapolated) of an SRAM of that capacity (CACTI's standby leakage)."""
        cell = cell or self.sram_cell
        width = next((w for w in CACTI_WIDTHS if word_bits <= w), CACTI_WIDTHS[-1])
        rows = self.sram_leak_rows.get((cell, width))
        if not rows:
            raise UserError(f"energy table {self.origin} has no SRAM leakage figures (an Accelergy ERT carries "
                            "none): turn leakage off in the architecture file, or use a built-in table")
        return cacti.interpolate_leakage(rows, capacity_bytes)

    def dram_access_pj(self, word_bits: int) -> float:
        if self.dram_pj_per_bit is None:
            raise UserError(f"energy table {self.origin} (an Accelergy ERT) has no DRAM component: add one named DRAM "
                            f"with read and write actions (memory components in the file: "
                            f"{', '.join(self.components) or 'none'}), or give the architecture's DRAM a type")
        return self.dram_pj_per_bit * word_bits

    def describe(self) -> dict[str, Any]:
        """What a run records about the table it used (JSON-ready)."""
        out = {"name": self.name, "origin": self.origin, "description": self.description,
               "sources": list(self.sources), "ops_pj": self.ops_pj, "dram_pj_per_bit": self.dram_pj_per_bit,
               "register_pj_per_bit": self.register_pj_per_bit, "sram_cell": self.sram_cell,
               "notes": list(self.notes), "node_nm": self.node_nm, "vdd": self.own_vdd,
               "sram_source": self.sram_source}
        if self.scaling:
            out["scaling"] = list(self.scaling)
        if self.components:
            out["components_pj"] = self.components
        if self.inherited:
            out["ops_from_" + self.base] = {p: list(ops) for p, ops in self.inherited.items()}
        return out


def check_runnable(table: EnergyTable, runnable: tuple[str, ...]) -> None:
    """Refuse a user file whose op energies are all for precisions no run takes (e.g. fp64
    alone): merged over the default, it would change nothing a run prices, silently. (A file
    for int8 alone is fine at fp32: the report names each precision's source.)"""
    if not table.base:
        return
    own = [p for p in table.ops_pj if len(table.inherited.get(p, ())) < len(OPS)]
    if own and not set(own) & set(runnable):
        raise UserError(f"energy table {table.origin} gives op energies for {', '.join(own)} only, which no run "
                        f"takes (runs take {', '.join(runnable)}); every op would be priced with {table.base}'s "
                        f"figures: add ops_pj entries for the precision you run at")


def _read_yaml(path: Path, label: str) -> dict:
    data = load_user_yaml(path, f"energy table {label}")  # text only, safe types, aliases bounded
    if not isinstance(data, dict):
        raise UserError(f"energy table {label} must be a YAML mapping with keys {', '.join(KNOWN_KEYS)}")
    return data


def _positive(label: str, key: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or math.isinf(value):
        raise UserError(f"energy table {label}: {key} must be a positive number, got {value!r}")
    return float(value)


def _strings(label: str, key: str, value) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UserError(f"energy table {label}: {key} must be a list of strings")
    return tuple(value)


def _validate(data: dict, label: str) -> dict:
    """Checked, normalised entries of a table file (only the keys it sets)."""
    for key in data:
        if key not in KNOWN_KEYS + RECORD_KEYS:
            hint = did_you_mean(key, KNOWN_KEYS)
            raise UserError(f"energy table {label}: unknown key '{key}'{hint}; valid keys: "
                            f"{', '.join(KNOWN_KEYS + RECORD_KEYS)}")
    out: dict[str, Any] = {"extra": {k: v for k, v in data.items() if k in RECORD_KEYS}}
    for key in ("name", "description"):
        if key in data:
            if not isinstance(data[key], str) or not data[key].strip():
                raise UserError(f"energy table {label}: {key} must be a non-empty string")
            out[key] = data[key].strip()
    for key in ("sources", "notes"):
        if key in data:
            out[key] = _strings(label, key, data[key])
    if "ops_pj" in data:
        ops = data["ops_pj"]
        if not isinstance(ops, dict):
            raise UserError(f"energy table {label}: ops_pj must map precisions (fp32, int8, ...) to {{add, mult}}")
        out["ops_pj"] = {}
        for prec, entry in ops.items():
            if not _PRECISION.match(str(prec)):
                raise UserError(f"energy table {label}: ops_pj key '{prec}' is not a precision like "
                                "fp32, fp16, bf16, int8, int16, int32")
            if not isinstance(entry, dict):
                raise UserError(f"energy table {label}: ops_pj.{prec} must be a mapping {{add: pJ, mult: pJ}}")
            _warn_near_miss(label, str(prec))
            for op, value in entry.items():
                if op not in OPS:
                    raise UserError(f"energy table {label}: ops_pj.{prec}.{op} is not an op; valid ops: "
                                    f"{', '.join(OPS)}")
                out["ops_pj"].setdefault(str(prec), {})[op] = _positive(label, f"ops_pj.{prec}.{op}", value)
    for key in ("dram_pj_per_bit", "register_pj_per_bit", "vdd"):
        if key in data:
            out[key] = _positive(label, key, data[key])
    if "node_nm" in data:
        try:
            out["node_nm"] = nodes.check_node(data["node_nm"])
        except UserError as exc:
            raise UserError(f"energy table {label}: node_nm: {exc}") from None
    if "sram" in data:
        sram = data["sram"]
        if not isinstance(sram, dict) or set(sram) - {"cell"}:
            raise UserError(f"energy table {label}: sram must be a mapping with the key 'cell' "
                            f"(one of {', '.join(sram_cells())})")
        if "cell" in sram:
            if sram["cell"] not in sram_cells():
                raise UserError(f"energy table {label}: sram.cell '{sram['cell']}' is not one of "
                                f"{', '.join(sram_cells())}")
            out["sram_cell"] = sram["cell"]
    return out


def _build(entries: dict, origin: str) -> EnergyTable:
    label = origin
    for prec, ops in entries["ops_pj"].items():
        missing = [op for op in OPS if op not in ops]
        if missing:
            raise UserError(f"energy table {label}: ops_pj.{prec} lacks {', '.join(missing)} "
                            f"(every precision needs {', '.join(OPS)})")
    for key in ("name", "description", "sources", "ops_pj", "dram_pj_per_bit"):
        if key not in entries:
            raise UserError(f"energy table {label}: missing key '{key}'")
    return EnergyTable(
        name=entries["name"], description=entries["description"], sources=tuple(entries["sources"]),
        ops_pj=entries["ops_pj"], dram_pj_per_bit=entries["dram_pj_per_bit"],
        sram_cell=entries.get("sram_cell", DEFAULT_CELL), register_pj_per_bit=entries.get("register_pj_per_bit"),
        notes=tuple(entries.get("notes", ())), origin=origin, extra=entries.get("extra", {}),
        base=entries.get("base", ""), inherited=entries.get("inherited", {}), sram_rows=_cacti(),
        node_nm=entries.get("node_nm", TABLE_NODE), vdd=entries.get("vdd"),
        sram_leak_rows=cacti.leakage_rows(TABLE_NODE), inherited_at=entries.get("inherited_at"))


@lru_cache(maxsize=None)
def _builtin(name: str) -> dict:
    with resources.as_file(_data(f"{name}.yaml")) as path:
        return _validate(_read_yaml(path, f"builtin:{name}"), f"builtin:{name}")


def load_energy_table(path_or_name: str | Path | None = None) -> EnergyTable:
    """The default table (None), a built-in one by name, or a YAML file merged over the default."""
    if path_or_name is None or str(path_or_name) in builtin_tables():
        name = DEFAULT_TABLE if path_or_name is None else str(path_or_name)
        return _build(_builtin(name), f"builtin:{name}")
    path = Path(path_or_name)
    if not path.exists():
        raise UserError(f"energy table '{path_or_name}' is neither a file nor a built-in table"
                        f"{did_you_mean(path_or_name, builtin_tables())} "
                        f"({', '.join(builtin_tables())})")
    label = str(path)
    data = _read_yaml(path, label)
    if is_ert(data):
        return _from_ert(parse_ert(data, label), label)
    user = _validate(data, label)
    base = _builtin(DEFAULT_TABLE)
    merged = {**base, **{k: v for k, v in user.items() if k not in ("ops_pj", "sources", "notes")}}
    merged["ops_pj"] = {p: dict(ops) for p, ops in base["ops_pj"].items()}
    user_ops = user.get("ops_pj", {})
    for prec, ops in user_ops.items():
        merged["ops_pj"].setdefault(prec, {}).update(ops)
    merged["base"] = DEFAULT_TABLE
    merged["inherited"] = {p: tuple(op for op in OPS if op not in user_ops.get(p, {})) for p in merged["ops_pj"]}
    merged["inherited"] = {p: ops for p, ops in merged["inherited"].items() if ops}
    merged["name"] = user.get("name", path.stem)
    merged["description"] = user.get("description", f"{path.name} merged over {DEFAULT_TABLE}")
    inherited = [f"(entries not set in {path.name} come from {DEFAULT_TABLE}) {s}" for s in base["sources"]]
    merged["sources"] = tuple(user.get("sources", ())) + tuple(inherited)
    merged["notes"] = tuple(user.get("notes", ())) + tuple(f"({DEFAULT_TABLE}) {n}" for n in base["notes"])
    merged["notes"] += _move_inherited(merged, base, user, path.name, label)
    return _build(merged, label)


def _move_inherited(merged: dict, base: dict, user: dict, file: str, label: str) -> tuple[str, ...]:
    """Put the file's node and supply on the merged table (unset: the default's; node_nm alone:
    its nominal supply) and move the op energies it inherits there from the default's, so that
    every figure is for the node and supply the table states. The note saying so, if any."""
    base_node = base.get("node_nm", TABLE_NODE)
    base_vdd = base.get("vdd") or nodes.nominal_vdd(base_node)
    node = user.get("node_nm", base_node)
    vdd = user.get("vdd", base_vdd if node == base_node else None)
    merged["node_nm"], merged["vdd"] = node, vdd
    vdd = nodes.nominal_vdd(node) if vdd is None else vdd
    if (node, vdd) == (base_node, base_vdd) or not merged["inherited"]:
        return ()
    lo, hi = nodes.vdd_range(node)
    if not lo <= vdd <= hi:
        raise UserError(f"energy table {label}: its figures are at {node} nm {vdd:g} V, outside the {node} nm range "
                        f"{lo:g}-{hi:g} V of the Stillmaker and Baas fit that moves the op energies it takes from "
                        f"{DEFAULT_TABLE} ({base_node} nm {base_vdd:g} V) there: set node_nm to the node its figures "
                        f"are for, or give add and mult for every precision ({', '.join(merged['ops_pj'])})")
    k = nodes.energy_factor(base_node, base_vdd, node, vdd)
    for prec, ops in merged["inherited"].items():
        merged["ops_pj"][prec] = {op: e * k if op in ops else e for op, e in merged["ops_pj"][prec].items()}
    merged["inherited_at"] = (base_node, base_vdd)
    return (f"op energies not set in {file} are {DEFAULT_TABLE}'s moved from {base_node} nm {base_vdd:g} V to "
            f"the file's {node} nm {vdd:g} V: x {k:.4g} ({nodes.SOURCE}, {nodes.DEFAULT_FLAVOUR.upper()} devices)",)


# ----- an Accelergy ERT as the table ---------------------------------------------------------------

def _sized_rows(ert: ErtData, bits: int) -> dict[tuple[str, int], list]:
    """SRAM rows from components named <level>_<bytes>B, for every cell name, stored so that
    interpolate_sram's word_bits/width scaling gives back the ERT's per-word energies."""
    sized = sorted((int(m.group(1)), v) for k, v in ert.memory.items() if (m := re.search(r"_(\d+)B$", k)))
    if not sized:
        return {}
    rows = {}
    for width in CACTI_WIDTHS:
        back = width / bits
        for cell in sram_cells():
            rows[(cell, width)] = [(cap, v["read"] * back, v["write"] * back) for cap, v in sized]
    return rows


def _from_ert(ert: ErtData, label: str) -> EnergyTable:
    """A table whose op, SRAM and DRAM energies are the ERT's, used as given (not node-scaled)."""
    base = _builtin(DEFAULT_TABLE)
    notes = list(ert.notes)
    precisions = sorted(p for p in ert.compute if p)
    bits = precision_bits(precisions[0]) if len(precisions) == 1 else 32
    ops: dict[str, dict[str, float]] = {}
    for prec, got in ert.compute.items():
        targets = [prec] if prec else [p for p in base["ops_pj"] if p not in ert.compute]
        if not prec:
            notes.append(f"compute entry without a precision in its name prices {', '.join(targets)}")
        for p in targets:
            if {"mult", "add"} <= set(got):
                ops[p] = {"add": got["add"], "mult": got["mult"]}
            else:  # a MAC energy only: split like the default table's multiply and add at this precision
                ref = base["ops_pj"].get(p, base["ops_pj"]["fp32"])
                share = ref["mult"] / (ref["mult"] + ref["add"])
                ops[p] = {"add": got["mac"] * (1 - share), "mult": got["mac"] * share}
                notes.append(f"{p}: the ERT gives a MAC energy only; split into multiply and add like "
                             f"{DEFAULT_TABLE}'s {p} ({share:.3f} multiply)")
    dram = next((v for k, v in ert.memory.items() if k.lower() == "dram"), None)
    node, vdd, arch = _ert_attributes(ert, label)
    if node is None:
        at = "node and supply unknown: the file has no ERT.attributes node_nm and vdd"
    elif vdd is None:
        at = f"for {node} nm (its ERT.attributes) at the node's nominal {nodes.nominal_vdd(node):g} V"
    else:
        at = f"for {node} nm, {vdd:g} V (its ERT.attributes)"
    sources = (f"Accelergy energy reference table {label} (pJ per action, used as given; memory actions per "
               f"{bits}-bit word; {at})",)
    if ert.ignored:
        notes.append(f"ignored components (no compute or read/write actions): {', '.join(ert.ignored)}")
    return EnergyTable(
        name=Path(label).stem, description=f"Accelergy ERT {Path(label).name}", sources=sources, ops_pj=ops,
        dram_pj_per_bit=dram["read"] / bits if dram else None, sram_cell=DEFAULT_CELL,
        notes=tuple(notes), origin=label, sram_rows=_sized_rows(ert, bits), node_nm=node, vdd=vdd,
        sram_source=f"Accelergy ERT {label}", components=dict(ert.memory), ert_bits=bits, ert_arch=arch)


def _ert_attributes(ert: ErtData, label: str) -> tuple[int | None, float | None, str | None]:
    """(node_nm, vdd, architecture) of ERT.attributes, checked; None for what it does not give."""
    a = ert.attributes
    node = vdd = None
    if "node_nm" in a:
        try:
            node = nodes.check_node(a["node_nm"])
        except UserError as exc:
            raise UserError(f"Accelergy ERT {label}: ERT.attributes.node_nm: {exc}") from None
    if "vdd" in a:
        if node is None:
            raise UserError(f"Accelergy ERT {label}: ERT.attributes.vdd needs node_nm (the node the energies are for)")
        vdd = a["vdd"]
        if isinstance(vdd, bool) or not isinstance(vdd, (int, float)) or not 0 < vdd < math.inf:
            raise UserError(f"Accelergy ERT {label}: ERT.attributes.vdd must be a positive supply voltage, got {vdd!r}")
        vdd = float(vdd)
    arch = a.get("architecture")
    if arch is not None and (not isinstance(arch, str) or not arch.strip()):
        raise UserError(f"Accelergy ERT {label}: ERT.attributes.architecture must be an architecture name or file, "
                        f"got {arch!r}")
    return node, vdd, arch
