"""SCALE-Sim's topology CSV (`Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width,
Channels, Num Filter, Strides,`): one row per (layer, pass, phase, call).

A convolution of one image and one group with equal strides and no dilation keeps its geometry
(IFMAP = the padded input extent the output needs, so SCALE-Sim's (IFMAP - filter) / stride + 1
is the real output). Anything else SCALE-Sim's row cannot say (batch > 1, groups, dilation,
unequal strides; backward-to-weights, whose "batch" is the input channels) is written as the
GEMM SCALE-Sim makes of every layer anyway: a 1 x M IFMAP, a 1 x 1 filter, K channels, N
filters, stride 1, once per group. MACs stay the counter's."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from energybench.cost.export.common import relations, sizes, step_layers
from energybench.files import atomic_write

if TYPE_CHECKING:
    from energybench.cost.counter import StepProfile

HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,"


def rows(name: str, d: dict) -> list[tuple]:
    s, rel = sizes(d), relations(d)
    (sx, dx), (sy, dy) = rel.get("x", (1, 1)), rel.get("y", (1, 1))
    fy, fx, oy, ox = s.get("FY", 1), s.get("FX", 1), s.get("OY", 1), s.get("OX", 1)
    if s["B"] == 1 and s.get("G", 1) == 1 and sx == sy and dx == dy == 1:
        return [(name, (oy - 1) * sy + fy, (ox - 1) * sx + fx, fy, fx, s["C"], s["K"], sx)]
    m, k = s["B"] * oy * ox, s["C"] * fy * fx
    g = s.get("G", 1)
    return [(name + (f".g{i}" if g > 1 else ""), 1, m, 1, 1, k, s["K"], 1) for i in range(g)]


def render(profile: "StepProfile", bits: int) -> str:
    layers, _notes = step_layers(profile, bits)
    lines = [HEADER]
    for name, d in layers:
        lines += [", ".join(str(v) for v in row) + "," for row in rows(name, d)]
    return "\n".join(lines) + "\n"


def write(profile: "StepProfile", path: Path, bits: int) -> Path:
    atomic_write(path, render(profile, bits))
    return path
