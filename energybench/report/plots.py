"""The report's figures, built once as matplotlib Figures (no pyplot state) and saved by the
HTML (inline SVG) and PDF writers.

Every figure has a fixed section id, says in its footer whether its numbers are counted,
modelled or measured, and uses the same colour and marker per method. A figure whose data
is absent is returned with a one-line note instead of being drawn empty.
"""

from __future__ import annotations

import contextlib
import math
import textwrap
from dataclasses import dataclass
from typing import Callable

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from energybench.report.rundir import ENERGY, OPS, RunData, num

# Fixed per known method, so a method looks the same in every report; others take the rest.
METHOD_COLOURS = {
    "finetune": "#1f77b4", "joint": "#7f7f7f", "sharing": "#d62728", "progressive": "#9467bd",
    "tree": "#8c564b", "eeil": "#2ca02c", "lucir": "#ff7f0e", "lwf": "#17becf", "icarl": "#e377c2",
}
SPARE_COLOURS = ("#bcbd22", "#393b79", "#637939", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354")
METHOD_MARKERS = {"finetune": "o", "joint": "s", "sharing": "D", "progressive": "v", "tree": "P", "eeil": "^",
                  "lucir": "X", "lwf": "<", "icarl": ">"}
SPARE_MARKERS = ("h", "*", "p", "d", "8", "H")

STYLE = {
    "svg.fonttype": "none",  # text stays text in the SVG: smaller, searchable, no embedded glyphs
    "svg.hashsalt": "energybench",  # deterministic element ids, so a rebuilt report is identical
    "font.family": "DejaVu Sans",
    "font.size": 8.5,
    "axes.titlesize": 9,
    "axes.labelsize": 8.5,
    "legend.fontsize": 7.5,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.6,
    "lines.markersize": 5,
    # Class names, run ids and paths come from users: a '$' pair must print, not parse as maths.
    "text.parse_math": False,
    "text.usetex": False,
}

WIDTH = 9.0  # inches: one report column
FOOTER_PT = 7.0


@contextlib.contextmanager
def style():
    """The report's matplotlib settings, applied while figures are built and saved."""
    with matplotlib.rc_context(STYLE):
        yield


@dataclass
class FigureResult:
    id: str  # the section id in the HTML report
    title: str
    caption: str  # what is plotted and how it is aggregated
    provenance: str  # counted, modelled or measured, and by what
    figure: Figure | None = None
    note: str | None = None  # why the figure is omitted (figure is None)


def _weight(k: int, n: int) -> dict:
    """Line width and marker size of the k-th of n methods: the first drawn thickest, so a curve
    that another method's curve repeats exactly (same cost at the same sharing) stays visible."""
    t = (n - 1 - k) / (n - 1) if n > 1 else 0.0
    return {"linewidth": 1.4 + 2.2 * t, "markersize": 4.5 + 3.5 * t, "zorder": 2 + k}


def method_styles(methods: list[str]) -> dict[str, tuple[str, str]]:
    """method -> (colour, marker), fixed for known methods, in order for the others."""
    spare_c = iter(c for c in SPARE_COLOURS)
    spare_m = iter(m for m in SPARE_MARKERS)
    out = {}
    for m in methods:
        colour = METHOD_COLOURS.get(m) or next(spare_c, "#000000")
        marker = METHOD_MARKERS.get(m) or next(spare_m, "o")
        out[m] = (colour, marker)
    return out


def pareto_front(energy: list[float], acc: list[float]) -> list[int]:
    """Indices of the points no other point beats (lower or equal energy and higher accuracy,
    or lower energy and equal accuracy), ordered by energy. NaN points never qualify."""
    pts = [(e, -a, i) for i, (e, a) in enumerate(zip(energy, acc)) if not (math.isnan(e) or math.isnan(a))]
    front, best = [], -math.inf
    for e, neg_a, i in sorted(pts):
        if -neg_a > best:
            front.append(i)
            best = -neg_a
    return front


def scale_for(values, unit: str) -> tuple[float, str]:
    """(divisor, label) putting the largest finite value in a readable SI range."""
    finite = [abs(v) for v in np.ravel(values) if np.isfinite(v)]
    top = max(finite) if finite else 1.0
    if unit in ("J", "s"):
        steps = [(1.0, unit), (1e-3, "m" + unit), (1e-6, "µ" + unit), (1e-9, "n" + unit), (1e-12, "p" + unit)]
    else:  # counts, bytes
        steps = [(1e12, f"10¹² {unit}"), (1e9, f"10⁹ {unit}"), (1e6, f"10⁶ {unit}"), (1e3, f"10³ {unit}"), (1.0, unit)]
    for div, label in steps:
        if top >= div:
            return div, label
    return steps[-1]


# ----- figure scaffolding --------------------------------------------------------------------------
@dataclass
class Pad:
    """Fixed margins in inches around each panel: a hand layout is several times faster to draw
    than a solved (constrained) one, and these figures' labels are known in advance."""

    left: float = 0.85  # figure edge to the first panel: y tick labels and a two-line y label
    right: float = 0.15
    gap: float = 0.95  # between panels of a row: the next panel's y labels
    top: float = 0.3  # above each panel: an axes title (more for the achieved-sharing axis)
    bottom: float = 0.5  # below each panel: x tick labels and x label


TITLE_IN = 0.38


def _footer_lines(provenance: str) -> list[str]:
    return textwrap.wrap(provenance, width=int(WIDTH * 72 / (FOOTER_PT * 0.56)))


def _make(n: int, ncols: int, panel_h: float, title: str, provenance: str, pad: Pad | None = None):
    """A figure of n panels in rows of ncols, its title on top and its provenance as a footer."""
    pad = pad or Pad()
    lines = _footer_lines(provenance)
    footer_in = 0.12 + len(lines) * FOOTER_PT * 1.3 / 72
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    height = TITLE_IN + nrows * panel_h + footer_in
    fig = Figure(figsize=(WIDTH, height))
    aw = (WIDTH - pad.left - pad.right - (ncols - 1) * pad.gap) / ncols
    ah = panel_h - pad.top - pad.bottom
    axes = []
    for k in range(n):
        r, c = divmod(k, ncols)
        x0 = pad.left + c * (aw + pad.gap)
        y0 = footer_in + (nrows - 1 - r) * panel_h + pad.bottom
        axes.append(fig.add_axes((x0 / WIDTH, y0 / height, aw / WIDTH, ah / height)))
    heading = fig.text(0.01, 1 - 0.06 / height, title, ha="left", va="top", fontsize=11, fontweight="bold")
    footer = fig.text(0.01, 0.06 / height, "\n".join(lines), ha="left", va="bottom", fontsize=FOOTER_PT,
                      color="#444444", linespacing=1.3)
    # The HTML report gives title and provenance as text around the figure: it saves only the body.
    fig.eb_chrome = (heading, footer)
    fig.eb_body = Bbox.from_extents(0, footer_in, WIDTH, height - TITLE_IN)  # inches
    return fig, axes


def _omitted(fid: str, title: str, caption: str, provenance: str, note: str) -> FigureResult:
    return FigureResult(fid, title, caption, provenance, None, note)


def _sharing_axis(ax, run: RunData, methods: list[str], achieved_axis: bool = False) -> None:
    ax.set_xlabel("sharing requested (%)")
    ax.set_xlim(-3, 103)
    if not achieved_axis:  # a second axis costs a third of a panel's drawing time: accuracy panels only
        return
    # the achieved fraction (cuts fall on block boundaries) on top, when all methods agree
    levels = sorted({s for m in methods for s in run.levels(m)})
    achieved = {}
    for s in levels:
        vals = {round(run.value(m, s, "sharing_achieved"), 4) for m in methods if s in run.levels(m)}
        vals = {v for v in vals if not math.isnan(v)}
        if len(vals) != 1:
            return
        achieved[s] = vals.pop()
    top = ax.secondary_xaxis("top")
    top.set_xticks([100 * s for s in levels], [f"{100 * a:.0f}" for a in achieved.values()])
    top.tick_params(labelsize=6.5, length=2)
    top.set_xlabel("achieved (%)", fontsize=7)


def _sharing_methods(run: RunData) -> list[str]:
    return [m for m in run.methods if len(run.levels(m)) >= 2]


def _single_level_note(run: RunData, what: str) -> str:
    levels = ", ".join(f"{s:g}" for s in run.all_levels()) or "none"
    return (f"Omitted: no method has two or more sharing levels (levels run: {levels}), so there is no {what} "
            "curve against sharing; the summary table lists the values.")


def _vs_sharing(run, fid, title, caption, provenance, panels, styles, what):
    """Panels of summary figures against sharing, one line per method; a panel with no finite
    value (not measured, or no sharing-0 level to normalise by) is left out and said so."""
    methods = _sharing_methods(run)
    if not methods:
        return _omitted(fid, title, caption, provenance, _single_level_note(run, what))
    drawable, dropped = [], []
    for key, normalised, ylabel, unit in panels:
        curves = {m: run.curve(m, key, normalised) for m in methods}
        if any(np.isfinite(y).any() for _, y in curves.values()):
            drawable.append((key, normalised, ylabel, unit, curves))
        else:
            dropped.append(ylabel.split("\n")[0] + (" (no sharing-0 level to normalise by)" if normalised
                                                    and 0.0 not in run.all_levels() else " (not recorded)"))
    if not drawable:
        return _omitted(fid, title, caption, provenance, f"Omitted: this run recorded no {what} values.")
    fig, axes = _make(len(drawable), 2, 2.8, title, provenance)
    for ax, (key, normalised, ylabel, unit, curves) in zip(axes, drawable):
        div, label = (1.0, "") if unit is None else scale_for([v for _, y in curves.values() for v in y], unit)
        for k, (m, (xs, ys)) in enumerate(curves.items()):
            colour, marker = styles[m]
            ax.plot(100 * xs, ys / div, color=colour, marker=marker, label=m, **_weight(k, len(curves)))
            opt = run.optimal_sharing(m)
            if opt is not None and opt in list(xs):
                y = ys[list(xs).index(opt)] / div
                if np.isfinite(y):
                    ax.plot([100 * opt], [y], marker="*", markersize=13, color=colour, markeredgecolor="black",
                            markeredgewidth=0.6, linestyle="none", zorder=50)
        if normalised:
            ax.axhline(1.0, color="black", linewidth=0.7, linestyle=":")
        ax.set_ylabel(ylabel.replace("{unit}", label))
        _sharing_axis(ax, run, methods)
    _method_legend(axes[0], run, methods, styles)
    caption += " " + SHARING
    if dropped:
        caption += " Not drawn: " + "; ".join(dropped) + "."
    return FigureResult(fid, title, caption, provenance, fig)


def _method_legend(ax, run: RunData, methods: list[str], styles, optimal=True, pareto=False) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=styles[m][0], marker=styles[m][1], label=m) for m in methods]
    if pareto:
        handles.append(Line2D([], [], color="black", linestyle="--", linewidth=1, label="Pareto front"))
    if optimal and any(run.optimal_sharing(m) is not None for m in methods):
        handles.append(Line2D([], [], marker="*", markersize=11, color="white", markeredgecolor="black",
                              linestyle="none", label=f"optimal sharing (≤ {run.tolerance:g} pp below sharing 0)"))
    ax.legend(handles=handles, loc="best", framealpha=0.85)


