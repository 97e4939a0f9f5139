"""The run report's sections, in order: each is one function `(run, looks) -> Section` (or a
list of them) registered by one line in SECTIONS. The HTML and the PDF both render what these
return; a figure is added to plots.FIGURES, a table or text section here.
"""

from __future__ import annotations

from typing import Callable

import energybench.report.expansion_plots as expansion_plots
import energybench.report.plots as plots
from energybench.report.protocol_plots import protocol_sections
from energybench.report.document import Bullets, Document, Paragraph, Section, figure_section
from energybench.report.rundir import RunData
from energybench.report.style import method_looks
from energybench.report.tables import (
    calibration_table,
    hardware_table,
    metadata_tables,
    optimal_points,
    optimal_table,
    summary_tables,
)
from energybench.results import optimal_rule, unfinished_text


def describe(run: RunData) -> str:
    """One line saying what the run is: data, scenario, methods, levels, seeds, device, cost model."""
    levels = ", ".join(f"{s:g}" for s in run.all_levels())
    dataset = run.manifest.get("dataset") or run.config.get("dataset") or "unknown dataset"
    return (f"{dataset}, scenario {scenario(run)}; methods {', '.join(run.methods)}; sharing {levels}; "
            f"seeds {', '.join(map(str, run.seeds))}; device {run.device_name}; energy table {run.energy_table} "
            f"at {run.precision}" + (f", {run.architecture}." if run.architecture else "."))


def scenario(run: RunData) -> str:
    sizes = run.manifest.get("scenario")
    if isinstance(sizes, list) and sizes:
        return f"{sizes[0]} base classes + {', '.join(map(str, sizes[1:])) or 'no'} new per phase"
    return str(run.config.get("scenario") or "unknown")


PROVENANCE = ("Counted numbers (MACs, operations, storage) come from the operations PyTorch executed; modelled numbers "
              "(energy, memory accesses) price them with energy table {table} at {precision} and the {access}; "
              "measured numbers ({measured}) were observed during the run.")


def unfinished_paragraph(run: RunData) -> list[Paragraph]:
    """What an unfinished run (interrupted, or still running) left out, and how to finish it."""
    if not run.unfinished:
        return []
    planned = len(run.cells) + len(run.unfinished)
    return [Paragraph(f"Unfinished run: {len(run.cells)} of {planned} cells trained all "
                      f"{run.unfinished[0]['phases']} phases. Not finished: {unfinished_text(run.unfinished)}. Every "
                      "figure and table here covers the finished cells only; the phases the others finished are in "
                      f"metrics.csv. Continue it with: {run.resume_command}")]


def overview_section(run: RunData, looks) -> Section:
    return Section("overview", "Overview and optimal sharing", [
        *unfinished_paragraph(run),
        Paragraph(f"Optimal sharing point per method: {optimal_rule(run.tolerance)} (see the accuracy-vs-sharing "
                  "figure)."),
        optimal_table(run),
        Bullets(optimal_points(run)),
        Paragraph(PROVENANCE.format(table=run.energy_table, precision=run.precision, access=run.access_energies,
                                    measured="accuracy, time, power" if run.measured_column else
                                    "accuracy, time; no power was measured in this run"), "note"),
    ])


def summary_section(run: RunData, looks) -> Section:
    # the modelled-vs-measured savings after the summary tables, where long tables flow onto pages
    savings = calibration_table(run)
    sweep = hardware_table(run)  # a hardware sweep: every (node, arch); the other tables are at its first
    return Section("summary", "Summary tables", [*([sweep] if sweep else []), *summary_tables(run),
                                                 *([savings] if savings else [])])


def figure_sections(run: RunData, looks) -> list[Section]:
    return [figure_section(plots.described(fid, fn, run, looks))
            for fid, fn in (*plots.FIGURES, *expansion_plots.figures(run))]


def metadata_section(run: RunData, looks) -> Section:
    return Section("metadata", "Run metadata", [*metadata_tables(run)])


SECTIONS: tuple[Callable[[RunData, dict], Section | list[Section]], ...] = (
    overview_section,
    figure_sections,
    protocol_sections,
    summary_section,
    metadata_section,
)


def run_document(run: RunData) -> Document:
    looks = method_looks(run.methods)
    sections: list[Section] = []
    for fn in SECTIONS:
        made = fn(run, looks)
        sections += made if isinstance(made, list) else [made]
    doc = Document(f"energybench report: {run.run_id}", describe(run), sections, str(run.root))
    doc.number_figures()
    return doc
