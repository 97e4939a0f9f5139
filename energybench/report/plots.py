"""The run report's figures. Each is one function `fig_x(run, looks) -> FigureResult` that
computes its data and describes its panels (canvas.Panels with a draw callback), registered
by one line in FIGURES (report order). Nothing here sizes a figure: canvas.py lays it out at
the width it is wanted (report page, paper column, export).

Every figure says in its provenance whether its numbers are counted, modelled or measured,
and in its caption over how many seeds; error bars show the spread over seeds wherever more
than one ran. A method keeps its colour, marker and line style (style.METHOD_LOOKS) in every
figure. A figure whose data is absent is returned with a one-line note instead of drawn empty.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from energybench.report.canvas import FigureResult, Panels, omitted
from energybench.report.latency_plots import fig_energy_latency
from energybench.report.rundir import ENERGY, OPS, RunData, num
from energybench.report.style import DEVICE_COLOURS, GREY, Look, method_looks
from energybench.results import optimal_rule


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


# ----- captions and provenance ------------------------------------------------------------------------
def seeds_phrase(run: RunData) -> str:
    """How many seeds a figure aggregates, said in every caption."""
    seeds = ", ".join(map(str, run.seeds))
    if len(run.seeds) > 1:
        return (f"Mean over {len(run.seeds)} seeds ({seeds}); error bars ± one standard deviation over seeds "
                "(population).")
    return f"One seed ({seeds}): no error bars."


def means_phrase(run: RunData) -> str:
    """How many seeds a figure without error bars averages."""
    seeds = ", ".join(map(str, run.seeds))
    return f"Mean over {len(run.seeds)} seeds ({seeds}); no error bars." if len(run.seeds) > 1 else \
        f"One seed ({seeds}): no error bars."


def _modelled(run: RunData) -> str:
    return (f"Modelled: energy = counted operations and memory accesses × per-operation and per-access energies "
            f"of energy table '{run.energy_table}' at precision {run.precision}.")


def _accuracy_prov(run: RunData) -> str:
    return "Measured: test-set top-1 accuracy of each method's primary classifier."


INCREMENTAL = "Costs sum over the incremental phases (phase 0 is the same base training at every sharing level)."
SHARING = ("Sharing: the fraction of the backbone's parameters, counted from the input, frozen and shared with the "
           "base network. Points are drawn at the fraction achieved (cuts fall on block boundaries); the fraction "
           "requested is on the top axis where the two differ.")


# ----- drawing helpers ----------------------------------------------------------------------------------
def weight(k: int, n: int, base_lw: float | None = None) -> dict:
    """Line width and z-order of the k-th of n curves: the first drawn a little thicker, so a
    curve that another repeats exactly (same cost at the same sharing) stays visible."""
    t = (n - 1 - k) / (n - 1) if n > 1 else 0.0
    return {"linewidth": (base_lw or 1.3) * (1 + 0.9 * t), "zorder": 2 + k}


@dataclass
class Curve:
    """One line of a panel against sharing."""

    label: str
    look: Look
    xs: np.ndarray  # sharing achieved (fractions): where each point is drawn
    ys: np.ndarray
    err: np.ndarray | None = None  # ± (standard deviation over seeds), or None
    span: tuple[np.ndarray, np.ndarray] | None = None  # (low, high) drawn as an error bar instead
    star: float | None = None  # the optimal sharing level, marked with a star
    linestyle: object | None = None  # overrides the look's (the run of a comparison)
    fill: str = "full"  # marker fill (the run of a comparison)
    requested: np.ndarray | None = None  # the requested level of each point (None: as xs)

    @property
    def levels(self) -> list[float]:
        return list(self.xs if self.requested is None else self.requested)


def draw_curve(ax, c: Curve, k: int, n: int, div: float = 1.0) -> None:
    xs, ys = 100 * c.xs, c.ys / div
    style = dict(color=c.look.colour, marker=c.look.marker, linestyle=c.linestyle or c.look.linestyle,
                 fillstyle=c.fill, markerfacecoloralt="white", label=c.label, **weight(k, n))
    yerr = None
    if c.span is not None:
        lo, hi = c.span[0] / div, c.span[1] / div
        yerr = np.vstack([np.where(np.isfinite(lo), ys - lo, 0), np.where(np.isfinite(hi), hi - ys, 0)])
        yerr = np.clip(np.nan_to_num(yerr), 0, None)
    elif c.err is not None and np.isfinite(c.err).any():
        yerr = np.where(np.isfinite(c.err), c.err / div, 0)
    if yerr is not None:
        ax.errorbar(xs, ys, yerr=yerr, elinewidth=0.7, **style)
    else:
        ax.plot(xs, ys, **style)
    if c.star is not None and c.star in c.levels:
        k = c.levels.index(c.star)
        y = ys[k]
        if np.isfinite(y):
            ax.plot([xs[k]], [y], marker="*", markersize=11, color=c.look.colour, markeredgecolor="black",
                    markeredgewidth=0.5, linestyle="none", zorder=50)


ACHIEVED_LABEL = "sharing achieved (%)"
REQUESTED_LABEL = "sharing requested (%)"
FAR_PP = 5.0  # achieved this many points or more from the request: said in a note


def sharing_axis(ax, pairs: dict[float, float] | None = None) -> None:
    """x: the sharing achieved (what was frozen); on top, where given (achieved -> requested),
    the level each point was requested at, as a secondary label."""
    ax.set_xlabel(ACHIEVED_LABEL)
    ax.set_xlim(-4, 104)
    ax.set_xticks([0, 20, 40, 60, 80, 100])
    if pairs and any(abs(a - r) > 1e-9 for a, r in pairs.items()):
        ticks, last = [], -100.0
        for a, r in sorted(pairs.items()):  # labels closer than 7 points of sharing would overlap
            if 100 * a - last >= 7:
                ticks.append((100 * a, f"{100 * r:g}"))
                last = 100 * a
        top = ax.secondary_xaxis("top")
        top.set_xticks([t for t, _ in ticks], [lb for _, lb in ticks])
        top.set_xlabel(REQUESTED_LABEL)


def curve_pairs(curves: list[Curve]) -> dict[float, float]:
    """achieved -> requested over the curves of a panel (one request per achieved point)."""
    out: dict[float, float] = {}
    for c in curves:
        for a, r in zip(c.xs, c.levels):
            if np.isfinite(a):
                out.setdefault(round(float(a), 6), float(r))
    return out


def level_ticks(run: RunData, levels: list[float]) -> list[str]:
    """Tick labels of a bar chart's sharing groups: achieved, the request beneath where it differs."""
    out = []
    for s in levels:
        a = run.achieved_at(s)
        out.append(f"{100 * a:.3g}" if abs(a - s) < 5e-4 else f"{100 * a:.3g}\n({100 * s:g})")
    return out


