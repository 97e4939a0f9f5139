"""The memory-aligned comparison (MEMO's argument: compare methods at equal total memory): final
accuracy against total memory (stored model + exemplars after the last phase) and against the
training energy of the incremental phases, one point per method and sharing level, each panel's
Pareto front marked; and the same points as a CSV (`points_csv`, written beside the report as
memory_energy_points.csv). Both appear in runs with a memory budget or one of DER, MEMO, FOSTER and
SimpleCIL (`figures`).
"""

from __future__ import annotations

import csv
import io

import numpy as np
from matplotlib.lines import Line2D

from energybench.report.canvas import FigureResult, Panels, omitted, plain_log_ticks
from energybench.report.plots import method_handles, pareto_front, scale_for, seeds_phrase
from energybench.report.rundir import RunData

CSV_NAME = "memory_energy_points.csv"
AT_BUDGET = 0.9  # a method holding less than this share of the budget does not fill it (an exemplar is far less)
COLUMNS = ("method", "sharing", "sharing_achieved", "final_acc", "total_memory_bytes", "training_energy_j",
           "pareto_memory", "pareto_energy")


def training_energy(run: RunData, method: str, sharing: float) -> float:
    """Every dynamic term the run priced (summary.json's total_energy_j, as the report's other
    energy totals); computation plus memory access for a run older than that key."""
    total = run.value(method, sharing, "total_energy_j")
    if total == total:
        return total
    return run.value(method, sharing, "total_compute_energy_j") + run.value(method, sharing, "total_memory_energy_j")


def points(run: RunData) -> list[dict]:
    """One row per (method, sharing level): summary.json's means over seeds, and whether the point
    is on the accuracy-memory and on the accuracy-energy Pareto front."""
    rows = [{"method": m, "sharing": s, "sharing_achieved": run.value(m, s, "sharing_achieved"),
             "final_acc": run.value(m, s, "final_acc"), "total_memory_bytes": run.value(m, s, "storage_bytes"),
             "training_energy_j": training_energy(run, m, s)}
            for m in run.methods for s in run.levels(m)]
    acc = [r["final_acc"] for r in rows]
    for key, flag in (("total_memory_bytes", "pareto_memory"), ("training_energy_j", "pareto_energy")):
        front = set(pareto_front([r[key] for r in rows], acc))
        for i, r in enumerate(rows):
            r[flag] = i in front
    return rows


def points_csv(run: RunData) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in points(run):
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    return buf.getvalue()


def budget_phrase(run: RunData) -> str:
    """Whether the memory panel compares methods at equal memory, in words: with a budget, the methods
    that fill it and those that hold less (no exemplars, or every training sample already kept)."""
    budget = run.config.get("memory_budget")
    if budget is None:
        return "Without a memory budget (memory_budget) each method holds what its own rules keep."
    held = {m: min(run.value(m, s, "storage_bytes") for s in run.levels(m)) for m in run.methods}
    below = [m for m, b in held.items() if b == b and b < AT_BUDGET * budget]
    text = f"The memory budget is {budget:,.0f} bytes"
    if not below:
        return text + ": every method sits at it, so the left panel compares methods at equal memory."
    kb = ", ".join(f"{m} {held[m] / 1e3:,.0f} kB" for m in below)
    return (text + f"; not every method fills it ({kb}): a method without exemplars, or one that already keeps every "
            "training sample of the classes seen, holds less, so those points are not at equal memory.")


def fig_memory_energy(run: RunData, looks) -> FigureResult:
    fid, title = "accuracy-vs-memory-and-energy", "Accuracy vs total memory and vs training energy"
    caption = ("Final accuracy against total memory (the stored model at the run's precision plus the exemplars, "
               "after the last phase) and against the modelled training energy (every term priced) of the incremental "
               "phases; one point per method and sharing level (labelled with the sharing achieved: SimpleCIL's is 1). "
               "Ringed points joined by dashed lines are the Pareto fronts. " + budget_phrase(run)
               + " SimpleCIL trains nothing after phase 0: its "
               "prototypes cost evaluation forwards (eval_macs), not training energy. " + seeds_phrase(run))
    prov = (f"Counted: unique parameters of the stored networks and exemplar bytes at {run.precision}. Modelled: "
            f"training energy from the counted operations, energy table '{run.energy_table}' and "
            f"{run.access_energies}.")
    rows = points(run)
    panels = [(key, flag, label, unit) for key, flag, label, unit in (
        ("total_memory_bytes", "pareto_memory", "total memory: model + exemplars ({unit})", "bytes"),
        ("training_energy_j", "pareto_energy", "training energy, incremental phases ({unit})", "J"))
        if sum(1 for r in rows if np.isfinite(r[key]) and np.isfinite(r["final_acc"])) >= 2]
    if not panels:
        return omitted(fid, title, caption, prov, "Omitted: fewer than two (method, sharing) points have an accuracy "
                                                  "with a memory or an energy, so there is no trade-off to draw.")

    def draw(axes):
        for ax, (key, flag, label, unit) in zip(axes, panels):
            div, unit_label = scale_for([r[key] for r in rows], unit)
            for r in rows:
                x = r[key] / div
                if np.isfinite(x) and np.isfinite(r["final_acc"]):
                    look = looks[r["method"]]
                    ax.plot([x], [r["final_acc"]], color=look.colour, marker=look.marker, linestyle="none")
                    ax.annotate(f"{r['sharing_achieved']:.2g}", (x, r["final_acc"]), textcoords="offset points",
                                xytext=(3, 3), color=look.colour)
            front = sorted((r[key] / div, r["final_acc"]) for r in rows if r[flag])
            if front:
                xs, ys = zip(*front)
                ax.step(xs, ys, where="post", color="black", linestyle="--", linewidth=0.8, zorder=1)
                ax.plot(xs, ys, marker="o", markersize=11, markerfacecolor="none", markeredgecolor="black",
                        linestyle="none", zorder=1)  # ringed, so a front of one point shows too
            xs = np.array([r[key] / div for r in rows], dtype=float)
            pos = xs[np.isfinite(xs) & (xs > 0)]
            if len(pos) and pos.max() / pos.min() > 30:
                # zero (SimpleCIL's training energy) stays on the axis: linear up to the smallest positive value
                ax.set_xscale("symlog" if (xs == 0).any() else "log", **({"linthresh": pos.min()} if (xs == 0).any()
                                                                          else {}))
                plain_log_ticks(ax.xaxis)
            ax.set_xlabel(label.replace("{unit}", unit_label))
            ax.set_ylabel("final accuracy (%)")

    legend = method_handles(run.methods, looks)
    for h in legend:
        h.set_linestyle("none")
    legend.append(Line2D([], [], color="black", linestyle="--", linewidth=0.8, marker="o", markerfacecolor="none",
                         label="Pareto front"))
    return FigureResult(fid, title, caption, prov, Panels(len(panels), draw, aspect=0.75, legend=legend,
                                                          bottom_em=1.2))


FIGURES = (("accuracy-vs-memory-and-energy", fig_memory_energy),)
GROWING = ("der", "memo", "foster", "simplecil")


def figures(run: RunData) -> tuple:
    """FIGURES where the comparison means something: a run with a memory budget or with a method
    that grows, compresses or freezes its model (the others' reports stay as they were)."""
    relevant = run.config.get("memory_budget") is not None or any(m in GROWING for m in run.methods)
    return FIGURES if relevant else ()
