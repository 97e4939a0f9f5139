"""CACTI 7 SRAM figures at every node: read/write energy per access and leakage per bank.

CACTI runs exist at 90, 65, 45, 32 and 22 nm (data/cacti45_sram.csv, data/cacti_sram_nodes.csv:
same settings, three ITRS cell types, 4 KB-8 MB, 32- and 64-bit words). Each node uses its own
rows. Below 22 nm (16, 14, 10, 7) there is no CACTI data: the 22 nm rows, energies and leakage
alike, are scaled by the Stillmaker and Baas energy factor from 22 nm to the node, both at their
nominal supplies (SRAM arrays keep their own supply; --vdd sets the logic's).

Rows are (capacity_bytes, read_pj, write_pj) and (capacity_bytes, leakage_mw), sorted by
capacity, keyed by (cell, word_bits): the shape tables.interpolate_sram reads.
"""

from __future__ import annotations

import csv
import math
from functools import lru_cache
from importlib import resources

from energybench.cost import nodes

CACTI_NODES = (90, 65, 45, 32, 22)
SCALED_FROM = 22  # the smallest CACTI node, the base of the scaled ones


def _data(name: str):
    return resources.files("energybench.cost") / "data" / name


@lru_cache(maxsize=1)
def _grid() -> dict[int, dict[tuple[str, int], list[tuple[int, float, float, float]]]]:
    """node -> (cell, word_bits) -> rows (capacity, read_pj, write_pj, leakage_mw) by capacity."""
    grid: dict[int, dict] = {}

    def add(node, r):
        grid.setdefault(node, {}).setdefault((r["cell"], int(r["word_bits"])), []).append(
            (int(r["size_bytes"]), float(r["read_energy_pJ"]), float(r["write_energy_pJ"]), float(r["leakage_mW"])))

    with _data("cacti45_sram.csv").open() as f:
        for r in csv.DictReader(f):
            if r["rc"] in ("0", ""):
                add(45, r)
    with _data("cacti_sram_nodes.csv").open() as f:
        for r in csv.DictReader(f):
            add(int(r["tech_nm"]), r)
    return {n: {k: sorted(v) for k, v in cells.items()} for n, cells in grid.items()}


def scale_factor(node: int, flavour: str = nodes.DEFAULT_FLAVOUR) -> float:
    """What the 22 nm rows are multiplied by at a node below 22 nm (1 at a CACTI node)."""
    if node in CACTI_NODES:
        return 1.0
    return nodes.energy_factor(SCALED_FROM, nodes.nominal_vdd(SCALED_FROM, flavour), node,
                               nodes.nominal_vdd(node, flavour), flavour)


def source(node: int, flavour: str = nodes.DEFAULT_FLAVOUR) -> str:
    """Where a node's SRAM figures come from, in words."""
    if node in CACTI_NODES:
        return f"CACTI 7 runs at {node} nm"
    return (f"CACTI 7 runs at {SCALED_FROM} nm x {scale_factor(node, flavour):.4g} (Stillmaker and Baas "
            f"{flavour.upper()} energy, {SCALED_FROM} -> {node} nm at nominal supplies)")


Rows = dict[tuple[str, int], list[tuple[int, float, float]]]


def energy_rows(node: int, flavour: str = nodes.DEFAULT_FLAVOUR) -> Rows:
    """(cell, word_bits) -> [(capacity, read_pj, write_pj)] at the node."""
    base = _grid()[node if node in CACTI_NODES else SCALED_FROM]
    k = scale_factor(node, flavour)
    if k == 1.0:
        return {key: [(c, r, w) for c, r, w, _ in rows] for key, rows in base.items()}
    return {key: [(c, r * k, w * k) for c, r, w, _ in rows] for key, rows in base.items()}


def leakage_rows(node: int, flavour: str = nodes.DEFAULT_FLAVOUR) -> dict[tuple[str, int], list[tuple[int, float]]]:
    """(cell, word_bits) -> [(capacity, leakage_mw per bank)] at the node."""
    base = _grid()[node if node in CACTI_NODES else SCALED_FROM]
    k = scale_factor(node, flavour)
    return {key: [(c, leak * k) for c, _, _, leak in rows] for key, rows in base.items()}


def interpolate_leakage(rows: list[tuple[int, float]], capacity_bytes: float) -> tuple[float, bool]:
    """(leakage_mw, extrapolated): log-log between the nearest two capacities, as for energies."""
    caps = [c for c, _ in rows]
    i = 1
    while i < len(rows) - 1 and caps[i] < capacity_bytes:
        i += 1
    (c0, l0), (c1, l1) = rows[i - 1], rows[i]
    slope = math.log(l1 / l0) / math.log(c1 / c0)
    return l0 * (capacity_bytes / c0) ** slope, not caps[0] <= capacity_bytes <= caps[-1]


@lru_cache(maxsize=None)
def area_rows(node: int) -> dict[tuple[str, int], list[tuple[int, float]]]:
    """(cell, word_bits) -> [(capacity, area_mm2 per bank)] at the node: CACTI's own at its nodes;
    below 22 nm the 22 nm rows x (node / 22)^2, ideal area scaling (cost/README.md)."""
    base = node if node in CACTI_NODES else SCALED_FROM
    rows: dict[tuple[str, int], list[tuple[int, float]]] = {}
    files = (("cacti45_sram.csv", None),) if base == 45 else (("cacti_sram_nodes.csv", base),)
    for name, tech in files:
        with _data(name).open() as f:
            for r in csv.DictReader(f):
                if tech is not None and int(r["tech_nm"]) != tech or r.get("rc", "0") not in ("0", ""):
                    continue
                rows.setdefault((r["cell"], int(r["word_bits"])), []).append((int(r["size_bytes"]),
                                                                              float(r["area_mm2"])))
    k = 1.0 if node in CACTI_NODES else (node / SCALED_FROM) ** 2
    return {key: sorted((c, a * k) for c, a in v) for key, v in rows.items()}
