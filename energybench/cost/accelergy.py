"""A hardware model and a counted step in Accelergy's names: the ERT of the table in use and
the step's action counts (formats: ert.py).

Components are named `system.<name>`: `system.compute_<precision>` (actions mac, mult, add),
one per architecture level (read, write), and for an SRAM sized per layer one per size it can
take (`system.buffer_65536B`: every CACTI capacity, or the fixed --sram-bytes); an architecture
with no such level gets them as `system.elementwise_buffer_<bytes>B`, where element-wise work's
accesses are priced on every architecture. Memory actions are per word of the exported precision.
The ERT read back (--energy-table FILE.yaml, on the architecture its ERT.attributes name) gives
the same dynamic energies, so a step priced on it costs what it cost when exported; leakage is
not in an ERT (Accelergy's `idle` action would need a clock per component) and is left out.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from energybench.cost.ert import render_action_counts, render_ert
from energybench.cost.level_energy import HardwareModel

if TYPE_CHECKING:
    from energybench.cost.step import StepProfile

PREFIX = "system."


def compute_name(precision: str) -> str:
    return f"{PREFIX}compute_{precision}"


def _header(hw: HardwareModel, what: str, unit: str = "energies in pJ per action") -> list[str]:
    t = hw.table
    return [f"{what} written by energybench for architecture {hw.arch.name} ({hw.arch.origin}),",
            f"energy table {t.label(hw.precision)}, {t.where()}; {unit};",
            f"memory actions are per {hw.bits}-bit word ({hw.precision}). Sources: "
            + "; ".join(d["source"] for d in hw.describe()["levels"])]


def ert_components(hw: HardwareModel) -> list[tuple[str, dict[str, float]]]:
    t, p = hw.table, hw.precision
    out = [(compute_name(p), {"mac": t.mac_pj(p), "mult": t.op_pj(p, "mult"), "add": t.op_pj(p, "add")})]
    sized = False
    for level in hw.arch.levels:
        read, write, _, _ = hw.access_pj(level.name)
        if read is not None:
            out.append((PREFIX + level.name, {"read": read, "write": write}))
            continue
        out += _sized(hw, level.name, hw.cell(level))
        sized = True
    if not sized and t.sram_rows:  # element-wise accesses are priced at SRAMs sized per layer on any architecture
        out += _sized(hw, ELEMENTWISE, hw.sram_cell)
    return out


ELEMENTWISE = "elementwise_buffer"  # the per-layer SRAMs of element-wise work, where no level is one


def _sized(hw: HardwareModel, name: str, cell: str) -> list[tuple[str, dict[str, float]]]:
    """An SRAM sized per layer: one component per size it can take (every CACTI capacity, or --sram-bytes)."""
    t = hw.table
    sizes = [hw.sram_bytes] if hw.sram_bytes else [r[0] for r in t.sram_rows_for(cell, hw.bits)[0]]
    out = []
    for cap in sizes:
        r, w, _ = t.sram_access_pj(cap, hw.bits, cell)
        out.append((f"{PREFIX}{name}_{cap}B", {"read": r, "write": w}))
    return out


def export_ert(hw: HardwareModel) -> str:
    """The ERT (version 0.3) of the table in use on this architecture, at this precision."""
    t, arch = hw.table, hw.arch
    # Read back by tables.py: the node and supply of the energies, and the --arch their levels belong to.
    attributes = {"node_nm": t.node_nm, "vdd": t.own_vdd,
                  "architecture": arch.name if arch.origin.startswith("builtin:") else str(Path(arch.origin).resolve())}
    return render_ert(ert_components(hw), _header(hw, "Accelergy energy reference table"),
                      {k: v for k, v in attributes.items() if v is not None})


def export_action_counts(hw: HardwareModel, profile: "StepProfile") -> str:
    """A counted step's action counts, in total and per layer, named as export_ert names them."""
    step = hw.step(profile)
    comp = compute_name(hw.precision)
    updated = profile.updated_elems or 1
    total: dict[str, dict[str, float]] = {comp: {"mac": profile.train_macs, "mult": profile.update_mults,
                                                 "add": profile.update_adds}}
    per_layer: dict[str, dict[str, dict[str, float]]] = {}
    for layer in profile.layers:
        share = layer.trainable_elems / updated  # update ops in proportion to the elements updated
        per_layer[layer.name] = {comp: {"mac": layer.train_macs, "mult": round(profile.update_mults * share),
                                        "add": round(profile.update_adds * share)}}
    for ll in step.layers:
        name = PREFIX + ll.component
        for counts in (total.setdefault(name, {"read": 0, "write": 0}),
                       per_layer.setdefault(ll.layer, {}).setdefault(name, {"read": 0, "write": 0})):
            counts["read"] += ll.reads
            counts["write"] += ll.writes

    def rounded(items: dict[str, dict[str, float]]) -> list[tuple[str, dict[str, int]]]:
        return [(name, {a: round(n) for a, n in acts.items()}) for name, acts in items.items()
                if any(round(n) for n in acts.values())]

    layers = [(name, rounded(items)) for name, items in per_layer.items() if rounded(items)]
    header = _header(hw, "Accelergy action counts of one training step", "counts of actions") + [
        "`action_counts`: the whole step; `layers`: the same per layer (energybench's key, which Accelergy skips).",
        "Counts of an SRAM sized per layer name its size (see the ERT's <level>_<bytes>B components).",
    ]
    return render_action_counts(rounded(total), layers, header)