# ----- provenance statements ------------------------------------------------------------------------
def _modelled(run: RunData) -> str:
    return (f"Modelled: energy = counted operations and memory accesses × per-operation and per-access energies "
            f"of energy table '{run.energy_table}' at precision {run.precision}.")


def _measured_time(run: RunData) -> str:
    return f"Measured: wall-clock training time on {run.device_name}."


def _accuracy_prov(run: RunData) -> str:
    return (f"Measured: test-set top-1 accuracy of each method's primary classifier, mean over "
            f"{len(run.seeds)} seed(s) ({', '.join(map(str, run.seeds))}).")


INCREMENTAL = "Costs sum over the incremental phases (phase 0 is the same base training at every sharing level)"
SHARING = ("Sharing is the fraction of the backbone's parameters, counted from the input, frozen and shared with "
           "the base network; the fraction achieved (cuts fall on block boundaries) is on the top axis of the "
           "accuracy figure and in the summary tables.")


# ----- the figures --------------------------------------------------------------------------------
def fig_accuracy(run: RunData, styles) -> FigureResult:
    fid, title = "accuracy-vs-sharing", "Accuracy vs sharing"
    caption = ("Final accuracy (after the last phase, ± standard deviation over seeds) and average incremental "
               "accuracy (mean over all phases, base included) against the sharing level. A star marks each "
               f"method's optimal sharing point: the largest sharing whose final accuracy is within "
               f"{run.tolerance:g} percentage points of sharing 0.")
    prov = _accuracy_prov(run)
    methods = _sharing_methods(run)
    if not methods:
        return _omitted(fid, title, caption, prov, _single_level_note(run, "accuracy"))
    fig, (ax1, ax2) = _make(2, 2, 3.2, title, prov, Pad(top=0.5))
    for k, m in enumerate(methods):
        colour, marker = styles[m]
        xs, final = run.curve(m, "final_acc")
        _, std = run.curve(m, "final_acc_std")
        _, avg = run.curve(m, "avg_inc_acc")
        weight = _weight(k, len(methods))
        ax1.errorbar(100 * xs, final, yerr=np.where(np.isfinite(std), std, 0) if len(run.seeds) > 1 else None,
                     color=colour, marker=marker, capsize=2, label=m, **weight)
        ax2.plot(100 * xs, avg, color=colour, marker=marker, label=m, **weight)
        opt = run.optimal_sharing(m)
        if opt is not None and opt in list(xs):
            k = list(xs).index(opt)
            for ax, ys in ((ax1, final), (ax2, avg)):
                ax.plot([100 * opt], [ys[k]], marker="*", markersize=14, color=colour, markeredgecolor="black",
                        markeredgewidth=0.6, linestyle="none", zorder=50)
    ax1.set_ylabel("final accuracy (%)")
    ax2.set_ylabel("average incremental accuracy (%)")
    for ax in (ax1, ax2):
        _sharing_axis(ax, run, methods, achieved_axis=True)
    _method_legend(ax1, run, methods, styles)
    return FigureResult(fid, title, caption + " " + SHARING, prov, fig)


