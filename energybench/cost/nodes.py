"""Technology nodes and supply voltage: the Stillmaker and Baas (2017) energy equations.

Stillmaker and Baas fit, per node and device flavour (high performance `hp`, low power `lp`),
a device's switching energy as a quadratic in the supply voltage, E(V) = e2 V^2 + e1 V + e0
(data/stillmaker_baas_2017.csv). The energy of the same circuit at another node or supply is
its energy times E_to(V_to) / E_from(V_from). 90 and 65 nm have one (bulk) set of coefficients.

Their nodes are 90, 65, 45, 32, 20, 16, 14, 10 and 7 nm; energybench offers 22 nm instead of
20 (the smallest CACTI 7 node): its coefficients are not published, so E_22(V) is the
geometric interpolation in log(node) between E_32(V) and E_20(V), and its nominal supply
likewise between theirs.

Supply range of a node: the quadratic fit is meaningful only where energy grows with voltage
(above the vertex -e1 / 2 e2) and near the devices' nominal supply, so a voltage is accepted
from max(vertex, 0.5 x nominal) (near-threshold operation) to 1.1 x nominal (10 % overdrive).
These bounds are energybench's reading of where the published fits apply, stated wherever a
voltage is rejected.

Pure functions over shipped data: no torch, no I/O beyond the package's CSV.
"""

from __future__ import annotations

import csv
import math
from functools import lru_cache
from importlib import resources

from energybench.errors import UserError

NODES = (90, 65, 45, 32, 22, 16, 14, 10, 7)  # nm, largest first
FLAVOURS = ("hp", "lp")
DEFAULT_FLAVOUR = "hp"
SOURCE = ("Stillmaker and Baas, Scaling equations for the accurate prediction of CMOS device performance from "
          "180 nm to 7 nm, Integration 58 (2017) 74-81")
_INTERPOLATED = {22: (32, 20)}  # node -> the published nodes it lies between


@lru_cache(maxsize=1)
def _coefficients() -> dict[tuple[str, int], tuple[float, float, float, float]]:
    """(flavour, node) -> (e2, e1, e0, nominal_vdd) as published."""
    path = resources.files("energybench.cost") / "data" / "stillmaker_baas_2017.csv"
    with path.open() as f:
        rows = csv.DictReader(line for line in f if not line.startswith("#"))
        return {(r["flavour"], int(r["node_nm"])): (float(r["e2"]), float(r["e1"]), float(r["e0"]),
                                                     float(r["nominal_vdd"])) for r in rows}


def check_node(node) -> int:
    """The node as an int, or a UserError naming the valid nodes."""
    valid = ", ".join(map(str, NODES))
    if isinstance(node, bool):
        raise UserError(f"unknown technology node {node!r}; valid nodes (nm): {valid}")
    try:
        value = float(node)
    except (TypeError, ValueError):
        raise UserError(f"unknown technology node {node!r}; valid nodes (nm): {valid}") from None
    if value not in NODES:  # as given, a float that is whole as a whole number: "5 nm", not "5.0 nm"
        shown = f"{value:g}" if isinstance(node, (int, float)) and value.is_integer() else repr(node)
        raise UserError(f"unknown technology node {shown} nm; valid nodes (nm): {valid}")
    return int(value)


def check_flavour(flavour: str) -> str:
    if flavour not in FLAVOURS:
        raise UserError(f"unknown device flavour {flavour!r}; valid flavours: {', '.join(FLAVOURS)} "
                        "(Stillmaker and Baas high-performance or low-power devices)")
    return flavour


def _weight(node: int) -> tuple[int, int, float]:
    big, small = _INTERPOLATED[node]
    return big, small, math.log(big / node) / math.log(big / small)


def nominal_vdd(node: int, flavour: str = DEFAULT_FLAVOUR) -> float:
    """The node's nominal supply (V) in the flavour's device models."""
    node, flavour = check_node(node), check_flavour(flavour)
    if node in _INTERPOLATED:
        big, small, t = _weight(node)
        return round(nominal_vdd(big, flavour) ** (1 - t) * _coefficients()[(flavour, small)][3] ** t, 3)
    return _coefficients()[(flavour, node)][3]


def _energy(node: int, vdd: float, flavour: str) -> float:
    if node in _INTERPOLATED:
        big, small, t = _weight(node)
        return _energy(big, vdd, flavour) ** (1 - t) * _energy(small, vdd, flavour) ** t
    e2, e1, e0, _ = _coefficients()[(flavour, node)]
    return e2 * vdd * vdd + e1 * vdd + e0


def _vertex(node: int, flavour: str) -> float:
    """The voltage below which the node's fitted energy stops falling with the supply."""
    if node in _INTERPOLATED:
        big, small, _ = _weight(node)
        return max(_vertex(big, flavour), _vertex(small, flavour))
    e2, e1, _, _ = _coefficients()[(flavour, node)]
    return -e1 / (2 * e2)


def vdd_range(node: int, flavour: str = DEFAULT_FLAVOUR) -> tuple[float, float]:
    """(lowest, highest) supply accepted at the node (see the module docstring)."""
    node, flavour = check_node(node), check_flavour(flavour)
    nominal = nominal_vdd(node, flavour)
    return round(max(_vertex(node, flavour), 0.5 * nominal), 3), round(1.1 * nominal, 3)


def check_vdd(node: int, vdd: float, flavour: str = DEFAULT_FLAVOUR) -> float:
    """The supply as a float, or a UserError naming the node's valid range."""
    lo, hi = vdd_range(node, flavour)
    try:
        value = float(vdd)
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(vdd, bool) or not lo <= value <= hi:
        raise UserError(f"supply voltage {vdd!r} V is outside the range of the {node} nm node ({flavour.upper()} "
                        f"devices): valid {lo:g}-{hi:g} V, nominal {nominal_vdd(node, flavour):g} V (from the "
                        "Stillmaker and Baas fit's vertex or half the nominal supply, to 1.1 x nominal)")
    return value


def energy_factor(from_node: int, from_vdd: float, to_node: int, to_vdd: float,
                  flavour: str = DEFAULT_FLAVOUR) -> float:
    """Energy at (to_node, to_vdd) over energy at (from_node, from_vdd), same circuit."""
    if (from_node, from_vdd) == (to_node, to_vdd):
        return 1.0
    return _energy(to_node, to_vdd, flavour) / _energy(from_node, from_vdd, flavour)