def level_axis_label(run: RunData, levels: list[float]) -> str:
    return ACHIEVED_LABEL if all(abs(run.achieved_at(s) - s) < 5e-4 for s in levels) else \
        "sharing achieved (%), requested in parentheses"


def method_handles(methods: list[str], looks: dict[str, Look]) -> list:
    return [Line2D([], [], color=looks[m].colour, marker=looks[m].marker, linestyle=looks[m].linestyle, label=m)
            for m in methods]


def star_handle(tolerance: float) -> Line2D:
    return Line2D([], [], marker="*", markersize=10, color="white", markeredgecolor="black", linestyle="none",
                  label=f"optimal sharing (≤ {tolerance:g} pp below sharing 0, one standard error included)")


@dataclass
class Spec:
    """One panel of a figure against sharing: which summary figure, normalised or absolute."""

    key: str
    normalised: bool
    ylabel: str  # "{unit}" is replaced by the unit of the absolute values
    unit: str | None = None  # None for a ratio
    span: str | None = None  # a per-phase total (train_time_s) whose per-iteration range is drawn


def panel_ylabel(spec: Spec, values) -> tuple[float, str]:
    div, label = (1.0, "") if spec.unit is None else scale_for(values, spec.unit)
    return div, spec.ylabel.replace("{unit}", label)


def draw_panel(ax, spec: Spec, curves: list[Curve]) -> None:
    div, ylabel = panel_ylabel(spec, [v for c in curves for v in c.ys])
    for k, c in enumerate(curves):
        draw_curve(ax, c, k, len(curves), div)
    if spec.normalised:
        ax.axhline(1.0, color="black", linewidth=0.6, linestyle=":", zorder=1)
    ax.set_ylabel(ylabel)
    sharing_axis(ax, curve_pairs(curves))


# ----- figures against sharing --------------------------------------------------------------------------
def _sharing_methods(run: RunData) -> list[str]:
    return [m for m in run.methods if len(run.levels(m)) >= 2]


def _single_level_note(run: RunData, what: str) -> str:
    levels = ", ".join(f"{s:g}" for s in run.all_levels()) or "none"
    return (f"Omitted: no method has two or more sharing levels (levels run: {levels}), so there is no {what} "
            "curve against sharing; the summary table lists the values.")


def method_curves(run: RunData, spec: Spec, methods: list[str], looks) -> list[Curve]:
    curves = []
    for m in methods:
        xs, ys = run.curve(m, spec.key, spec.normalised)
        span = None
        if spec.span is not None:
            lo, hi = run.phase_range(m, spec.span)
            if spec.normalised:
                ref = run.value(m, 0.0, spec.key) if 0.0 in run.levels(m) else math.nan
                lo, hi = lo / ref, hi / ref
            span = (lo, hi)
        err = None if span is not None or len(run.seeds) < 2 else run.seed_std(m, spec.key, spec.normalised)
        achieved = np.array([run.achieved(m, s) for s in xs])
        curves.append(Curve(m, looks[m], achieved, ys, err, span, run.optimal_sharing(m), requested=xs))
    return curves


def vs_sharing(run: RunData, fid: str, title: str, caption: str, provenance: str, specs: list[Spec],
               looks: dict[str, Look], what: str, seeds: str | None = None) -> FigureResult:
    """Panels of summary figures against sharing, one line per method; a panel with no finite
    value (not measured, or no sharing-0 level to normalise by) is left out and said so."""
    methods = _sharing_methods(run)
    if not methods:
        return omitted(fid, title, caption, provenance, _single_level_note(run, what))
    drawable, dropped = [], []
    for spec in specs:
        curves = method_curves(run, spec, methods, looks)
        if any(np.isfinite(c.ys).any() for c in curves):
            drawable.append((spec, curves))
        else:
            name = spec.ylabel.split(" (")[0].replace("\n", " ")
            dropped.append(name + (" (no sharing-0 level to normalise by)" if spec.normalised
                                   and 0.0 not in run.all_levels() else " (not recorded)"))
    if not drawable:
        return omitted(fid, title, caption, provenance, f"Omitted: this run recorded no {what} values.")

    def draw(axes):
        for ax, (spec, curves) in zip(axes, drawable):
            draw_panel(ax, spec, curves)

    legend = method_handles(methods, looks)
    if any(run.optimal_sharing(m) is not None for m in methods):
        legend.append(star_handle(run.tolerance))
    caption = f"{caption} {seeds or seeds_phrase(run)} {SHARING}"
    if dropped:
        caption += " Not drawn: " + "; ".join(dropped) + "."
    return FigureResult(fid, title, caption, provenance, Panels(len(drawable), draw, legend=legend,
                                                                top_axis=run.sharing_differs()))