def fig_compute(run: RunData, styles) -> FigureResult:
    return _vs_sharing(
        run, "compute-energy", "Computation energy vs sharing",
        "Computation energy per training iteration normalised to sharing 0 (as in the partial-sharing paper's "
        f"Fig. 4a), and in joules. {INCREMENTAL}; mean over seeds.",
        _modelled(run),
        [("compute_energy_j_per_iter", True, "compute energy per iteration\n(× sharing 0)", None),
         ("total_compute_energy_j", False, "compute energy ({unit})", "J")],
        styles, "computation energy")


def fig_memory(run: RunData, styles) -> FigureResult:
    prov = ("Modelled: memory reads and writes from the memory model of the counted operations (word size set by "
            f"precision {run.precision}); access energy from energy table '{run.energy_table}'.")
    return _vs_sharing(
        run, "memory-access", "Memory accesses and memory-access energy vs sharing",
        f"Memory accesses and their energy, per iteration normalised to sharing 0 and in absolute terms. "
        f"{INCREMENTAL}; mean over seeds.",
        prov,
        [("mem_accesses_per_iter", True, "memory accesses per iteration\n(× sharing 0)", None),
         ("total_mem_accesses", False, "memory accesses ({unit})", "accesses"),
         ("memory_energy_j_per_iter", True, "memory energy per iteration\n(× sharing 0)", None),
         ("total_memory_energy_j", False, "memory-access energy ({unit})", "J")],
        styles, "memory-access")


