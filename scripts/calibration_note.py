#!/usr/bin/env python3
"""Write a run's modelled-vs-measured comparison as a Markdown note for reports/: the device and
its sensors, the idle baseline, the line through the origin (joules measured per modelled joule)
with R^2, every sharing level's saving relative to sharing 0, modelled and measured, and the
per-phase points. Every figure is read from the run directory; nothing is typed in by hand.

Usage: python scripts/calibration_note.py RUN_DIR [--out NOTE.md] [--command "the run's command"]

Exit status: 0 written; 1 the run has no measured energy to compare (the note is not written, the
reason is printed); 2 RUN_DIR is not a run directory.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's energybench

from energybench.errors import UserError  # noqa: E402
from energybench.results import load, modelled_vs_measured  # noqa: E402


def _g(value, digits: int = 4) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}g}"


def note(run_dir: Path, command: str | None) -> tuple[str | None, str]:
    """(the note's Markdown, or None when there is nothing to compare; why)."""
    df = load(run_dir)
    block = modelled_vs_measured(df)
    if not block["available"]:
        return None, block["reason"]
    manifest_path = run_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    power = manifest.get("power") or {}
    idle = power.get("idle_baseline")
    fit = block["fit"]
    lines = [
        f"# Modelled vs measured energy: {run_dir.name}",
        "",
        f"Device: {manifest.get('device_name', 'unknown')} ({manifest.get('device', '?')}); energybench "
        f"{manifest.get('energybench', '?')} at commit {manifest.get('git_commit', '?')}; PyTorch "
        f"{(manifest.get('packages') or {}).get('torch', '?')}.",
        f"Measured devices: {', '.join(power.get('measured_devices') or []) or 'none'} "
        f"({block.get('measured_by') or 'method not recorded'}).",
    ]
    if command:
        lines.append(f"Command: `{command}`")
    if idle:
        lines.append(f"Idle baseline (before the first phase, CUDA context open): {_g(idle['mean_w'])} W over "
                     f"{_g(idle['duration_s'])} s, std {_g(idle.get('std_w'))} W, min {_g(idle.get('min_w'))} W, "
                     f"max {_g(idle.get('max_w'))} W ({idle.get('readings')} readings of {idle.get('spread_of')}).")
    else:
        lines.append(f"Idle baseline: none ({power.get('idle_note') or 'not recorded'}).")
    lines += [
        "",
        f"Modelled: {block['modelled']}. Measured: {block['measured_basis']}. Scope: {block['scope']}.",
        "",
        "## Line through the origin",
        "",
        f"**{_g(fit['slope_j_per_modelled_j'])} J measured per modelled J**, R^2 = {_g(fit['r2'], 3)} "
        f"(centred; over {fit['points']} incremental phases).",
        "",
        "## Saving of each sharing level relative to sharing 0 (incremental phases, mean over seeds)",
        "",
        "| method | sharing | modelled energy (J) | measured energy (J) | modelled saving (x) | measured saving (x) |",
        "|---|---|---|---|---|---|",
    ]
    for method, levels in block["savings"].items():
        for s, v in levels.items():
            lines.append(f"| {method} | {s} | {_g(v['modelled_j'])} | {_g(v['measured_j'])} | "
                         f"{_g(v['modelled_saving_x'], 3)} | {_g(v['measured_saving_x'], 3)} |")
    if block.get("savings_note"):
        lines.append(f"\n({block['savings_note']}.)")
    lines += ["", "## Points (one per method, sharing level and phase)", "",
              "| method | sharing | phase | modelled (J) | measured (J) | seeds | fitted |",
              "|---|---|---|---|---|---|---|"]
    for p in block["points"]:
        lines.append(f"| {p['method']} | {p['sharing']:g} | {p['phase']} | {_g(p['modelled_j'])} | "
                     f"{_g(p['measured_j'])} | {p['seeds']} | {'yes' if p['fitted'] else 'no'} |")
    return "\n".join(lines) + "\n", ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, help="write the note here (default: print it)")
    parser.add_argument("--command", help="the command that made the run, quoted in the note")
    args = parser.parse_args()
    try:
        text, why = note(args.run_dir, args.command)
    except UserError as exc:
        print(f"calibration_note: {exc}", file=sys.stderr)
        return 2
    if text is None:
        print(f"calibration_note: nothing to compare in {args.run_dir}: {why}", file=sys.stderr)
        return 1
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"calibration note: {args.out}")
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