def fig_accuracy(run: RunData, looks) -> FigureResult:
    fid, title = "accuracy-vs-sharing", "Accuracy vs sharing"
    caption = ("Final accuracy (after the last phase) and average incremental accuracy (mean over all phases, base "
               f"included) against the sharing level. A star marks each method's optimal sharing point: "
               f"{optimal_rule(run.tolerance)}.")
    prov = _accuracy_prov(run)
    methods = _sharing_methods(run)
    if not methods:
        return omitted(fid, title, caption, prov, _single_level_note(run, "accuracy"))
    specs = [Spec("final_acc", False, "final accuracy (%)"),
             Spec("avg_inc_acc", False, "average incremental\naccuracy (%)")]
    panels = [(spec, method_curves(run, spec, methods, looks)) for spec in specs]

    def draw(axes):
        for ax, (spec, curves) in zip(axes, panels):
            draw_panel(ax, spec, curves)

    legend = method_handles(methods, looks)
    if any(run.optimal_sharing(m) is not None for m in methods):
        legend.append(star_handle(run.tolerance))
    return FigureResult(fid, title, f"{caption} {seeds_phrase(run)} {SHARING}", prov,
                        Panels(2, draw, legend=legend, top_axis=run.sharing_differs()))


def fig_compute(run: RunData, looks) -> FigureResult:
    return vs_sharing(
        run, "compute-energy", "Computation energy vs sharing",
        "Computation energy per training iteration normalised to sharing 0 (as in the partial-sharing paper's "
        "Fig. 4a), and in joules" + ("; below, the total of every term the run priced (computation and memory "
                                     "access of the MACs and of the element-wise work)"
                                     if run.has_column("elementwise_compute_energy_j") else "") + f". {INCREMENTAL}",
        _modelled(run),
        [Spec("compute_energy_j_per_iter", True, "compute energy per\niteration (× sharing 0)"),
         Spec("total_compute_energy_j", False, "compute energy ({unit})", "J"),
         *([Spec("total_energy_j", True, "total energy, every\npriced term (× sharing 0)"),
            Spec("total_energy_j", False, "total energy, every\npriced term ({unit})", "J")]
           if run.has_column("elementwise_compute_energy_j") else [])],
        looks, "computation energy")


def fig_memory(run: RunData, looks) -> FigureResult:
    prov = ("Modelled: memory reads and writes from the memory model of the counted operations (word size set by "
            f"precision {run.precision}); access energy from energy table '{run.energy_table}'.")
    return vs_sharing(
        run, "memory-access", "Memory accesses and memory-access energy vs sharing",
        "Memory accesses of the MAC operands and their energy, per iteration normalised to sharing 0 and in "
        "absolute terms" + ("; the accesses of the element-wise work (norms, activations, softmax, pooling, losses), "
                            "counted unfused and priced apart (see the energy-by-level figure), last"
                            if run.has_column("elementwise_mem_reads") else "") + f". {INCREMENTAL}",
        prov,
        [Spec("mem_accesses_per_iter", True, "memory accesses per\niteration (× sharing 0)"),
         Spec("total_mem_accesses", False, "memory accesses ({unit})", "accesses"),
         Spec("memory_energy_j_per_iter", True, "memory energy per\niteration (× sharing 0)"),
         Spec("total_memory_energy_j", False, "memory-access energy ({unit})", "J"),
         *([Spec("total_elementwise_mem_accesses", False, "element-wise accesses,\nunfused ({unit})", "accesses")]
           if run.has_column("elementwise_mem_reads") else [])],
        looks, "memory-access")


def fig_time(run: RunData, looks) -> FigureResult:
    specs = [Spec("time_per_iter_s", True, "wall time per iteration\n(× sharing 0)", span="train_time_s"),
             Spec("time_per_iter_s", False, "wall time per iteration ({unit})", "s", span="train_time_s")]
    measured = f"Measured: wall-clock training time on {run.device_name}"
    if run.has_column("train_cpu_s"):
        specs += [Spec("cpu_time_per_iter_s", True, "CPU time per iteration\n(× sharing 0)", span="train_cpu_s"),
                  Spec("cpu_time_per_iter_s", False, "CPU time per iteration ({unit})", "s", span="train_cpu_s")]
        measured += " and the process's CPU time (user + system), which others' load on a shared machine disturbs less"
    n = len(run.seeds)
    seeds = (f"Over {n} seeds ({', '.join(map(str, run.seeds))}): bars span the range over phases and seeds."
             if n > 1 else f"One seed ({run.seeds[0]}): bars span the range over its phases.")
    return vs_sharing(
        run, "training-time", "Training time per iteration vs sharing",
        "Training time per iteration of the incremental phases, normalised to sharing 0 (as in the partial-sharing "
        "paper's Fig. 4b) and absolute. The line is the mean (total time over total iterations, averaged over seeds); "
        "the bars span the lowest to the highest per-iteration time of any single incremental phase of any seed, "
        "since times measured on a shared machine are noisy.",
        measured + ".", specs, looks, "training-time", seeds)


def fig_storage(run: RunData, looks) -> FigureResult:
    prov = (f"Counted: unique parameters of the stored networks (shared trunk once, plus each branch) and the "
            f"exemplar memory, at {run.precision} word size, after the last phase.")
    return vs_sharing(
        run, "storage", "Storage vs sharing",
        "Storage after the last phase in bytes and normalised to sharing 0 (as in the partial-sharing paper's "
        "Fig. 5a).",
        prov,
        [Spec("storage_bytes", False, "storage ({unit})", "bytes"),
         Spec("storage_bytes", True, "storage (× sharing 0)")],
        looks, "storage")


