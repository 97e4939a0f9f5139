"""Reports of a run or sweep: a self-contained HTML file and a multi-page PDF with the
accuracy, energy, memory-access, time and storage figures, summary tables and metadata.

    from energybench.report import build_reports
    paths = build_reports("runs/my-sweep")                     # report.html, report.pdf in the run dir
    paths = build_reports(run_dir, formats=("html",), out_dir="out/")
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from energybench.errors import UserError, unknown_name
from energybench.files import atomic_write

FORMATS = ("html", "pdf")


def parse_formats(formats: str | Iterable[str]) -> list[str]:
    """'html,pdf' or ["html", "pdf"] -> validated, de-duplicated formats, in the order given."""
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    items = [str(f).strip().lower() for f in items if str(f).strip()]
    bad = [f for f in items if f not in FORMATS]
    if bad:
        raise UserError(unknown_name("report format", bad[0], FORMATS, "formats") + " (comma-separated, e.g. html,pdf)")
    if not items:
        raise UserError(f"no report format given; valid formats: {', '.join(FORMATS)}")
    return list(dict.fromkeys(items))


def build_reports(run_dir: str | Path, formats: str | Iterable[str] = FORMATS,
                  out_dir: str | Path | None = None) -> list[Path]:
    """Write report.<format> for each format into `out_dir` (default: the run directory), each
    atomically (temporary file, then rename); return their paths in the order of `formats`."""
    from energybench.report.rundir import load_run

    fmts = parse_formats(formats)
    run = load_run(run_dir)
    out = Path(out_dir) if out_dir is not None else run.root
    if out.exists() and not out.is_dir():
        raise UserError(f"the report directory {out} is a file; give a directory "
                        "(or leave it out to write into the run directory)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the report directory {out}: {exc.strerror}") from None

    texts = render(run, fmts)
    written = {}
    for fmt in fmts:
        path = out / f"report.{fmt}"
        try:
            atomic_write(path, texts[fmt])
        except OSError as exc:
            raise UserError(f"cannot write {path}: {exc.strerror}") from None
        written[fmt] = path
    return [written[f] for f in fmts]


def render(run, fmts: list[str]) -> dict[str, str | bytes]:
    """Each format's report of a loaded run: HTML text, PDF bytes. The figures are built once
    and drawn by both; in this process (drawing in a second, spawned process would re-run a
    caller's script that lacks an `if __name__ == "__main__"` guard)."""
    from energybench.report.html import render_html
    from energybench.report.pdf import render_pdf
    from energybench.report.plots import build_figures, style

    with style():
        figures = build_figures(run)
        return {fmt: render_html(run, figures) if fmt == "html" else render_pdf(run, figures) for fmt in fmts}


