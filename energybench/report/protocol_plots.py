"""The report's continual-learning protocol and carbon pieces: a table of BWT, top-5 and
task-aware accuracy (with the class order and the CO2e assumptions), the accuracy-matrix
heatmap per method, BWT against training energy, and the CO2e each sharing level saves.
Definitions: energybench.training.metrics (BWT: Lopez-Paz and Ranzato 2017) and
energybench.cost.carbon (CO2e = kWh x g/kWh x PUE)."""

from __future__ import annotations

import math

import numpy as np

from energybench.report.canvas import FigureResult, Panels, omitted
from energybench.report.document import Column, Paragraph, Section, Table, figure_section
from energybench.report.figures.curves import modelled_phrase
from energybench.report.figures.pareto import LABEL_OFFSETS, place_labels
from energybench.report.plots import described, method_handles, scale_for, seeds_sentence, sharing_axis, total_energy
from energybench.report.rundir import RunData
from energybench.results import accuracy_matrix


def _grams(values) -> tuple[float, str]:
    """(divisor, unit) putting the largest gram figure in a readable SI range."""
    top = max([abs(v) for v in values if np.isfinite(v)] or [1.0])
    return next(((d, u) for d, u in ((1e3, "kg"), (1.0, "g"), (1e-3, "mg"), (1e-6, "µg"), (1e-9, "ng"))
                 if top >= d), (1e-12, "pg"))


def _fmt(v: float, digits: int = 2) -> str:
    return "" if v is None or math.isnan(v) else f"{v:.{digits}f}"


def protocol_sections(run: RunData, looks) -> list[Section]:
    """The metrics table, then the three figures (each drawn or omitted with its reason)."""
    # described: one failing figure leaves a note naming its error, not a failed report
    return [metrics_section(run), *(figure_section(described(fid, fn, run, looks)) for fid, fn in figures())]


def figures() -> tuple:
    """(id, function) of this module's figures, in report order (the report and --figures both use it)."""
    return (("accuracy-matrix", fig_accuracy_matrix), ("bwt-vs-energy", fig_bwt_energy), ("co2e-saved", fig_co2e_saved))


# Looking back over earlier phases: meaningless for a method first trained after phase 0 (RunData.trained_late)
BACKWARD = ("bwt", "final_forgetting")


def metrics_section(run: RunData) -> Section:
    carbon = run.has_column("co2e_modelled_g")
    cols = [Column("method", numeric=False), Column("sharing"), Column("final acc.", "%"), Column("BWT", "pp"),
            Column("forgetting", "pp"), Column("final top-5", "%"), Column("final task-aware", "%")]
    if carbon:
        cols += [Column("CO2e modelled", "g"), Column("CO2e measured", "g")]
    rows = []
    late = run.trained_late()
    for m in run.methods:
        for s in run.levels(m):
            row = [m, f"{s:g}", *(_fmt(run.value(m, s, k)) if not (k in BACKWARD and m in late) else "n/a"
                                  for k in ("final_acc", *BACKWARD, "final_acc_top5", "final_acc_task_aware"))]
            if carbon:
                row += [f"{run.value(m, s, k):.4g}" if not math.isnan(run.value(m, s, k)) else ""
                        for k in ("total_co2e_modelled_g", "total_co2e_measured_g")]
            rows.append(row)
    orders = run.manifest.get("class_order") or {}
    rule = run.manifest.get("class_order_rule") or run.config.get("class_order")
    blocks = [Table(cols, rows, id="protocol-metrics-table", note=(
        "BWT: backward transfer (Lopez-Paz and Ranzato 2017), the mean over earlier phases j of R[T-1][j] - R[j][j], "
        "where R[t][j] is the accuracy on phase j's classes after phase t; negative is forgetting. Forgetting "
        "(Chaudhry et al. 2018): the mean over earlier phases j of the best R[t][j] before the last phase minus "
        "R[T-1][j]; 0 is none. Top-5 is empty "
        "where 5 classes or fewer were seen. Task-aware: the argmax within the classes of the sample's own phase "
        "(FACIL's task-aware accuracy); final acc. is task-agnostic."
        + (" CO2e sums the incremental phases." if carbon else "") + run.late_note("BWT and forgetting")))]
    for seed, order in orders.items():
        name = f"class order ({rule})" if isinstance(rule, str) else "class order"
        blocks.append(Paragraph(f"Seed {seed} {name}: {', '.join(map(str, order))}.", "note"))
    sentence = (run.manifest.get("carbon") or {}).get("sentence")
    if sentence:
        blocks.append(Paragraph(sentence))
    return Section("protocol-metrics", "Continual-learning metrics and CO2e", blocks)