# ----- accuracy per phase ------------------------------------------------------------------------------
def _shades(colour: str, n: int) -> list:
    """n shades of a method's colour, pale to full, for its sharing levels."""
    from matplotlib.colors import to_rgb

    rgb = np.array(to_rgb(colour))
    return [tuple(a * rgb + (1 - a) * np.ones(3)) for a in np.linspace(0.35 if n > 1 else 1.0, 1.0, n)]


LEVEL_STYLES = ("-", "--", ":", "-.")  # sharing levels of one method: shade and line style


def fig_phase_accuracy(run: RunData, looks) -> FigureResult:
    fid, title = "phase-accuracy", "Accuracy per phase"
    caption = ("Accuracy on all classes seen so far after each phase, against the number of classes seen (as the "
               "EEIL and LUCIR papers plot it). One panel per method on a shared accuracy axis, one line per sharing "
               "level (darker = more sharing)")
    prov = _accuracy_prov(run)
    panels: list[tuple[str, float | None]] = []
    common = sorted(set.intersection(*[set(run.levels(m)) for m in run.methods])) if run.methods else []
    if len(run.methods) > 1 and common:
        panels.append(("all methods", common[0]))
        caption += f"; the first panel compares the methods at sharing {common[0]:g}"
    panels += [(m, None) for m in run.methods]
    caption += ". " + seeds_phrase(run)
    n_phases = max(len(run.phase_curve(m, s)[0]) for m in run.methods for s in run.levels(m) or [0.0])
    if n_phases < 2:
        return omitted(fid, title, caption, prov, "Omitted: the run has a single phase, so there is no "
                                                  "accuracy curve over phases.")
    seeds = len(run.seeds) > 1

    def line(ax, m, s, **kw):
        xs, ys = run.phase_curve(m, s)
        err = run.phase_std(m, s) if seeds else None
        if err is not None and np.isfinite(err).any():
            ax.errorbar(xs, ys, yerr=np.nan_to_num(err), elinewidth=0.6, **kw)
        else:
            ax.plot(xs, ys, **kw)

    def draw(axes):
        for ax, (m, s) in zip(axes, panels):
            if s is not None:
                for k, mm in enumerate(run.methods):
                    lk = looks[mm]
                    line(ax, mm, s, color=lk.colour, marker=lk.marker, linestyle=lk.linestyle, label=mm,
                         **weight(k, len(run.methods)))
                ax.set_title(f"all methods, sharing {s:g}", loc="left")
            else:
                levels = run.levels(m)
                for j, (shade, lv) in enumerate(zip(_shades(looks[m].colour, len(levels)), levels)):
                    line(ax, m, lv, color=shade, marker=looks[m].marker, markersize=3,
                         linestyle=LEVEL_STYLES[j % len(LEVEL_STYLES)], label=f"s = {lv:g}")
                ax.set_title(m, loc="left")
                if len(levels) > 1:
                    ax.legend(ncols=2 if len(levels) > 3 else 1, loc="lower left", handlelength=1.8,
                              columnspacing=0.8)
            ax.set_xlabel("classes seen")
            ax.set_ylabel("accuracy (%)")

    legend = method_handles(run.methods, looks) if panels[0][1] is not None else []
    return FigureResult(fid, title, caption, prov,
                        Panels(len(panels), draw, ncols=3, min_width=1.6, aspect=0.8, titles=True, sharey=True,
                               legend=legend))


# ----- cost breakdown ------------------------------------------------------------------------------------
PARTS = {"fwd_macs": "forward", "bwd_input_macs": "backward, input gradients",
         "bwd_weight_macs": "backward, weight gradients", "update_ops": "optimizer update",
         "compute_energy_j": "computation", "elementwise_compute_energy_j": "element-wise computation",
         "memory_energy_j": "memory access (MAC operands)",
         "elementwise_memory_energy_j": "memory access, element-wise (unfused)"}
# a part is told by its shade of the method's colour and its hatch (so in greyscale too);
# None: grey, "white": no fill
PART_LOOK = {"fwd_macs": (1.0, ""), "bwd_input_macs": (0.55, "///"), "bwd_weight_macs": (0.3, "\\\\\\"),
             "update_ops": (0.0, ".."), "compute_energy_j": (1.0, ""), "elementwise_compute_energy_j": (0.15, "++"),
             "memory_energy_j": (None, "xx"), "elementwise_memory_energy_j": ("white", "oo")}
EW = ("elementwise_compute_energy_j", "elementwise_memory_energy_j")


def energy_split(run: RunData, method: str, sharing: float) -> dict[str, float]:
    """Modelled training energy of the incremental phases split into forward, backward (input and
    weight gradients), update, element-wise computation, memory access of the MAC operands and
    element-wise memory access, in joules.

    The cost model prices every MAC at the table's multiply + add energy (RunData.mac_pj), so
    forward and backward energies are their MACs times that; the update's is the rest of the
    computation energy (the optimizer's multiplies and adds). Without a per-MAC energy only the
    computation / memory split is known: then the MAC parts are NaN. Element-wise work (norms,
    activations, softmax, pooling, losses) is priced apart by the cost model (its own columns)."""
    t = {c: run.incremental_total(method, sharing, c) for c in OPS + ENERGY + EW}
    mac_j = run.mac_pj * 1e-12
    out = {c: t[c] * mac_j for c in OPS[:3]}
    # CSV rounding can leave a hair below zero when an update is (nearly) free
    out["update_ops"] = max(t["compute_energy_j"] - sum(out.values()), 0.0) if not math.isnan(mac_j) else math.nan
    out["memory_energy_j"] = t["memory_energy_j"]
    out["compute_energy_j"] = t["compute_energy_j"]
    for c in EW:
        out[c] = t[c]
    return out


