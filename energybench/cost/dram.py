"""DRAM types and their access energy per bit, from published figures (data/dram_types.csv).

A DRAM is its own chip: its per-bit energy does not follow the accelerator's node or supply.
An architecture file picks a type; `table` keeps the energy table's own dram_pj_per_bit
(horowitz45: 30.5 pJ/bit, the default model's).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from energybench.errors import UserError

TABLE = "table"  # the energy table's own DRAM figure


@dataclass(frozen=True)
class DramType:
    name: str
    pj_per_bit: float
    source: str


@lru_cache(maxsize=1)
def dram_types() -> dict[str, DramType]:
    path = resources.files("energybench.cost") / "data" / "dram_types.csv"
    with path.open() as f:
        rows = csv.DictReader(line for line in f if not line.startswith("#"))
        return {r["type"]: DramType(r["type"], float(r["pj_per_bit"]), r["source"]) for r in rows}


def dram_type(name: str) -> DramType:
    """The named type (case-insensitive), or a UserError naming the valid ones."""
    types = dram_types()
    match = next((t for key, t in types.items() if key.lower() == str(name).lower()), None)
    if match is None:
        raise UserError(f"unknown DRAM type {name!r}; valid types: {', '.join(types)}, {TABLE} (the energy "
                        "table's own dram_pj_per_bit)")
    return match
