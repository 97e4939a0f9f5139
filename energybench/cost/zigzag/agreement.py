"""The analytic model against ZigZag on one step: joules per (layer, pass, level), cycles and
utilisation, from the same architecture, energies and counted step.

The analytic side is `energybench.cost.mappers.get_mapper('analytic')` (mappers/analytic.py:
words per level, cycles at the folds' utilisation and the levels' bandwidths). Both sides' words are
priced with the HardwareModel's per-access energies; compute (MACs x MAC energy) is the same on
both sides and left out of the level figures. The update (element-wise, analytic on both
sides) enters only the step totals of the sharing ratio.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from energybench.cost.mappers import get_mapper
from energybench.cost.mapping import PassMapping
from energybench.cost.zigzag.workload import MAC_PASSES

if TYPE_CHECKING:
    from energybench.cost.counter import StepProfile
    from energybench.cost.level_energy import HardwareModel

PJ = 1e-12


def analytic_mappings(profile: "StepProfile", hardware: "HardwareModel") -> dict[str, list[PassMapping]]:
    """The analytic mapper's passes (MAC passes and the update) per layer, on the run's architecture."""
    mapper = get_mapper("analytic")
    return {layer.name: list(mapper.map_layer(layer, hardware.arch, hardware.bits)) for layer in profile.layers}


@dataclass
class PassRow:
    layer: str
    pass_: str
    macs: float
    analytic_j: dict[str, float] = field(default_factory=dict)  # level -> joules
    zigzag_j: dict[str, float] = field(default_factory=dict)
    analytic_cycles: float = 0.0
    zigzag_cycles: float = 0.0
    zigzag_utilisation: float | None = None
    analytic_utilisation: float | None = None


@dataclass
class Agreement:
    arch: str
    levels: tuple[str, ...]
    rows: list[PassRow]
    compute_j: float  # MAC compute of the three passes (same on both sides)
    update_j: float  # the update's level energy (analytic on both sides)

    def total(self, side: str, pass_: str | None = None, level: str | None = None) -> float:
        s = 0.0
        for r in self.rows:
            if pass_ is None or r.pass_ == pass_:
                d = r.analytic_j if side == "analytic" else r.zigzag_j
                s += sum(v for k, v in d.items() if level is None or k == level)
        return s

    def cycles(self, side: str, pass_: str | None = None) -> float:
        return sum(r.analytic_cycles if side == "analytic" else r.zigzag_cycles for r in self.rows
                   if pass_ is None or r.pass_ == pass_)

    def step_j(self, side: str) -> float:
        """Step energy: MAC compute + every level's MAC-pass energy + the analytic update."""
        return self.compute_j + self.total(side) + self.update_j


def _joules(m: PassMapping, hardware: "HardwareModel") -> dict[str, float]:
    out = {}
    for level in hardware.arch.levels:
        reads, writes = m.levels.get(level.name, (0.0, 0.0))
        read_pj, write_pj, _s, _e = hardware.access_pj(level.name)
        pack = hardware.bits / level.word_bits if level.word_bits else 1
        out[level.name] = (reads * read_pj + writes * write_pj) * pack * PJ
    return out


def compare(profile: "StepProfile", hardware: "HardwareModel", zigzag_mapper) -> Agreement:
    """Both models on every MAC pass of the step."""
    analytic = analytic_mappings(profile, hardware)
    mac_layers = [layer for layer in profile.layers if layer.train_macs]
    zz = zigzag_mapper.map_layers(mac_layers, hardware.arch, hardware.bits)
    rows, update_j = [], 0.0
    for layer in profile.layers:
        a_by = {m.pass_: m for m in analytic.get(layer.name, [])}
        update_j += sum(sum(_joules(m, hardware).values()) for m in a_by.values() if m.pass_ == "update")
        for z in zz.get(layer.name, []):
            a = a_by.get(z.pass_)
            row = PassRow(layer.name, z.pass_, z.macs, _joules(a, hardware) if a else {}, _joules(z, hardware),
                          a.latency_cycles if a else 0.0, z.latency_cycles, z.utilisation,
                          a.utilisation if a else None)
            rows.append(row)
    macs = sum(r.macs for r in rows if r.pass_ in MAC_PASSES)
    compute_j = macs * hardware.table.mac_pj(hardware.precision) * PJ
    return Agreement(hardware.arch.name, tuple(lv.name for lv in hardware.arch.levels), rows, compute_j, update_j)
