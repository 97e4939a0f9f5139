"""Curves against the sharing level, the figures most of the report is made of: the
seed-averaged data of a method (Curve), a panel's quantity (Spec), the sharing axis, and the
scale, caption and provenance phrases every figure shares."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from matplotlib.lines import Line2D

from energybench.report.canvas import FigureResult, Panels, omitted
from energybench.report.rundir import RunData
from energybench.report.style import Look


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


def seeds_sentence(run: RunData) -> str:
    """How many seeds a figure aggregates, where error bars do not apply (a matrix, a table)."""
    seeds = ", ".join(map(str, run.seeds))
    return f"Mean over {len(run.seeds)} seeds ({seeds})." if len(run.seeds) > 1 else f"One seed ({seeds})."


def modelled_phrase(run: RunData) -> str:
    return (f"Modelled: energy = counted operations × per-operation energies of energy table '{run.energy_table}' "
            f"at precision {run.precision}, and memory accesses × {run.access_energies}.")


def accuracy_provenance(run: RunData) -> str:
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
def sharing_methods(run: RunData) -> list[str]:
    return [m for m in run.methods if len(run.levels(m)) >= 2]


def single_level_note(run: RunData, what: str) -> str:
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
    methods = sharing_methods(run)
    if not methods:
        return omitted(fid, title, caption, provenance, single_level_note(run, what))
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