def total_energy(run: RunData, method: str, sharing: float) -> float:
    """Every dynamic term the run priced, incremental phases, mean over seeds: computation and
    memory access of the MACs, element-wise computation and memory access (where recorded)."""
    parts = [run.incremental_total(method, sharing, c) for c in ENERGY]
    parts += [run.incremental_total(method, sharing, c) for c in EW if run.has_column(c)]
    return float(sum(parts))


def _part_colour(colour: str, shade: float | None):
    from matplotlib.colors import to_rgb

    if shade is None:
        return GREY
    if shade == "white":
        return "white"
    rgb = np.array(to_rgb(colour))
    return tuple(shade * rgb + (1 - shade) * np.ones(3))


def fig_breakdown(run: RunData, looks) -> FigureResult:
    fid, title = "energy-breakdown", "Cost breakdown"
    split = not math.isnan(run.mac_pj)
    ew = tuple(c for c in EW if run.has_column(c))
    caption = ("Top: counted operations of the incremental phases: forward MACs, backward MACs for input "
               "gradients and for weight gradients, and optimizer update operations. Bottom: modelled training "
               "energy of the same phases" + (
                   f", split into forward, backward and update computation (every MAC at the table's "
                   f"multiply + add energy, {run.mac_pj:g} pJ at {run.precision}; the update is the rest of the "
                   "computation energy) and memory access" if split else
                   " split into computation and memory access (the energy table records no per-MAC energy, so "
                   "computation is not split further)") + (
                   ", and the element-wise work (norms, activations, softmax, pooling, losses), priced apart: its "
                   "computation and its unfused memory traffic" if ew else "") +
               ". One group of bars per sharing level, one bar per method "
               "(its colour); a part is told by shade and hatching. " + seeds_phrase(run).replace(
                   "error bars ± one standard deviation over seeds (population)", "bars are means"))
    prov = "Counted: MACs and update operations from the operations PyTorch dispatched. " + _modelled(run)
    levels = run.all_levels() or [0.0]
    methods = run.methods
    energy_keys = ((*OPS, *ew[:1], "memory_energy_j", *ew[1:]) if split
                   else ("compute_energy_j", *ew[:1], "memory_energy_j", *ew[1:]))
    ops = {m: np.array([[run.incremental_total(m, s, c) if s in run.levels(m) else math.nan for c in OPS]
                        for s in levels]) for m in methods}
    energy = {m: np.array([[energy_split(run, m, s)[c] if s in run.levels(m) else math.nan for c in energy_keys]
                           for s in levels]) for m in methods}
    has_ops = any(np.isfinite(v).any() for v in ops.values())
    has_energy = any(np.isfinite(v).any() for v in energy.values())
    if not (has_ops or has_energy):
        return omitted(fid, title, caption, prov, "Omitted: this run recorded no operation counts or energies.")
    groups = [g for g, ok in (((ops, OPS, "operations ({unit})", "ops"), has_ops),
                              ((energy, energy_keys, "training energy ({unit})", "J"), has_energy)) if ok]

    def draw(axes):
        x = np.arange(len(levels))
        width = 0.8 / len(methods)
        for ax, (values_by_method, keys, ylabel, unit) in zip(axes, groups):
            div, label = scale_for(np.concatenate([v.ravel() for v in values_by_method.values()]), unit)
            for k, m in enumerate(methods):
                xm = x - 0.4 + width * (k + 0.5)
                bottom = np.zeros(len(x))
                values = values_by_method[m]
                for j, c in enumerate(keys):
                    v = np.nan_to_num(values[:, j] / div, nan=0.0)  # a missing part adds nothing; see "n/a"
                    shade, hatch = PART_LOOK[c]
                    ax.bar(xm, v, width, bottom=bottom, color=_part_colour(looks[m].colour, shade), hatch=hatch,
                           edgecolor=looks[m].colour if shade == 0.0 else "black", linewidth=0.4)
                    bottom = bottom + v
                for xi, s, row in zip(xm, levels, values):
                    if s in run.levels(m) and not np.isfinite(row).any():
                        ax.text(xi, 0, "n/a", ha="center", va="bottom", rotation=90)
            step = max(1, math.ceil(len(levels) / 12))  # at most 12 labels: more would overlap
            ax.set_xticks(x[::step], level_ticks(run, levels[::step]))
            ax.set_xlim(-0.6, len(levels) - 0.4)
            ax.set_xlabel(level_axis_label(run, levels))
            ax.set_ylabel(ylabel.replace("{unit}", label))
            ax.grid(axis="x", visible=False)

    parts = list(energy_keys) if has_energy else list(OPS)
    legend = [Patch(facecolor=looks[m].colour, edgecolor="black", linewidth=0.4, label=m) for m in methods]
    for c in parts:
        shade, hatch = PART_LOOK[c]
        name = PARTS[c] if not (c == "update_ops" and has_energy and split) else "update (rest of computation)"
        legend.append(Patch(facecolor=_part_colour("#555555", shade), hatch=hatch, edgecolor="black",
                            linewidth=0.4, label=name))
    return FigureResult(fid, title, caption, prov,
                        Panels(len(groups), draw, ncols=1, aspect=0.36 if len(levels) * len(methods) > 8 else 0.45,
                               legend=legend, bottom_em=1.2 if run.sharing_differs() else 0.0))


