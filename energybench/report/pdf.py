"""The PDF report: the HTML report's text, tables and figures as pages of one PDF (PdfPages).

Pages: the overview (optimal sharing points, which figures were omitted and why), one
summary table per method (split every TABLE_ROWS sharing levels), the modelled-vs-measured
savings table where the run measured energy, every drawn figure, then the run's metadata as text.
"""

from __future__ import annotations

import io
import math
import textwrap

from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

import energybench
from energybench.report.plots import FigureResult
from energybench.report.rundir import RunData
from energybench.report.tables import calibration_table, class_orders, metadata, optimal_points, summary_tables

PAGE = (9.0, 11.5)  # inches, portrait text pages (figures keep their own size)
TABLE_PAGE = (11.5, 8.0)  # landscape for the wide summary table
LINES_PER_PAGE = 66
WRAP = 118  # characters per line of 7.5 pt monospace across the page
TABLE_ROWS = 28


def _wrap(text: str, indent: str = "") -> list[str]:
    return textwrap.wrap(text, width=WRAP, subsequent_indent=indent) or [""]


def text_pages(title: str, lines: list[str]) -> list[Figure]:
    """Monospace text pages, LINES_PER_PAGE lines each; the title on the first."""
    pages = []
    chunks = [lines[i:i + LINES_PER_PAGE] for i in range(0, len(lines), LINES_PER_PAGE)] or [[]]
    for k, chunk in enumerate(chunks):
        fig = Figure(figsize=PAGE)
        head = title if k == 0 else f"{title} (continued)"
        fig.text(0.06, 0.965, head, fontsize=13, fontweight="bold", va="top")
        fig.text(0.06, 0.935, "\n".join(chunk), family="DejaVu Sans Mono", fontsize=7.5, va="top",
                 linespacing=1.45)
        pages.append(fig)
    return pages


def overview_lines(run: RunData, figures: list[FigureResult]) -> list[str]:
    lines = _wrap(f"Run {run.run_id}: methods {', '.join(run.methods)}; sharing levels "
                  f"{', '.join(f'{s:g}' for s in run.all_levels())}; seeds {', '.join(map(str, run.seeds))}; "
                  f"device {run.device_name}; energy table {run.energy_table} at {run.precision}.")
    lines += ["", f"Optimal sharing (largest sharing within {run.tolerance:g} pp of sharing 0's final accuracy):"]
    for line in optimal_points(run):
        lines += _wrap("- " + line, "  ")
    lines += ["", "Counted: MACs, operations, storage. Modelled: energy and memory accesses (energy table "
                  f"{run.energy_table}, {run.precision}). Measured: accuracy, training time, power.", ""]
    lines = [part for line in lines for part in (_wrap(line) if len(line) > WRAP else [line])]
    lines.append("Figures:")
    for f in figures:
        lines += _wrap(f"- {f.title}: " + ("drawn" if f.figure is not None else f.note), "  ")
    return lines


def metadata_lines(run: RunData) -> list[str]:
    lines = []
    for key, value in metadata(run):
        lines += _wrap(f"{key}: {value}", "    ")
    lines += ["", "Class order:"]
    for seed, names in class_orders(run):
        lines += _wrap(f"seed {seed}: {names}", "    ")
    return lines


def _table_lines(columns: list[str], rows: list[list[str]]) -> tuple[list[str], list[str]]:
    """(header lines, row lines) of a monospace table: first column left-aligned, the rest right."""
    heads = [c.replace(" (", "\n(").replace(" / ", " /\n").split("\n") for c in columns]
    depth = max(len(h) for h in heads)
    heads = [[""] * (depth - len(h)) + h for h in heads]  # bottom-align header words
    widths = [max(len(x) for x in [*h, *(r[j] for r in rows)]) for j, h in enumerate(heads)]

    def line(values: list[str]) -> str:
        return "  ".join(v.ljust(w) if j == 0 else v.rjust(w) for j, (v, w) in enumerate(zip(values, widths)))

    return [line([h[k] for h in heads]) for k in range(depth)], [line(r) for r in rows]


def table_pages(run: RunData) -> list[Figure]:
    """One page per method (and per TABLE_ROWS sharing levels): the summary table as monospace
    text, one Text per line, which draws in a fraction of the time of a matplotlib Table."""
    pages = []
    row_in = 0.19
    extra = calibration_table(run)
    for t in summary_tables(run) + ([extra] if extra else []):
        for start in range(0, max(len(t.rows), 1), TABLE_ROWS):
            rows = t.rows[start:start + TABLE_ROWS]
            fig = Figure(figsize=TABLE_PAGE)
            w, h = TABLE_PAGE
            pages_of_table = math.ceil(len(t.rows) / TABLE_ROWS)
            part = f" ({start // TABLE_ROWS + 1}/{pages_of_table})" if pages_of_table > 1 else ""
            fig.text(0.03, 0.96, f"{t.title or 'Summary: ' + t.method}{part}", fontsize=13, fontweight="bold",
                     va="top")
            head, body = _table_lines(t.columns, rows)
            y = 1 - 0.8 / h
            for text in head:
                fig.text(0.03, y, text, family="DejaVu Sans Mono", fontsize=6.8, fontweight="bold", va="top")
                y -= row_in / h
            fig.add_artist(Line2D([0.03, 0.97], [y + 0.03 / h] * 2, color="black", linewidth=0.6))
            for k, text in enumerate(body):
                if t.optimal_row is not None and start + k == t.optimal_row:
                    fig.add_artist(Rectangle((0.025, y - (row_in - 0.04) / h), 0.95, row_in / h,
                                             color="#fff3b0", zorder=0))
                fig.text(0.03, y, text, family="DejaVu Sans Mono", fontsize=6.8, va="top")
                y -= row_in / h
            fig.add_artist(Line2D([0.03, 0.97], [y + 0.03 / h] * 2, color="black", linewidth=0.6))
            note = t.note + (" Highlighted: the optimal sharing point." if t.optimal_row is not None else "")
            fig.text(0.03, y - 0.15 / h, "\n".join(textwrap.wrap(note, 170)), fontsize=7, va="top", color="#444444")
            pages.append(fig)
    return pages


def render_pdf(run: RunData, figures: list[FigureResult]) -> bytes:
    """The report as PDF bytes. Call under plots.style()."""
    pages = text_pages(f"energybench report: {run.run_id}", overview_lines(run, figures))
    pages += table_pages(run)
    pages += [f.figure for f in figures if f.figure is not None]
    pages += text_pages("Run metadata", metadata_lines(run))
    buf = io.BytesIO()
    info = {"Title": f"energybench report: {run.run_id}", "Creator": f"energybench {energybench.__version__}",
            "CreationDate": None}
    with PdfPages(buf, metadata=info) as pdf:
        for page in pages:
            pdf.savefig(page)
    return buf.getvalue()
