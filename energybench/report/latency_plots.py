"""The modelled accelerator's delay beside its energy: energy per iteration against modelled
latency per iteration, one point per (method, sharing level) on the run's architecture (the
Pareto view; `compare` puts runs on other architectures side by side), and the modelled step
time beside the measured training time per iteration. Reads the run's metrics only."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.lines import Line2D

from energybench.report.canvas import FigureResult, Panels, omitted, plain_log_ticks
from energybench.report.figures.curves import means_phrase, modelled_phrase
from energybench.report.figures.pareto import LABEL_OFFSETS, place_labels
from energybench.report.rundir import RunData


def _per_iter(run: RunData, method: str, sharing: float, columns: tuple[str, ...]) -> float:
    iters = run.incremental_total(method, sharing, "iters")
    total = sum(run.incremental_total(method, sharing, c) for c in columns)
    return total / iters if iters and iters > 0 else math.nan


def fig_energy_latency(run: RunData, looks) -> FigureResult:
    fid, title = "energy-vs-latency", "Energy vs modelled latency per iteration"
    caption = ("Modelled dynamic energy (computation and every memory level of the MAC passes and updates) of one "
               "training iteration against its modelled latency on the architecture, incremental phases, one point "
               "per method and sharing level (labelled with the sharing requested, %; a label that would cover "
               "another is left out): lower left is better on both. The element-wise work, priced apart on per-layer "
               "buffers and outside the modelled latency, is not in this energy. Right: the modelled step time "
               "beside the measured training time per iteration of the machine the run used. " + means_phrase(run))
    prov = (modelled_phrase(run) + f" Latency, modelled on {run.architecture or 'no architecture'}: the passes' "
            "cycles (array folds, or traffic over each level's bandwidth where that is longer) at its clock "
            "(cost/README.md). Measured: wall-clock training time.")
    if not run.has_column("latency_s"):
        return omitted(fid, title, caption, prov, "Omitted: the run's architecture has no processing-element array "
                                                  "and clock (the default per-layer buffer), or the run predates "
                                                  "modelled latency.")
    levels = run.all_levels() or [0.0]
    points = {m: [(s, _per_iter(run, m, s, ("latency_s",)),
                   _per_iter(run, m, s, ("compute_energy_j", "memory_energy_j")),
                   _per_iter(run, m, s, ("train_time_s",))) for s in run.levels(m)] for m in run.methods}

    def draw(axes):
        ax, ax2 = axes
        for m, pts in points.items():
            lat = np.array([p[1] for p in pts]) * 1e3
            ax.plot(lat, [p[2] * 1e3 for p in pts], marker=looks[m].marker, color=looks[m].colour, linestyle="")
            for s, x, y, _ in pts:
                ax.annotate(f"{100 * s:g}", (x * 1e3, y * 1e3), xytext=LABEL_OFFSETS[0], textcoords="offset points",
                            color=looks[m].colour, gid="point-label")
            ax2.plot([100 * p[0] for p in pts], lat, marker=looks[m].marker, color=looks[m].colour)
            ax2.plot([100 * p[0] for p in pts], [p[3] * 1e3 for p in pts], marker=looks[m].marker,
                     color=looks[m].colour, linestyle=":", fillstyle="none")
        ax.set_xlabel("modelled latency per iteration (ms)")
        ax.set_ylabel("energy per iteration (mJ)")
        ax2.set_xlabel("sharing requested (%)")
        ax2.set_ylabel("time per iteration (ms)")
        ax2.set_yscale("log")
        plain_log_ticks(ax2.yaxis)
        ax2.set_xticks([100 * s for s in levels[:: max(1, math.ceil(len(levels) / 8))]])

    legend = [Line2D([], [], color=looks[m].colour, marker=looks[m].marker, linestyle="", label=m)
              for m in run.methods]
    legend += [Line2D([], [], color="black", label="modelled"),
               Line2D([], [], color="black", linestyle=":", marker="o", fillstyle="none", label="measured")]
    return FigureResult(fid, title, caption, prov, Panels(2, draw, legend=legend, after=place_labels))