def fig_time(run: RunData, styles) -> FigureResult:
    return _vs_sharing(
        run, "training-time", "Training time per iteration vs sharing",
        "Training time per iteration of the incremental phases, normalised to sharing 0 (as in the partial-"
        "sharing paper's Fig. 4b) and in seconds; mean over seeds.",
        _measured_time(run),
        [("time_per_iter_s", True, "time per iteration\n(× sharing 0)", None),
         ("time_per_iter_s", False, "time per iteration ({unit})", "s")],
        styles, "training-time")


def fig_storage(run: RunData, styles) -> FigureResult:
    prov = (f"Counted: unique parameters of the stored networks (shared trunk once, plus each branch) and the "
            f"exemplar memory, at {run.precision} word size, after the last phase.")
    return _vs_sharing(
        run, "storage", "Storage vs sharing",
        "Storage after the last phase in bytes and normalised to sharing 0 (as in the partial-sharing paper's "
        "Fig. 5a); mean over seeds.",
        prov,
        [("storage_bytes", False, "storage ({unit})", "bytes"),
         ("storage_bytes", True, "storage\n(× sharing 0)", None)],
        styles, "storage")


def _shades(colour: str, n: int) -> list:
    """n shades of a method's colour, pale to full, for its sharing levels."""
    from matplotlib.colors import to_rgb

    rgb = np.array(to_rgb(colour))
    return [tuple(a * rgb + (1 - a) * np.ones(3)) for a in np.linspace(0.3 if n > 1 else 1.0, 1.0, n)]


def fig_phase_accuracy(run: RunData, styles) -> FigureResult:
    fid, title = "phase-accuracy", "Accuracy per phase"
    caption = ("Accuracy on all classes seen so far after each phase, against the number of classes seen (as the "
               "EEIL and LUCIR papers plot it), mean over seeds. One panel per method, one line per sharing level "
               "(darker = more sharing)")
    prov = _accuracy_prov(run)
    panels = []
    common = sorted(set.intersection(*[set(run.levels(m)) for m in run.methods])) if run.methods else []
    if len(run.methods) > 1 and common:
        panels.append(("all methods", common[0]))
        caption += f"; the first panel compares the methods at sharing {common[0]:g}"
    panels += [(m, None) for m in run.methods]
    n_phases = max(len(run.phase_curve(m, s)[0]) for m in run.methods for s in run.levels(m) or [0.0])
    if n_phases < 2:
        return _omitted(fid, title, caption + ".", prov, "Omitted: the run has a single phase, so there is no "
                                                            "accuracy curve over phases.")
    fig, axes = _make(len(panels), 3, 2.6, title, prov)
    for ax, (m, s) in zip(axes, panels):
        if s is not None:
            for k, mm in enumerate(run.methods):
                xs, ys = run.phase_curve(mm, s)
                ax.plot(xs, ys, color=styles[mm][0], marker=styles[mm][1], label=mm, **_weight(k, len(run.methods)))
            ax.set_title(f"all methods, sharing {s:g}")
        else:
            levels = run.levels(m)
            for shade, lv in zip(_shades(styles[m][0], len(levels)), levels):
                xs, ys = run.phase_curve(m, lv)
                ax.plot(xs, ys, color=shade, marker=styles[m][1], markersize=3.5, label=f"s = {lv:g}")
            ax.set_title(m)
        ax.set_xlabel("classes seen")
        ax.set_ylabel("accuracy (%)")
        ax.legend(fontsize=6.5, ncols=2 if len(ax.get_lines()) > 4 else 1, framealpha=0.85)
    return FigureResult(fid, title, caption + ".", prov, fig)


PARTS = {"fwd_macs": "forward", "bwd_input_macs": "backward (input grad.)",
         "bwd_weight_macs": "backward (weight grad.)", "update_ops": "update", "compute_energy_j": "computation",
         "memory_energy_j": "memory access"}
SHADE = {"fwd_macs": 1.0, "bwd_input_macs": 0.65, "bwd_weight_macs": 0.42, "update_ops": 0.22,
         "compute_energy_j": 1.0, "memory_energy_j": 1.0}
MEMORY_GREY = "#c8c8c8"  # memory access in every method's bars, apart from its computation shades


