"""The step's MAC passes as (name, ZigZag layer dict) pairs, one per call: what every exporter
writes in its own format. A pass counted at a fraction of its forward (a partial backward) cannot
be written exactly and is named in `notes`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from energybench.cost.zigzag.workload import pass_workloads

if TYPE_CHECKING:
    from energybench.cost.counter import StepProfile


def step_layers(profile: "StepProfile", bits: int) -> tuple[list[tuple[str, dict]], list[str]]:
    out, notes = [], []
    for layer in profile.layers:
        if not layer.train_macs:
            continue
        for w in pass_workloads(layer, bits):
            if w.scale != 1.0:
                notes.append(f"{layer.name} {w.pass_}: counted MACs are {w.scale:.4g} x the written workload's")
            for d, times in w.layers:
                for call in range(times):
                    out.append((d["name"] + (f".call{call}" if times > 1 else ""), d))
    return out, notes


def sizes(d: dict) -> dict[str, int]:
    return dict(zip(d["loop_dims"], d["loop_sizes"]))


def relations(d: dict) -> dict[str, tuple[int, int]]:
    """{'x': (stride, dilation), 'y': (...)} from a ZigZag conv's dimension relations."""
    out = {}
    for rel in d.get("dimension_relations", []):
        lhs, rhs = rel.split("=")
        s_part, d_part = rhs.split("+")
        out[lhs.strip()[1]] = (int(s_part.split("*")[0]), int(d_part.split("*")[0]))
    return out
