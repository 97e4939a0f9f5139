"""Energy tables: per-op energies by precision, SRAM energy per access (CACTI), DRAM per bit.

A table is YAML (the format the RTL characterisation tool writes too):

    name: horowitz45
    description: "..."
    sources: ["..."]
    ops_pj: {fp32: {add: 0.9, mult: 3.7}, ...}
    # optional: dram_pj_per_bit, register_pj_per_bit, sram: {cell: itrs-lstp}, notes: [...]

Built-in tables live in data/ (`horowitz45`, the default, and `aladdin45`). A user file is
merged over the default, entry by entry, and keeps the default's sources for what it does
not override; `label(precision)` names the default wherever a precision's op energies come
from it. The `rtl:` record the RTL characterisation writes is kept and ignored; any other
unknown top-level key is an error (a typo would otherwise silently keep the default's value).
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from energybench.errors import UserError, did_you_mean, unknown_name
from energybench.user_yaml import load_user_yaml

DEFAULT_TABLE = "horowitz45"
DEFAULT_CELL = "itrs-lstp"
OPS = ("add", "mult")
KNOWN_KEYS = ("name", "description", "sources", "ops_pj", "dram_pj_per_bit", "register_pj_per_bit", "sram", "notes")
RECORD_KEYS = ("rtl",)  # written by `energybench rtl characterize`: provenance, kept, not used by the cost model
CACTI_WIDTHS = (32, 64)  # word widths of the CACTI rows
_PRECISION = re.compile(r"^(fp|bf|int)(\d+)$")


def precision_bits(precision: str) -> int:
    """Word size of a precision name such as fp32, bf16, int8."""
    m = _PRECISION.match(str(precision))
    if not m:
        raise UserError(f"precision '{precision}' is not a name like fp32, fp16, bf16, int8, int16")
    return int(m.group(2))


def _data(name: str):
    return resources.files("energybench.cost") / "data" / name


def builtin_tables() -> list[str]:
    return sorted(p.name[: -len(".yaml")] for p in _data("").iterdir() if p.name.endswith(".yaml"))


# ----- SRAM (CACTI) ---------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _cacti() -> dict[tuple[str, int], list[tuple[int, float, float]]]:
    """(cell, word_bits) -> rows (capacity_bytes, read_pj, write_pj) sorted by capacity."""
    rows: dict[tuple[str, int], list] = {}
    with _data("cacti45_sram.csv").open() as f:
        for r in csv.DictReader(f):
            if r["rc"] not in ("0", ""):
                continue
            rows.setdefault((r["cell"], int(r["word_bits"])), []).append(
                (int(r["size_bytes"]), float(r["read_energy_pJ"]), float(r["write_energy_pJ"])))
    return {k: sorted(v) for k, v in rows.items()}


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
    dram_pj_per_bit: float
    sram_cell: str = DEFAULT_CELL
    register_pj_per_bit: float | None = None
    notes: tuple[str, ...] = ()
    origin: str = ""  # "builtin:<name>" or the file it was read from
    extra: dict[str, Any] = field(default_factory=dict)  # RECORD_KEYS entries, kept and ignored
    base: str = ""  # the built-in table a user file was merged over
    inherited: dict[str, tuple[str, ...]] = field(default_factory=dict)  # precision -> ops taken from `base`
    sram_rows: dict[tuple[str, int], list] = field(default_factory=dict, repr=False)  # CACTI, by (cell, width)

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
        file did not set them, e.g. 'rtl-generic-45nm (fp32 from horowitz45)'."""
        ops = self.inherited.get(precision)
        if not ops:
            return self.name
        which = precision if len(ops) == len(OPS) else f"{precision} {'/'.join(ops)}"
        return f"{self.name} ({which} from {self.base})"

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
        if (cell, width) not in self.sram_rows:
            raise UserError(unknown_name("SRAM cell type", cell, self.sram_cells, "cell types"))
        return self.sram_rows[(cell, width)], width

    def sram_access_pj(self, capacity_bytes: float, word_bits: int = 32, cell: str | None = None):
        """(read_pj, write_pj, extrapolated) per word access of an SRAM of that capacity."""
        rows, width = self.sram_rows_for(cell, word_bits)
        return interpolate_sram(rows, capacity_bytes, word_bits, width)

    def dram_access_pj(self, word_bits: int) -> float:
        return self.dram_pj_per_bit * word_bits

    def describe(self) -> dict[str, Any]:
        """What a run records about the table it used (JSON-ready)."""
        out = {"name": self.name, "origin": self.origin, "description": self.description,
               "sources": list(self.sources), "ops_pj": self.ops_pj, "dram_pj_per_bit": self.dram_pj_per_bit,
               "register_pj_per_bit": self.register_pj_per_bit, "sram_cell": self.sram_cell,
               "notes": list(self.notes)}
        if self.inherited:
            out["ops_from_" + self.base] = {p: list(ops) for p, ops in self.inherited.items()}
        return out


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
            for op, value in entry.items():
                if op not in OPS:
                    raise UserError(f"energy table {label}: ops_pj.{prec}.{op} is not an op; valid ops: "
                                    f"{', '.join(OPS)}")
                out["ops_pj"].setdefault(str(prec), {})[op] = _positive(label, f"ops_pj.{prec}.{op}", value)
    for key in ("dram_pj_per_bit", "register_pj_per_bit"):
        if key in data:
            out[key] = _positive(label, key, data[key])
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
        base=entries.get("base", ""), inherited=entries.get("inherited", {}), sram_rows=_cacti())


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
    user = _validate(_read_yaml(path, label), label)
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
    return _build(merged, label)