def energy_split(run: RunData, method: str, sharing: float) -> dict[str, float]:
    """Modelled training energy of the incremental phases split into forward, backward (input and
    weight gradients), update and memory access, in joules.

    The cost model prices every MAC at the table's multiply + add energy (RunData.mac_pj), so
    forward and backward energies are their MACs times that; the update's is the rest of the
    computation energy (the optimizer's multiplies and adds). Without a per-MAC energy only the
    computation / memory split is known: then the MAC parts are NaN."""
    t = {c: run.incremental_total(method, sharing, c) for c in OPS + ENERGY}
    mac_j = run.mac_pj * 1e-12
    out = {c: t[c] * mac_j for c in OPS[:3]}
    # CSV rounding can leave a hair below zero when an update is (nearly) free
    out["update_ops"] = max(t["compute_energy_j"] - sum(out.values()), 0.0) if not math.isnan(mac_j) else math.nan
    out["memory_energy_j"] = t["memory_energy_j"]
    out["compute_energy_j"] = t["compute_energy_j"]
    return out


def fig_breakdown(run: RunData, styles) -> FigureResult:
    fid, title = "energy-breakdown", "Cost breakdown per method"
    split = not math.isnan(run.mac_pj)
    caption = ("Left: counted operations of the incremental phases: forward MACs, backward MACs for input "
               "gradients and for weight gradients, and optimizer update operations. Right: modelled training "
               "energy of the same phases" + (
                   f", split into forward, backward and update computation (every MAC at the table's "
                   f"multiply + add energy, {run.mac_pj:g} pJ at {run.precision}; the update is the rest of the "
                   "computation energy) and memory access" if split else
                   " split into computation and memory access (the energy table records no per-MAC energy, so "
                   "computation is not split further)") + ". One bar per sharing level; mean over seeds.")
    prov = ("Counted: MACs and update operations from the operations PyTorch dispatched. " + _modelled(run))
    levels = {m: run.levels(m) for m in run.methods}
    ops = {m: np.array([[run.incremental_total(m, s, c) for c in OPS] for s in levels[m]]) for m in run.methods}
    energy_keys = (*OPS, "memory_energy_j") if split else ENERGY
    energy = {m: np.array([[energy_split(run, m, s)[c] for c in energy_keys] for s in levels[m]])
              for m in run.methods}
    has_ops = any(np.isfinite(v).any() for v in ops.values())
    has_energy = any(np.isfinite(v).any() for v in energy.values())
    if not (has_ops or has_energy):
        return _omitted(fid, title, caption, prov, "Omitted: this run recorded no operation counts or energies.")
    groups = [g for g, ok in (((ops, OPS, "operations ({unit})", "ops"), has_ops),
                              ((energy, energy_keys, "training energy ({unit})", "J"), has_energy)) if ok]
    fig, axes = _make(len(groups) * len(run.methods), len(groups), 2.3, title, prov)
    axes_iter = iter(axes)
    for m in run.methods:
        x = np.arange(len(levels[m]))
        for values_by_method, keys, ylabel, unit in groups:
            ax = next(axes_iter)
            values = values_by_method[m]
            div, label = scale_for(values, unit)
            bottom = np.zeros(len(x))
            for j, c in enumerate(keys):
                v = np.nan_to_num(values[:, j] / div, nan=0.0)  # a missing part adds nothing; see "n/a"
                colour = MEMORY_GREY if c == "memory_energy_j" else styles[m][0]
                ax.bar(x, v, bottom=bottom, color=colour, alpha=SHADE[c], edgecolor="black", linewidth=0.4,
                       label=PARTS[c] if unit == "ops" or c != "update_ops" else "update (rest of computation)")
                bottom = bottom + v
            for xi, row in zip(x, values):  # a level with nothing recorded says so instead of a zero bar
                if not np.isfinite(row).any():
                    ax.text(xi, 0, "n/a", ha="center", va="bottom", fontsize=6)
            ax.set_xticks(x, [f"{100 * s:g}" for s in levels[m]])
            ax.set_xlabel("sharing requested (%)")
            ax.set_ylabel(ylabel.replace("{unit}", label))
            ax.set_title(m, loc="left")
            ax.legend(fontsize=6, framealpha=0.85, loc="upper right")  # bars shrink with sharing
    return FigureResult(fid, title, caption, prov, fig)


LEVELS = (("compute_energy_j", "computation", 1.0), ("level_rf_energy_j", "register file", 0.75),
          ("level_buffer_energy_j", "buffer (SRAM)", 0.5), ("level_dram_energy_j", "DRAM", 0.25))


