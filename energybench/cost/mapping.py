"""What a mapper says about one (layer, pass) on one architecture: words moved at each level,
cycles and how busy the array was. The analytic model and ZigZag both answer in this form, and
the pricing engine turns it into joules with the architecture's per-access energies.

Pure: no torch, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PASSES = ("forward", "backward_input", "backward_weight", "update")


@dataclass(frozen=True)
class PassMapping:
    layer: str
    pass_: str  # one of PASSES
    levels: dict[str, tuple[float, float]] = field(default_factory=dict)  # level name -> (reads, writes), words
    macs: float = 0
    latency_cycles: float = 0
    utilisation: float | None = None  # MACs / (cycles x PEs); None where there is no array
    mapper: str = "analytic"  # who produced it: "analytic", "zigzag"