# ----- energy by hardware level ----------------------------------------------------------------------------
# where the modelled dynamic energy is spent, stacked from the arithmetic out to DRAM; told by the
# method's colour, a shade of it and a hatch (so in greyscale too), like the cost breakdown's parts.
# Element-wise work is priced apart (with the per-layer buffer model, whatever the architecture),
# so its computation and its traffic are stacked as their own parts.
HW_LEVELS = (("compute_energy_j", "computation (MACs, update)", 1.0, ""),
             ("elementwise_compute_energy_j", "element-wise computation", 0.15, "++"),
             ("level_rf_energy_j", "register file", 0.55, ".."),
             ("level_buffer_energy_j", "buffer (SRAM), MAC operands", 0.3, "///"),
             ("elementwise_memory_energy_j", "buffer (SRAM), element-wise traffic (unfused)", "white", "oo"),
             ("level_dram_energy_j", "DRAM", 0.0, "xx"))
LEAKAGE = ("leakage_energy_j", "leakage (static, apart)", "\\\\\\")


def zero_reason(run: RunData, column: str) -> str:
    """Why a level that the architecture has spent no energy in this run, in a few words."""
    if column == "level_dram_energy_j" and "layer_buffer" in run.distinct("arch"):
        return "every layer's working set fits its buffer: no DRAM traffic"
    return "no traffic reached it"


def fig_levels(run: RunData, looks) -> FigureResult:
    fid, title = "energy-by-level", "Training energy by hardware level"
    arch, node, vdd = (run.first(c) for c in ("arch", "node_nm", "vdd"))
    node, vdd = (f"{float(v):g}" if v is not None else "unknown" for v in (node, vdd))
    caption = ("Modelled dynamic training energy of the incremental phases, stacked by where it is spent: "
               "computation of the MACs and updates, element-wise computation (norms, activations, softmax, pooling, "
               "losses), then each memory level of the architecture (levels it does not have are absent), the traffic "
               "of the MAC operands and the element-wise traffic (priced unfused, at the per-layer buffers) apart. "
               "The stack's height is every dynamic term the run priced. One group of bars per sharing level, one "
               "stack per method (its colour); a part is told by shade and hatching. ")
    prov = (f"Modelled: counted operations and per-level word accesses (the tiling model of architecture '{arch}') "
            f"× energies of table '{run.energy_table}' at {node} nm, {vdd} V (cost/README.md).")
    if not run.has_column("level_buffer_energy_j"):
        return omitted(fid, title, caption + means_phrase(run), prov,
                       "Omitted: this run records no per-level energies (it predates architecture files).")
    keys = [k for k in HW_LEVELS if run.has_column(k[0])]
    leak = run.has_column(LEAKAGE[0])
    caption += ("Leakage (static energy, never part of the dynamic total) is the narrow hatched bar beside each "
                "stack. " if leak else f"Architecture '{arch}' models no leakage. ")
    levels = run.all_levels() or [0.0]
    methods = run.methods

    def total(m, s, column):
        return run.incremental_total(m, s, column) if s in run.levels(m) else math.nan

    values = {m: np.array([[total(m, s, c) for c, *_ in keys] for s in levels]) for m in methods}
    leaks = {m: np.array([total(m, s, LEAKAGE[0]) if leak else math.nan for s in levels]) for m in methods}
    # a level of the architecture that no energy reached: kept in the legend, at zero, with its reason
    zero = {c: zero_reason(run, c) for j, (c, *_) in enumerate(keys) if c.startswith("level_")
            and all(np.nan_to_num(v[:, j]).max() <= 0 for v in values.values())}
    for c, why in zero.items():
        caption += f"{dict((k[0], k[1]) for k in keys)[c]}: 0 J in every bar ({why}). "
    caption += means_phrase(run)

    def draw(axes):
        ax = axes[0]
        x = np.arange(len(levels))
        width = 0.8 / len(methods)
        stack_w, leak_w = (0.7 * width, 0.3 * width) if leak else (width, 0.0)
        div, unit = scale_for(np.concatenate([*(v.ravel() for v in values.values()), *leaks.values()]), "J")
        for k, m in enumerate(methods):
            left = x - 0.4 + width * k
            bottom = np.zeros(len(x))
            for j, (_, _, shade, hatch) in enumerate(keys):
                v = np.nan_to_num(values[m][:, j] / div, nan=0.0)  # an absent level adds nothing
                ax.bar(left + stack_w / 2, v, stack_w, bottom=bottom, color=_part_colour(looks[m].colour, shade),
                       hatch=hatch, edgecolor=looks[m].colour if shade == 0.0 else "black", linewidth=0.4)
                bottom = bottom + v
            if leak:
                ax.bar(left + stack_w + leak_w / 2, np.nan_to_num(leaks[m] / div, nan=0.0), leak_w, color="white",
                       hatch=LEAKAGE[2], edgecolor="black", linewidth=0.4)
        step = max(1, math.ceil(len(levels) / 12))  # at most 12 labels: more would overlap
        ax.set_xticks(x[::step], level_ticks(run, levels[::step]))
        ax.set_xlim(-0.6, len(levels) - 0.4)
        ax.set_xlabel(level_axis_label(run, levels))
        ax.set_ylabel(f"training energy ({unit})")
        ax.grid(axis="x", visible=False)

    legend = [Patch(facecolor=looks[m].colour, edgecolor="black", linewidth=0.4, label=m) for m in methods]
    legend += [Patch(facecolor=_part_colour("#555555", shade), hatch=hatch, edgecolor="black", linewidth=0.4,
                     label=name + (f": 0 J ({zero[c]})" if c in zero else "")) for c, name, shade, hatch in keys]
    if leak:
        legend.append(Patch(facecolor="white", hatch=LEAKAGE[2], edgecolor="black", linewidth=0.4, label=LEAKAGE[1]))
    return FigureResult(fid, title, caption, prov,
                        Panels(1, draw, ncols=1, aspect=0.36 if len(levels) * len(methods) > 8 else 0.45,
                               legend=legend, bottom_em=1.2 if run.sharing_differs() else 0.0))