def fig_accuracy_matrix(run: RunData, looks) -> FigureResult:
    fid, title = "accuracy-matrix", "Accuracy matrix per method"
    caption = ("Accuracy (%) on each phase's classes (columns) after each phase (rows), at each method's lowest "
               "sharing level; blank above the diagonal (not yet learned). " + seeds_sentence(run))
    prov = "Measured: test-set top-1 accuracy of each method's primary classifier, per phase's classes."
    matrix = accuracy_matrix(run.root)
    if not len(matrix):
        return omitted(fid, title, caption, prov, "Omitted: no cell of this run has an accuracy_matrix.csv "
                                                  "(a run older than the file).")
    phases = [c for c in matrix.columns if c.startswith("phase_")]
    mats = []
    for m in run.methods:
        mine = matrix[matrix["method"] == m]
        if len(mine):
            lowest = mine[mine["sharing"] == mine["sharing"].min()]
            mats.append((m, float(lowest["sharing"].iloc[0]),
                         lowest.groupby("after_phase")[phases].mean().to_numpy()))

    def draw(axes):
        for ax, (m, s, mat) in zip(axes, mats):
            ax.imshow(np.ma.masked_invalid(mat), cmap="Greys", vmin=0, vmax=125, interpolation="nearest")
            n = len(mat)
            if n <= 10:
                for i in range(n):
                    for j in range(i + 1):
                        if not math.isnan(mat[i, j]):
                            ax.text(j, i, f"{mat[i, j]:.0f}", ha="center", va="center",
                                    color="white" if mat[i, j] > 70 else "black")
            ticks = list(range(0, n, max(1, math.ceil(n / 10))))
            ax.set_xticks(ticks, [str(t) for t in ticks])
            ax.set_yticks(ticks, [str(t) for t in ticks])
            ax.grid(False)
            ax.set_title(f"{m}: sharing {s:g}", loc="left")
            ax.set_xlabel("classes of phase")
            ax.set_ylabel("after phase")

    return FigureResult(fid, title, caption, prov, Panels(len(mats), draw, ncols=3 if len(mats) > 4 else 2,
                                                          min_width=1.6, square=True, titles=True))


def fig_bwt_energy(run: RunData, looks) -> FigureResult:
    fid, title = "bwt-vs-energy", "Backward transfer vs training energy"
    caption = ("Backward transfer after the last phase against the modelled training energy (every term priced, as "
               "in the accuracy-vs-energy figure) of the incremental phases, one point per method and sharing level "
               "(labelled with the sharing achieved, %, as in the accuracy-vs-energy figure; a label that would "
               "cover another is left out). "
               + seeds_sentence(run) + run.late_note("BWT"))
    prov = "Measured: BWT, from test-set accuracy. " + modelled_phrase(run)
    late = run.trained_late()
    points = [(m, s, total_energy(run, m, s), run.value(m, s, "bwt")) for m in run.methods for s in run.levels(m)
              if m not in late]
    points = [p for p in points if np.isfinite(p[2]) and np.isfinite(p[3])]
    if len(points) < 2:
        return omitted(fid, title, caption, prov, "Omitted: fewer than two (method, sharing) points have both a "
                                                  "BWT (it needs two phases or more) and a modelled energy.")

    def draw(axes):
        ax = axes[0]
        div, unit = scale_for([p[2] for p in points], "J")
        for m, s, e, b in points:
            ax.plot([e / div], [b], color=looks[m].colour, marker=looks[m].marker, linestyle="none")
            ax.annotate(f"{100 * run.achieved(m, s):.3g}", (e / div, b), textcoords="offset points",
                        xytext=LABEL_OFFSETS[0], color=looks[m].colour, gid="point-label")
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_xlabel(f"modelled training energy ({unit})")
        ax.set_ylabel("BWT (pp)")

    legend = method_handles([m for m in run.methods if m not in late], looks)
    for h in legend:
        h.set_linestyle("none")
    return FigureResult(fid, title, caption, prov, Panels(1, draw, ncols=1, legend=legend, after=place_labels))


def fig_co2e_saved(run: RunData, looks) -> FigureResult:
    fid, title = "co2e-saved", "CO2e saved per sharing level"
    sentence = (run.manifest.get("carbon") or {}).get("sentence", "")
    caption = ("CO2e of the incremental phases saved against the same method at sharing 0 (positive: less "
               "CO2e), from the modelled energy and, in its own panel, from the measured energy. "
               + seeds_sentence(run) + " " + sentence)
    prov = "Modelled and measured energy kept apart, each x carbon intensity x PUE. " + modelled_phrase(run)
    series = []
    for kind in ("modelled", "measured"):
        key = f"total_co2e_{kind}_g"
        lines = []
        for m in run.methods:
            levels = run.levels(m)
            if 0.0 in levels and len(levels) > 1:
                ref = run.value(m, 0.0, key)
                saved = [ref - run.value(m, s, key) for s in levels]
                if np.isfinite(saved).all():
                    lines.append((m, levels, saved))
        if lines:
            series.append((kind, lines))
    if not series:
        return omitted(fid, title, caption, prov, "Omitted: no CO2e to compare (give --carbon-intensity or --grid, "
                                                  "and sharing 0 with another level).")

    def draw(axes):
        for ax, (kind, lines) in zip(axes, series):
            div, unit = _grams([v for _, _, saved in lines for v in saved if v])
            for m, levels, saved in lines:  # at the sharing achieved, as every figure against sharing
                ax.plot([100 * run.achieved(m, s) for s in levels], np.array(saved) / div, color=looks[m].colour,
                        marker=looks[m].marker, linestyle=looks[m].linestyle)
            ax.axhline(0, color="black", linewidth=0.6)
            sharing_axis(ax, {round(run.achieved(m, s), 6): s for m, levels, _ in lines for s in levels})
            ax.set_ylabel(f"CO2e saved ({unit})")
            ax.set_title(f"from {kind} energy", loc="left")

    return FigureResult(fid, title, caption, prov,
                        Panels(len(series), draw, titles=True, top_axis=run.sharing_differs(),
                               legend=method_handles(run.methods, looks)))
