"""Accuracy against training energy, with the Pareto front and labelled points."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.lines import Line2D

from energybench.report.canvas import FigureResult, Panels, omitted, plain_log_ticks
from energybench.report.figures.curves import method_handles, modelled_phrase, scale_for, seeds_phrase
from energybench.report.figures.energy import EW, total_energy
from energybench.report.rundir import RunData


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


def fig_pareto(run: RunData, looks) -> FigureResult:
    fid, title = "accuracy-vs-energy", "Accuracy vs training energy"
    caption = ("Final accuracy against the total training energy of the incremental phases, one point per method "
               "and sharing level (labelled with the sharing achieved, %). The dashed line is the Pareto front: "
               "the points "
               "that no other point matches or beats in both accuracy and energy. A label that would cover "
               "another is left out (the summary tables list every point). " + seeds_phrase(run))
    prov = modelled_phrase(run)
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
                plain_log_ticks(ax.xaxis)
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
