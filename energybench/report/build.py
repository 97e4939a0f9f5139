"""The reports of a run or a sweep built (report.html, report.pdf), a comparison of several
runs, every figure exported as its own file, and the parsing of the options that choose them."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Iterable

from energybench.errors import UserError, unknown_name
from energybench.files import write_output

FORMATS = ("html", "pdf")
FIGURE_FORMATS = ("pdf", "svg", "png")
PAGE_SIZES = ("letter", "a4")
WIDTHS = {"single": 3.3, "double": 7.0}  # inches: a paper's column and its full text width
WIDTH_RANGE = (2.0, 12.0)


def _parse_list(value: str | Iterable[str], valid: tuple[str, ...], what: str, example: str) -> list[str]:
    items = value.split(",") if isinstance(value, str) else list(value)
    items = [str(f).strip().lower() for f in items if str(f).strip()]
    bad = [f for f in items if f not in valid]
    if bad:
        raise UserError(unknown_name(what, bad[0], valid, "formats") + f" (comma-separated, e.g. {example})")
    if not items:
        raise UserError(f"no {what} given; valid formats: {', '.join(valid)}")
    return list(dict.fromkeys(items))


def parse_formats(formats: str | Iterable[str]) -> list[str]:
    """'html,pdf' or ["html", "pdf"] -> validated, de-duplicated formats, in the order given."""
    return _parse_list(formats, FORMATS, "report format", "html,pdf")


def parse_figure_formats(formats: str | Iterable[str]) -> list[str]:
    return _parse_list(formats, FIGURE_FORMATS, "figure format", "pdf,svg,png")


def parse_page_size(value: str) -> str:
    v = str(value).strip().lower()
    if v not in PAGE_SIZES:
        raise UserError(unknown_name("page size", value, PAGE_SIZES))
    return v


def parse_width(value: str | float) -> float:
    """'single' (3.3 in), 'double' (7 in) or a width in inches."""
    text = str(value).strip().lower()
    if text in WIDTHS:
        return WIDTHS[text]
    try:
        width = float(text.removesuffix("in"))
    except ValueError:
        width = float("nan")
    lo, hi = WIDTH_RANGE
    if not lo <= width <= hi:  # NaN fails too
        raise UserError(f"figure width '{value}' is not single, double or a width in inches from {lo:g} to {hi:g} "
                        "(e.g. --figure-width 3.5)")
    return width


def _out_dir(out: Path, what: str) -> Path:
    if out.exists() and not out.is_dir():
        raise UserError(f"the {what} directory {out} is a file; give a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the {what} directory {out}: {exc.strerror}") from None
    return out




def build_reports(run_dir: str | Path, formats: str | Iterable[str] = FORMATS,
                  out_dir: str | Path | None = None, page_size: str = "letter") -> list[Path]:
    """Write report.<format> for each format into `out_dir` (default: the run directory), each
    atomically (temporary file, then rename); return their paths in the order of `formats`."""
    import energybench.report.expansion_plots as expansion_plots
    from energybench.report.rundir import load_run
    from energybench.report.sections import run_document

    fmts = parse_formats(formats)
    page_size = parse_page_size(page_size)
    run = load_run(run_dir)
    out = Path(out_dir) if out_dir is not None else run.root
    _out_dir(out, "report")
    texts = render(lambda: run_document(run), fmts, page_size)
    if expansion_plots.figures(run):  # the memory/energy figure's points
        write_output(out / expansion_plots.CSV_NAME, expansion_plots.points_csv(run))
    return [write_output(out / f"report.{fmt}", texts[fmt]) for fmt in fmts]


def render(make_document, fmts: list[str], page_size: str = "letter") -> dict[str, str | bytes]:
    """Each format's text of a document: HTML text, PDF bytes. The document (its figures
    described) is made once and laid out on pages once; each figure is drawn once, into its
    place on a page, and the HTML saves that drawing as SVG while the PDF writes the pages.
    The pages are cut into two parts of about equal work (pdf.split); the first part is drawn
    and written by a forked copy of this process on the second core where that is safe
    (fork.py), the second here; never in a spawned process, which would re-run a caller's
    script that lacks an `if __name__ == "__main__"` guard."""
    from matplotlib.backends import backend_pdf, backend_svg  # noqa: F401 (loaded once, before the fork)

    from energybench.report.fork import in_child
    from energybench.report.html import render_html
    from energybench.report.pages import MARGIN, PAGE_SIZES, paginate
    from energybench.report.pdf import render_pdf, split
    from energybench.report.style import drawing, size_for

    size = size_for(PAGE_SIZES[page_size][0] - 2 * MARGIN)
    with drawing(size):
        doc = make_document()
        layout = paginate(doc, page_size)
        index = {f.id: k for k, f in enumerate(doc.figures())}
        cut = split(layout)
        first = in_child(lambda: _encode(_warning_part(layout, 0, cut, fmts, index)))
        rest = _warning_part(layout, cut, len(layout.pages), fmts, index)
        parts = [_decode(first()), rest]
    for part in parts:  # in page order, wherever each part was drawn (a forked child's would be lost)
        for category, message in part["warnings"]:
            warnings.warn(message, category if isinstance(category, type) else _category(category), stacklevel=3)
    out: dict[str, str | bytes] = {}
    if "html" in fmts:
        out["html"] = render_html(doc, {k: v for part in parts for k, v in part["svgs"].items()})
    if "pdf" in fmts:
        out["pdf"] = render_pdf(doc, layout, [part["pdf"] for part in parts if part["pdf"] is not None])
    return {fmt: out[fmt] for fmt in fmts}


def _render_part(layout, start: int, stop: int, fmts: list[str], index: dict[str, int]) -> dict:
    """Pages start..stop of a layout drawn: {"pdf": their PDF (None where no PDF is asked for or
    there are no pages), "svgs": {figure id: inline SVG} of the figures on them}."""
    from energybench.report.html import inline_svg
    from energybench.report.pages import Slot
    from energybench.report.pdf import draw_pages, page_bytes

    pages = layout.pages[start:stop]
    figs = draw_pages(layout, pages)
    results = [item.result for page in pages for item in page.items if isinstance(item, Slot)]
    return {"pdf": page_bytes(figs) if "pdf" in fmts and figs else None,
            "svgs": {r.id: inline_svg(r, index[r.id]) for r in results} if "html" in fmts else {}}


def _warning_part(layout, start: int, stop: int, fmts: list[str], index: dict[str, int]) -> dict:
    """_render_part, with the warnings drawing it raised kept in it ("warnings": [(category,
    message)]) instead of shown, so that those of a part drawn in a forked child reach the user."""
    with warnings.catch_warnings(record=True) as caught:
        part = _render_part(layout, start, stop, fmts, index)
    part["warnings"] = [(w.category, str(w.message)) for w in caught]
    return part


def _category(name: str) -> type[Warning]:
    """A warning category sent by name from the child: a built-in one, else UserWarning."""
    import builtins

    found = getattr(builtins, name, None)
    return found if isinstance(found, type) and issubclass(found, Warning) else UserWarning


def _encode(part: dict) -> bytes:
    """A part as bytes to send from the forked child (JSON: nothing received is executed)."""
    import base64
    import json

    pdf = part["pdf"]
    return json.dumps({"pdf": None if pdf is None else base64.b64encode(pdf).decode(), "svgs": part["svgs"],
                       "warnings": [(c.__name__, m) for c, m in part["warnings"]]}).encode()


def _decode(data: bytes) -> dict:
    import base64
    import json

    part = json.loads(data)
    return {"pdf": None if part["pdf"] is None else base64.b64decode(part["pdf"]), "svgs": part["svgs"],
            "warnings": part["warnings"]}


def export_figures(run_dir: str | Path, out_dir: str | Path, formats: str | Iterable[str] = ("pdf",),
                   width: str | float = "double") -> list[Path]:
    """Every drawn figure of a run's report as its own file per format (<figure id>.<format>), at
    `width`, plus captions.md with each figure's caption and provenance. Returns the figure files."""
    from energybench.report.export import write_figures
    from energybench.report.rundir import load_run

    fmts = parse_figure_formats(formats)
    inches = parse_width(width)
    run = load_run(run_dir)
    return write_figures(run, _out_dir(Path(out_dir), "figures"), fmts, inches)


def build_comparison(run_dirs: list[str | Path], out_dir: str | Path, labels: list[str] | None = None,
                     formats: str | Iterable[str] = FORMATS, page_size: str = "letter") -> list[Path]:
    """compare.<format> of several runs into `out_dir`; a UserError when they share nothing."""
    from energybench.report.comparison import compare_document, load_comparison

    fmts = parse_formats(formats)
    page_size = parse_page_size(page_size)
    cmp = load_comparison(run_dirs, labels)
    out = _out_dir(Path(out_dir), "comparison")
    texts = render(lambda: compare_document(cmp), fmts, page_size)
    return [write_output(out / f"compare.{fmt}", texts[fmt]) for fmt in fmts]