def fig_levels(run: RunData, styles) -> FigureResult:
    fid, title = "energy-by-level", "Training energy by hardware level"
    arch, node, vdd = run.first("arch"), run.first("node_nm"), run.first("vdd")
    caption = ("Modelled dynamic training energy of the incremental phases, stacked by where it is spent: "
               "computation, then each memory level of the architecture (levels it does not have are absent); "
               "one bar per sharing level, mean over seeds. Leakage (static energy, never part of the dynamic "
               "total) is the hatched bar beside each stack, where the architecture models it.")
    prov = (f"Modelled: counted operations and per-level word accesses (the tiling model of architecture '{arch}') "
            f"× energies of table '{run.energy_table}' at {node} nm, {vdd} V (cost/README.md).")
    if not run.has_column("level_buffer_energy_j"):
        return _omitted(fid, title, caption, prov, "Omitted: this run records no per-level energies (it predates "
                                                    "architecture files).")
    keys = [(c, label, shade) for c, label, shade in LEVELS if run.has_column(c)]
    leak = run.has_column("leakage_energy_j")
    levels = {m: run.levels(m) for m in run.methods}
    values = {m: np.array([[run.incremental_total(m, s, c) for c, _, _ in keys] for s in levels[m]])
              for m in run.methods}
    leaks = {m: np.array([run.incremental_total(m, s, "leakage_energy_j") if leak else math.nan for s in levels[m]])
             for m in run.methods}
    fig, axes = _make(len(run.methods), min(len(run.methods), 2), 2.3, title, prov)
    for ax, m in zip(axes, run.methods):
        x = np.arange(len(levels[m]))
        div, unit = scale_for(np.concatenate([values[m].ravel(), leaks[m]]), "J")
        bottom = np.zeros(len(x))
        width = 0.6 if not leak else 0.5
        for j, (c, label, shade) in enumerate(keys):
            v = np.nan_to_num(values[m][:, j] / div, nan=0.0)
            colour = styles[m][0] if c == "compute_energy_j" else MEMORY_GREY
            ax.bar(x - (0.1 if leak else 0), v, width, bottom=bottom, color=colour, alpha=shade if c ==
                   "compute_energy_j" else 1.0, edgecolor="black", linewidth=0.4, label=label,
                   hatch=None if c == "compute_energy_j" else ("", "..", "//", "xx")[j % 4])
            bottom = bottom + v
        if leak:
            ax.bar(x + 0.3, np.nan_to_num(leaks[m] / div, nan=0.0), 0.15, color="white", edgecolor="black",
                   linewidth=0.4, hatch="\\\\", label="leakage (apart)")
        ax.set_xticks(x, [f"{100 * s:g}" for s in levels[m]])
        ax.set_xlabel("sharing requested (%)")
        ax.set_ylabel(f"training energy ({unit})")
        ax.set_title(m, loc="left")
        ax.legend(fontsize=6, framealpha=0.85, loc="upper right")
    for ax in axes[len(run.methods):]:
        ax.set_visible(False)
    return FigureResult(fid, title, caption, prov, fig)


def fig_pareto(run: RunData, styles) -> FigureResult:
    fid, title = "accuracy-vs-energy", "Accuracy vs training energy"
    caption = ("Final accuracy against the total training energy of the incremental phases, one point per method "
               "and sharing level (labelled with the sharing level), mean over seeds. The dashed line is the Pareto "
               "front: the points that no other point matches or beats in both accuracy and energy.")
    prov = _modelled(run)
    series = [("modelled", "modelled training energy, compute + memory ({unit})",
               lambda m, s: run.value(m, s, "total_compute_energy_j") + run.value(m, s, "total_memory_energy_j"))]
    measured = run.measured_column
    if measured:
        series.append(("measured", run.measured_label.replace("energy", "training energy") + " ({unit})",
                       lambda m, s: run.incremental_total(m, s, measured)))
        prov += " " + run.measured_provenance()
    points = [(m, s) for m in run.methods for s in run.levels(m)]
    panels = []
    for name, xlabel, fn in series:
        energy = [fn(m, s) for m, s in points]
        acc = [run.value(m, s, "final_acc") for m, s in points]
        if sum(1 for e, a in zip(energy, acc) if np.isfinite(e) and np.isfinite(a)) >= 2:
            panels.append((name, xlabel, energy, acc))
    if not panels:
        return _omitted(fid, title, caption, prov, "Omitted: fewer than two (method, sharing) points have both an "
                                                   "accuracy and a training energy, so there is no trade-off to draw.")
    fig, axes = _make(len(panels), 2, 3.3, title, prov)
    for ax, (name, xlabel, energy, acc) in zip(axes, panels):
        div, label = scale_for(energy, "J")
        e = np.array(energy) / div
        for (m, s), ei, ai in zip(points, e, acc):
            if np.isfinite(ei) and np.isfinite(ai):
                ax.plot(ei, ai, color=styles[m][0], marker=styles[m][1], linestyle="none")
                ax.annotate(f"{s:g}", (ei, ai), textcoords="offset points", xytext=(3, 3), fontsize=6,
                            color=styles[m][0])
        front = pareto_front(list(e), acc)
        ax.step(e[front], np.array(acc)[front], where="post", color="black", linestyle="--", linewidth=1,
                zorder=1)
        finite = e[np.isfinite(e) & (e > 0)]
        if len(finite) and finite.max() / finite.min() > 30:
            ax.set_xscale("log")
        ax.set_xlabel(xlabel.replace("{unit}", label))
        ax.set_ylabel("final accuracy (%)")
        ax.set_title(f"{name} energy", loc="left")
    _method_legend(axes[0], run, run.methods, styles, optimal=False, pareto=True)
    return FigureResult(fid, title, caption, prov, fig)


