"""The PDF report: a Document's pages (pages.py) drawn as matplotlib figures, one per page, with
the report's figures drawn into SubFigures at their places, written by matplotlib's PDF backend
(vector, TrueType fonts embedded); pypdf then adds what matplotlib cannot: the contents' links
to their pages and the outline (bookmarks).

Why this route: the figures are matplotlib's already, so one library draws everything and
nothing is rasterised or converted; the pages need only a font's metrics to be set (typeset.py),
not a browser or an HTML engine with system libraries (WeasyPrint needs Pango; Chromium is a
system tool, not a package). pypdf is pure Python.
"""

from __future__ import annotations

import io

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

import energybench
import energybench.report.canvas as canvas
import energybench.report.typeset as typeset
from energybench.report.document import Document
from energybench.report.pages import Box, Layout, Page, Rule, Slot, Text


def region(page: Figure, x: float, y: float, w: float, h: float):
    """A SubFigure covering the rectangle (x, y from the top-left corner, inches) of a page."""
    W, H = page.get_size_inches()
    gs = page.add_gridspec(3, 3, width_ratios=[max(x, 1e-6), w, max(W - x - w, 1e-6)],
                           height_ratios=[max(y, 1e-6), h, max(H - y - h, 1e-6)],
                           left=0, right=1, bottom=0, top=1, wspace=0, hspace=0)
    return page.add_subfigure(gs[1, 1], facecolor="none")


def draw_pages(layout: Layout, pages: list[Page]) -> list[Figure]:
    """Each of `pages` (some of the layout's) as a matplotlib Figure, figures drawn. Call under
    style.drawing(layout.size)."""
    W, H = layout.page_size
    figs = []
    for page in pages:
        fig = Figure(figsize=(W, H))
        for item in page.items:
            if isinstance(item, Text):
                fig.text(item.x / W, 1 - item.y / H, item.text, fontsize=item.size, color=item.colour,
                         fontweight="bold" if item.bold else "normal", ha=item.align, va="baseline")
            elif isinstance(item, Rule):
                fig.add_artist(Line2D([item.x0 / W, item.x1 / W], [1 - item.y / H] * 2, linewidth=item.width,
                                      color="#1b1b1b", transform=fig.transFigure))
            elif isinstance(item, Box):
                fig.add_artist(Rectangle((item.x / W, 1 - (item.y + item.h) / H), item.w / W, item.h / H,
                                         facecolor=item.colour, edgecolor="none", zorder=0,
                                         transform=fig.transFigure))
            elif isinstance(item, Slot):
                canvas.draw_or_note(item.result, region(fig, item.x, item.y, item.w, item.h), layout.size, item.h)
        typeset.readable_figure(fig)  # a glyph no font has: its code point, not a failed page
        figs.append(fig)
    return figs


def page_bytes(figs: list[Figure]) -> bytes:
    """Pages as a PDF of their own (one part of the report). Call under style.drawing."""
    from matplotlib.backends.backend_pdf import PdfPages

    buf = io.BytesIO()
    with PdfPages(buf, metadata={"CreationDate": None}) as pdf:
        for fig in figs:
            pdf.savefig(fig)
    return buf.getvalue()


def split(layout: Layout) -> int:
    """Where the pages are cut into two parts of about equal work (each part's pages drawn,
    written as PDF and their figures as SVG in one process): a page counts 1 and each figure on
    it 1.5 more (measured on the 7-level report: a page of text takes about 0.3 s to draw and
    write, a figure about 0.45 s more with its SVG). Always the same cut, so the report is the
    same whether the parts are drawn in one process or two."""
    cost = [1 + 1.5 * sum(isinstance(i, Slot) for i in page.items) for page in layout.pages]
    half = sum(cost) / 2
    done = 0.0
    for k, c in enumerate(cost):
        if done + c / 2 > half:
            return max(k, 1)
        done += c
    return len(cost)


def render_pdf(doc: Document, layout: Layout, parts: list[bytes]) -> bytes:
    """The report's PDF from its parts (page_bytes of consecutive pages), with links, outline and
    document information."""
    return _links_and_outline(parts, doc, layout)


def _links_and_outline(parts: list[bytes], doc: Document, layout: Layout) -> bytes:
    from pypdf import PdfReader, PdfWriter
    from pypdf.annotations import Link
    from pypdf.generic import Fit

    W, H = layout.page_size
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(parts[0])))
    for part in parts[1:]:
        writer.append(PdfReader(io.BytesIO(part)))

    def fit(anchor: str) -> tuple[int, Fit]:
        page, y = layout.anchors.get(anchor, (0, 0.0))
        return page, Fit.xyz(left=0, top=round((H - y) * 72 + 6, 2), zoom=0)

    for k, link in layout.links:
        page, where = fit(link.target)
        rect = (link.x0 * 72, (H - link.y1) * 72, link.x1 * 72, (H - link.y0) * 72)
        writer.add_annotation(k, Link(rect=rect, border=[0, 0, 0], target_page_index=page, fit=where))
    parent = None
    for e in layout.entries:
        page, where = fit(e.anchor)
        item = writer.add_outline_item(title=e.title, page_number=page, parent=parent if e.level else None, fit=where)
        if e.level == 0:
            parent = item
    writer.add_metadata({"/Title": doc.title, "/Subject": doc.subtitle,
                         "/Creator": f"energybench {energybench.__version__}"})
    writer.page_mode = "/UseOutlines"
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