# ----- accuracy against energy ----------------------------------------------------------------------------
def fig_pareto(run: RunData, looks) -> FigureResult:
    fid, title = "accuracy-vs-energy", "Accuracy vs training energy"
    caption = ("Final accuracy against the total training energy of the incremental phases, one point per method "
               "and sharing level (labelled with the sharing achieved, %). The dashed line is the Pareto front: "
               "the points "
               "that no other point matches or beats in both accuracy and energy. A label that would cover "
               "another is left out (the summary tables list every point). " + seeds_phrase(run))
    prov = _modelled(run)
    every = "every priced term" if run.has_column(EW[0]) else "compute + memory"
    series = [("modelled", f"modelled training energy,\n{every} ({{unit}})", lambda m, s: total_energy(run, m, s))]
    if run.has_column(EW[0]):
        caption += (" Modelled energy: every dynamic term the run priced (computation and memory access of the MACs, "
                    "and of the element-wise work).")
    measured = run.measured_column  # above idle where the run took an idle baseline
    if measured:
        series.append(("measured", run.measured_label.replace("energy", "training energy") + " ({unit})",
                       lambda m, s: run.incremental_total(m, s, measured)))
        prov += " " + run.measured_provenance()
    points = [(m, s) for m in run.methods for s in run.levels(m)]
    std = {m: dict(zip(run.levels(m), run.seed_std(m, "final_acc"))) for m in run.methods}
    panels = []
    for name, xlabel, fn in series:
        energy = [fn(m, s) for m, s in points]
        acc = [run.value(m, s, "final_acc") for m, s in points]
        if sum(1 for e, a in zip(energy, acc) if np.isfinite(e) and np.isfinite(a)) >= 2:
            panels.append((name, xlabel, energy, acc))
    if not panels:
        return omitted(fid, title, caption, prov, "Omitted: fewer than two (method, sharing) points have both an "
                                                  "accuracy and a training energy, so there is no trade-off to draw.")

    def draw(axes):
        for ax, (name, xlabel, energy, acc) in zip(axes, panels):
            div, label = scale_for(energy, "J")
            e = np.array(energy) / div
            for (m, s), ei, ai in zip(points, e, acc):
                if np.isfinite(ei) and np.isfinite(ai):
                    err = std[m].get(s, math.nan)
                    ax.errorbar([ei], [ai], yerr=[err] if np.isfinite(err) else None, color=looks[m].colour,
                                marker=looks[m].marker, linestyle="none", elinewidth=0.6)
                    ax.annotate(f"{100 * run.achieved(m, s):.3g}", (ei, ai), textcoords="offset points",
                                xytext=LABEL_OFFSETS[0],
                                color=looks[m].colour, gid="point-label")
            front = pareto_front(list(e), acc)
            ax.step(e[front], np.array(acc)[front], where="post", color="black", linestyle="--", linewidth=0.8,
                    zorder=1)
            finite = e[np.isfinite(e) & (e > 0)]
            if len(finite) and finite.max() / finite.min() > 30:
                ax.set_xscale("log")
                ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # plain text, no mathtext
            ax.set_xlabel(xlabel.replace("{unit}", label))
            ax.set_ylabel("final accuracy (%)")
            ax.set_title(f"{name} energy", loc="left")

    legend = method_handles(run.methods, looks)
    for h in legend:
        h.set_linestyle("none")
    legend.append(Line2D([], [], color="black", linestyle="--", linewidth=0.8, label="Pareto front"))
    return FigureResult(fid, title, caption, prov, Panels(len(panels), draw, aspect=0.75, titles=True,
                                                          legend=legend, bottom_em=1.2, after=place_labels))


# where a point's label may go, in points from the point, tried in this order
LABEL_OFFSETS = ((3, 3), (3, -9), (-4, 3), (-4, -9), (6, -3), (-7, -3), (0, 7), (0, -13), (9, 7), (-10, 7),
                 (9, -13), (-10, -13))


def place_labels(axes) -> None:
    """Point labels (annotations with gid 'point-label') moved, once the axes have their final
    size, to the first of LABEL_OFFSETS where they overlap no point and no label placed before and
    stay inside the axes; a label with no such place is hidden (the caption says so), never drawn
    over another."""
    if not axes:
        return
    from matplotlib.transforms import Bbox

    root = axes[0].get_figure(root=True)
    renderer = root._get_renderer()
    r = 2.5 * root.dpi / 72  # a marker's half width: a label covers no point either
    for ax in axes:
        box = ax.get_window_extent(renderer)
        labels = [t for t in ax.texts if t.get_gid() == "point-label"]
        points = [ax.transData.transform(t.xy) for t in labels]
        placed = [Bbox.from_extents(x - r, y - r, x + r, y + r) for x, y in points]
        for ann in labels:
            ann.set_horizontalalignment("left")
            for dx, dy in LABEL_OFFSETS:
                ann.set_horizontalalignment("right" if dx < 0 else "left")
                ann.xyann = (dx, dy)
                bb = ann.get_window_extent(renderer).padded(0.5)
                inside = box.x0 <= bb.x0 and bb.x1 <= box.x1 and box.y0 <= bb.y0 and bb.y1 <= box.y1
                if inside and not any(bb.overlaps(o) for o in placed):
                    placed.append(bb)
                    break
            else:
                ann.set_visible(False)


