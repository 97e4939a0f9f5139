"""Reports of a run or sweep: a self-contained HTML file and a typeset PDF with the accuracy,
energy, memory-access, time and storage figures, summary tables and metadata; every figure
as its own file for a paper; and comparisons of several runs.

    from energybench.report import build_reports, export_figures, build_comparison
    paths = build_reports("runs/my-sweep")                      # report.html, report.pdf in the run dir
    paths = build_reports(run_dir, formats=("pdf",), out_dir="out/", page_size="a4")
    paths = export_figures(run_dir, "figs/", formats=("pdf", "png"), width="single")
    paths = build_comparison([run_a, run_b], "cmp/", labels=["resnet20", "resnet32"])
"""

from energybench.report.build import (
    FIGURE_FORMATS,
    FORMATS,
    PAGE_SIZES,
    WIDTH_RANGE,
    WIDTHS,
    build_comparison,
    build_reports,
    export_figures,
    parse_figure_formats,
    parse_formats,
    parse_page_size,
    parse_width,
    render,
)

__all__ = ["FIGURE_FORMATS", "FORMATS", "PAGE_SIZES", "WIDTHS", "WIDTH_RANGE", "build_comparison", "build_reports",
           "export_figures", "parse_figure_formats", "parse_formats", "parse_page_size", "parse_width", "render"]
