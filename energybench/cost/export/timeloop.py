"""Timeloop's problem format: one CNN-layer problem per (layer, pass, phase, call), in a folder
(Timeloop takes one problem per run). Dimensions as Timeloop names them: C input channels, M
output channels, R x S filter (width x height), P x Q output (width x height), N batch, with
Wstride/Hstride and Wdilation/Hdilation. A linear layer is a 1x1 problem (N rows, C = reduction,
M = columns). Timeloop's CNN-layer has no groups: a grouped layer is written per group and its
file says how many times it runs."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from energybench.cost.export.common import relations, sizes, step_layers

if TYPE_CHECKING:
    from energybench.cost.counter import StepProfile

SHAPE = {
    "name": "CNN-Layer",
    "dimensions": ["C", "M", "R", "S", "N", "P", "Q"],
    "coefficients": [{"name": n, "default": 1} for n in ("Wstride", "Hstride", "Wdilation", "Hdilation")],
    "data-spaces": [
        {"name": "Weights", "projection": [[["C"]], [["M"]], [["R"]], [["S"]]]},
        {"name": "Inputs", "projection": [[["N"]], [["C"]], [["R", "Wdilation"], ["P", "Wstride"]],
                                          [["S", "Hdilation"], ["Q", "Hstride"]]]},
        {"name": "Outputs", "projection": [[["N"]], [["M"]], [["Q"]], [["P"]]], "read-write": True},
    ],
}


def problem(d: dict) -> dict:
    s, rel = sizes(d), relations(d)
    (sx, dx), (sy, dy) = rel.get("x", (1, 1)), rel.get("y", (1, 1))
    inst = {"C": s["C"], "M": s["K"], "R": s.get("FX", 1), "S": s.get("FY", 1), "N": s["B"], "P": s.get("OX", 1),
            "Q": s.get("OY", 1), "Wstride": sx, "Hstride": sy, "Wdilation": dx, "Hdilation": dy}
    return {"problem": {"shape": SHAPE, "instance": inst}}


def render(profile: "StepProfile", bits: int) -> dict[str, str]:
    """File name -> text of every problem."""
    layers, notes = step_layers(profile, bits)
    files = {}
    for i, (name, d) in enumerate(layers):
        groups = sizes(d).get("G", 1)
        head = f"# energybench training step, {name}" + (f"; runs {groups} times (groups)" if groups > 1 else "")
        files[f"{i:04d}_{name}.yaml"] = head + "\n" + yaml.safe_dump(problem(d), sort_keys=False)
    if notes:
        files["NOTES.txt"] = "\n".join(notes) + "\n"
    return files


def write(profile: "StepProfile", path: Path, bits: int) -> Path:
    """The folder, written whole beside its place and renamed in (a previous one replaced)."""
    files = render(profile, bits)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp-"))
    try:
        for name, text in files.items():
            (tmp / name).write_text(text)
        if path.is_dir():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path
