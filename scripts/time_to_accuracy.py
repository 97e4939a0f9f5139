"""Progressive vs scratch: training steps, MACs and time to reach the scratch model's final accuracy.

Reads a run directory of `progressive` and `scratch` cells run with the option `trace: true`
(each cell's trace.csv: one line per training epoch, with the test accuracy after it and the
cell's cumulative steps, counted training MACs and training time so far). For each seed:

- target = scratch's final accuracy (its last metrics.csv row) minus `--within` points (1);
- for each method, the first epoch of the LAST phase whose test accuracy reaches the target,
  and the cumulative steps / MACs / training seconds at its end (progressive: every stage
  before it included); "not reached" if no epoch does;
- the ratios scratch / progressive (above 1: progressive is faster, the paper's "1.42x"), to the
  target and over the full schedules (every step of both cells, as the paper's 1.42x counts);
- progressive's stages: epochs, steps, MACs and the share of the total, against scratch's epochs.

Usage: python scripts/time_to_accuracy.py RUN_DIR [--scratch RUN_DIR] [--within 1.0]   (prints markdown)
(`--scratch`: take the scratch cells from another run directory of the same scenario and seeds.)
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path


def read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def reach(trace: list[dict[str, str]], last_phase: int, target: float) -> dict[str, str] | None:
    for row in trace:
        if int(row["phase"]) == last_phase and float(row["test_acc"]) >= target:
            return row
    return None


def fmt(v: float, kind: str) -> str:
    return {"steps": f"{v:,.0f}", "macs": f"{v:.3e}", "s": f"{v:.1f}"}[kind]


def study(run: Path, within: float, scratch_run: Path | None = None) -> list[str]:
    rows = [r for r in read(run / "metrics.csv") if scratch_run is None or r["method"] != "scratch"]
    if scratch_run is not None:
        rows += [r for r in read(scratch_run / "metrics.csv") if r["method"] == "scratch"]
    where = {"progressive": run, "scratch": scratch_run or run}
    out = []
    seeds = sorted({int(r["seed"]) for r in rows if r["method"] == "scratch"})
    header = ("| seed | method | final acc (%) | target (%) | epoch reached (last stage) | steps to target | "
              "MACs to target | train s to target (wall / CPU) | steps, all stages | MACs, all stages |")
    out += [header, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    ratios, stage_lines = [], []
    for seed in seeds:
        cell = {m: [r for r in rows if r["method"] == m and int(r["seed"]) == seed] for m in ("progressive", "scratch")}
        if not cell["progressive"] or not cell["scratch"]:
            continue
        last = len(json.loads((run / "manifest.json").read_text())["scenario"]) - 1
        if any(not any(int(r["phase"]) == last for r in cell[m]) for m in cell):
            continue  # a cell still running
        final = {m: float(next(r for r in cell[m] if int(r["phase"]) == last)["acc_all"]) for m in cell}
        target = final["scratch"] - within
        hit = {}
        for m, m_rows in cell.items():
            trace = read(where[m] / "cells" / f"{m}_s0_seed{seed}" / "trace.csv")
            hit[m] = reach(trace, last, target)
            total_steps = sum(int(r["iters"]) for r in m_rows)
            total_macs = sum(float(r["train_macs"] or 0) for r in m_rows)
            h = hit[m]
            got = ((h["epoch"], fmt(float(h["steps"]), "steps"), fmt(float(h["train_macs"]), "macs"),
                    f"{fmt(float(h['train_time_s']), 's')} / {fmt(float(h['train_cpu_s']), 's')}")
                   if h else ("not reached", "", "", ""))
            out.append(f"| {seed} | {m} | {final[m]:.2f} | {target:.2f} | {' | '.join(got)} | "
                       f"{fmt(total_steps, 'steps')} | {fmt(total_macs, 'macs')} |")
        full = (sum(int(r["iters"]) for r in cell["scratch"]) / sum(int(r["iters"]) for r in cell["progressive"]),
                final["progressive"] - final["scratch"])
        if hit["progressive"] and hit["scratch"]:
            ratios.append((seed, *(float(hit["scratch"][k]) / float(hit["progressive"][k])
                                   for k in ("steps", "train_macs", "train_time_s", "train_cpu_s")), *full))
        else:
            ratios.append((seed, *(float("nan"),) * 4, *full))
        scratch_epochs = int(next(r for r in cell["scratch"] if int(r["phase"]) == last)["stage_epochs"])
        total = sum(int(r["iters"]) for r in cell["progressive"])
        for r in cell["progressive"]:
            stage_lines.append(
                f"| {seed} | {int(r['phase']) + 1} | {r['classes_seen']} | {r['stage_epochs']} | "
                f"{int(r['stage_epochs']) / scratch_epochs:.2f} | {int(r['iters']):,} | "
                f"{100 * int(r['iters']) / total:.0f}% | {float(r['train_macs']):.3e} | {r['stage_stopped_by']} |")
        stage_lines.append(f"| {seed} | scratch | 10 | {scratch_epochs} | 1.00 | "
                           f"{sum(int(r['iters']) for r in cell['scratch']):,} | | | |")
    out += ["", "| seed | scratch / progressive: steps to target | MACs to target | train wall time | train CPU time | "
                "steps of the full schedules | final acc, progressive - scratch (points) |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    out += [f"| {s} | {a:.2f} | {b:.2f} | {c:.2f} | {d:.2f} | {e:.2f} | {f:+.2f} |" for s, a, b, c, d, e, f in ratios]
    out += ["", "| seed | stage | classes | epochs | epochs / scratch's | steps | share of steps | train MACs | "
                "stopped by |", "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    return out + stage_lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--scratch", type=Path, help="run directory holding the scratch cells (default: RUN)")
    parser.add_argument("--within", type=float, default=1.0, help="percentage points below scratch's final accuracy")
    args = parser.parse_args()
    print("\n".join(study(args.run, args.within, args.scratch)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
