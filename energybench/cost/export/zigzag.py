"""ZigZag's workload YAML (its `inputs/workload/*.yaml` form): one layer per (layer, pass, phase,
call), each its own source of both operands (the passes are priced one by one, as ZigZag does
for layers), ids in step order. ZigZag's WorkloadParserStage reads it as it is."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from energybench.cost.export.common import step_layers
from energybench.files import atomic_write

if TYPE_CHECKING:
    from energybench.cost.counter import StepProfile


def render(profile: "StepProfile", bits: int) -> str:
    layers, notes = step_layers(profile, bits)
    data = [{"id": i, **d, "name": name, "operand_source": {"I": i, "W": i}} for i, (name, d) in enumerate(layers)]
    head = "".join(f"# {n}\n" for n in ["energybench training step: every (layer, pass) as a ZigZag layer", *notes])
    return head + yaml.safe_dump(data, sort_keys=False)


def write(profile: "StepProfile", path: Path, bits: int) -> Path:
    atomic_write(path, render(profile, bits))
    return path
