"""The run report's figures. Each is one function `fig_x(run, looks) -> FigureResult` that
computes its data and describes its panels (canvas.Panels with a draw callback), registered
by one line in FIGURES (report order); the functions live in report/figures/, one module per
family. Nothing here sizes a figure: canvas.py lays it out at
the width it is wanted (report page, paper column, export).

Every figure says in its provenance whether its numbers are counted, modelled or measured,
and in its caption over how many seeds; error bars show the spread over seeds wherever more
than one ran. A method keeps its colour, marker and line style (style.METHOD_LOOKS) in every
figure. A figure whose data is absent is returned with a one-line note instead of drawn empty.
"""

from __future__ import annotations

from typing import Callable

from energybench.report.canvas import FigureResult, omitted
from energybench.report.figures.confusion import fig_confusion, fit_titles
from energybench.report.figures.curves import (
    ACHIEVED_LABEL, FAR_PP, INCREMENTAL, REQUESTED_LABEL, SHARING, Curve, Spec, curve_pairs, draw_curve, draw_panel,
    level_axis_label, level_ticks, means_phrase, method_curves, method_handles, panel_ylabel, scale_for, seeds_phrase,
    seeds_sentence, sharing_axis, star_handle, vs_sharing, weight,
)
from energybench.report.figures.energy import (
    EW, HW_LEVELS, LEAKAGE, PART_LOOK, PARTS, energy_split, fig_breakdown, fig_levels, total_energy, zero_reason,
)
from energybench.report.figures.pareto import LABEL_OFFSETS, fig_pareto, pareto_front, place_labels
from energybench.report.figures.phases import LEVEL_STYLES, fig_phase_accuracy
from energybench.report.figures.power import MAX_TRACE_POINTS, _downsample, fig_modelled_vs_measured, fig_power
from energybench.report.figures.sharing import fig_accuracy, fig_compute, fig_memory, fig_storage, fig_time
from energybench.report.latency_plots import fig_energy_latency
from energybench.report.rundir import RunData
from energybench.report.style import method_looks

# the figure functions and their helpers, importable from here as before the split into figures/
__all__ = [
    "ACHIEVED_LABEL", "EW", "FAR_PP", "FIGURES", "HW_LEVELS", "INCREMENTAL", "LABEL_OFFSETS", "LEAKAGE",
    "LEVEL_STYLES", "MAX_TRACE_POINTS", "PARTS", "PART_LOOK", "REQUESTED_LABEL", "SHARING", "Curve", "Spec",
    "_downsample", "build_figures", "curve_pairs", "described", "draw_curve", "draw_panel", "energy_split",
    "fig_accuracy", "fig_breakdown", "fig_compute", "fig_confusion", "fig_energy_latency", "fig_levels",
    "fig_memory", "fig_modelled_vs_measured", "fig_pareto", "fig_phase_accuracy", "fig_power", "fig_storage",
    "fig_time", "fit_titles", "level_axis_label", "level_ticks", "means_phrase", "method_curves", "method_handles",
    "panel_ylabel", "pareto_front", "place_labels", "scale_for", "seeds_phrase", "seeds_sentence", "sharing_axis",
    "star_handle", "total_energy", "vs_sharing", "weight", "zero_reason",
]


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
