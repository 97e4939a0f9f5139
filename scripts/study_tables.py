"""The tables and the accuracy-memory-energy figure of a study made of several run directories
(for example one run at sharing 0 and one at the other sharing levels, same protocol), read
together as one run: the rows of every run's metrics.csv, summarised by energybench's own rule
(energybench.results.summarise), so each figure means what it means in a report.

    python scripts/study_tables.py RUN_DIR [RUN_DIR ...] --out DIR [--name default_memory]

Prints a markdown table (one row per method and sharing level: final and average incremental
accuracy over seeds, total memory after the last phase, training energy, memory accesses, MACs
and time of the incremental phases), then the mean accuracy after each phase, and writes
DIR/NAME_points.csv (the points with their Pareto flags, the report's memory_energy_points.csv)
and DIR/NAME.png (the report's figure).
"""

from __future__ import annotations

import argparse
import io
import math
import sys
from pathlib import Path

import pandas as pd

from energybench.files import write_output
from energybench.report import expansion_plots
from energybench.report.canvas import standalone
from energybench.report.export import PNG_DPI
from energybench.report.rundir import RunData, load_run
from energybench.report.style import drawing, method_looks, size_for
from energybench.report.typeset import readable_figure
from energybench.results import summarise


def merged(dirs: list[str]) -> RunData:
    """One RunData over every run's rows; the runs must not share a (method, sharing, seed) cell."""
    runs = [load_run(d) for d in dirs]
    every = pd.concat([r.every_point for r in runs], ignore_index=True)
    keys = every[every["phase"] == 0][["method", "sharing", "seed"]]
    if keys.duplicated().any():
        sys.exit("study_tables: the runs overlap in a (method, sharing, seed) cell; give runs of distinct cells")
    first = runs[0]
    frame = pd.concat([r.frame for r in runs], ignore_index=True)
    tolerance = first.tolerance
    methods = list(dict.fromkeys(m for r in runs for m in r.methods))
    return RunData(first.root, first.config, first.manifest, frame, summarise(every, tolerance), methods,
                   every_point=every)


def table(run: RunData) -> str:
    head = ("| method | sharing (achieved) | final acc. % (std) | avg. inc. acc. % | total memory (B) "
            "| training energy (J) | mem. accesses (10^6) | train MACs (10^9) | train time (s) |")
    lines = [head, "|" + "---|" * 9]
    for m in run.methods:
        for s in run.levels(m):
            v = lambda key: run.value(m, s, key)  # noqa: E731
            achieved = v("sharing_achieved")
            label = f"({achieved:.2f})" if m == "simplecil" else f"{s:g} ({achieved:.2f})"
            energy = expansion_plots.training_energy(run, m, s)
            time = v("total_train_time_s")
            lines.append(
                f"| {m} | {label} | {v('final_acc'):.1f} ({v('final_acc_std'):.1f}) | {v('avg_inc_acc'):.1f} "
                f"| {v('storage_bytes'):,.0f} | {energy:.2f} | {v('total_mem_accesses') / 1e6:,.1f} "
                f"| {v('total_train_macs') / 1e9:,.1f} | {'' if math.isnan(time) else f'{time:.0f}'} |")
    return "\n".join(lines)


def phase_table(run: RunData) -> str:
    """Mean accuracy over seeds after each phase, one row per method and sharing level."""
    phases = sorted(int(p) for p in run.frame["phase"].unique())
    seen = [int(run.frame.loc[run.frame["phase"] == p, "classes_seen"].iloc[0]) for p in phases]
    lines = ["| method | sharing | " + " | ".join(f"phase {p} ({n} classes)" for p, n in zip(phases, seen)) + " |",
             "|" + "---|" * (2 + len(phases))]
    for m in run.methods:
        for s in run.levels(m):
            _, acc = run.phase_curve(m, s)
            lines.append(f"| {m} | {'' if m == 'simplecil' else f'{s:g}'} | "
                         + " | ".join(f"{a:.1f}" for a in acc) + " |")
    return "\n".join(lines)


def figure_png(run: RunData, width: float = 7.0) -> bytes:
    size = size_for(width)
    with drawing(size):
        result = expansion_plots.fig_memory_energy(run, method_looks(run.methods))
        fig = standalone(result, size)
        readable_figure(fig)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=PNG_DPI)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--out", required=True, type=Path, help="where NAME_points.csv and NAME.png go")
    p.add_argument("--name", default="study", help="file name stem (default: study)")
    a = p.parse_args(argv)
    run = merged(a.runs)
    print(table(run))
    print()
    print(phase_table(run))
    write_output(a.out / f"{a.name}_points.csv", expansion_plots.points_csv(run))
    write_output(a.out / f"{a.name}.png", figure_png(run))


if __name__ == "__main__":
    main()
