"""Every (layer, pass) of a counted step in another tool's own workload format, so researchers
can price energybench's training passes in the tool they already use:

    write_workload(profile, "zigzag" | "timeloop" | "scalesim", path, value_bits=32)

The step is the profile as counted at its sharing level: frozen layers have no backward passes
(a frozen prefix none at all), the first layer no backward-to-input. Backward passes are written
as the convolutions they are (energybench/cost/zigzag/workload.py), so each file's MACs are the
counter's. Formats: zigzag.py (ZigZag's workload YAML), timeloop.py (a folder of Timeloop
CNN-layer problems), scalesim.py (a SCALE-Sim topology CSV).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from energybench.errors import UserError

if TYPE_CHECKING:
    from energybench.cost.counter import StepProfile

FORMATS = ("zigzag", "timeloop", "scalesim")


def write_workload(profile: "StepProfile", fmt: str, path: str | Path, value_bits: int = 32) -> Path:
    """Write the step's MAC passes in `fmt` at `path` (a file; for timeloop a folder of problem
    files); nothing is written on bad input. Returns the path written."""
    if fmt not in FORMATS:
        raise UserError(f"--workload-format {fmt!r} is not one of {', '.join(FORMATS)}")
    from energybench.cost.export import scalesim, timeloop, zigzag

    writer = {"zigzag": zigzag.write, "timeloop": timeloop.write, "scalesim": scalesim.write}[fmt]
    try:
        return writer(profile, Path(path).expanduser(), value_bits)
    except OSError as exc:
        raise UserError(f"cannot write the {fmt} workload to {path}: {exc.strerror or exc}") from None
