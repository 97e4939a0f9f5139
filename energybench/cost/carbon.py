"""CO2e of energy: grams = energy (kWh) x carbon intensity of the electricity (g/kWh) x PUE.

The same formula as CodeCarbon and Green Algorithms (Lannelongue et al. 2021). The intensity is
given (--carbon-intensity) or read for a country (--grid) from CodeCarbon's per-country energy
mix, shipped as data/grid_carbon_intensity.csv with its source and the year of each figure.
Pure: numbers in, grams out; the file is read once.
"""

from __future__ import annotations

import csv
import functools
import math
from dataclasses import dataclass
from pathlib import Path

from energybench.errors import unknown_name

J_PER_KWH = 3.6e6
# element-wise work's energy, where the cost model priced it (None/absent: not priced)
ELEMENTWISE = ("elementwise_compute_energy_j", "elementwise_memory_energy_j")
GRID_FILE = Path(__file__).parent / "data" / "grid_carbon_intensity.csv"
GRID_SOURCE = ("CodeCarbon 3.3.0's per-country energy mix (github.com/mlco2/codecarbon, "
               "global_energy_mix.json; MIT licence), from Our World in Data")


@dataclass(frozen=True)
class Grid:
    code: str
    country: str
    g_per_kwh: float
    year: int


@functools.lru_cache(maxsize=1)
def grids() -> dict[str, Grid]:
    """ISO 3166-1 alpha-3 code -> its grid's carbon intensity."""
    with open(GRID_FILE, newline="") as fh:
        rows = csv.DictReader(line for line in fh if not line.startswith("#"))
        return {r["iso_code"]: Grid(r["iso_code"], r["country"], float(r["g_per_kwh"]), int(r["year"]))
                for r in rows}


COMMON = {"uk": "GBR", "britain": "GBR", "great britain": "GBR", "england": "GBR"}  # names that are no code's start


def unknown_grid(name: str) -> str:
    """The message for a grid region that is not a code of the table: the codes it begins, or the
    countries it names ('FR', 'france' -> FRA), suggested, as the list of 213 shows only its start."""
    table = grids()
    text = name.strip().lower()
    near = [c for c in [COMMON.get(text)] if c in table]
    near += [c for c in table if c.lower().startswith(text) and c not in near] if 0 < len(text) < 3 else []
    near = near or [c for c, g in table.items() if text and text in g.country.lower()]
    message = unknown_name("grid region", name, sorted(table))
    if near and "(did you mean" not in message:
        named = " or ".join(f"'{c}' ({table[c].country})" for c in near[:3])
        message = message.replace("; valid grid regions", f" (did you mean {named}?); valid grid regions", 1)
    return message + " (ISO 3166-1 alpha-3 country codes)"


@dataclass(frozen=True)
class CarbonModel:
    g_per_kwh: float
    pue: float
    grid: Grid | None = None  # where the intensity came from; None: given by the user

    def grams(self, joules: float) -> float:
        """CO2e in grams of `joules` drawn by the IT equipment (NaN stays NaN: not measured)."""
        return joules / J_PER_KWH * self.g_per_kwh * self.pue

    def sentence(self) -> str:
        """The assumptions, in one sentence a paper can quote."""
        where = (f"the {self.grid.year} average of the {self.grid.country} grid ({self.g_per_kwh:g} g CO2e/kWh, "
                 f"{GRID_SOURCE})" if self.grid else f"a carbon intensity of {self.g_per_kwh:g} g CO2e/kWh")
        return (f"CO2e is energy (kWh) x {where} x a PUE of {self.pue:g}, computed apart from the modelled "
                "energy (every term priced: computation and memory access of the MACs and of the element-wise "
                "work) and from the measured energy (the meters' total, idle "
                "included), never mixed; figures are unrounded.")

    def describe(self) -> dict:
        return {"g_per_kwh": self.g_per_kwh, "pue": self.pue, "grid": self.grid.code if self.grid else None,
                "grid_year": self.grid.year if self.grid else None,
                "source": GRID_SOURCE if self.grid else "given (--carbon-intensity)", "sentence": self.sentence()}


def carbon_model(g_per_kwh: float | None, grid: str | None, pue: float | None) -> CarbonModel | None:
    """The run's model, or None when neither an intensity nor a grid is given (no CO2e columns);
    no PUE means 1 (the IT equipment's energy alone)."""
    pue = 1.0 if pue is None else pue
    if grid is not None:
        found = grids()[grid]
        return CarbonModel(found.g_per_kwh, pue, found)
    if g_per_kwh is not None:
        return CarbonModel(g_per_kwh, pue)
    return None


def phase_co2e(model: CarbonModel, row: dict) -> dict[str, float]:
    """A phase's CO2e columns: from its modelled energy (every dynamic term priced, as the report's
    totals) and, apart, from its measured energy."""
    modelled = row.get("compute_energy_j", math.nan) + row.get("memory_energy_j", math.nan)
    for part in ELEMENTWISE:  # priced apart, and part of what the run's modelled total is (the report's too)
        if isinstance(row.get(part), (int, float)) and math.isfinite(row[part]):
            modelled += row[part]
    measured = row.get("measured_energy_j")
    return {"co2e_modelled_g": model.grams(modelled),
            "co2e_measured_g": model.grams(measured) if isinstance(measured, (int, float)) else math.nan}