MAX_TRACE_POINTS = 800  # about one per pixel of the figure's width


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


def fig_power(run: RunData, styles) -> FigureResult:
    fid, title = "power-trace", "Measured power"
    rate = run.config.get("power_rate_hz")
    devices = ", ".join(run.power) or "none"
    caption = ("Power readings of every sensor over the whole run (time since the first reading). Traces longer "
               f"than {MAX_TRACE_POINTS} points are shown as per-bin means with the min-max range shaded.")
    prov = (f"Measured: power sensor readings ({devices})" + (f" sampled at {rate:g} Hz" if rate else "")
            + f" on {run.device_name}.")
    idle = [float(w) for w in run.distinct("idle_power_w")]
    if run.power_note:
        return _omitted(fid, title, caption, prov, "Omitted: " + run.power_note)
    if not run.power or all(len(t) < 2 for t, _ in run.power.values()):
        why = ("the run did not record a power trace (no power_trace.csv: power measurement was off or no sensor "
               "was available)") if not run.power else "the power trace has fewer than two readings"
        return _omitted(fid, title, caption, prov, f"Omitted: {why}.")
    fig, (ax,) = _make(1, 1, 2.8, title, prov)
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2"]
    for k, (dev, (t, w)) in enumerate(run.power.items()):
        tc, mean, lo, hi = _downsample(t, w)
        c = colours[k % len(colours)]
        ax.plot(tc, mean, color=c, linewidth=0.9, label=dev)
        if lo is not None:
            ax.fill_between(tc, lo, hi, color=c, alpha=0.2, linewidth=0)
    if idle:
        ax.axhline(idle[0], color="black", linestyle=":", linewidth=0.8, label=f"idle baseline {idle[0]:.3g} W")
    ax.set_xlabel("time since the first reading (s)")
    ax.set_ylabel("power (W)")
    ax.legend(framealpha=0.85)
    return FigureResult(fid, title, caption, prov, fig)


def fig_confusion(run: RunData, styles) -> FigureResult:
    fid, title = "confusion", "Confusion matrices, last phase"
    caption = ("Confusion matrix of each method's primary classifier after the last phase, at its optimal sharing "
               "point (else its lowest sharing level), for the first seed; rows are true classes, columns "
               "predictions, in class order; colour is the share of each true class (row-normalised), numbers are "
               "counts. Lines mark phase boundaries.")
    prov = "Measured: test-set predictions."
    mats = [c for c in (run.confusion(m) for m in run.methods) if c is not None]
    if not mats:
        return _omitted(fid, title, caption, prov, "Omitted: the run directory has no confusion_phase<k>.csv for "
                                                   "the last phase of any method (cells/ missing).")
    ncols = 1 if len(mats) == 1 else 2
    pad = Pad(left=1.2, gap=1.3, top=0.35, bottom=1.1, right=0.15 if ncols == 2 else WIDTH - 1.2 - 4.0)
    side = (WIDTH - pad.left - pad.right - (ncols - 1) * pad.gap) / ncols  # square panels
    fig, axes = _make(len(mats), ncols, side + pad.top + pad.bottom, title, prov, pad)
    for ax, c in zip(axes, mats):
        mat = c.matrix.astype(float)
        rows = mat.sum(axis=1, keepdims=True)
        share = np.divide(mat, rows, out=np.zeros_like(mat), where=rows > 0)
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
        n = len(mat)
        if n <= 12:
            for i in range(n):
                for j in range(n):
                    if c.matrix[i, j]:
                        ax.text(j, i, str(c.matrix[i, j]), ha="center", va="center", fontsize=5.5,
                                color="white" if share[i, j] > 0.5 else "black")
        step = max(1, math.ceil(n / 20))
        ticks = list(range(0, n, step))
        labels = [c.labels[k][:14] for k in ticks]
        ax.set_xticks(ticks, labels, rotation=90, fontsize=6)
        ax.set_yticks(ticks, labels, fontsize=6)
        ax.grid(False)
        for b in np.cumsum(c.phase_sizes)[:-1]:
            if b < n:
                ax.axhline(b - 0.5, color=styles[c.method][0], linewidth=0.8)
                ax.axvline(b - 0.5, color=styles[c.method][0], linewidth=0.8)
        ax.set_title(f"{c.method}: sharing {c.sharing:g}, seed {c.seed}, phase {c.phase}", fontsize=8.5,
                     color=styles[c.method][0], loc="left")
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
    missing = [m for m in run.methods if m not in {c.method for c in mats}]
    if missing:
        caption += f" No matrix recorded for: {', '.join(missing)}."
    return FigureResult(fid, title, caption, prov, fig)


