"""Accuracy per phase: one line per (method, sharing level), shaded by level."""

from __future__ import annotations

import numpy as np

from energybench.report.canvas import FigureResult, Panels, omitted
from energybench.report.figures.curves import accuracy_provenance, method_handles, seeds_phrase, weight
from energybench.report.rundir import RunData


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
    prov = accuracy_provenance(run)
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
