"""Measured power: the trace, and the modelled energy set against the measured one."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.lines import Line2D

from energybench.report.canvas import FigureResult, Panels, omitted
from energybench.report.figures.curves import means_phrase, method_handles, modelled_phrase, scale_for, sharing_axis
from energybench.report.figures.pareto import LABEL_OFFSETS, place_labels
from energybench.report.figures.phases import LEVEL_STYLES
from energybench.report.rundir import RunData, num
from energybench.report.style import DEVICE_COLOURS, method_looks

MAX_TRACE_POINTS = 800  # about one per point of a page-wide figure


def _downsample(t: np.ndarray, w: np.ndarray, n: int = MAX_TRACE_POINTS):
    """Mean, min and max per time bin when a trace has more points than a figure can show."""
    if len(t) <= n:
        return t, w, None, None
    edges = np.linspace(t[0], t[-1], n + 1)
    idx = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, n - 1)
    counts = np.bincount(idx, minlength=n)
    keep = counts > 0
    mean = np.bincount(idx, weights=w, minlength=n)[keep] / counts[keep]
    lo = np.full(n, np.inf)
    hi = np.full(n, -np.inf)
    np.minimum.at(lo, idx, w)
    np.maximum.at(hi, idx, w)
    centres = ((edges[:-1] + edges[1:]) / 2)[keep]
    return centres, mean, lo[keep], hi[keep]


def fig_power(run: RunData, looks) -> FigureResult:
    fid, title = "power-trace", "Measured power"
    rate = run.config.get("power_rate_hz")
    devices = ", ".join(run.power) or "none"
    caption = ("Power readings of every sensor over the whole run (time since the first reading; one trace for all "
               f"{len(run.seeds)} seed(s), which ran one after another). Traces longer than {MAX_TRACE_POINTS} points "
               "are shown as per-bin means with the min-max range shaded.")
    prov = (f"Measured: power sensor readings ({devices})" + (f" sampled at {rate:g} Hz" if rate else "")
            + f" on {run.device_name}.")
    idle = [float(w) for w in run.distinct("idle_power_w")]
    if run.power_note:
        return omitted(fid, title, caption, prov, "Omitted: " + run.power_note)
    if not run.power or all(len(t) < 2 for t, _ in run.power.values()):
        why = ("the run did not record a power trace (no power_trace.csv: power measurement was off or no sensor "
               "was available)") if not run.power else "the power trace has fewer than two readings"
        return omitted(fid, title, caption, prov, f"Omitted: {why}.")
    traces = [(dev, *_downsample(t, w)) for dev, (t, w) in run.power.items()]

    def draw(axes):
        ax = axes[0]
        for k, (dev, tc, mean, lo, hi) in enumerate(traces):
            c = DEVICE_COLOURS[k % len(DEVICE_COLOURS)]
            ax.plot(tc, mean, color=c, linewidth=0.8, linestyle=LEVEL_STYLES[k % len(LEVEL_STYLES)], label=dev)
            if lo is not None:
                ax.fill_between(tc, lo, hi, color=c, alpha=0.2, linewidth=0)
        if idle:
            ax.axhline(idle[0], color="black", linestyle=":", linewidth=0.8, label=f"idle baseline {idle[0]:.3g} W")
        ax.set_xlabel("time since the first reading (s)")
        ax.set_ylabel("power (W)")

    legend = [Line2D([], [], color=DEVICE_COLOURS[k % len(DEVICE_COLOURS)], linestyle=LEVEL_STYLES[k % 4], label=dev)
              for k, (dev, *_) in enumerate(traces)]
    if idle:
        legend.append(Line2D([], [], color="black", linestyle=":", label=f"idle baseline {idle[0]:.3g} W"))
    return FigureResult(fid, title, caption, prov, Panels(1, draw, ncols=1, aspect=0.3, legend=legend))


# ----- modelled against measured energy ---------------------------------------------------------------
def fig_modelled_vs_measured(run: RunData, looks) -> FigureResult:
    fid, title = "modelled-vs-measured", "Modelled vs measured energy"
    block = run.calibration
    basis = {"measured_energy_above_idle_j": "above the idle baseline",
             "measured_energy_j": "in total (idle included: the run took no idle baseline)"}.get(
        run.measured_column, "above the idle baseline (in total where a run took none)")
    caption = ("Does the modelled saving show up in measured energy? Per phase: each phase's modelled training "
               f"energy (computation + memory access) against the energy measured over it {basis}, one point per "
               "method, sharing level and phase (labelled with the sharing level), and the least-squares line "
               "through the origin: the joules the machine spent per modelled joule. Hollow: phase 0, trained "
               "once for every sharing level, not fitted (its window also holds one-off start-up work). Savings: "
               "each sharing level's saving relative to sharing 0 (energy at sharing 0 ÷ energy at the level, over "
               "the incremental phases), modelled (solid) and measured (dashed). " + means_phrase(run))
    prov = modelled_phrase(run) + " " + run.measured_provenance()
    if not block.get("available"):
        return omitted(fid, title, caption, prov, f"Omitted: {block.get('reason', 'no modelled_vs_measured block')}.")
    fit = block["fit"]
    slope, r2 = num(fit["slope_j_per_modelled_j"]), num(fit["r2"])
    r2_text = f"{r2:.3f}" if math.isfinite(r2) else "undefined (every phase measured the same)"
    caption += (f" Fit: {slope:.4g} J measured per modelled J, R² = {r2_text} over {fit['points']} phases "
                "(R² about the mean: below 0 where a line through the origin fits worse than the mean). The table "
                "'Modelled vs measured savings' under Summary tables lists each level's energies and savings.")
    savings = {m: lv for m, lv in block.get("savings", {}).items() if len(lv) >= 2}
    if not savings:
        caption += (" No savings panel: no method has sharing 0 and another level"
                    + (f" ({block['savings_note']})" if block.get("savings_note") else "") + ".")
    points = block["points"]
    xdiv, xunit = scale_for([p["modelled_j"] for p in points], "J")
    ydiv, yunit = scale_for([p["measured_j"] for p in points], "J")
    named = {p["method"] for p in points} | set(savings)
    methods = [m for m in run.methods if m in named] + sorted(named - set(run.methods))  # the report's order
    looks = {m: looks.get(m) or method_looks([m])[m] for m in methods}  # a method only the block names

    def draw(axes):
        ax = axes[0]
        for p in points:
            lk = looks[p["method"]]
            x, y = p["modelled_j"] / xdiv, p["measured_j"] / ydiv
            ax.plot(x, y, marker=lk.marker, linestyle="none", color=lk.colour,
                    markerfacecolor=lk.colour if p["fitted"] else "none")
            ax.annotate(f"{p['sharing']:g}" if p["fitted"] else "p0", (x, y), textcoords="offset points",
                        xytext=LABEL_OFFSETS[0], color=lk.colour, gid="point-label")
        xs = np.array([0.0, 1.05 * max(p["modelled_j"] for p in points) / xdiv])
        ax.plot(xs, slope * xs * xdiv / ydiv, color="black", linestyle="--", linewidth=1.0, zorder=1)
        ax.set_xlim(left=0)
        ax.set_xlabel(f"modelled energy per phase ({xunit})")
        ax.set_ylabel(f"{run.measured_label}\nper phase ({yunit})")
        ax.set_title("per phase", loc="left")
        if savings:
            ax2 = axes[1]
            for m, lv in savings.items():
                lk = looks[m]
                xs2 = np.array([100 * run.achieved(m, float(s)) for s in lv])
                for key, dashes in (("modelled_saving_x", "-"), ("measured_saving_x", "--")):
                    ax2.plot(xs2, np.array([num(v[key]) for v in lv.values()]), color=lk.colour, marker=lk.marker,
                             linestyle=dashes, markerfacecolor=lk.colour if dashes == "-" else "none")
            ax2.axhline(1.0, color="black", linewidth=0.6, linestyle=":", zorder=1)
            sharing_axis(ax2, {round(run.achieved(m, float(s)), 6): float(s) for m, lv in savings.items()
                               for s in lv})
            ax2.set_ylabel("saving vs sharing 0 (×)")
            ax2.set_title("savings", loc="left")

    legend = method_handles(methods, looks)
    for h in legend:
        h.set_linestyle("none")
    fit_label = f"line through the origin: {slope:.3g} J per modelled J" + (f", R² {r2:.3f}" if math.isfinite(r2)
                                                                            else "")
    legend += [Line2D([], [], color="black", linestyle="--", linewidth=1.0, label=fit_label),
               Line2D([], [], color="black", marker="o", fillstyle="none", linestyle="none",
                      label="phase 0 (not fitted)")]
    if savings:
        legend += [Line2D([], [], color="black", marker="o", linestyle="-", label="saving, modelled"),
                   Line2D([], [], color="black", marker="o", fillstyle="none", linestyle="--",
                          label="saving, measured")]
    return FigureResult(fid, title, caption, prov,
                        Panels(1 + bool(savings), draw, aspect=0.75, titles=True,
                               legend=legend, top_axis=bool(savings) and run.sharing_differs(),
                               after=place_labels))