def fig_modelled_vs_measured(run: RunData, styles) -> FigureResult:
    fid, title = "modelled-vs-measured", "Modelled vs measured energy"
    block = run.calibration
    basis = {"measured_energy_above_idle_j": "above the idle baseline",
             "measured_energy_j": "in total (idle included: the run took no idle baseline)"}.get(
        run.measured_column, "above the idle baseline (in total where a run took none)")
    caption = ("Does the modelled saving show up in measured energy? Left: each phase's modelled training energy "
               f"(computation + memory access) against the energy measured over it {basis}, one point per method, "
               "sharing level and phase (mean over seeds, labelled with the sharing level), and the least-squares "
               "line through the origin: the joules the machine spent per modelled joule. Hollow: phase 0, trained "
               "once for every sharing level, not fitted (its window also holds one-off start-up work). Right: "
               "each sharing level's saving relative to sharing 0 (energy at sharing 0 ÷ energy at the level, over "
               "the incremental phases), modelled (solid) and measured (dashed).")
    prov = _modelled(run) + " " + run.measured_provenance()
    if not block.get("available"):
        return _omitted(fid, title, caption, prov, f"Omitted: {block.get('reason', 'no modelled_vs_measured block')}.")
    fit = block["fit"]
    slope, r2 = num(fit["slope_j_per_modelled_j"]), num(fit["r2"])
    r2_text = f"{r2:.3f}" if math.isfinite(r2) else "undefined (every phase measured the same)"
    caption += (f" Fit: {slope:.4g} J measured per modelled J, R² = {r2_text} over {fit['points']} phases "
                "(R² about the mean: below 0 where a line through the origin fits worse than the mean).")
    savings = {m: lv for m, lv in block.get("savings", {}).items() if len(lv) >= 2}
    if not savings:
        caption += (" No savings panel: no method has sharing 0 and another level"
                    + (f" ({block['savings_note']})" if block.get("savings_note") else "") + ".")
    fig, axes = _make(1 + bool(savings), 2, 3.4, title, prov)
    ax = axes[0]
    points = block["points"]
    xdiv, xlabel = scale_for([p["modelled_j"] for p in points], "J")
    ydiv, ylabel = scale_for([p["measured_j"] for p in points], "J")
    for p in points:
        colour, marker = styles.get(p["method"], ("#000000", "o"))
        x, y = p["modelled_j"] / xdiv, p["measured_j"] / ydiv
        ax.plot(x, y, marker=marker, linestyle="none", color=colour,
                markerfacecolor=colour if p["fitted"] else "none")
        ax.annotate(f"{p['sharing']:g}" if p["fitted"] else "p0", (x, y), textcoords="offset points",
                    xytext=(3, 3), fontsize=6, color=colour)
    top = max(p["modelled_j"] for p in points) / xdiv
    xs = np.array([0.0, top * 1.05])
    ax.plot(xs, slope * xs * xdiv / ydiv, color="black", linestyle="--", linewidth=1,
            label=f"fit through 0: {slope:.3g} J per modelled J, R² {r2:.3f}" if math.isfinite(r2)
            else f"fit through 0: {slope:.3g} J per modelled J")
    ax.set_xlim(left=0)
    ax.set_xlabel(f"modelled energy per phase ({xlabel})")
    ax.set_ylabel(f"{run.measured_label} per phase ({ylabel})")
    ax.legend(loc="upper left", framealpha=0.85)
    if savings:
        from matplotlib.lines import Line2D

        ax2 = axes[1]
        for m, levels in savings.items():
            colour, marker = styles.get(m, ("#000000", "o"))
            xs = np.array([100 * float(s) for s in levels])
            for key, dashes in (("modelled_saving_x", "-"), ("measured_saving_x", "--")):
                ys = np.array([num(v[key]) for v in levels.values()])
                ax2.plot(xs, ys, color=colour, marker=marker, linestyle=dashes,
                         markerfacecolor=colour if dashes == "-" else "none")
        ax2.axhline(1.0, color="black", linewidth=0.7, linestyle=":")
        ax2.set_xlabel("sharing requested (%)")
        ax2.set_ylabel("saving vs sharing 0 (×)")
        handles = [Line2D([], [], color=styles.get(m, ("#000000",))[0], marker=styles.get(m, ("", "o"))[1], label=m)
                   for m in savings]
        handles += [Line2D([], [], color="black", linestyle="-", label="modelled"),
                    Line2D([], [], color="black", linestyle="--", label="measured")]
        ax2.legend(handles=handles, loc="upper left", framealpha=0.85)
    return FigureResult(fid, title, caption, prov, fig)


FIGURES: tuple[tuple[str, Callable[[RunData, dict], FigureResult]], ...] = (
    ("accuracy-vs-sharing", fig_accuracy),
    ("compute-energy", fig_compute),
    ("memory-access", fig_memory),
    ("training-time", fig_time),
    ("storage", fig_storage),
    ("phase-accuracy", fig_phase_accuracy),
    ("energy-breakdown", fig_breakdown),
    ("energy-by-level", fig_levels),
    ("accuracy-vs-energy", fig_pareto),
    ("power-trace", fig_power),
    ("modelled-vs-measured", fig_modelled_vs_measured),
    ("confusion", fig_confusion),
)


def build_figures(run: RunData) -> list[FigureResult]:
    """Every report figure in report order (drawn, or omitted with a note). Call under style()."""
    styles = method_styles(run.methods)
    return [fn(run, styles) for _, fn in FIGURES]