# ----- power -------------------------------------------------------------------------------------------
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
    prov = _modelled(run) + " " + run.measured_provenance()
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


# ----- confusion -----------------------------------------------------------------------------------------
def fig_confusion(run: RunData, looks) -> FigureResult:
    from energybench.report import typeset

    fid, title = "confusion", "Confusion matrices, last phase"
    caption = ("Confusion matrix of each method's primary classifier after the last phase, at its optimal sharing "
               f"point (else its lowest sharing level), for the first of {len(run.seeds)} seed(s); rows are true "
               "classes, columns predictions, in class order; colour is the share of each true class "
               "(row-normalised), numbers are counts (up to 10 classes). Lines mark phase boundaries.")
    prov = "Measured: test-set predictions."
    mats = [c for c in (run.confusion(m) for m in run.methods) if c is not None]
    if not mats:
        return omitted(fid, title, caption, prov, "Omitted: the run directory has no confusion_phase<k>.csv for "
                                                  "the last phase of any method (cells/ missing).")
    names = [lb[:14] for c in mats for lb in c.labels]
    name_em = max(typeset.width(n, 1.0) * 72 for n in names) if names else 2.0

    def draw(axes):
        for ax, c in zip(axes, mats):
            mat = c.matrix.astype(float)
            rows = mat.sum(axis=1, keepdims=True)
            share = np.divide(mat, rows, out=np.zeros_like(mat), where=rows > 0)
            ax.imshow(share, cmap="Greys", vmin=0, vmax=1.25, interpolation="nearest")  # dark, never black
            n = len(mat)
            if n <= 10:
                for i in range(n):
                    for j in range(n):
                        if c.matrix[i, j]:
                            ax.text(j, i, str(c.matrix[i, j]), ha="center", va="center",
                                    color="white" if share[i, j] > 0.55 else "black")
            step = max(1, math.ceil(n / 20))
            ticks = list(range(0, n, step))
            labels = [c.labels[k][:14] for k in ticks]
            ax.set_xticks(ticks, labels, rotation=90)
            ax.set_yticks(ticks, labels)
            ax.grid(False)
            for b in np.cumsum(c.phase_sizes)[:-1]:
                if b < n:
                    ax.axhline(b - 0.5, color=looks[c.method].colour, linewidth=1.0)
                    ax.axvline(b - 0.5, color=looks[c.method].colour, linewidth=1.0)
            ax.set_title(f"{c.method}: sharing {100 * run.achieved(c.method, c.sharing):.3g}%, seed {c.seed}, "
                         f"phase {c.phase}", loc="left",
                         color=looks[c.method].colour if looks[c.method].colour != "#DDCC77" else "black")
            ax.set_xlabel("predicted class")
            ax.set_ylabel("true class")

    missing = [m for m in run.methods if m not in {c.method for c in mats}]
    if missing:
        caption += f" No matrix recorded for: {', '.join(missing)}."
    return FigureResult(fid, title, caption, prov,
                        Panels(len(mats), draw, ncols=3 if len(mats) > 4 else 2, min_width=1.8, square=True,
                               titles=True, bottom_em=name_em * 0.9, left_em=name_em - 2.5, after=fit_titles))


def fit_titles(axes) -> None:
    """Panel titles made to fit their axes once laid out: smaller down to the least font size,
    then cut with an ellipsis (the caption says what each panel is), never clipped by a neighbour."""
    from energybench.report import typeset
    from energybench.report.style import MIN_FONT

    for title, ax in ((t, ax) for ax in axes for t in (ax._left_title, ax.title, ax._right_title)):
        text = title.get_text()
        if not text:
            continue
        room = ax.bbox.width / ax.get_figure(root=True).dpi  # inches, as laid out
        size = title.get_fontsize()
        while typeset.width(text, size) > room and size > MIN_FONT:
            size = max(MIN_FONT, size - 0.5)
        title.set_fontsize(size)
        while typeset.width(text, size) > room and len(text) > 4:
            text = text[:-2] + "…"
        title.set_text(text)


FIGURES: tuple[tuple[str, Callable[[RunData, dict], FigureResult]], ...] = (
    ("accuracy-vs-sharing", fig_accuracy),
    ("compute-energy", fig_compute),
    ("memory-access", fig_memory),
    ("training-time", fig_time),
    ("storage", fig_storage),
    ("phase-accuracy", fig_phase_accuracy),
    ("energy-breakdown", fig_breakdown),
    ("energy-by-level", fig_levels),
    ("energy-vs-latency", fig_energy_latency),
    ("accuracy-vs-energy", fig_pareto),
    ("power-trace", fig_power),
    ("modelled-vs-measured", fig_modelled_vs_measured),
    ("confusion", fig_confusion),
)


def build_figures(run: RunData) -> list[FigureResult]:
    """Every report figure in report order, described (drawn later, at the width wanted)."""
    looks = method_looks(run.methods)
    return [described(fid, fn, run, looks) for fid, fn in FIGURES]


def described(fid: str, fn: Callable[[RunData, dict], FigureResult], run: RunData, looks) -> FigureResult:
    """fn(run, looks), or, where describing the figure fails, the figure omitted with a note
    naming the error: one broken figure never takes the report with it."""
    import warnings

    try:
        return fn(run, looks)
    except Exception as exc:  # noqa: BLE001 (any failure of one figure: the report is still written)
        text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        note = (f"Not drawn: making this figure failed with {type(exc).__name__}" + (f": {text}" if text else "")
                + ". The rest of the report is complete.")
        warnings.warn(f"figure '{fid}': {note}", stacklevel=2)
        return omitted(fid, fid.replace("-", " ").capitalize(), "", "", note)
